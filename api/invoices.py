"""Invoices over HTTP (M-Pesa Bill Manager).

- ``PUT /v1/invoices/settings``: opt the merchant's paybill in to Bill Manager (the paybill must
  be claimed for C2B first: ``PUT /v1/c2b/registration``); Bill Manager will push payments to a
  callback URL whose last part is a secret shared with M-Pesa only.
- ``POST /v1/invoices`` and ``POST /v1/invoices/bulk`` (up to 1000, all or none): stored, then
  sent to Bill Manager, which texts the customer; Idempotency-Key required (ids derive from it).
- ``GET /v1/invoices/{id}``, ``GET /v1/invoices?status=``, ``POST /v1/invoices/{id}/cancel``.

What an invoice is paid is only ever the amount of a C2B payment the switch verified against
M-Pesa's record (README "C2B"): a C2B confirmation or Bill Manager's push names a receipt, which
is noted in ``invoice_matches``; :mod:`api.bills_worker` credits the invoice once that payment
is ``succeeded`` (with the payment's own amount) and acknowledges it to Bill Manager. The push's
``paidAmount`` is never read as money.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import date
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.auth import CLAIMS
from api.bills_common import (
    Phone,
    Shillings,
    bills_of,
    invoice_id,
    invoice_view,
    note_event,
    refresh_status,
    url_token,
)
from api.c2b import ROUTES
from api.errors import error_response, json_response, validation_details
from api.routes import Route, callback_route, json_answer, limit_param, query
from api.state import STATE, AppState
from connectors.mpesa import billmanager as bm
from switch.c2b import route as c2b_route
from switch.idempotency import check_key
from switch.invoices import MAX_BULK, STATUSES, duplicate_references, normalise_reference
from switch.money import parse_whole_shillings
from switch.payments import now_utc

log = logging.getLogger(__name__)
TAG = "Invoices"
UNAVAILABLE = "unavailable"


class InvoiceOptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    shortcode: str = Field(pattern=r"^[0-9]{5,7}$", description="Your paybill (claimed for C2B).")
    email: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=120, examples=["billing@acme.example"]
    )
    official_contact: str = Field(pattern=r"^0[17][0-9]{8}$", description="07XXXXXXXX")
    send_reminders: bool = Field(True, description="SMS 7 and 3 days before and on the due date.")


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=40)
    amount: Shillings


class InvoiceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    external_reference: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$", description="Your id.")
    account_reference: str = Field(
        pattern=r"^[A-Za-z0-9-]{1,20}$", description="The account the customer pays to."
    )
    amount: Shillings
    due_date: date
    customer_name: str = Field(min_length=1, max_length=60)
    phone: Phone
    period: str = Field(min_length=1, max_length=40, description='e.g. "December 2026".')
    name: str = Field(min_length=1, max_length=40, description='e.g. "Water".')
    items: list[ItemIn] = Field(default_factory=list, max_length=50)

    def order(self) -> bm.InvoiceOrder:
        items = tuple((i.name, parse_whole_shillings(i.amount)) for i in self.items)
        return bm.InvoiceOrder(
            self.external_reference, self.customer_name, bm.local_phone(self.phone), self.period,
            self.name, self.due_date, self.account_reference, parse_whole_shillings(self.amount),
            items,
        )  # fmt: skip


class InvoiceBulkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    invoices: list[InvoiceCreate] = Field(min_length=1, max_length=MAX_BULK)


def _invalid(details: list[dict[str, str]]) -> web.Response:
    return error_response(422, "validation_failed", "the request has invalid fields", details)


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(orjson.loads(await request.read()))
    except orjson.JSONDecodeError:
        return error_response(400, "invalid_json", "the body must be a JSON object")
    except ValidationError as exc:
        return _invalid(validation_details(exc))


async def settings(request: web.Request) -> web.Response:
    state, merchant_id = request.app[STATE], request[CLAIMS].merchant_id
    body = await _body(request, InvoiceOptIn)
    if isinstance(body, web.Response):
        return body
    rules = await request.app[ROUTES].of(state, body.shortcode)
    if all(m != merchant_id for m, _ in rules):
        reason = "claim this paybill for C2B first (PUT /v1/c2b/registration)"
        return _invalid([{"field": "shortcode", "reason": reason}])
    store = await bills_of(request.app)
    taken = await store.optins.find_one({"_id": body.shortcode})
    if taken and taken["merchant_id"] != merchant_id:
        return error_response(409, "shortcode_taken", "another merchant bills on this paybill")
    base = state.settings.public_url or f"http://{state.settings.host}:{state.settings.port}"
    url = f"{base}/callbacks/billmanager/{body.shortcode}/{url_token(state, body.shortcode)}"
    optin = bm.OptIn(
        body.shortcode, body.email, body.official_contact, body.send_reminders, url
    ).body()
    path = bm.PATHS["change_optin"] if taken else bm.PATHS["optin"]
    answer = await _call(state, path, optin, taken.get("app_key", "") if taken else "")
    if not answer.ok:
        return _refused(answer)
    doc = {"merchant_id": merchant_id, "app_key": answer.app_key or (taken or {}).get("app_key")}
    await store.optins.update_one({"_id": body.shortcode}, {"$set": doc}, upsert=True)
    shown = {**body.model_dump(), "callback_url": url.rsplit("/", 1)[0] + "/********"}
    return json_response({**shown, "provider": {"description": answer.message}})


async def _call(state: AppState, path: str, payload: object, app_key: str) -> bm.Answer:
    """Bill Manager's answer; code ``unavailable`` when none came (the gateway's reason)."""
    headers = {bm.APP_KEY_HEADER: app_key} if app_key else {}
    raw = await state.actors.gateways.product_call(path, payload, headers)
    if "error" in raw:
        return bm.Answer(False, UNAVAILABLE, raw["error"])
    return bm.parse_answer(int(raw["status"]), raw["body"].encode())


def _refused(answer: bm.Answer) -> web.Response:
    if answer.code == UNAVAILABLE:
        return error_response(502, "provider_unavailable", answer.message)
    return error_response(502, "provider_refused", f"{answer.code} {answer.message}")


async def create(request: web.Request) -> web.Response:
    body = await _body(request, InvoiceCreate)
    if isinstance(body, web.Response):
        return body
    return await _create(request, [body], single=True)


async def create_bulk(request: web.Request) -> web.Response:
    body = await _body(request, InvoiceBulkCreate)
    if isinstance(body, web.Response):
        return body
    repeated = duplicate_references([i.external_reference for i in body.invoices])
    if repeated:
        details = [{"field": f"invoices.{i}.external_reference", "reason": "repeated"}
                   for i in repeated]  # fmt: skip
        return _invalid(details)
    return await _create(request, list(body.invoices), single=False)


async def _create(
    request: web.Request, invoices: list[InvoiceCreate], single: bool
) -> web.Response:
    state, merchant_id = request.app[STATE], request[CLAIMS].merchant_id
    key = request.headers.get("Idempotency-Key", "")
    problem = check_key(key)
    if problem:
        return error_response(400, "invalid_idempotency_key", problem)
    store = await bills_of(request.app)
    optin = await store.optins.find_one({"merchant_id": merchant_id})
    if optin is None:
        return error_response(
            409, "not_opted_in", "opt a paybill in first: PUT /v1/invoices/settings"
        )
    rules = await request.app[ROUTES].of(state, optin["_id"])
    for n, inv in enumerate(invoices):
        if c2b_route(rules, inv.account_reference) != merchant_id:
            where = "account_reference" if single else f"invoices.{n}.account_reference"
            reason = f"payments to it on {optin['_id']} would not reach you (see your C2B claim)"
            return _invalid([{"field": where, "reason": reason}])
    refs = [inv.external_reference for inv in invoices]
    taken = await store.invoices.find_one({"merchant_id": merchant_id, "sent": True,
                                           "external_reference": {"$in": refs}})  # fmt: skip
    digest = hashlib.sha256(await request.read()).hexdigest()
    now = now_utc()
    docs = [_doc(state, merchant_id, key, n, inv, optin["_id"], digest, now)
            for n, inv in enumerate(invoices)]  # fmt: skip
    if taken is not None and taken.get("request_hash") != digest:
        text = f"external_reference {taken['external_reference']} is taken"
        return error_response(409, "duplicate_reference", text)
    existing = await store.insert_invoices(docs)
    if existing:
        first = await store.invoices.find_one({"_id": docs[0]["_id"]}) or {}
        if first.get("request_hash") != digest:
            # All or none: what this request inserted goes again (never sent, never shown).
            made = [d["_id"] for d in docs if d["_id"] not in existing]
            await store.invoices.delete_many({"_id": {"$in": made}, "sent": False})
            if first:
                text = "this key was used with another body"
                return error_response(409, "idempotency_conflict", text)
            return error_response(409, "duplicate_reference", "an external_reference is taken")
        if first.get("sent"):
            return _answer([first] if single else await _all(store, docs), single, replayed=True)
    orders = [inv.order() for inv in invoices]
    path, payload = (bm.PATHS["single"], orders[0].body()) if single else (
        bm.PATHS["bulk"], bm.bulk_body(orders))  # fmt: skip
    answer = await _call(state, path, payload, optin.get("app_key") or "")
    if not answer.ok:
        if answer.code != UNAVAILABLE:
            # Refused for certain (a duplicate reference at Bill Manager, a bad field): all or
            # none, so nothing of it stays. Unavailable: kept unsent for the key's retry.
            ids = [d["_id"] for d in docs]
            await store.invoices.delete_many({"_id": {"$in": ids}, "sent": False})
        return _refused(answer)
    ids = [d["_id"] for d in docs]
    await store.invoices.update_many({"_id": {"$in": ids}}, {"$set": {"sent": True}})
    saved = await _all(store, docs)
    for doc in saved:
        await note_event(store, doc, "invoice.created")
    return _answer(saved, single, replayed=False)


def _doc(
    state: AppState, merchant_id: str, key: str, n: int, inv: InvoiceCreate, shortcode: str,
    digest: str, now: Any,
) -> dict[str, Any]:  # fmt: skip
    return {
        "_id": invoice_id(state, merchant_id, key, n),
        "merchant_id": merchant_id,
        "shortcode": shortcode,
        "external_reference": inv.external_reference,
        "account_reference": inv.account_reference,
        "account_norm": normalise_reference(inv.account_reference),
        "amount_minor": parse_whole_shillings(inv.amount),
        "due_date": inv.due_date.isoformat(),
        "customer": {"name": inv.customer_name, "phone": inv.phone},
        "period": inv.period,
        "name": inv.name,
        "items": [i.model_dump() for i in inv.items],
        "payments": {},
        "cancelled": False,
        "past_due": False,
        "status": "open",
        "request_hash": digest,
        "sent": False,
        "created_at": now,
        "seq": int(now.timestamp() * 1_000_000) + n,
    }


async def _all(store: Any, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [d["_id"] for d in docs]
    found = {d["_id"]: d async for d in store.invoices.find({"_id": {"$in": ids}})}
    return [found[i] for i in ids if i in found]


def _answer(docs: list[dict[str, Any]], single: bool, replayed: bool) -> web.Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    views = [invoice_view(d) for d in docs]
    body = views[0] if single else {"object": "list", "data": views}
    return json_response(body, status=200 if replayed else 201, headers=headers)


async def get_one(request: web.Request) -> web.Response:
    store = await bills_of(request.app)
    doc = await store.invoice(request[CLAIMS].merchant_id, request.match_info["invoice_id"])
    if doc is None:
        return error_response(404, "not_found", "no such invoice")
    return json_response(invoice_view(doc))


async def list_all(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        return _invalid([{"field": "status", "reason": f"one of {', '.join(STATUSES)}"}])
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 500)
    except ValueError:
        return _invalid([{"field": "limit", "reason": "a whole number from 1 to 500"}])
    store = await bills_of(request.app)
    docs = await store.list_invoices(request[CLAIMS].merchant_id, status, limit)
    return json_response({"object": "list", "data": [invoice_view(d) for d in docs]})


async def cancel(request: web.Request) -> web.Response:
    state, merchant_id = request.app[STATE], request[CLAIMS].merchant_id
    store = await bills_of(request.app)
    doc = await store.invoice(merchant_id, request.match_info["invoice_id"])
    if doc is None:
        return error_response(404, "not_found", "no such invoice")
    if doc["cancelled"]:
        return json_response(invoice_view(doc))  # cancelling twice changes nothing
    if doc["payments"]:
        return error_response(
            409, "invoice_paid", "partially or fully paid invoices cannot be cancelled"
        )
    optin = await store.optins.find_one({"_id": doc["shortcode"]}) or {}
    payload = bm.cancel_body(doc["external_reference"])
    answer = await _call(state, bm.PATHS["cancel"], payload, optin.get("app_key") or "")
    if not answer.ok:
        return _refused(answer)
    # Guarded on "nothing paid": a payment counted meanwhile wins and the cancel is refused.
    done = await store.set_invoice(doc["_id"], {"payments": {}}, {"cancelled": True})
    if done is None:
        return error_response(409, "invoice_paid", "a payment arrived while cancelling")
    done = await refresh_status(store, done)
    return json_response(invoice_view(done))


async def push(request: web.Request) -> web.Response:
    """Bill Manager's payment push: notes the receipt; the money is the verified C2B payment's."""
    state = request.app[STATE]
    shortcode = request.match_info["shortcode"]
    expected = url_token(state, shortcode)
    if not hmac.compare_digest(expected.encode(), request.match_info["token"].encode()):
        return web.Response(status=404)
    try:
        payment = bm.parse_push(await request.read())
    except bm.MalformedPush as exc:
        log.warning("malformed Bill Manager push: %s", exc)
        return web.Response(status=400)
    store = await bills_of(request.app)
    optin = await store.optins.find_one({"_id": shortcode})
    if optin is not None:
        norm = normalise_reference(payment.account_reference)
        await store.note_match(payment.transaction_id, optin["merchant_id"], norm, now_utc())
    return web.Response(body=bm.push_ack(), content_type="application/json")


INVOICE = json_answer("The invoice", {"type": "object"})
ROUTE_TABLE = (
    Route("PUT", "/v1/invoices/settings", settings, TAG, "Opt a paybill in to Bill Manager",
          {200: json_answer("Opted in", {"type": "object"})}, body=InvoiceOptIn, errors=(409, 502)),
    Route("POST", "/v1/invoices", create, TAG, "Send an invoice",
          {201: INVOICE, 200: INVOICE}, body=InvoiceCreate, errors=(409, 502),
          idempotency="required"),
    Route("POST", "/v1/invoices/bulk", create_bulk, TAG, "Send up to 1000 invoices",
          {201: json_answer("The invoices", {"type": "object"})}, body=InvoiceBulkCreate,
          errors=(409, 502), idempotency="required"),
    Route("GET", "/v1/invoices", list_all, TAG, "List invoices",
          {200: json_answer("Newest first", {"type": "object"})},
          errors=(422,),
          params=(query("status", {"type": "string", "enum": list(STATUSES)}, "Only these."),
                  limit_param(500, 50))),
    Route("GET", "/v1/invoices/{invoice_id}", get_one, TAG, "An invoice", {200: INVOICE},
          errors=(404,)),
    Route("POST", "/v1/invoices/{invoice_id}/cancel", cancel, TAG, "Cancel an unpaid invoice",
          {200: INVOICE}, body_required=False, errors=(404, 409, 502)),
    callback_route("/callbacks/billmanager/{shortcode}/{token}", push,
                   "M-Pesa Bill Manager payment push", "mpesa"),
)  # fmt: skip
