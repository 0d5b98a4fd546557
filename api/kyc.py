"""Onboarding with KYC, the applicant's side (permission ``kyc:manage``: owners and admins, and
API clients given that scope). Rules in :mod:`switch.kyc`, checks in :mod:`switch.kyc_risk` and
:mod:`switch.kyc_files`, storage in :mod:`infra.kyc_store`; the operators' review is
:mod:`api.kyc_review`.

- ``POST /v1/kyc/applications`` business details (legal name, BRS registration number, KRA PIN,
  directors with national IDs and phones): a ``draft``; one application in progress at a time;
- ``PUT /v1/kyc/applications/{id}``: new details, while ``draft`` or ``changes_requested``;
- ``POST /v1/kyc/applications/{id}/documents?kind=...&filename=...``: the file as the body
  (``application/pdf``, ``image/png`` or ``image/jpeg``), checked and sealed;
- ``POST /v1/kyc/applications/{id}/submit``: the automated checks run and the risk score is set;
- ``GET /v1/kyc/applications[/{id}]``: status and the reviewers' reasons. The applicant never
  sees the checks or the score (a sanctions match is not told to its subject: tipping off).

An aggregator applies for one of its sub-merchants with the ``Switch-Sub-Merchant`` header
(api/sub_merchants.py resolves it before these handlers run, so the application, its documents
and its approval are the sub-merchant's own; operators review it as any other, and the approval
gates that sub-merchant's live traffic by its own KYC state).

Sealed at rest with the application's own data key (``k_<application id>``, envelope keys of
switch/security/crypto.py): the KRA PIN, the directors (names, ID numbers, phones) and every
document. Keyed blind indexes of the registration number, the PIN, the directors' IDs and each
file's SHA-256 let the duplicate checks run without opening anything. Every step is audited.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from typing import Annotated, Any

import orjson
from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.payments import parse_body
from api.routes import Route, json_answer, query
from api.state import STATE, AppState
from infra.kyc_store import KycStore
from switch import kyc
from switch.errors import ValidationFailed
from switch.ids import new_id
from switch.kyc_files import MAX_BYTES, FileRefused, check_file, seal_bytes
from switch.kyc_risk import Found, assess
from switch.logs import request_id
from switch.payments import iso, now_utc
from switch.phone import mask_msisdn
from switch.security.crypto import blind_index, derive_key
from switch.security.sanctions import SAMPLE_LIST, SanctionsList
from switch.tokens import Claims

log = logging.getLogger(__name__)
Doc = dict[str, Any]
MAX_LIST = 200

Director = Annotated[str, AfterValidator(kyc.person_name)]


class DirectorIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Director
    national_id: Annotated[str, AfterValidator(kyc.national_id)]
    phone: Annotated[str, AfterValidator(kyc.director_phone)]


class ApplicationIn(BaseModel):
    """A business's details for KYC (formats in switch/kyc.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    legal_name: Annotated[str, AfterValidator(kyc.legal_name)]
    registration_number: Annotated[str, AfterValidator(kyc.registration_number)]
    kra_pin: Annotated[str, AfterValidator(kyc.kra_pin)]
    directors: Annotated[list[DirectorIn], Field(min_length=1, max_length=kyc.MAX_DIRECTORS)]

    @model_validator(mode="after")
    def _directors_once(self) -> ApplicationIn:
        twice = kyc.duplicate_directors([d.national_id for d in self.directors])
        if twice:
            raise ValueError(f"{twice[0]['field']}: {twice[0]['reason']}")
        return self


# --- shared with api/kyc_review.py ----------------------------------------------------------


_STORE: dict[int, KycStore] = {}


async def store(state: AppState) -> KycStore:
    """This process's store (indexes made on first use)."""
    key = id(state)
    if key not in _STORE:
        made = KycStore(state.cols.merchants.database)
        await made.ensure_indexes()
        _STORE[key] = made
    return _STORE[key]


def principal(claims: Claims) -> str:
    """Who acts: a signed-in person, a merchant's API client or an operator's client."""
    if claims.kind == "session":
        return f"user:{claims.client_id}"
    if "operator" in claims.scope.split():
        return f"operator:{claims.client_id}"
    return f"client:{claims.client_id}"


def key_id(application_id: str) -> str:
    return f"k_{application_id}"


def _aad(application_id: str, name: str) -> bytes:
    return f"kyc_applications/{application_id}/{name}".encode()


def index_key(state: AppState) -> bytes:
    return derive_key(state.secret_key, "kyc-blind-index")


