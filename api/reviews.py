"""The review queue, merchants' KYC states and limits, and the suspicious-activity report.

Review (payments held by screening, switch/compliance.py; rules in switch/reviews.py):

- ``GET /v1/reviews``: the caller's merchant's held payments (permission ``payouts:read``);
- ``POST /v1/reviews/{payment_id}/approve`` ``{reason?}`` and ``/reject`` ``{reason}``
  (permission ``payouts:write``, held by the roles owner, admin and finance, and by a person
  only: the reviewer is the signed-in user of the session token, ``user:<id>``, because four
  eyes need two people; an API client's token is refused even with that scope);
- the operator's compliance desk sees every merchant's queue and may decide too:
  ``GET /v1/operator/reviews``, ``POST /v1/operator/reviews/{payment_id}/approve|reject``
  (scope ``operator``; the reviewer is ``operator:<client id>``).

Merchants (scope ``operator``, audited): ``PUT /v1/operator/merchants/{merchant_id}/kyc``
``{state: pending|verified|suspended, reason}`` (``verified`` is a proposal a second operator
confirms, api/kyc_review.py; KYC applications are the way to verify a merchant) and
``PUT .../limits`` (whole shillings, null removes an override). The owning shard drops its
cached copy before the answer, so the next payment sees the change.

Report: ``GET /v1/reports/suspicious-activity`` (``reports:read``: the merchant's events) and
``GET /v1/operator/reports/suspicious-activity`` (every merchant's), CSV of the holds, the
refusals by KYC or limit, and the review decisions, oldest first, with optional ``since`` and
``until`` dates (``YYYY-MM-DD``, UTC, inclusive).
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api import openapi_models as out
from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import Handler, error_response, json_response
from api.kyc_review import propose_verified
from api.models import Payment, Payout
from api.payments import parse_body, reply_response
from api.routes import REPORT_DATES, Route, any_of, csv_answer, json_answer, limit_param
from api.state import STATE, AppState
from switch.errors import ValidationFailed
from switch.ids import shard_of
from switch.logs import request_id
from switch.money import format_minor
from switch.payments import iso, now_utc

log = logging.getLogger(__name__)

MAX_LIST = 500
MAX_REPORT_ROWS = 100_000
CSV_COLUMNS = (
    "at",
    "kind",
    "merchant_id",
    "payment_id",
    "method",
    "amount",
    "phone",
    "reason",
    "field",
    "rules",
    "names",
    "reviewer",
    "note",
)


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="Why: required to reject, optional to approve."
    )


class KycBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    state: Literal["pending", "verified", "suspended"]
    reason: Annotated[str, Field(min_length=3, max_length=500)]


Shillings = Annotated[int, Field(ge=1, le=100_000_000)] | None


class LimitsBody(BaseModel):
    """A merchant's own limits in whole shillings (null: none of its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transaction_max: Shillings = None
    phone_daily_max: Shillings = None
    merchant_daily_max: Shillings = None
    hold_above: Shillings = None
    reason: Annotated[str, Field(min_length=3, max_length=500)]


# --- the review queue -----------------------------------------------------------------------


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIST:
        raise ValidationFailed(
            "invalid query", [{"field": "limit", "reason": f"must be 1 to {MAX_LIST}"}]
        )
    return int(raw)


async def list_held(request: web.Request) -> web.Response:
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    found = await state.router.of_merchant(merchant_id).held(merchant_id, _limit(request))
    return json_response({"object": "list", "data": found})


async def list_all_held(request: web.Request) -> web.Response:
    state = request.app[STATE]
    limit = _limit(request)
    found: list[dict[str, Any]] = []
    for shard in state.actors.shards:  # an operator: every merchant's, on every shard
        found.extend(await shard.held(None, limit))
    found.sort(key=lambda p: (p["created_at"], p["id"]))
    return json_response({"object": "list", "data": found[:limit]})


async def _decide(
    request: web.Request, decision: str, merchant_id: str | None, reviewer: str
) -> web.Response:
    body = await parse_body(request, ReviewBody) if request.can_read_body else ReviewBody()
    if isinstance(body, web.Response):
        return body
    payment_id = request.match_info["payment_id"]
    shard = shard_of(payment_id)
    state = request.app[STATE]
    if shard is None or shard >= state.router.count:
        return error_response(404, "not_found", f"no payment {payment_id}")
    reply = await state.actors.shards[shard].review(
        merchant_id, payment_id, decision, reviewer, body.reason
    )
    return reply_response(reply)


