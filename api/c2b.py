"""M-Pesa C2B (customers paying a paybill or till on their own).

``PUT /v1/c2b/registration`` claims a shortcode's accounts for the merchant and registers the
switch's validation and confirmation URLs with Daraja. Daraja then calls validation (the
switch answers from the routing rules, well inside Daraja's ~8 s) and confirmation (the money has
moved: the owning shard stores a succeeded collection and credits the merchant). A confirmation
that matches no merchant is kept in ``c2b_unmatched`` for manual allocation: received money is
never dropped.

Daraja signs nothing, so a confirmation is believed step by step: the URL's token is a secret
shared with M-Pesa only (a merchant never sees it: the registration answer masks it), the caller
must come from Safaricom's addresses (api/hardening.py), a receipt belongs to one merchant for
ever (``c2b_receipts``), and the owning shard credits nobody until M-Pesa's own record
(Transaction Status by receipt) shows the same receipt, amount and shortcode.

The URL token is hex: Safaricom refuses URLs containing words such as "exe", "cmd" or "sql"
(doc §6), which a base64 token could spell by chance.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo.errors import DuplicateKeyError

from api import openapi_models as out
from api.auth import CLAIMS
from api.errors import error_response, json_response, validation_details
from api.routes import Route, callback_route, json_answer
from api.state import STATE, AppState
from connectors.mpesa import (
    C2bPayment,
    C2bRegistration,
    MalformedCallback,
    c2b_accept,
    c2b_confirmation_ack,
    c2b_reject,
    check_c2b_url,
    parse_c2b_payment,
)
from infra.metrics import CALLBACKS
from switch.c2b import AccountRule, conflict, route
from switch.messages import C2bIn
from switch.payments import now_utc
from switch.pii import UNMATCHED, unmatched_paths
from switch.repayments import NoMatch, RepaymentTarget, match_bill_ref

log = logging.getLogger(__name__)
ROUTES_TTL = 10.0


class C2bRegistrationIn(BaseModel):
    """Claim a paybill or till for C2B payments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shortcode: str = Field(pattern=r"^[0-9]{5,7}$", description="Paybill or till number.")
    response_type: Literal["Completed", "Cancelled"] = Field(
        "Completed",
        description="What M-Pesa does when the switch's validation does not answer in time.",
    )
    accounts: AccountRule = Field(
        default_factory=AccountRule, description="Which account numbers are yours."
    )
    sacco_code: str | None = Field(
        None,
        pattern=r"^[A-Z][A-Z0-9]{2,9}$",
        description="This paybill is a registered SACCO's: account numbers are member numbers "
        "(optionally with a product code, e.g. 12345LN for a loan repayment). Payments that "
        "name no member are refused at validation; each one is posted to the member's account "
        "in the SACCO's core system.",
    )


def url_token(key: bytes, shortcode: str) -> str:
    # "v2": tokens of the first version were shown to merchants; none of them is valid now.
    return hmac.new(key, b"c2b-url:v2:" + shortcode.encode(), hashlib.sha256).hexdigest()[:40]


def masked(url: str) -> str:
    """A callback URL as a merchant may see it: its secret token replaced."""
    return url.rsplit("/", 1)[0] + "/********"