async def opened(state: AppState, app: Doc) -> Doc:
    """The sealed details of an application, opened: ``kra_pin`` and ``directors``."""
    ring = state.sealer().ring
    pin = await ring.decrypt(app["kra_pin"], _aad(app["_id"], "kra_pin"))
    directors = orjson.loads(await ring.decrypt(app["directors"], _aad(app["_id"], "directors")))
    return {"kra_pin": pin, "directors": directors}


async def audit(
    state: AppState, actor: str, action: str, target: str, before: Any, after: Any
) -> None:
    """Every KYC step goes into the audit trail; a step whose record cannot be written fails."""
    await audit_log(state).append(actor, action, target, before, after, request_id.get() or None)


def summary(app: Doc) -> Doc:
    """What both sides see of an application."""
    return {
        "object": "kyc_application",
        "id": app["_id"],
        "merchant_id": app["merchant_id"],
        "status": app["status"],
        "legal_name": app["legal_name"],
        "registration_number": app["registration_number"],
        "registration_kind": app["registration_kind"],
        "reasons": app.get("reasons") or [],
        "created_at": iso(app["created_at"]),
        "submitted_at": iso(app["submitted_at"]) if app.get("submitted_at") else None,
        "decided_at": iso(app["decided_at"]) if app.get("decided_at") else None,
    }


def document_view(doc: Doc) -> Doc:
    return {
        "id": doc["_id"],
        "kind": doc["kind"],
        "filename": doc["filename"],
        "content_type": doc["content_type"],
        "size": doc["size"],
        "uploaded_at": iso(doc["uploaded_at"]),
    }


@lru_cache(maxsize=4)
def _sanctions(path: str) -> SanctionsList:
    return SanctionsList.load(path)


def sanctions_list(state: AppState) -> SanctionsList | None:
    """The list payments are screened against (switch/config.py), loaded once per process."""
    settings = state.settings
    path = settings.sanctions_list_file or (str(SAMPLE_LIST) if settings.sandbox else None)
    return _sanctions(path) if path else None


# --- the applicant's routes -----------------------------------------------------------------


def _masked_id(number: str) -> str:
    return "*" * (len(number) - 3) + number[-3:]


async def applicant_view(state: AppState, app: Doc) -> Doc:
    details = await opened(state, app)
    documents = await (await store(state)).documents_of(app["_id"])
    return {
        **summary(app),
        "kra_pin": details["kra_pin"],
        "directors": [
            {
                "name": d["name"],
                "national_id": _masked_id(d["national_id"]),
                "phone": mask_msisdn(d["phone"]),
            }
            for d in details["directors"]
        ],
        "documents": [document_view(d) for d in documents],
    }


async def _sealed_details(state: AppState, application_id: str, body: ApplicationIn) -> Doc:
    ring, ikey = state.sealer().ring, index_key(state)
    kid = key_id(application_id)
    directors = [d.model_dump() for d in body.directors]
    return {
        "legal_name": body.legal_name,
        "registration_number": body.registration_number,
        "registration_kind": kyc.registration_format(body.registration_number).label,
        "kra_pin": await ring.encrypt(kid, body.kra_pin, _aad(application_id, "kra_pin")),
        "directors": await ring.encrypt(
            kid, orjson.dumps(directors).decode(), _aad(application_id, "directors")
        ),
        "directors_count": len(directors),
        "reg_bidx": blind_index(body.registration_number, ikey),
        "pin_bidx": blind_index(body.kra_pin, ikey),
        "director_bidx": [blind_index(d.national_id, ikey) for d in body.directors],
    }


async def create_application(request: web.Request) -> web.Response:
    body = await parse_body(request, ApplicationIn)
    if isinstance(body, web.Response):
        return body
    state, claims = request.app[STATE], request[CLAIMS]
    kyc_store = await store(state)
    if await kyc_store.open_of(claims.merchant_id) is not None:
        return error_response(
            409, "application_open", "this merchant has an application in progress already"
        )
    application_id, at, actor = new_id("kya"), now_utc(), principal(claims)
    app = {
        "_id": application_id,
        "merchant_id": claims.merchant_id,
        "status": "draft",
        "version": 1,
        **await _sealed_details(state, application_id, body),
        "created_by": actor,
        "created_at": at,
        "updated_at": at,
        "approvals": [],
        "decisions": [],
        "reasons": [],
    }
    await kyc_store.insert(app)
    await audit(state, actor, "kyc.create", f"kyc:{application_id}", None, {"status": "draft"})
    return json_response(await applicant_view(state, app), 201)


