"""Government collections over HTTP (switch/gov.py has the rules).

- ``PUT /v1/gov/paybill``: an agency (a merchant the operator marked ``kind: government``)
  collects on a paybill it claimed for C2B (``PUT /v1/c2b/registration``); from then on the
  switch's C2B validation of that paybill accepts only payable references (api/gov_worker.py).
- ``POST /v1/gov/references`` (Idempotency-Key required: the id derives from it),
  ``GET /v1/gov/references[/{id}]``, ``POST /v1/gov/references/{id}/cancel``.
- ``GET /v1/gov/receipts/{number}``: the receipt of a counted payment, JSON or (``Accept:
  text/plain``) printable.
- ``GET /v1/gov/collections``: per Nairobi day and revenue head, next to the journal.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.auth import CLAIMS
from api.bills_common import Phone, Shillings, digest
from api.c2b import ROUTES
from api.errors import error_response, json_response
from api.gov_common import change, gov_of, note_status, receipt_view, reference_view, utc
from api.gov_worker import PAYBILLS
from api.payments import parse_body
from api.routes import Answer, Route, json_answer, limit_param, query
from api.search import bad_filters
from api.state import STATE
from api.statements import DATES, stream_csv
from infra.gov_store import GovStore
from switch import gov, reports, statements
from switch.idempotency import check_key
from switch.money import parse_whole_shillings
from switch.payments import now_utc
from switch.search import FilterError

TAG = "Government collections"


def _invalid(details: list[dict[str, str]]) -> web.Response:
    return error_response(422, "validation_failed", "the request has invalid fields", details)


GOVERNMENT = "government"  # the merchant kind an agency has (api/merchants.py)


class PartialPayments(BaseModel):
    """The agency's partial-payment policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["none", "minimum", "instalments"] = Field(
        "none", description="`none`: the whole amount at once; `minimum`: parts of at least "
        "`minimum`; `instalments`: parts of at least the amount over `instalments`."
    )  # fmt: skip
    minimum: Shillings | None = None
    instalments: int | None = Field(None, ge=2, le=60)
    allow_overpayment: bool = Field(False, description="Count money beyond the amount due.")

    @model_validator(mode="after")
    def _complete(self) -> PartialPayments:
        if (self.mode == "minimum") != (self.minimum is not None):
            raise ValueError("minimum: given exactly when mode is minimum")
        if (self.mode == "instalments") != (self.instalments is not None):
            raise ValueError("instalments: given exactly when mode is instalments")
        return self

    def policy(self) -> gov.Policy:
        return gov.Policy(
            mode=self.mode,
            minimum_minor=parse_whole_shillings(self.minimum) if self.minimum else 0,
            instalments=self.instalments or 0,
            allow_overpayment=self.allow_overpayment,
        )


class GovPaybill(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    shortcode: str = Field(pattern=r"^[0-9]{5,7}$", description="Your paybill (claimed for C2B).")
    agency_name: str = Field(min_length=1, max_length=80, examples=["Nairobi City County"])
    partial_payments: PartialPayments = Field(default_factory=PartialPayments)


class Payer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=80)
    phone: Phone | None = None
    id_number: str | None = Field(None, pattern=r"^[0-9A-Z]{5,12}$", description="ID or KRA PIN.")


class GovReferenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    prn: str = Field(
        pattern=r"^[A-Za-z0-9-]{1,20}$",
        description="The payment reference (PRN or bill number) the customer types as the "
        "account number (M-Pesa takes up to 20 characters).",
    )
    revenue_head: str = Field(min_length=1, max_length=60, examples=["Land rates"])
    amount: Shillings
    expires_at: datetime = Field(description="After this the reference takes no payment.")
    payer: Payer
    partial_payments: PartialPayments | None = Field(
        None, description="This reference's policy; the paybill's when absent."
    )


async def _agency(request: web.Request) -> dict[str, Any] | web.Response:
    merchant_id = request[CLAIMS].merchant_id
    paybill = await (await gov_of(request.app)).paybills.find_one({"merchant_id": merchant_id})
    if paybill is None:
        return error_response(409, "not_an_agency", "register a paybill first: PUT /v1/gov/paybill")
    return paybill