class Routes:
    """Shortcode -> [(merchant, rule)], read from MongoDB and kept for a few seconds."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, list[tuple[str, AccountRule]]]] = {}
        self.sacco_of: dict[tuple[str, str], str] = {}  # (shortcode, merchant) -> SACCO code

    async def of(self, state: AppState, shortcode: str) -> list[tuple[str, AccountRule]]:
        hit = self._cache.get(shortcode)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        doc = await state.cols.c2b_routes.find_one({"_id": shortcode}) or {}
        rules = [
            (m["merchant_id"], AccountRule.model_validate(m["rule"]))
            for m in doc.get("merchants", [])
        ]
        for m in doc.get("merchants", []):
            if m.get("sacco_code"):
                self.sacco_of[(shortcode, m["merchant_id"])] = m["sacco_code"]
        self._cache[shortcode] = (time.monotonic() + ROUTES_TTL, rules)
        return rules

    def forget(self, shortcode: str) -> None:
        self._cache.pop(shortcode, None)


ROUTES = web.AppKey("c2b_routes", Routes)
InvoiceHook = Callable[[web.Application, str, str, C2bPayment], Awaitable[None]]
INVOICE_HOOK: web.AppKey[InvoiceHook] = web.AppKey("c2b_invoice_hook")


async def _no_invoices(_app: web.Application, _owner: str, _code: str, _p: C2bPayment) -> None:
    return None


# A paybill whose accounts are payment references decides validation itself (api/gov_worker.py):
# (the answer to send, accepted?), or None to answer from the claims as usual.
Decided = tuple[bytes, bool] | None
ValidationHook = Callable[[web.Application, str, str, C2bPayment], Awaitable[Decided]]
VALIDATION_HOOK: web.AppKey[ValidationHook] = web.AppKey("c2b_validation_hook")


async def _claims_decide(_app: web.Application, _owner: str, _code: str, _p: C2bPayment) -> Decided:
    return None


async def register(request: web.Request) -> web.Response:
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    try:
        body = C2bRegistrationIn.model_validate(orjson.loads(await request.read()))
    except orjson.JSONDecodeError:
        return error_response(400, "invalid_json", "the body must be a JSON object")
    except ValidationError as exc:
        return error_response(
            422, "validation_failed", "the request has invalid fields", validation_details(exc)
        )
    if body.sacco_code is not None and body.sacco_code not in state.saccos:
        reason = f"no SACCO {body.sacco_code} is registered"
        details = [{"field": "sacco_code", "reason": reason}]
        return error_response(422, "validation_failed", "the request has invalid fields", details)
    routes = request.app[ROUTES]
    routes.forget(body.shortcode)
    clash = conflict(await routes.of(state, body.shortcode), merchant_id, body.accounts)
    if clash:
        return error_response(409, "c2b_route_conflict", clash)
    base = state.settings.public_url or f"http://{state.settings.host}:{state.settings.port}"
    token = url_token(state.secret_key, body.shortcode)
    urls = {
        "validation_url": f"{base}/callbacks/c2b/validation/{body.shortcode}/{token}",
        "confirmation_url": f"{base}/callbacks/c2b/confirmation/{body.shortcode}/{token}",
    }
    for url in urls.values():
        problem = check_c2b_url(url)
        if problem:
            return error_response(422, "c2b_url_refused", f"{url}: {problem}")
    answer = await state.actors.gateways.register_c2b(
        C2bRegistration(
            body.shortcode, urls["confirmation_url"], urls["validation_url"], body.response_type
        )
    )
    if "error" in answer:
        return error_response(502, "provider_refused", answer["error"])
    await _save_route(state, body.shortcode, merchant_id, body.accounts, body.sacco_code)
    routes.forget(body.shortcode)
    shown = {name: masked(url) for name, url in urls.items()}
    return json_response({**body.model_dump(), **shown, "provider": answer})


async def _save_route(
    state: AppState, shortcode: str, merchant_id: str, rule: AccountRule, sacco: str | None
) -> None:
    entry = {"merchant_id": merchant_id, "rule": rule.model_dump(), "sacco_code": sacco}
    await state.cols.c2b_routes.update_one(
        {"_id": shortcode}, {"$pull": {"merchants": {"merchant_id": merchant_id}}}, upsert=True
    )
    await state.cols.c2b_routes.update_one({"_id": shortcode}, {"$push": {"merchants": entry}})


def _genuine(request: web.Request) -> bool:
    state = request.app[STATE]
    expected = url_token(state.secret_key, request.match_info["shortcode"])
    return hmac.compare_digest(expected.encode(), request.match_info["token"].encode())


async def validation(request: web.Request) -> web.Response:
    """Accept the payment only when an account rule claims it (C2B00012 otherwise)."""
    if not _genuine(request):
        CALLBACKS.labels("mpesa_c2b", "forged").inc()
        return web.Response(status=404)
    try:
        payment = parse_c2b_payment(await request.read())
    except MalformedCallback as exc:
        log.warning("malformed C2B validation: %s", exc)
        return web.Response(body=c2b_reject("C2B00016"), content_type="application/json")
    shortcode = request.match_info["shortcode"]
    rules = await request.app[ROUTES].of(request.app[STATE], shortcode)
    owner = route(rules, payment.bill_ref)
    if owner is not None and isinstance(_member(request, shortcode, owner, payment), NoMatch):
        owner = None  # a SACCO's paybill: the reference names no member
    decided = await request.app[VALIDATION_HOOK](request.app, owner, shortcode, payment) if (
        owner is not None) else None  # fmt: skip
    if decided is not None:
        CALLBACKS.labels("mpesa_c2b", "validated" if decided[1] else "refused").inc()
        return web.Response(body=decided[0], content_type="application/json")
    CALLBACKS.labels("mpesa_c2b", "validated" if owner else "refused").inc()
    answer = c2b_accept() if owner else c2b_reject("C2B00012")
    return web.Response(body=answer, content_type="application/json")


async def confirmation(request: web.Request) -> web.Response:
    """The customer has paid: store it with its merchant (or as unmatched), then acknowledge."""
    state = request.app[STATE]
    if not _genuine(request):
        CALLBACKS.labels("mpesa_c2b", "forged").inc()
        return web.Response(status=404)
    try:
        payment = parse_c2b_payment(await request.read())
    except MalformedCallback as exc:
        log.warning("malformed C2B confirmation: %s", exc)
        return web.Response(status=400)
    shortcode = request.match_info["shortcode"]
    owner = route(await request.app[ROUTES].of(state, shortcode), payment.bill_ref)
    if owner is not None and not await claim_receipt(state, payment.trans_id, owner, shortcode):
        CALLBACKS.labels("mpesa_c2b", "receipt_taken").inc()
    elif owner is None:
        await _keep_unmatched(state, shortcode, payment.trans_id, payment)
        CALLBACKS.labels("mpesa_c2b", "unmatched").inc()
    else:
        item = C2bIn(
            merchant_id=owner,
            trans_id=payment.trans_id,
            trans_time=payment.trans_time,
            amount_minor=payment.amount_cents,
            shortcode=shortcode,
            bill_ref=payment.bill_ref,
            transaction_type=payment.transaction_type,
            # Daraja sends the number masked (v2) or hashed (v1), never in clear.
            payer={"msisdn": payment.msisdn, "first_name": payment.first_name},
            member=_member_doc(_member(request, shortcode, owner, payment)),
        )
        shard = state.router.shard_of_merchant(owner)
        verdict = await state.router.c2b_confirmations[shard].call(item)
        CALLBACKS.labels("mpesa_c2b", verdict).inc()
        # A payment to an invoice's account: credited to it once verified (api/bills_worker.py).
        await request.app[INVOICE_HOOK](request.app, owner, shortcode, payment)
    return web.Response(body=c2b_confirmation_ack(), content_type="application/json")


def _member(
    request: web.Request, shortcode: str, owner: str, payment: C2bPayment
) -> RepaymentTarget | NoMatch | None:
    """On a SACCO's paybill, the member account the payment names; None on other paybills."""
    sacco = request.app[ROUTES].sacco_of.get((shortcode, owner))
    if sacco is None:
        return None
    return match_bill_ref(payment.bill_ref, request.app[STATE].saccos, paybill_sacco=sacco)