async def _own(request: web.Request) -> tuple[AppState, KycStore, Doc]:
    state = request.app[STATE]
    kyc_store = await store(state)
    app = await kyc_store.get(request.match_info["application_id"], request[CLAIMS].merchant_id)
    if app is None:
        raise web.HTTPNotFound(reason="no such application")
    return state, kyc_store, app


def _not_editable(app: Doc) -> web.Response | None:
    if app["status"] in kyc.EDITABLE:
        return None
    return error_response(
        409, "not_editable", f"the application is {app['status']}: it can no longer be changed"
    )


async def update_application(request: web.Request) -> web.Response:
    body = await parse_body(request, ApplicationIn)
    if isinstance(body, web.Response):
        return body
    state, kyc_store, app = await _own(request)
    refused = _not_editable(app)
    if refused:
        return refused
    changes = {**await _sealed_details(state, app["_id"], body), "updated_at": now_utc()}
    changed = await kyc_store.change(app["_id"], app["version"], changes)
    if changed is None:
        return error_response(409, "changed_meanwhile", "the application changed: read it again")
    await audit(state, principal(request[CLAIMS]), "kyc.update", f"kyc:{app['_id']}", None, None)
    return json_response(await applicant_view(state, changed))


async def list_applications(request: web.Request) -> web.Response:
    state = request.app[STATE]
    found = await (await store(state)).listing(request[CLAIMS].merchant_id, None, MAX_LIST)
    return json_response({"object": "list", "data": [summary(a) for a in found]})


async def get_application(request: web.Request) -> web.Response:
    state, _, app = await _own(request)
    return json_response(await applicant_view(state, app))