async def put_paybill(request: web.Request) -> web.Response:
    state, merchant_id = request.app[STATE], request[CLAIMS].merchant_id
    body = await parse_body(request, GovPaybill)
    if isinstance(body, web.Response):
        return body
    merchant = await state.cols.merchants.find_one({"_id": merchant_id}) or {}
    if merchant.get("kind") != GOVERNMENT:
        return error_response(
            403, "not_an_agency", "only a merchant the operator marked kind government collects"
        )
    rules = await request.app[ROUTES].of(state, body.shortcode)
    if [(m, r.type) for m, r in rules] != [(merchant_id, "any")]:
        # Every account number on it is a reference: the whole paybill must be the agency's.
        reason = "claim this whole paybill for C2B first (PUT /v1/c2b/registration, any account)"
        return _invalid([{"field": "shortcode", "reason": reason}])
    store = await gov_of(request.app)
    taken = await store.paybills.find_one({"merchant_id": merchant_id})
    if taken is not None and taken["_id"] != body.shortcode:
        return error_response(409, "paybill_taken", f"you collect on {taken['_id']} already")
    doc = {"merchant_id": merchant_id, "agency_name": body.agency_name,
           "policy": body.partial_payments.policy().to_doc()}  # fmt: skip
    await store.paybills.update_one({"_id": body.shortcode}, {"$set": doc}, upsert=True)
    request.app[PAYBILLS].forget(body.shortcode)
    return json_response({"object": "gov_paybill", **body.model_dump(exclude_none=True)})


async def create(request: web.Request) -> web.Response:
    state, merchant_id = request.app[STATE], request[CLAIMS].merchant_id
    key = request.headers.get("Idempotency-Key", "")
    problem = check_key(key)
    if problem:
        return error_response(400, "invalid_idempotency_key", problem)
    body = await parse_body(request, GovReferenceCreate)
    if isinstance(body, web.Response):
        return body
    paybill = await _agency(request)
    if isinstance(paybill, web.Response):
        return paybill
    expires_at = utc(body.expires_at).astimezone(UTC)
    if expires_at <= datetime.now(UTC):
        return _invalid([{"field": "expires_at", "reason": "must be in the future"}])
    policy = body.partial_payments.policy() if body.partial_payments else None
    store = await gov_of(request.app)
    body_hash = hashlib.sha256(await request.read()).hexdigest()
    doc = {
        "_id": "gref_" + digest(state, f"gov-reference:{merchant_id}:{key}")[:26],
        "merchant_id": merchant_id,
        "shortcode": paybill["_id"],
        "prn": body.prn,
        "prn_norm": body.prn.strip().upper(),
        "revenue_head": body.revenue_head,
        "amount_minor": parse_whole_shillings(body.amount),
        "expires_at": expires_at,
        "payer": body.payer.model_dump(exclude_none=True),
        "policy": policy.to_doc() if policy else paybill["policy"],
        "payments": {}, "holds": {}, "excess": {}, "cancelled": False,
        "status": "issued", "open": True, "version": 0,
        "request_hash": body_hash, "created_at": now_utc(),
    }  # fmt: skip
    if await store.insert_reference(doc):
        await note_status(request.app, None, doc)
        return json_response(reference_view(doc), status=201)
    first = await store.reference(merchant_id, doc["_id"])
    if first is not None and first["request_hash"] == body_hash:
        return json_response(reference_view(first), headers={"Idempotent-Replayed": "true"})
    if first is not None:
        return error_response(409, "idempotency_conflict", "this key was used with another body")
    return error_response(409, "duplicate_reference", f"prn {body.prn} is already issued")


async def get_one(request: web.Request) -> web.Response:
    store = await gov_of(request.app)
    doc = await store.reference(request[CLAIMS].merchant_id, request.match_info["reference_id"])
    if doc is None:
        return error_response(404, "not_found", "no such reference")
    return json_response(reference_view(doc))


async def list_all(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status is not None and status not in gov.STATUSES:
        return _invalid([{"field": "status", "reason": f"one of {', '.join(gov.STATUSES)}"}])
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 500)
    except ValueError:
        return _invalid([{"field": "limit", "reason": "a whole number from 1 to 500"}])
    store = await gov_of(request.app)
    docs = await store.list_references(
        request[CLAIMS].merchant_id, status, limit, datetime.now(UTC)
    )
    return json_response({"object": "list", "data": [reference_view(d) for d in docs]})