def _member_doc(found: RepaymentTarget | NoMatch | None) -> dict[str, str] | None:
    if found is None:
        return None
    if isinstance(found, NoMatch):
        return {"unmatched": found.reason}  # accepted anyway (Completed): kept for allocation
    return {
        "sacco_code": found.sacco_code,
        "member_number": found.member_number,
        "product": found.product,
    }


async def claim_receipt(state: AppState, receipt: str, merchant_id: str, shortcode: str) -> bool:
    """One receipt is one merchant's, for ever: a confirmation that names a receipt already
    routed to another merchant (a replay with another account number) credits nobody."""
    doc = {"_id": receipt, "merchant_id": merchant_id, "shortcode": shortcode, "at": now_utc()}
    try:
        await state.cols.c2b_receipts.insert_one(doc)
        return True
    except DuplicateKeyError:
        first = await state.cols.c2b_receipts.find_one({"_id": receipt}) or {}
    if first.get("merchant_id") == merchant_id:
        return True  # Daraja sending it again: the shard answers "duplicate"
    log.warning("C2B receipt %s already belongs to another merchant; ignored", receipt)
    return False


async def _keep_unmatched(
    state: AppState, shortcode: str, trans_id: str, payment: C2bPayment
) -> None:
    """Kept with the payer's names and Daraja's masked (or hashed) number sealed: the payment
    belongs to no merchant yet, so a key of the switch's own seals them, bound to the receipt
    (switch/pii.py). Erasure by phone cannot find them: Daraja never sends the number."""
    doc = {"shortcode": shortcode, "received_at": now_utc(), "payment": asdict(payment)}
    sealer = state.sealer()
    await sealer.ready(UNMATCHED)
    sealer.seal(doc, trans_id, UNMATCHED, paths=unmatched_paths)
    await state.cols.c2b_unmatched.update_one({"_id": trans_id}, {"$setOnInsert": doc}, upsert=True)
    log.warning(
        "C2B payment %s on %s matches no merchant; kept for allocation", trans_id, shortcode
    )


def install(app: web.Application) -> None:
    app[ROUTES] = Routes()
    app.setdefault(INVOICE_HOOK, _no_invoices)
    app.setdefault(VALIDATION_HOOK, _claims_decide)


ROUTE_TABLE = (
    Route(
        "PUT",
        "/v1/c2b/registration",
        register,
        "Payments",
        "Claim a paybill or till's accounts for C2B payments",
        {200: json_answer("Claimed; M-Pesa was given the switch's URLs", out.C2bRegistrationOut)},
        body=C2bRegistrationIn,
        errors=(409, 502),
        error_texts={
            409: "Another merchant already claims these accounts",
            502: "M-Pesa refused the URL registration",
        },
    ),
    callback_route(
        "/callbacks/c2b/validation/{shortcode}/{token}",
        validation,
        "M-Pesa C2B validation",
        "mpesa",
    ),
    callback_route(
        "/callbacks/c2b/confirmation/{shortcode}/{token}",
        confirmation,
        "M-Pesa C2B confirmation",
        "mpesa",
    ),
)
