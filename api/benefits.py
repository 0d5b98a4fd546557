"""Benefit programmes and their beneficiary registry over HTTP (switch/benefits.py).

- ``POST /v1/benefits/programmes`` (Idempotency-Key): a programme; ``GET .../{programme_id}``.
- ``POST /v1/benefits/programmes/{programme_id}/beneficiaries``: register one person. The id comes
  from the national ID, so the same body again answers the same beneficiary (200); another body
  with a registered national ID, phone or payout account is refused (409
  ``duplicate_beneficiary``, naming the beneficiary that holds it) and recorded for the auditors'
  report.
- ``POST .../beneficiaries/upload``: a CSV registry (columns :data:`UPLOAD_COLUMNS`). A row that
  is invalid refuses the whole file (422, every line's problem); rows that duplicate a registered
  person or an earlier row are refused one by one and named in the answer, the others created.
- ``GET .../beneficiaries`` (paged), ``GET`` and ``PATCH .../beneficiaries/{beneficiary_id}``
  (phone, name, payout, or a dated eligibility change).

Personal data (national ID, phone, name, bank account) is sealed with the merchant's key, bound to
the beneficiary id (switch/pii.py); keyed blind indexes of the national ID and the phone make the
duplicates findable without opening anything. Every change is in the audit trail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from api import benefits_registry as reg
from api import openapi_models as out
from api.auth import CLAIMS
from api.batches import read_limited
from api.benefits_models import (
    UPLOAD_COLUMNS,
    UPLOAD_REQUIRED,
    BeneficiaryChange,
    BeneficiaryCreate,
    PayoutTo,
    ProgrammeCreate,
    programme_id,
    row_body,
)
from api.errors import error_response, json_response, validation_details
from api.merchant_settings import actor
from api.payments import parse_body, validated
from api.routes import Route, json_answer, limit_param, query
from api.state import STATE
from infra.benefits_store import BenefitsStore
from switch.batches import LineError, decode_upload, upload_rows
from switch.benefits import (
    ACCOUNT_FIELDS,
    Duplicate,
    Eligibility,
    Registration,
    change_problem,
    duplicates,
)
from switch.idempotency import request_hash
from switch.money import parse_whole_shillings
from switch.payments import now_utc
from switch.pii import Sealer

Doc = dict[str, Any]
TAG = "Benefits"
MAX_ROWS = 20_000
MAX_UPLOAD = 4 * 1024 * 1024


def _invalid(field: str, reason: str, status: int = 422) -> web.Response:
    details = [{"field": field, "reason": reason}]
    return error_response(status, "validation_failed", "the request has invalid fields", details)


async def _programme(request: web.Request) -> tuple[BenefitsStore, Doc] | web.Response:
    store = await reg.benefits_of(request.app)
    pid = request.match_info["programme_id"]
    doc = await store.programme(request[CLAIMS].merchant_id, pid)
    if doc is None:
        return error_response(404, "not_found", f"no benefit programme {pid}")
    return store, doc


# --- programmes --------------------------------------------------------------------------------


async def create_programme(request: web.Request) -> web.Response:
    checked = await validated(request, ProgrammeCreate)
    if isinstance(checked, web.Response):
        return checked
    key, raw, body = checked
    state, merchant_id = request.app[STATE], request[CLAIMS].merchant_id
    store = await reg.benefits_of(request.app)
    doc: Doc = {
        "_id": programme_id(state.secret_key, merchant_id, key),
        "merchant_id": merchant_id,
        "name": body.name,
        "rail": body.rail,
        "amount_minor": parse_whole_shillings(body.amount),
        "reference": body.reference,
        "name_match_threshold": body.name_match_threshold,
        "request_hash": request_hash(raw),
        "created_by": actor(request[CLAIMS]),
        "created_at": now_utc(),
    }
    stored = await store.insert_once(store.programmes, doc)
    if stored is not None:
        if stored["request_hash"] != doc["request_hash"]:
            return error_response(
                409, "idempotency_conflict", "this key was used with another body"
            )
        return json_response(reg.programme_view(stored), headers={"Idempotent-Replayed": "true"})
    await reg.audit(request, "benefits.programme.create", doc["_id"], {"name": body.name})
    return json_response(reg.programme_view(doc), 201)


async def get_programme(request: web.Request) -> web.Response:
    found = await _programme(request)
    if isinstance(found, web.Response):
        return found
    return json_response(reg.programme_view(found[1]))


# --- registering ---------------------------------------------------------------------------------


def _refusal(programme: Doc, dup: Duplicate, doc: Doc, by: str) -> Doc:
    """A refused registration, once per person and programme (the same row uploaded again is
    the same refusal): its id is a hash of the row's blind indexes."""
    ident = hashlib.sha256(f"{doc['national_id_bidx']}:{doc['phone_bidx']}".encode()).hexdigest()
    return {
        "_id": f"{programme['_id']}:{ident[:32]}",
        "programme_id": programme["_id"],
        "line": dup.line,
        "field": dup.field,
        "existing": dup.existing,
        "by": by,
        "at": now_utc(),
    }