async def cancel(request: web.Request) -> web.Response:
    store = await gov_of(request.app)
    doc = await store.reference(request[CLAIMS].merchant_id, request.match_info["reference_id"])
    if doc is None:
        return error_response(404, "not_found", "no such reference")
    refused: list[str] = []

    def step(ref: gov.Reference, now: datetime) -> tuple[gov.Reference, dict[str, Any]] | None:
        if ref.cancelled:
            return None  # cancelling twice changes nothing
        why = gov.can_cancel(ref, now)
        if why:
            refused.append(why)
            return None
        return replace(ref, cancelled=True), {}

    done = await change(request.app, doc["_id"], step)
    if refused:
        return error_response(409, "reference_in_use", refused[-1])
    return json_response(reference_view(done or await store.reference(None, doc["_id"]) or doc))


async def get_receipt(request: web.Request) -> web.Response:
    store = await gov_of(request.app)
    doc = await store.receipt(request[CLAIMS].merchant_id, request.match_info["number"])
    if doc is None:
        return error_response(404, "not_found", "no such receipt")
    view = receipt_view(doc)
    if "text/plain" in request.headers.get("Accept", ""):
        return web.Response(text=gov.printable(view), content_type="text/plain")
    return json_response(view)


async def collections_of(
    store: GovStore, merchant_id: str, since: date, until: date
) -> list[dict[str, object]]:
    """The collections report's rows for Nairobi days ``since`` to ``until`` (also an export
    job's, api/exports.py)."""
    start, end = statements.day_range(since, until)
    receipts = await store.receipts_between(merchant_id, start, end)
    for r in receipts:
        r["paid_at"] = utc(r["paid_at"])
    journal = await store.journal_gross([r["payment_id"] for r in receipts])
    return gov.collections_report(receipts, journal)


async def collections(request: web.Request) -> web.StreamResponse:
    try:
        q = reports.parse_report_query(request.query, {})
    except FilterError as exc:
        return bad_filters(exc)
    rows = await collections_of(
        await gov_of(request.app), request[CLAIMS].merchant_id, q["since"], q["until"]
    )
    if q["format"] == "csv":
        return await stream_csv(
            request, f"collections-{q['since']}-{q['until']}.csv", gov.csv_rows(rows)
        )
    body = {"object": "gov_collections", "time_zone": "Africa/Nairobi", "currency": "KES",
            "rows": rows, "reconciled": all(r["reconciled"] for r in rows)}  # fmt: skip
    return json_response(body)


REFERENCE = json_answer("The reference", {"type": "object"})
RECEIPT = Answer(
    "The receipt (JSON, or printable text with Accept: text/plain)",
    {"application/json": {"type": "object"}, "text/plain": {"type": "string"}},
)
REPORT = Answer(
    "Per Nairobi day and revenue head (JSON, or CSV with format=csv)",
    {"application/json": {"type": "object"}, "text/csv": {"type": "string"}},
)
ROUTE_TABLE = (
    Route("PUT", "/v1/gov/paybill", put_paybill, TAG,
          "Collect payment references on your paybill (agencies)",
          {200: json_answer("Registered", {"type": "object"})}, body=GovPaybill,
          errors=(403, 409)),
    Route("POST", "/v1/gov/references", create, TAG, "Issue a payment reference (PRN)",
          {201: REFERENCE, 200: REFERENCE}, body=GovReferenceCreate, errors=(409,),
          idempotency="required"),
    Route("GET", "/v1/gov/references", list_all, TAG, "List payment references",
          {200: json_answer("Newest first", {"type": "object"})}, errors=(422,),
          params=(query("status", {"type": "string", "enum": list(gov.STATUSES)}, "Only these."),
                  limit_param(500, 50))),
    Route("GET", "/v1/gov/references/{reference_id}", get_one, TAG, "A payment reference",
          {200: REFERENCE}, errors=(404,)),
    Route("POST", "/v1/gov/references/{reference_id}/cancel", cancel, TAG,
          "Cancel a reference nothing was paid against", {200: REFERENCE},
          body_required=False, errors=(404, 409)),
    Route("GET", "/v1/gov/receipts/{number}", get_receipt, TAG, "A payment's receipt",
          {200: RECEIPT}, errors=(404,)),
    Route("GET", "/v1/gov/collections", collections, TAG,
          "Daily collections per revenue head, reconciled with the journal", {200: REPORT},
          errors=(400,), params=DATES, error_texts={400: "A bad or missing parameter (named)"}),
)  # fmt: skip