async def _read_file(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BYTES:
        raise ValidationFailed(
            "file refused", [{"field": "file", "reason": "the file is larger than 4 MiB"}]
        )
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > MAX_BYTES:
            raise ValidationFailed(
                "file refused", [{"field": "file", "reason": "the file is larger than 4 MiB"}]
            )
    return bytes(data)


def _upload_params(request: web.Request) -> tuple[str, str]:
    kind, filename = request.query.get("kind", ""), request.query.get("filename", "")
    details = []
    if kind not in kyc.DOCUMENT_KINDS:
        details.append({"field": "kind", "reason": f"one of {', '.join(kyc.DOCUMENT_KINDS)}"})
    if not 1 <= len(filename) <= 120 or "/" in filename or "\\" in filename:
        details.append({"field": "filename", "reason": "1 to 120 characters, no path"})
    if details:
        raise ValidationFailed("invalid query", details)
    return kind, filename


async def upload_document(request: web.Request) -> web.Response:
    kind, filename = _upload_params(request)
    state, kyc_store, app = await _own(request)
    refused = _not_editable(app)
    if refused:
        return refused
    data = await _read_file(request)
    try:
        checked = check_file(data, request.headers.get("Content-Type", ""), filename)
    except FileRefused as exc:
        raise ValidationFailed("file refused", [{"field": "file", "reason": str(exc)}]) from None
    if len(await kyc_store.documents_of(app["_id"])) >= kyc.MAX_DOCUMENTS:
        return error_response(409, "too_many_documents", f"at most {kyc.MAX_DOCUMENTS} documents")
    document_id, actor = new_id("kyd"), principal(request[CLAIMS])
    dek = await state.sealer().ring.create(key_id(app["_id"]))
    doc = {
        "_id": document_id,
        "application_id": app["_id"],
        "merchant_id": app["merchant_id"],
        "kind": kind,
        "filename": filename,
        "content_type": checked.content_type,
        "size": checked.size,
        "digest_bidx": blind_index(hashlib.sha256(data).hexdigest(), index_key(state)),
        "key_id": dek.key_id,
        "key_version": dek.version,
        "sealed": seal_bytes(data, dek, document_id, app["_id"]),
        "uploaded_by": actor,
        "uploaded_at": now_utc(),
    }
    await kyc_store.add_document(doc)
    await audit(
        state,
        actor,
        "kyc.document",
        f"kyc:{app['_id']}",
        None,
        {"document": document_id, "kind": kind},
    )
    return json_response(document_view(doc), 201)


async def _found(state: AppState, kyc_store: KycStore, app: Doc, details: Doc) -> Found:
    merchant = app["merchant_id"]
    regs = await kyc_store.others_with(merchant, "reg_bidx", [app["reg_bidx"]])
    pins = await kyc_store.others_with(merchant, "pin_bidx", [app["pin_bidx"]])
    dirs = await kyc_store.others_with(merchant, "director_bidx", app["director_bidx"])
    docs = await kyc_store.documents_of(app["_id"])
    listed = sanctions_list(state)
    threshold = state.settings.sanctions_threshold
    return Found(
        registration_merchants=regs.get(app["reg_bidx"], []),
        pin_merchants=pins.get(app["pin_bidx"], []),
        director_merchants={i: dirs.get(b, []) for i, b in enumerate(app["director_bidx"])},
        sanctions=None
        if listed is None
        else {
            i: [
                {"entry": h.entry.id, "name": h.matched, "score": h.score, "source": h.entry.source}
                for h in listed.screen(d["name"], threshold)
            ]
            for i, d in enumerate(details["directors"])
        },
        reused_documents=await kyc_store.reused(merchant, [d["digest_bidx"] for d in docs]),
    )


async def submit_application(request: web.Request) -> web.Response:
    state, kyc_store, app = await _own(request)
    refused = _not_editable(app)
    if refused:
        return refused
    documents = await kyc_store.documents_of(app["_id"])
    missing = kyc.missing_documents([d["kind"] for d in documents], app["directors_count"])
    if missing:
        raise ValidationFailed("the application is not complete", missing)
    details = await opened(state, app)
    assessment = assess(
        app["registration_number"], details["kra_pin"], await _found(state, kyc_store, app, details)
    )
    actor, at = principal(request[CLAIMS]), now_utc()
    changes = {
        "status": "submitted",
        "submitted_by": actor,
        "submitted_at": at,
        "updated_at": at,
        "assessment": assessment.as_doc(),
        "approvals_needed": assessment.approvals_needed,
        "approvals": [],
        "reasons": [],
    }
    changed = await kyc_store.change(app["_id"], app["version"], changes)
    if changed is None:
        return error_response(409, "changed_meanwhile", "the application changed: read it again")
    await audit(
        state,
        actor,
        "kyc.submit",
        f"kyc:{app['_id']}",
        {"status": app["status"]},
        {
            "status": "submitted",
            "risk": assessment.score,
            "factors": [f["code"] for f in assessment.factors],
        },
    )
    return json_response(await applicant_view(state, changed))


_APPLICATION = json_answer(
    "The application",
    {"type": "object", "description": "kyc_application", "additionalProperties": True},
)
_ID = "/v1/kyc/applications/{application_id}"
UPLOAD_TYPES = ("application/pdf", "image/png", "image/jpeg")

ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/kyc/applications",
        create_application,
        "Onboarding",
        "Start a KYC application with the business's details",
        {201: _APPLICATION},
        body=ApplicationIn,
        errors=(409,),
        error_texts={409: "An application is in progress already"},
    ),
    Route(
        "GET",
        "/v1/kyc/applications",
        list_applications,
        "Onboarding",
        "Your KYC applications, oldest first",
        {200: json_answer("Applications", {"type": "object", "additionalProperties": True})},
    ),
    Route(
        "GET",
        _ID,
        get_application,
        "Onboarding",
        "A KYC application: status and reasons",
        {200: _APPLICATION},
        errors=(404,),
    ),
    Route(
        "PUT",
        _ID,
        update_application,
        "Onboarding",
        "Change an application's details (draft or changes requested)",
        {200: _APPLICATION},
        body=ApplicationIn,
        errors=(404, 409),
    ),
    Route(
        "POST",
        _ID + "/documents",
        upload_document,
        "Onboarding",
        "Upload a document (PDF, PNG or JPEG, at most 4 MiB): checked, then sealed",
        {201: json_answer("The document", {"type": "object", "additionalProperties": True})},
        body={t: {"type": "string", "format": "binary"} for t in UPLOAD_TYPES},
        errors=(400, 404, 409, 415, 422),
        error_texts={422: "The file is refused (type, size, active content, polyglot)"},
        params=(
            query(
                "kind", {"type": "string", "enum": list(kyc.DOCUMENT_KINDS)}, "What it is.", True
            ),
            query("filename", {"type": "string", "maxLength": 120}, "Its file name.", True),
        ),
    ),
    Route(
        "POST",
        _ID + "/submit",
        submit_application,
        "Onboarding",
        "Submit an application for review (the automated checks run)",
        {200: _APPLICATION},
        body_required=False,
        errors=(404, 409),
        error_texts={422: "Documents missing"},
    ),
)
