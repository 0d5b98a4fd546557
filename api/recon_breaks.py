"""The reconciliation breaks queue (scope ``operator``; rules in :mod:`switch.recon.breaks`):

- ``GET /v1/operator/recon/breaks`` (``status``, ``kind``, ``provider``, ``limit``) and
  ``GET /v1/operator/recon/breaks/{break_id}``;
- ``POST /v1/operator/recon/breaks/{break_id}/resolve`` ``{action, merchant_id?, evidence?,
  reason}``: ``confirm`` and ``retry_refund`` are carried out at once; ``allocate``,
  ``write_off`` and ``mark_refunded`` are proposed, and
- ``POST /v1/operator/recon/breaks/{break_id}/approve`` by another operator carries them out.

Money only moves through the switch's own paths: a confirmed or allocated C2B payment goes to its
merchant's shard as a confirmation, which credits nobody until M-Pesa's record of the receipt
(Transaction Status) agrees; the receipt, amount, shortcode and account are the provider's
record's, never the caller's. A write-off posts one balanced journal entry whose id is the
break's. Every proposal, approval and resolution is in the audit trail.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.audit import audit_log
from api.auth import CLAIMS
from api.c2b import ROUTES, claim_receipt
from api.errors import error_response, json_response
from api.payments import parse_body
from api.recon_refunds import retry_refund
from api.routes import Route, json_answer, limit_param, query
from api.state import STATE, AppState
from connectors.common import EAT
from infra.recon import ReconStore
from switch.c2b import route
from switch.logs import request_id
from switch.messages import C2bIn
from switch.payments import iso, now_utc
from switch.recon import suspense
from switch.recon.breaks import (
    FINAL,
    TWO_PERSON,
    approval_refusal,
    correction,
    refusal,
    write_off_entry,
)
from switch.recon.matching import BREAK_KINDS

log = logging.getLogger(__name__)
STATUSES = ("open", "resolving", "resolved", "cleared")
MAX_LIST = 500


class Recon:
    """The app's reconciliation store, made on first use (the app may be built without a
    database, as unit tests build it)."""

    def __init__(self) -> None:
        self._store: ReconStore | None = None

    def store(self, state: AppState) -> ReconStore:
        if self._store is None:
            self._store = ReconStore(state.cols.payments.database)
        return self._store


RECON = web.AppKey("recon", Recon)


class ResolveBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["confirm", "allocate", "write_off", "retry_refund", "mark_refunded"]
    merchant_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="allocate: the merchant the money goes to."
    )
    reason: Annotated[str, Field(min_length=3, max_length=500)]
    evidence: Annotated[str, Field(min_length=3, max_length=500)] | None = Field(
        None,
        description="mark_refunded: how the payer was paid back (a receipt or bank reference).",
    )


def _store(request: web.Request) -> ReconStore:
    return request.app[RECON].store(request.app[STATE])


def _who(request: web.Request) -> str:
    return f"operator:{request[CLAIMS].client_id}"


def view(doc: dict[str, Any]) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return iso(value) if isinstance(value, datetime) else None

    out = {
        "id": doc["_id"],
        "object": "recon_break",
        "status": doc["status"],
        "kind": doc["kind"],
        "provider": doc["provider"],
        "key": doc["key"],
        "detail": doc["detail"],
        "payment_id": doc.get("payment_id") or None,
        "merchant_id": doc.get("merchant_id") or None,
        "switch_amount": _shillings(doc.get("switch_amount")),
        "provider_amount": _shillings(doc.get("provider_amount")),
        "sources": doc.get("sources", []),
        "suspense": _suspense_view(doc.get("suspense")),
        "at": when(doc.get("at")),
        "found_at": when(doc.get("found_at")),
        "proposal": None,
        "resolution": None,
    }
    for name in ("proposal", "resolution"):
        if doc.get(name):
            out[name] = {k: when(v) if isinstance(v, datetime) else v for k, v in doc[name].items()}
    return out


def _suspense_view(held: dict[str, Any] | None) -> dict[str, Any] | None:
    """What of the break's money sits in ``switch:suspense`` (and what took it out)."""
    if not held:
        return None
    return {"amount": _shillings(held["amount"]), "moved_by": held.get("closed_by")}


def _shillings(cents: Any) -> str | None:
    if cents is None:
        return None
    major, minor = divmod(int(cents), 100)
    return f"{major}" if not minor else f"{major}.{minor:02d}"


# --- reads ---------------------------------------------------------------------------------------