async def _register(
    request: web.Request,
    store: BenefitsStore,
    programme: Doc,
    bodies: list[tuple[int, BeneficiaryCreate]],
) -> tuple[list[Doc], list[Doc], dict[int, Duplicate]]:
    """(created, unchanged, duplicates by line) of registrations, each with its line (a CSV's;
    0 for a single create). Duplicates are recorded as refusals."""
    state, who = request.app[STATE], actor(request[CLAIMS])
    sealer = state.sealer()
    await sealer.ready(programme["merchant_id"])
    docs = [reg.new_beneficiary(state, programme, b, who, line) for line, b in bodies]
    stored = await store.people_by_id([d["_id"] for d in docs])
    # The same person again with the same details is a replay, not a duplicate.
    unchanged = [
        d for d in docs if stored.get(d["_id"], {}).get("request_hash") == d["request_hash"]
    ]
    fresh = [d for d in docs if d["_id"] not in {u["_id"] for u in unchanged}]
    pid = programme["_id"]
    by_id = await store.holders(pid, "national_id_bidx", [d["national_id_bidx"] for d in fresh])
    by_phone = await store.holders(pid, "phone_bidx", [d["phone_bidx"] for d in fresh])
    dests = [d["destination_bidx"] for d in fresh if "destination_bidx" in d]
    by_dest = await store.holders(pid, "destination_bidx", dests)
    rows = [
        Registration(
            d["line"], d["national_id_bidx"], d["phone_bidx"], d.get("destination_bidx", "")
        )
        for d in fresh
    ]
    dups = duplicates(rows, by_id, by_phone, by_dest)
    created = [d for d in fresh if d["line"] not in dups]
    clash = await store.insert_people([reg.sealed(sealer, d) for d in created])
    if clash:  # registered meanwhile by another request: refused like any duplicate
        for d in created:
            if d["_id"] in clash:
                dups[d["line"]] = Duplicate(d["line"], "national_id", "another registration")
        created = [d for d in created if d["_id"] not in clash]
    lines = {d["line"]: d for d in fresh}
    await store.refuse([_refusal(programme, dup, lines[n], who) for n, dup in dups.items()])
    return created, [await reg.opened(sealer, stored[u["_id"]]) for u in unchanged], dups