def _person(request: web.Request) -> str | web.Response:
    claims = request[CLAIMS]
    if claims.kind != "session":
        return error_response(
            403,
            "person_required",
            "a held payment is reviewed by a person signed in (POST /v1/auth/login), not by an "
            "API client",
        )
    return f"user:{claims.client_id}"


async def approve(request: web.Request) -> web.Response:
    reviewer = _person(request)
    if isinstance(reviewer, web.Response):
        return reviewer
    return await _decide(request, "approve", request[CLAIMS].merchant_id, reviewer)


async def reject(request: web.Request) -> web.Response:
    reviewer = _person(request)
    if isinstance(reviewer, web.Response):
        return reviewer
    return await _decide(request, "reject", request[CLAIMS].merchant_id, reviewer)


async def operator_approve(request: web.Request) -> web.Response:
    return await _decide(request, "approve", None, f"operator:{request[CLAIMS].client_id}")


async def operator_reject(request: web.Request) -> web.Response:
    return await _decide(request, "reject", None, f"operator:{request[CLAIMS].client_id}")


# --- KYC states and limits ------------------------------------------------------------------


async def _change_merchant(
    request: web.Request, action: str, field: str, value: Any, reason: str
) -> web.Response:
    """Set one field of a merchant's document, audit it, and tell the owning shard."""
    state = request.app[STATE]
    merchant_id = request.match_info["merchant_id"]
    before = await state.cols.merchants.find_one({"_id": merchant_id}, {field: 1})
    if before is None:
        return error_response(404, "not_found", f"no merchant {merchant_id}")
    changes = {field: value, f"{field}_reason": reason, f"{field}_updated_at": now_utc()}
    update: dict[str, Any] = {"$set": changes}
    if field == "kyc_status":  # a restriction drops an open proposal to verify (kyc_review.py)
        update["$unset"] = {"kyc_proposal": ""}
    await state.cols.merchants.update_one({"_id": merchant_id}, update)
    await _audit(state, request, action, merchant_id, before.get(field), value, reason)
    try:
        await state.router.of_merchant(merchant_id).kyc_changed(merchant_id)
    except Exception:  # the shard restarts with an empty cache; else its cache ends in 30 s
        log.warning("shard not told of %s for %s", action, merchant_id, exc_info=True)
    return json_response({"object": "merchant", "id": merchant_id, field: value, "reason": reason})


async def _audit(
    state: AppState,
    request: web.Request,
    action: str,
    target: str,
    before: Any,
    after: Any,
    reason: str,
) -> None:
    claims = request[CLAIMS]
    actor = f"{'user' if claims.kind == 'session' else 'client'}:{claims.client_id}"
    try:
        await audit_log(state).append(
            actor,
            action,
            f"merchant:{target}",
            {"value": before},
            {"value": after, "reason": reason},
            request_id.get() or None,
        )
    except Exception:
        log.exception("audit of %s on %s not recorded", action, target)


async def set_kyc(request: web.Request) -> web.Response:
    body = await parse_body(request, KycBody)
    if isinstance(body, web.Response):
        return body
    if body.state == "verified":  # four eyes, as a KYC application above the risk threshold
        return await propose_verified(request, request.match_info["merchant_id"], body.reason)
    return await _change_merchant(request, "merchant.kyc", "kyc_status", body.state, body.reason)


async def set_limits(request: web.Request) -> web.Response:
    body = await parse_body(request, LimitsBody)
    if isinstance(body, web.Response):
        return body
    limits = {
        name: shillings * 100
        for name, shillings in body.model_dump(exclude={"reason"}).items()
        if shillings is not None
    }
    return await _change_merchant(request, "merchant.limits", "limits", limits, body.reason)


# --- the suspicious-activity report ---------------------------------------------------------