async def list_breaks(request: web.Request) -> web.Response:
    filters: dict[str, str] = {}
    problems = []
    allowed = {"status": STATUSES, "kind": BREAK_KINDS, "provider": ("mpesa", "airtel", "pesalink")}
    for name, values in allowed.items():
        value = request.query.get(name)
        if value is None:
            continue
        if value not in values:
            problems.append({"field": name, "reason": f"must be one of {', '.join(values)}"})
        filters[name] = value
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        problems.append({"field": "limit", "reason": f"must be 1 to {MAX_LIST}"})
    if problems:
        return error_response(422, "validation_failed", "the request has invalid fields", problems)
    found = await _store(request).list_breaks(filters, int(raw))
    return json_response({"object": "list", "data": [view(d) for d in found]})


async def get_break(request: web.Request) -> web.Response:
    doc = await _store(request).get_break(request.match_info["break_id"])
    if doc is None:
        return error_response(404, "not_found", "no such break")
    return json_response(view(doc))


# --- resolutions ---------------------------------------------------------------------------------


async def resolve(request: web.Request) -> web.Response:
    body = await parse_body(request, ResolveBody)
    if isinstance(body, web.Response):
        return body
    store, state = _store(request), request.app[STATE]
    brk = await store.get_break(request.match_info["break_id"])
    if brk is None:
        return error_response(404, "not_found", "no such break")
    refused = refusal(brk, body.action)
    if refused is not None:
        return error_response(409, refused.code, refused.reason)
    if body.action == "allocate":
        if body.merchant_id is None:
            detail = [{"field": "merchant_id", "reason": "required to allocate"}]
            return error_response(
                422, "validation_failed", "the request has invalid fields", detail
            )
        if await state.cols.merchants.find_one({"_id": body.merchant_id}, {"_id": 1}) is None:
            detail = [{"field": "merchant_id", "reason": "no such merchant"}]
            return error_response(
                422, "validation_failed", "the request has invalid fields", detail
            )
    if body.action == "mark_refunded" and body.evidence is None:
        detail = [{"field": "evidence", "reason": "required to mark a refund made by hand"}]
        return error_response(422, "validation_failed", "the request has invalid fields", detail)
    who, now = _who(request), now_utc()
    if body.action in TWO_PERSON:
        proposal = {
            "action": body.action,
            "merchant_id": body.merchant_id,
            "reason": body.reason,
            "proposed_by": who,
            "proposed_at": now,
        }
        if body.evidence is not None:
            proposal["evidence"] = body.evidence
        if body.action == "write_off":
            proposal["amount"] = _shillings(abs(correction(brk)))
        if not await store.set_if(brk["_id"], {"status": "open"}, {"proposal": proposal}):
            return error_response(409, "not_open", "the break changed meanwhile")
        await _audit(state, who, "recon.propose", brk["_id"], None, proposal)
        return json_response(view({**brk, "proposal": proposal}), 202)
    if body.action == "retry_refund":
        outcome = await retry_refund(state, brk, who)
    else:
        outcome = await _confirm(request, brk, None)
    if isinstance(outcome, web.Response):
        return outcome
    return await _resolved(request, brk, {"action": body.action, "reason": body.reason, **outcome})


async def approve(request: web.Request) -> web.Response:
    store, state = _store(request), request.app[STATE]
    brk = await store.get_break(request.match_info["break_id"])
    if brk is None:
        return error_response(404, "not_found", "no such break")
    if brk["status"] != "open":
        return error_response(409, "not_open", f"the break is {brk['status']}, not open")
    proposal = brk.get("proposal")
    refused = approval_refusal(proposal, _who(request))
    if refused is not None:
        return error_response(
            409 if refused.code == "no_proposal" else 403, refused.code, refused.reason
        )
    assert proposal is not None
    resolution = {**proposal, "approved_by": _who(request)}
    if proposal["action"] == "write_off":
        held = brk.get("suspense") or {}
        if held.get("amount") and not held.get("closed_by"):
            # Money nobody claimed was booked to suspense when found: the switch keeps it.
            entry = suspense.write_off(brk, int(held["amount"]))
            posted = bool(await store.post_entries([entry], now_utc()))
            await store.set_if(brk["_id"], {}, {"suspense.closed_by": entry.id})
        else:
            entry = write_off_entry(brk)
            posted = await store.post_entry(entry, state.cols.balances, now_utc())
        resolution |= {"journal_entry": entry.id, "posted": posted}
    elif proposal["action"] == "mark_refunded":
        pass  # nothing moves on the switch's books: the evidence is the record (audited)
    else:
        outcome = await _confirm(request, brk, proposal["merchant_id"])
        if isinstance(outcome, web.Response):
            return outcome
        resolution |= outcome
    return await _resolved(request, brk, resolution)