async def create_beneficiary(request: web.Request) -> web.Response:
    found = await _programme(request)
    if isinstance(found, web.Response):
        return found
    store, programme = found
    body = await parse_body(request, BeneficiaryCreate)
    if isinstance(body, web.Response):
        return body
    problem = _payout_problem(programme, body.payout, request.app[STATE].saccos)
    if problem:
        return _invalid("payout", problem)
    created, unchanged, dups = await _register(request, store, programme, [(0, body)])
    if dups:
        dup = next(iter(dups.values()))
        return error_response(
            409,
            "duplicate_beneficiary",
            f"this {dup.field.replace('_', ' ')} is registered: {dup.existing}",
            [{"field": dup.field, "reason": dup.reason}],
        )
    if unchanged:
        view = reg.beneficiary_view(programme, unchanged[0])
        return json_response(view, headers={"Idempotent-Replayed": "true"})
    doc = created[0]
    await reg.audit(
        request, "benefits.beneficiary.create", doc["_id"], {"programme": programme["_id"]}
    )
    return json_response(reg.beneficiary_view(programme, doc), 201)


def _payout_problem(
    programme: Doc, payout: PayoutTo | None, saccos: Mapping[str, Any]
) -> str | None:
    """Why a beneficiary's payout cannot be used: a programme paying accounts needs each
    beneficiary's account; a SACCO must be one the switch reaches."""
    if payout is None and programme["rail"] in ACCOUNT_FIELDS:
        field = "bank" if programme["rail"] == "bank_transfer" else "sacco"
        return f"the programme pays by {programme['rail']}: give payout.{field}"
    if payout is not None and payout.sacco is not None and payout.sacco.sacco_code not in saccos:
        return f"no SACCO {payout.sacco.sacco_code} is registered"
    return None


# --- CSV upload ----------------------------------------------------------------------------------


def _header(cells: list[str]) -> list[str] | str:
    names = [c.strip().lower() for c in cells]
    unknown = [n for n in names if n not in UPLOAD_COLUMNS]
    if unknown:
        return (
            f"unknown column(s): {', '.join(unknown)}; the columns are {', '.join(UPLOAD_COLUMNS)}"
        )
    missing = [n for n in UPLOAD_REQUIRED if n not in names]
    if missing or len(set(names)) != len(names):
        return f"needs each of {', '.join(UPLOAD_REQUIRED)} once"
    return names


def _parse_upload(
    data: bytes, programme: Doc, saccos: Mapping[str, Any]
) -> list[tuple[int, BeneficiaryCreate]] | list[LineError]:
    text = decode_upload(data)
    if isinstance(text, LineError):
        return [text]
    rows = list(upload_rows(text))
    if not rows:
        return [LineError(0, None, "file", "empty: a header row and one row per beneficiary")]
    names = _header(rows[0][1])
    if isinstance(names, str):
        return [LineError(1, None, "header", names)]
    if not 1 < len(rows) <= MAX_ROWS + 1:
        return [LineError(0, None, "file", f"1 to {MAX_ROWS} beneficiary rows")]
    bodies: list[tuple[int, BeneficiaryCreate]] = []
    errors: list[LineError] = []
    for line, cells in rows[1:]:
        row = {n: c.strip() for n, c in zip(names, cells, strict=False)}
        try:
            body = BeneficiaryCreate.model_validate(row_body(row))
        except ValidationError as exc:
            errors += [
                LineError(line, None, d["field"], d["reason"]) for d in validation_details(exc)
            ]
            continue
        problem = _payout_problem(programme, body.payout, saccos)
        if problem:
            errors.append(LineError(line, None, "payout", problem))
        bodies.append((line, body))
    return errors or bodies


async def upload(request: web.Request) -> web.Response:
    found = await _programme(request)
    if isinstance(found, web.Response):
        return found
    store, programme = found
    if request.content_type not in ("text/csv", "application/csv"):
        return error_response(415, "unsupported_media_type", "send the registry as text/csv")
    data = await read_limited(request, MAX_UPLOAD)
    if data is None:
        return error_response(413, "body_too_large", "an upload is at most 4 MiB")
    parsed = _parse_upload(data, programme, request.app[STATE].saccos)
    if parsed and isinstance(parsed[0], LineError):
        details = [
            {"line": e.line, "field": e.field, "reason": e.reason}
            for e in parsed
            if isinstance(e, LineError)
        ]
        return error_response(
            422, "upload_invalid", "invalid rows; nothing was registered", details
        )
    bodies = [b for b in parsed if isinstance(b, tuple)]
    created, unchanged, dups = await _register(request, store, programme, bodies)
    answer = {
        "object": "beneficiary_upload",
        "programme_id": programme["_id"],
        "counts": {
            "rows": len(bodies),
            "created": len(created),
            "unchanged": len(unchanged),
            "duplicates": len(dups),
        },
        "duplicates": [
            {"line": d.line, "field": d.field, "reason": d.reason} for d in dups.values()
        ],
    }
    after = {"programme": programme["_id"], "created": [d["_id"] for d in created]}
    await reg.audit(request, "benefits.beneficiary.upload", programme["_id"], after)
    return json_response(answer, 201 if created else 200)


