"""Standing orders over HTTP (M-Pesa Ratiba).

- ``POST /v1/standing-orders`` (Idempotency-Key): a recurring collection (amount, frequency, start
  and end dates) to a paybill the merchant claimed for C2B. Stored with its planned runs, then sent
  to Ratiba, which asks the customer to consent with their PIN.
- ``GET /v1/standing-orders``, ``GET /v1/standing-orders/{id}``,
  ``GET /v1/standing-orders/{id}/runs[?status=failed]``, ``POST /v1/standing-orders/{id}/cancel``.

Ratiba calls ``/callbacks/ratiba/{id}/{token}`` (the token is a secret shared with M-Pesa only)
when the customer answers and, in the simulator, for each run. Callbacks are unsigned, so a run is
``succeeded`` only once the C2B payment its callback names (the run's money reaches the paybill
as a C2B payment with the order's account) is ``succeeded`` with the order's amount; that payment
is the run's payment (``payment_id``). A failed run moves no money, so its report is believed.
Ratiba documents no cancellation call: cancelling stops the switch expecting runs; the customer
stops the order at M-Pesa from their menu (unverified), and any run paid meanwhile still credits
the merchant as a C2B payment (received money is never dropped).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import asdict
from datetime import date
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.auth import CLAIMS
from api.bills_common import Phone, Shillings, bills_of, note_event, order_id, url_token
from api.c2b import ROUTES
from api.errors import error_response, json_response, validation_details
from api.routes import Route, callback_route, json_answer, limit_param, query
from api.state import STATE, AppState
from connectors.mpesa import ratiba
from infra.bills_store import BillsStore
from switch.c2b import route as c2b_route
from switch.idempotency import check_key, scoped_key
from switch.ids import payment_id_for
from switch.money import format_minor, parse_whole_shillings
from switch.payments import iso, now_utc
from switch.standing_orders import (
    Frequency,
    Run,
    RunReport,
    order_status,
    plan,
    record_run,
    run_event,
)

log = logging.getLogger(__name__)
TAG = "Standing orders"


class StandingOrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=40, description="Unique per customer.")
    phone: Phone
    amount: Shillings
    frequency: Frequency
    start_date: date
    end_date: date
    shortcode: str = Field(pattern=r"^[0-9]{5,7}$", description="Your paybill (claimed for C2B).")
    account_reference: str = Field(pattern=r"^[A-Za-z0-9-]{1,12}$")
    description: str = Field("Standing order", min_length=1, max_length=13)


def _invalid(field: str, reason: str) -> web.Response:
    details = [{"field": field, "reason": reason}]
    return error_response(422, "validation_failed", "the request has invalid fields", details)


def order_view(doc: dict[str, Any], with_runs: bool = False) -> dict[str, Any]:
    view = {
        "id": doc["_id"],
        "object": "standing_order",
        "status": doc["status"],
        "name": doc["name"],
        "amount": format_minor(doc["amount_minor"]),
        "currency": "KES",
        "frequency": doc["frequency"],
        "start_date": doc["start_date"],
        "end_date": doc["end_date"],
        "shortcode": doc["shortcode"],
        "account_reference": doc["account_reference"],
        "failure": doc.get("failure"),
        "created_at": iso(doc["created_at"]),
    }
    if with_runs:
        view["runs"] = doc["runs"]
    return view


async def create(request: web.Request) -> web.Response:
    state, merchant_id = request.app[STATE], request[CLAIMS].merchant_id
    raw = await request.read()
    try:
        body = StandingOrderCreate.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return error_response(400, "invalid_json", "the body must be a JSON object")
    except ValidationError as exc:
        details = validation_details(exc)
        return error_response(422, "validation_failed", "the request has invalid fields", details)
    key = request.headers.get("Idempotency-Key", "")
    problem = check_key(key)
    if problem:
        return error_response(400, "invalid_idempotency_key", problem)
    if body.frequency not in ratiba.FREQUENCY_CODES:
        return _invalid("frequency", "Ratiba's published codes have no bi-weekly frequency")
    try:
        runs = plan(body.start_date, body.end_date, body.frequency)
    except ValueError as exc:
        return _invalid("end_date", str(exc))
    rules = await request.app[ROUTES].of(state, body.shortcode)
    if c2b_route(rules, body.account_reference) != merchant_id:
        return _invalid("account_reference", "payments to it would not reach you (C2B claim)")
    store = await bills_of(request.app)
    oid = order_id(state, merchant_id, key)
    digest = hashlib.sha256(raw).hexdigest()
    doc = {
        "_id": oid, "merchant_id": merchant_id, "name": body.name, "phone": body.phone,
        "amount_minor": parse_whole_shillings(body.amount), "frequency": body.frequency,
        "start_date": body.start_date.isoformat(), "end_date": body.end_date.isoformat(),
        "shortcode": body.shortcode, "account_reference": body.account_reference,
        "status": "pending_consent", "consent": None, "cancelled": False, "sent": False,
        "runs": [_run_doc(asdict(r)) for r in runs], "request_hash": digest, "version": 0,
        "created_at": now_utc(),
    }  # fmt: skip
    if not await store.insert_order(doc):
        existing = await store.order(merchant_id, oid) or {}
        if existing.get("request_hash") != digest:
            return error_response(
                409, "idempotency_conflict", "this key was used with another body"
            )
        if existing.get("sent"):
            headers = {"Idempotent-Replayed": "true"}
            return json_response(order_view(existing), status=200, headers=headers)
        doc = existing
    base = state.settings.public_url or f"http://{state.settings.host}:{state.settings.port}"
    callback = f"{base}/callbacks/ratiba/{oid}/{url_token(state, oid)}"
    wire = ratiba.StandingOrderRequest(
        body.name, body.start_date, body.end_date, body.shortcode, False,
        parse_whole_shillings(body.amount), body.phone, callback, body.account_reference,
        body.description, body.frequency,
    )  # fmt: skip
    answer = await state.actors.gateways.product_call(ratiba.PATH, wire.body(), {})
    if "error" in answer:
        return error_response(502, "provider_unavailable", answer["error"])
    accepted = ratiba.parse_accepted(int(answer["status"]), answer["body"].encode())
    if not accepted.ok:
        return error_response(502, "provider_refused", f"{accepted.code} {accepted.message}")
    sent = await store.replace_order(doc, {"sent": True, "request_ref": accepted.ref_id})
    return json_response(order_view(sent or doc), status=201)


def _run_doc(run: dict[str, Any]) -> dict[str, Any]:
    return {**run, "due_date": run["due_date"].isoformat(), "payment_id": None}


async def get_one(request: web.Request) -> web.Response:
    store = await bills_of(request.app)
    doc = await store.order(request[CLAIMS].merchant_id, request.match_info["order_id"])
    if doc is None:
        return error_response(404, "not_found", "no such standing order")
    return json_response(order_view(doc))


async def runs(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status not in (None, "scheduled", "succeeded", "failed"):
        return _invalid("status", "one of scheduled, succeeded, failed")
    store = await bills_of(request.app)
    doc = await store.order(request[CLAIMS].merchant_id, request.match_info["order_id"])
    if doc is None:
        return error_response(404, "not_found", "no such standing order")
    data = [r for r in doc["runs"] if status is None or r["status"] == status]
    return json_response({"object": "list", "data": data})


async def list_all(request: web.Request) -> web.Response:
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 500)
    except ValueError:
        return _invalid("limit", "a whole number from 1 to 500")
    store = await bills_of(request.app)
    docs = await store.list_orders(request[CLAIMS].merchant_id, limit)
    return json_response({"object": "list", "data": [order_view(d) for d in docs]})


async def cancel(request: web.Request) -> web.Response:
    store = await bills_of(request.app)
    for _ in range(5):  # the version guard: another writer may be recording a run meanwhile
        doc = await store.order(request[CLAIMS].merchant_id, request.match_info["order_id"])
        if doc is None:
            return error_response(404, "not_found", "no such standing order")
        if doc["status"] in ("cancelled", "completed", "declined"):
            return json_response(order_view(doc))
        done = await store.replace_order(doc, {"cancelled": True, "status": "cancelled"})
        if done is not None:
            await _event(store, done, "standing_order.cancelled")
            return json_response(order_view(done))
    return error_response(409, "busy", "the standing order is changing; try again")


async def _event(store: Any, doc: dict[str, Any], kind: str, extra: Any = None) -> None:
    data = {**order_view(doc), **({"run": extra} if extra else {})}
    data["seq"] = f"{doc['version']}"
    await note_event(store, doc, kind, data)


async def callback(request: web.Request) -> web.Response:
    """Ratiba's callback: consent is recorded at once; a run's report waits for its C2B payment
    (api/bills_worker.py) unless it reports a failure, which moves no money."""
    state = request.app[STATE]
    oid = request.match_info["order_id"]
    if not hmac.compare_digest(
        url_token(state, oid).encode(), request.match_info["token"].encode()
    ):
        return web.Response(status=404)
    try:
        report = ratiba.parse_callback(await request.read())
    except ratiba.MalformedRatiba as exc:
        log.warning("malformed Ratiba callback: %s", exc)
        return web.Response(status=400)
    store = await bills_of(request.app)
    if report.run is None:
        await consent(store, oid, report)
    else:
        doc = {"_id": f"{oid}:{report.run}:{report.transaction_id if report.ok else 'x'}",
               "order_id": oid, "seq": report.run, "paid": report.ok,
               "receipt": report.transaction_id if report.ok else None, "code": report.code,
               "message": ratiba.RESULT_TEXTS.get(report.code, report.description),
               "state": "pending", "at": now_utc()}  # fmt: skip
        await store.note_report(doc)
    return web.Response(body=ratiba.callback_ack(), content_type="application/json")


async def consent(store: Any, oid: str, report: ratiba.RatibaCallback) -> None:
    for _ in range(5):
        doc = await store.order(None, oid)
        if doc is None or doc["consent"] is not None:
            return  # unknown, or answered already (a duplicate callback)
        runs = tuple(_as_run(r) for r in doc["runs"])
        status = order_status(report.ok, doc["cancelled"], runs)
        failure = None if report.ok else {
            "provider_code": report.code,
            "message": ratiba.RESULT_TEXTS.get(report.code, report.description),
        }  # fmt: skip
        changes = {"consent": report.ok, "status": status, "failure": failure}
        done = await store.replace_order(doc, changes)
        if done is not None:
            await _event(store, done, f"standing_order.{status}")
            return


async def resolve_run(state: AppState, store: BillsStore, report: dict[str, Any]) -> None:
    """Record one run report: a paid run once its C2B payment is ``succeeded`` with the order's
    amount (the payment's id is derived from the receipt, as api/c2b.py stores it)."""
    doc = await store.order(None, report["order_id"])
    if doc is None:
        await store.close_report(report["_id"], "refused")
        return
    payment_id = None
    if report["paid"]:
        shard = state.router.shard_of_merchant(doc["merchant_id"])
        scoped = scoped_key(doc["merchant_id"], f"c2b:{report['receipt']}")
        payment_id = payment_id_for(shard, state.secret_key, scoped)
        payment = await store.payment(payment_id)
        if payment is None or payment["state"] not in ("succeeded", "declined", "rejected"):
            # Not confirmed or not checked yet: looked at again later (least recent first).
            await store.looked_at("reports", report["_id"], now_utc())
            return
        if payment["state"] != "succeeded" or payment["amount_minor"] != doc["amount_minor"]:
            log.warning("run %s of %s: payment %s does not match", report["seq"], doc["_id"],
                        report["receipt"])  # fmt: skip
            await store.close_report(report["_id"], "refused")
            return
    runs = tuple(_as_run(r) for r in doc["runs"])
    wire = RunReport(report["seq"], report["paid"], report["receipt"], report["code"],
                     report["message"])  # fmt: skip
    new_runs, changed = record_run(runs, wire)
    if changed is None:  # a duplicate, or a run already final
        await store.close_report(report["_id"], "ignored")
        return
    ids = {r["seq"]: r.get("payment_id") for r in doc["runs"]}
    ids[changed.seq] = payment_id
    docs = [{**_run_doc(asdict(r)), "payment_id": ids.get(r.seq)} for r in new_runs]
    status = (
        order_status(True, doc["cancelled"], new_runs)
        if doc["consent"] is not False
        else doc["status"]
    )
    done = await store.replace_order(doc, {"runs": docs, "status": status})
    if done is None:
        return  # changed meanwhile: the next pass tries again
    changed_doc = next(d for d in docs if d["seq"] == changed.seq)
    await _event(store, done, run_event(changed), changed_doc)
    await store.close_report(report["_id"], "applied")


def _as_run(doc: dict[str, Any]) -> Run:
    return Run(doc["seq"], date.fromisoformat(doc["due_date"]), doc["status"], doc["receipt"],
               doc["failure_code"], doc["failure_message"])  # fmt: skip


ORDER = json_answer("The standing order", {"type": "object"})
LIST = json_answer("A list", {"type": "object"})
ROUTE_TABLE = (
    Route("POST", "/v1/standing-orders", create, TAG, "Create a standing order (Ratiba)",
          {201: ORDER, 200: ORDER}, body=StandingOrderCreate, errors=(409, 502),
          idempotency="required"),
    Route("GET", "/v1/standing-orders", list_all, TAG, "List standing orders", {200: LIST},
          errors=(422,), params=(limit_param(500, 50),)),
    Route("GET", "/v1/standing-orders/{order_id}", get_one, TAG, "A standing order",
          {200: ORDER}, errors=(404,)),
    Route("GET", "/v1/standing-orders/{order_id}/runs", runs, TAG, "A standing order's runs",
          {200: LIST}, errors=(404, 422),
          params=(query("status", {"type": "string",
                                   "enum": ["scheduled", "succeeded", "failed"]}, "Only these."),)),
    Route("POST", "/v1/standing-orders/{order_id}/cancel", cancel, TAG,
          "Stop expecting runs of a standing order", {200: ORDER}, body_required=False,
          errors=(404, 409)),
    callback_route("/callbacks/ratiba/{order_id}/{token}", callback, "M-Pesa Ratiba callback",
                   "mpesa"),
)  # fmt: skip