async def _confirm(
    request: web.Request, brk: dict[str, Any], merchant_id: str | None
) -> dict[str, Any] | web.Response:
    """The provider's record of a C2B payment, through the switch's C2B path: to the claiming
    merchant (confirm) or the one named (allocate)."""
    state = request.app[STATE]
    record = brk["records"][0]
    shortcode, account = record["shortcode"], record.get("account") or ""
    owner = merchant_id or route(await request.app[ROUTES].of(state, shortcode), account)
    if owner is None:
        return error_response(
            409, "no_owner", f"no merchant claims account {account!r} on {shortcode}: allocate it"
        )
    if not await claim_receipt(state, record["receipt"], owner, shortcode):
        return error_response(409, "receipt_taken", "the receipt belongs to another merchant")
    item = C2bIn(
        merchant_id=owner,
        trans_id=record["receipt"],
        trans_time=record["at"].astimezone(EAT).strftime("%Y%m%d%H%M%S"),
        amount_minor=int(record["amount"]),
        shortcode=shortcode,
        bill_ref=account,
        transaction_type="Pay Bill",
        payer={"msisdn": record.get("party") or "", "first_name": ""},
    )
    shard = state.router.shard_of_merchant(owner)
    verdict = await state.router.c2b_confirmations[shard].call(item)
    if merchant_id is not None:
        await state.cols.c2b_unmatched.update_one(
            {"_id": record["receipt"]}, {"$set": {"allocated_to": owner}}
        )
    # "applied": stored, and M-Pesa's record is being asked; the merchant is credited once it
    # agrees, and a later run then matches the payment.
    return {"merchant_id": owner, "verdict": verdict}


async def _resolved(
    request: web.Request, brk: dict[str, Any], resolution: dict[str, Any]
) -> web.Response:
    """A write-off is done once posted; a payment put through the C2B path is ``resolving``
    until a later run finds it matched (or open again, if M-Pesa's record did not agree)."""
    state, store = request.app[STATE], _store(request)
    resolution = {**resolution, "resolved_by": _who(request), "resolved_at": now_utc()}
    status = "resolved" if resolution["action"] in FINAL else "resolving"
    if not await store.set_if(
        brk["_id"], {"status": "open"}, {"status": status, "resolution": resolution}
    ):
        return error_response(409, "not_open", "the break was resolved meanwhile")
    await _audit(
        state, _who(request), f"recon.{resolution['action']}", brk["_id"], None, resolution
    )
    return json_response(view({**brk, "status": status, "resolution": resolution}))


async def _audit(
    state: AppState, actor: str, action: str, target: str, before: Any, after: Any
) -> None:
    shown = {k: iso(v) if isinstance(v, datetime) else v for k, v in (after or {}).items()}
    try:
        await audit_log(state).append(
            actor, action, f"recon_break:{target}", before, shown, request_id.get() or None
        )
    except Exception:
        log.exception("audit of %s on %s not recorded", action, target)


BREAK = {"type": "object", "additionalProperties": True}
ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/operator/recon/breaks",
        list_breaks,
        "Reconciliation",
        "The breaks queue",
        {
            200: json_answer(
                "Breaks, oldest first", {"type": "object", "additionalProperties": True}
            )
        },
        params=(
            query("status", {"type": "string", "enum": list(STATUSES)}, "Only this status."),
            query("kind", {"type": "string", "enum": list(BREAK_KINDS)}, "Only this kind."),
            query("provider", {"type": "string"}, "Only this provider."),
            limit_param(MAX_LIST, 100),
        ),
        errors=(422,),
    ),
    Route(
        "GET",
        "/v1/operator/recon/breaks/{break_id}",
        get_break,
        "Reconciliation",
        "One break",
        {200: json_answer("The break", BREAK)},
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/operator/recon/breaks/{break_id}/resolve",
        resolve,
        "Reconciliation",
        "Resolve a break (confirm, retry_refund), or propose a resolution (allocate, "
        "write_off, mark_refunded)",
        {200: json_answer("Resolved", BREAK), 202: json_answer("Proposed", BREAK)},
        body=ResolveBody,
        errors=(404, 409),
    ),
    Route(
        "POST",
        "/v1/operator/recon/breaks/{break_id}/approve",
        approve,
        "Reconciliation",
        "Approve another operator's proposed resolution, which carries it out",
        {200: json_answer("Resolved", BREAK)},
        errors=(403, 404, 409),
    ),
)