# --- reading and changing ------------------------------------------------------------------------


async def list_beneficiaries(request: web.Request) -> web.Response:
    found = await _programme(request)
    if isinstance(found, web.Response):
        return found
    store, programme = found
    try:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        offset = limit = -1
    if not (0 <= offset <= 10**6 and 1 <= limit <= 1000):
        return _invalid("limit", "offset 0 to 1000000, limit 1 to 1000")
    sealer = request.app[STATE].sealer()
    cursor = store.people.find({"programme_id": programme["_id"]}).sort("_id", 1)
    docs = [d async for d in cursor.skip(offset).limit(limit + 1)]
    data = [reg.beneficiary_view(programme, await reg.opened(sealer, d)) for d in docs[:limit]]
    return json_response({"object": "list", "data": data, "has_more": len(docs) > limit})


async def _beneficiary(request: web.Request) -> tuple[BenefitsStore, Doc, Doc] | web.Response:
    found = await _programme(request)
    if isinstance(found, web.Response):
        return found
    store, programme = found
    bid = request.match_info["beneficiary_id"]
    doc = await store.person(programme["_id"], bid)
    if doc is None:
        return error_response(404, "not_found", f"no beneficiary {bid} in this programme")
    return store, programme, doc


async def get_beneficiary(request: web.Request) -> web.Response:
    found = await _beneficiary(request)
    if isinstance(found, web.Response):
        return found
    _, programme, doc = found
    opened = await reg.opened(request.app[STATE].sealer(), doc)
    return json_response(reg.beneficiary_view(programme, opened))


async def change_beneficiary(request: web.Request) -> web.Response:
    found = await _beneficiary(request)
    if isinstance(found, web.Response):
        return found
    store, programme, doc = found
    body = await parse_body(request, BeneficiaryChange)
    if isinstance(body, web.Response):
        return body
    sealer = request.app[STATE].sealer()
    await sealer.ready(programme["merchant_id"])
    fields, push = _changes(sealer, doc, body)
    if isinstance(fields, str):
        return _invalid("eligibility", fields)
    problem = _payout_problem(programme, body.payout, request.app[STATE].saccos)
    if body.payout is not None and problem:
        return _invalid("payout", problem)
    for key, what in (("phone_bidx", "phone"), ("destination_bidx", "payout account")):
        if key not in fields:
            continue
        holder = await store.holders(programme["_id"], key, [fields[key]])
        other = holder.get(fields[key], doc["_id"])
        if other != doc["_id"]:
            return error_response(
                409, "duplicate_beneficiary", f"this {what} is registered: {other}"
            )
    fields["updated_at"] = now_utc()
    sealed = reg.sealed(sealer, {**fields, "_id": doc["_id"], "merchant_id": doc["merchant_id"]})
    sealed.pop("_id"), sealed.pop("merchant_id")
    unset = None
    if body.payout is not None and "destination_bidx" not in fields:
        unset = {"destination_bidx": ""}  # now paid to the phone
    updated = await store.update_person(doc, sealed, push, unset)
    if updated is None:
        return error_response(409, "conflict", "the beneficiary changed meanwhile; read it again")
    changed = sorted(body.model_dump(exclude_none=True))
    after: Doc = {"fields": changed, "version": updated["version"]}
    if body.eligibility is not None:
        after["eligibility"] = body.eligibility.model_dump(mode="json", exclude={"reason"})
    await reg.audit(request, "benefits.beneficiary.change", doc["_id"], after)
    return json_response(reg.beneficiary_view(programme, await reg.opened(sealer, updated)))