def _day(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed(
            "invalid query", [{"field": name, "reason": "a date, YYYY-MM-DD"}]
        ) from None


def report_query(
    merchant_id: str | None, since: datetime | None, until: datetime | None
) -> dict[str, Any]:
    """The MongoDB filter of a report: values we typed, never a client's operator. Pure."""
    query: dict[str, Any] = {}
    if merchant_id is not None:
        query["merchant_id"] = str(merchant_id)
    span: dict[str, datetime] = {}
    if since is not None:
        span["$gte"] = since
    if until is not None:
        span["$lt"] = until + timedelta(days=1)
    if span:
        query["at"] = span
    return query


def csv_rows(events: list[dict[str, Any]]) -> str:
    """The report as CSV text (one row per event). Pure."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow(
            [
                iso(e["at"]) if isinstance(e.get("at"), datetime) else e.get("at", ""),
                e.get("kind", ""),
                e.get("merchant_id", ""),
                e.get("payment_id", ""),
                e.get("method", ""),
                format_minor(int(e.get("amount_minor") or 0)),
                e.get("phone") or "",
                e.get("reason") or "",
                e.get("field") or "",
                ";".join(e.get("rules") or []),
                ";".join(e.get("names") or []),
                e.get("reviewer") or "",
                _safe_cell(e.get("note") or ""),
            ]
        )
    return out.getvalue()


def _safe_cell(text: str) -> str:
    """A reviewer's free text, defused for spreadsheets (CSV formula injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


async def _report(request: web.Request, merchant_id: str | None) -> web.Response:
    state = request.app[STATE]
    query = report_query(merchant_id, _day(request, "since"), _day(request, "until"))
    cursor = state.cols.compliance_events.find(query).sort("at", 1).limit(MAX_REPORT_ROWS)
    events = [doc async for doc in cursor]
    name = f"suspicious-activity-{merchant_id or 'all'}.csv"
    return web.Response(
        text=csv_rows(events),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def merchant_report(request: web.Request) -> web.Response:
    return await _report(request, request[CLAIMS].merchant_id)


async def operator_report(request: web.Request) -> web.Response:
    return await _report(request, None)


_HELD = json_answer("Held payments, oldest first", out.HeldList)
_DECIDED = json_answer("The payment, decided", any_of(Payment, Payout))
_CHANGED = json_answer("The merchant, changed", out.MerchantChange)


def _listing_route(path: str, handler: Handler, tag: str, summary: str) -> Route:
    return Route(
        "GET",
        path,
        handler,
        tag,
        summary,
        {200: _HELD},
        errors=(422,),
        params=(limit_param(MAX_LIST, 100),),
    )


def _decision_route(path: str, handler: Handler, tag: str) -> Route:
    reject = path.endswith("/reject")
    return Route(
        "POST",
        path,
        handler,
        tag,
        ("Reject a held payment (a reason is required)" if reject else "Approve a held payment"),
        {200: _DECIDED},
        body=ReviewBody,
        body_required=False,
        errors=(404, 409),
        error_texts={
            403: "Not allowed, or not a person signed in",
            409: "Not held, or this reviewer already approved it",
        },
    )


def _report_route(path: str, handler: Handler, tag: str, whose: str) -> Route:
    return Route(
        "GET",
        path,
        handler,
        tag,
        f"{whose} suspicious-activity report (CSV)",
        {200: csv_answer("Holds, refusals and review decisions, oldest first")},
        errors=(422,),
        params=REPORT_DATES,
    )


ROUTE_TABLE = (
    _listing_route("/v1/reviews", list_held, "Compliance", "Your held payments"),
    _decision_route("/v1/reviews/{payment_id}/approve", approve, "Compliance"),
    _decision_route("/v1/reviews/{payment_id}/reject", reject, "Compliance"),
    _listing_route(
        "/v1/operator/reviews", list_all_held, "Operator", "Every merchant's held payments"
    ),
    _decision_route("/v1/operator/reviews/{payment_id}/approve", operator_approve, "Operator"),
    _decision_route("/v1/operator/reviews/{payment_id}/reject", operator_reject, "Operator"),
    Route(
        "PUT",
        "/v1/operator/merchants/{merchant_id}/kyc",
        set_kyc,
        "Operator",
        "Set a merchant's KYC state (audited; verified needs a second operator)",
        {200: _CHANGED, 202: _CHANGED},
        body=KycBody,
        errors=(404,),
    ),
    Route(
        "PUT",
        "/v1/operator/merchants/{merchant_id}/limits",
        set_limits,
        "Operator",
        "Set a merchant's own limits (whole shillings; null removes one)",
        {200: _CHANGED},
        body=LimitsBody,
        errors=(404,),
    ),
    _report_route("/v1/reports/suspicious-activity", merchant_report, "Compliance", "Your"),
    _report_route(
        "/v1/operator/reports/suspicious-activity", operator_report, "Operator", "Every merchant's"
    ),
)
