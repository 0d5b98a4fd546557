"""What the benefits routes share: the store (made on first use), sealing and opening of
beneficiaries' personal data, the audit trail, and the views of programmes and beneficiaries."""

from __future__ import annotations

import copy
import hashlib
from datetime import date
from typing import Any

import orjson
from aiohttp import web

from api.audit import audit_log
from api.auth import CLAIMS
from api.benefits_models import BeneficiaryCreate, beneficiary_id
from api.merchant_settings import actor
from api.state import STATE, AppState
from infra.benefits_store import BenefitsStore, personal_paths
from switch.benefits import NAIROBI, Eligibility, destination, status_on
from switch.logs import request_id
from switch.money import format_minor, parse_whole_shillings
from switch.payments import iso, now_utc
from switch.pii import Sealer

Doc = dict[str, Any]


class Benefits:
    """Holds the store, made on first use: the app is built before MongoDB runs."""

    def __init__(self) -> None:
        self.store: BenefitsStore | None = None


BENEFITS = web.AppKey("benefits_store", Benefits)


async def benefits_of(app: web.Application) -> BenefitsStore:
    holder = app[BENEFITS]
    if holder.store is None:
        holder.store = BenefitsStore(app[STATE].cols.payments.database)
    await holder.store.ensure_indexes()
    return holder.store


async def audit(request: web.Request, action: str, target: str, after: Any = None) -> None:
    """Every change to a programme, a beneficiary or a run goes into the audit trail (no
    personal data in it: ids, statuses and the names of the fields changed)."""
    who = actor(request[CLAIMS])
    await audit_log(request.app[STATE]).append(
        who, action, target, None, after, request_id.get() or None
    )


def today() -> date:
    return now_utc().astimezone(NAIROBI).date()


def national_bidx(sealer: Sealer, national: str) -> str:
    """The blind index of a national ID, keyed apart from phones' (``nid:``)."""
    return sealer.bidx("nid:" + national)


def destination_fields(sealer: Sealer, programme_id: str, payout: Doc) -> Doc:
    """``destination_bidx``: the blind index of the account a payout goes to (bank or SACCO
    member), keyed with the programme so its unique index is per programme; none for a wallet,
    which pays the phone (its own blind index is unique already)."""
    found = destination(payout)
    if found is None:
        return {}
    return {"destination_bidx": sealer.bidx(f"dest:{programme_id}:{found}")}


def body_hash(body: BeneficiaryCreate) -> str:
    return hashlib.sha256(orjson.dumps(body.model_dump(mode="json"))).hexdigest()


def new_beneficiary(
    state: AppState, programme: Doc, body: BeneficiaryCreate, who: str, line: int = 0
) -> Doc:
    """A beneficiary document, not yet sealed (see :func:`sealed`)."""
    sealer = state.sealer()
    now = now_utc()
    payout: Doc = {"method": programme["rail"]}
    if body.payout is not None:
        payout = body.payout.as_doc()
    return {
        "_id": beneficiary_id(state.secret_key, programme["_id"], body.national_id),
        "merchant_id": programme["merchant_id"],
        "programme_id": programme["_id"],
        "national_id": body.national_id,
        "national_id_bidx": national_bidx(sealer, body.national_id),
        "phone": body.phone,
        "phone_bidx": sealer.bidx(body.phone),
        "name": body.name,
        "amount_minor": parse_whole_shillings(body.amount) if body.amount else None,
        "payout": payout,
        **destination_fields(sealer, programme["_id"], payout),
        "eligibility": [
            {
                "status": "eligible",
                "effective": (body.eligible_from or today()).isoformat(),
                "reason": "registered",
            }
        ],
        "request_hash": body_hash(body),
        "line": line,
        "version": 1,
        "created_by": who,
        "created_at": now,
        "updated_at": now,
    }


def sealed(sealer: Sealer, doc: Doc) -> Doc:
    """A copy of ``doc`` with its personal fields sealed with the merchant's key (``ready``
    first). A deep copy: the payout's account and member number are sealed in place, and the
    caller's document is still the one it answers with."""
    copied = copy.deepcopy(doc)
    return sealer.seal(copied, copied["_id"], copied["merchant_id"], personal_paths)


async def opened(sealer: Sealer, doc: Doc) -> Doc:
    await sealer.ready_for(doc, personal_paths)
    return sealer.open(doc, paths=personal_paths)


def history(doc: Doc) -> tuple[Eligibility, ...]:
    return tuple(
        Eligibility(e["status"], date.fromisoformat(e["effective"]), e.get("reason", ""))
        for e in doc["eligibility"]
    )


def amount_of(programme: Doc, doc: Doc) -> int:
    own = doc.get("amount_minor")
    return int(own) if own is not None else int(programme["amount_minor"])


def beneficiary_view(programme: Doc, doc: Doc) -> Doc:
    """A beneficiary, opened, as its programme's owner sees it."""
    entry = status_on(history(doc), today())
    payout = {k: v for k, v in doc["payout"].items()}
    return {
        "id": doc["_id"],
        "object": "beneficiary",
        "programme_id": doc["programme_id"],
        "national_id": doc["national_id"],
        "phone": doc["phone"],
        "name": doc["name"],
        "amount": format_minor(amount_of(programme, doc)),
        "payout": payout,
        "status": entry.status if entry else "not_yet_eligible",
        "eligibility": doc["eligibility"],
        "version": doc["version"],
        "created_at": iso(doc["created_at"]),
        "updated_at": iso(doc["updated_at"]),
    }


def programme_view(doc: Doc) -> Doc:
    return {
        "id": doc["_id"],
        "object": "benefit_programme",
        "name": doc["name"],
        "rail": doc["rail"],
        "amount": format_minor(doc["amount_minor"]),
        "currency": "KES",
        "reference": doc["reference"],
        "name_match_threshold": doc["name_match_threshold"],
        "cycle": "calendar month, Africa/Nairobi",
        "created_at": iso(doc["created_at"]),
    }