def _changes(sealer: Sealer, doc: Doc, body: BeneficiaryChange) -> tuple[Doc | str, Doc | None]:
    fields: Doc = {}
    if body.phone is not None:
        fields |= {"phone": body.phone, "phone_bidx": sealer.bidx(body.phone)}
    if body.name is not None:
        fields["name"] = body.name
    if body.payout is not None:
        fields["payout"] = body.payout.as_doc()
        fields |= reg.destination_fields(sealer, doc["programme_id"], fields["payout"])
    push = None
    if body.eligibility is not None:
        e = body.eligibility
        new = Eligibility(e.status, e.effective, e.reason)
        problem = change_problem(reg.history(doc), new)
        if problem:
            return problem, None
        push = {
            "eligibility": {
                "status": e.status,
                "effective": e.effective.isoformat(),
                "reason": e.reason,
            }
        }
    return fields, push


# --- routes --------------------------------------------------------------------------------------

_PROGRAMME = "/v1/benefits/programmes/{programme_id}"
_PEOPLE = _PROGRAMME + "/beneficiaries"


ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/benefits/programmes",
        create_programme,
        TAG,
        "Create a benefits programme (amount per cycle, rail, name-match threshold)",
        {
            201: json_answer("The programme", out.BenefitProgramme),
            200: json_answer("A replay", out.BenefitProgramme),
        },
        body=ProgrammeCreate,
        errors=(409,),
        idempotency="required",
    ),
    Route(
        "GET",
        _PROGRAMME,
        get_programme,
        TAG,
        "A benefits programme",
        {200: json_answer("The programme", out.BenefitProgramme)},
        errors=(404,),
    ),
    Route(
        "POST",
        _PEOPLE,
        create_beneficiary,
        TAG,
        "Register a beneficiary (national ID and phone once per programme)",
        {
            201: json_answer("The beneficiary", out.Beneficiary),
            200: json_answer("A replay", out.Beneficiary),
        },
        body=BeneficiaryCreate,
        errors=(404, 409),
    ),
    Route(
        "POST",
        _PEOPLE + "/upload",
        upload,
        TAG,
        "Register beneficiaries from a CSV file; duplicates are refused and named",
        {
            201: json_answer("What was registered", out.BeneficiaryUpload),
            200: json_answer("Nothing new", out.BeneficiaryUpload),
        },
        body={
            "text/csv": {"type": "string", "description": "Columns: " + ", ".join(UPLOAD_COLUMNS)}
        },
        errors=(400, 404, 413, 415, 422),
        error_texts={413: "Larger than 4 MiB", 415: "Not text/csv", 422: "Invalid rows"},
    ),
    Route(
        "GET",
        _PEOPLE,
        list_beneficiaries,
        TAG,
        "A page of a programme's beneficiaries",
        {200: json_answer("The page", out.BeneficiaryList)},
        errors=(404, 422),
        params=(
            query("offset", {"type": "integer", "minimum": 0}, "Beneficiaries to skip."),
            limit_param(1000, 100),
        ),
    ),
    Route(
        "GET",
        _PEOPLE + "/{beneficiary_id}",
        get_beneficiary,
        TAG,
        "A beneficiary",
        {200: json_answer("The beneficiary", out.Beneficiary)},
        errors=(404,),
    ),
    Route(
        "PATCH",
        _PEOPLE + "/{beneficiary_id}",
        change_beneficiary,
        TAG,
        "Change a beneficiary's phone, name, payout or eligibility (dated)",
        {200: json_answer("The beneficiary", out.Beneficiary)},
        body=BeneficiaryChange,
        errors=(404, 409),
    ),
)
