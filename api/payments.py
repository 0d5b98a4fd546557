"""``POST /v1/payments`` and ``GET /v1/payments/{id}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api import openapi_models as out
from api.auth import CLAIMS
from api.errors import error_response, json_response, validation_details
from api.models import Balance, Payment, PaymentCreate, Payout, PayoutCreate
from api.ratelimit import check_prompt_limit
from api.routes import Route, any_of, json_answer
from api.state import STATE
from connectors.sacco.registry import Sacco
from switch.clients import secret_holder
from switch.errors import Unavailable
from switch.idempotency import check_key, request_hash
from switch.ids import shard_of
from switch.messages import CreatePayment, CreateReversal, Reply
from switch.rails import takes_command
from switch.reviews import maker_for

log = logging.getLogger(__name__)
Model = TypeVar("Model", bound=BaseModel)


def reply_response(reply: Reply) -> web.Response:
    headers = {"Idempotent-Replayed": "true"} if reply.replayed else {}
    if reply.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(reply.retry_after)))
    if reply.status in (200, 202) and "id" in reply.body:
        collection = {"payout": "payouts", "reversal": "reversals", "transfer": "transfers"}.get(
            str(reply.body.get("object")), "payments"
        )
        headers["Location"] = f"/v1/{collection}/{reply.body['id']}"
    return json_response(reply.body, reply.status, headers)


async def validated(
    request: web.Request, model: type[Model]
) -> tuple[str, dict[str, Any], Model] | web.Response:
    """The Idempotency-Key, the raw body and the validated model, or the error answer."""
    key = request.headers.get("Idempotency-Key")
    problem = check_key(key)
    if problem or key is None:
        return error_response(400, "idempotency_key_missing", problem or "")
    parsed = await _parse(request, model)
    if isinstance(parsed, web.Response):
        return parsed
    return key, parsed[0], parsed[1]


async def parse_body(request: web.Request, model: type[Model]) -> Model | web.Response:
    """The validated body of a request that needs no Idempotency-Key (a read-only POST)."""
    parsed = await _parse(request, model)
    return parsed if isinstance(parsed, web.Response) else parsed[1]


async def _parse(
    request: web.Request, model: type[Model]
) -> tuple[dict[str, Any], Model] | web.Response:
    try:
        raw = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return error_response(400, "invalid_json", "the body must be a JSON object")
    if not isinstance(raw, dict):
        return error_response(400, "invalid_json", "the body must be a JSON object")
    try:
        return raw, model.model_validate(raw)
    except ValidationError as exc:
        return error_response(
            422, "validation_failed", "the request has invalid fields", validation_details(exc)
        )


async def maker_of(request: web.Request) -> str:
    """Who makes a payment with this request's token, for the four-eyes review of a hold
    (:func:`switch.reviews.maker_for`). A client token minted before tokens named the issuer of
    the client's secret costs one read of the client."""
    claims = request[CLAIMS]
    maker = maker_for(claims.kind, claims.client_id, claims.issuer)
    if maker is None:
        doc = await request.app[STATE].cols.clients.find_one(
            {"_id": claims.client_id}, {"created_by": 1, "rotated_by": 1}
        )
        maker = (secret_holder(doc) if doc else None) or f"client:{claims.client_id}"
    return maker


async def _create(request: web.Request, command: CreatePayment) -> web.Response:
    state = request.app[STATE]
    shard = state.router.shard_of_merchant(command.merchant_id)
    try:
        reply = await state.router.create_payments[shard].call(command)
    except Exception as exc:
        log.warning("shard %d did not answer a create: %s", shard, exc)
        raise Unavailable("the payment shard is unavailable; retry with the same key") from exc
    return reply_response(reply)


async def create_payment(request: web.Request) -> web.Response:
    checked = await validated(request, PaymentCreate)
    if isinstance(checked, web.Response):
        return checked
    key, raw, body = checked
    if body.phone is not None:
        limited = await check_prompt_limit(request, body.phone)  # prompts per phone (issue 6)
        if limited is not None:
            return limited
    # The hash covers the request as the client sent it, so a retry with any change is a 409.
    return await _create(
        request,
        CreatePayment(
            merchant_id=request[CLAIMS].merchant_id,
            idem_key=key,
            request_hash=request_hash(raw),
            method=body.method,
            amount_minor=body.amount_minor,
            phone=body.phone or "",
            reference=body.reference,
            description=body.description or body.reference[:13],
            metadata=dict(body.metadata),
            destination=body.till.model_dump() if body.till else {},
            maker=await maker_of(request),
        ),
    )


async def create_payout(request: web.Request) -> web.Response:
    checked = await validated(request, PayoutCreate)
    if isinstance(checked, web.Response):
        return checked
    key, raw, body = checked
    unknown = _unknown_sacco(request, body)
    if unknown is not None:
        return unknown
    maker = await maker_of(request)
    command = payout_command(request[CLAIMS].merchant_id, key, raw, body, maker)
    return await _create(request, command)


def payout_command(
    merchant_id: str, key: str, raw: dict[str, Any], body: PayoutCreate, maker: str = ""
) -> CreatePayment:
    """A validated payout body as the shard's command (also used by bulk batches)."""
    return CreatePayment(
        merchant_id=merchant_id,
        idem_key=key,
        request_hash=request_hash(raw),
        method=body.method,
        amount_minor=body.amount_minor,
        phone=body.phone or "",
        reference=body.reference,
        # The remarks providers show (Daraja's Remarks: 2 to 100 characters): a one-character
        # reference alone would be refused, so it is spelled out.
        description=body.remarks
        or (body.reference if len(body.reference) > 1 else f"Payout {body.reference}"),
        metadata=dict(body.metadata),
        command=body.command if body.method == "auto" or takes_command(body.method) else None,
        destination=body.destination(),
        direction="payout",
        maker=maker,
    )


def sacco_problem(
    saccos: Mapping[str, Sacco], code: str, member_number: str, where: str
) -> tuple[str, str] | None:
    """(field, reason) when the SACCO is not registered or the member number does not have
    its format (so nothing is reserved for a payout that can only fail)."""
    sacco = saccos.get(code)
    if sacco is None:
        return f"{where}.sacco_code", f"no SACCO {code} is registered"
    if not sacco.member_number_ok(member_number):
        return (
            f"{where}.member_number",
            f"not a {code} member number (format {sacco.member_number_pattern})",
        )
    return None


def _unknown_sacco(request: web.Request, body: PayoutCreate) -> web.Response | None:
    if body.sacco is None:
        return None
    found = sacco_problem(
        request.app[STATE].saccos, body.sacco.sacco_code, body.sacco.member_number, "sacco"
    )
    if found is None:
        return None
    details = [{"field": found[0], "reason": found[1]}]
    return error_response(422, "validation_failed", "the request has invalid fields", details)


class ReversalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Annotated[str, Field(min_length=2, max_length=100)] = Field(
        "Payment reversal", description="Sent to M-Pesa as the Remarks."
    )


async def reverse_payment(request: web.Request) -> web.Response:
    """Give a succeeded collection back to the payer (the whole amount; once per payment)."""
    checked = await validated(request, ReversalIn)
    if isinstance(checked, web.Response):
        return checked
    _, raw, body = checked
    state = request.app[STATE]
    payment_id = request.match_info["payment_id"]
    shard = shard_of(payment_id)
    if shard is None or shard >= state.router.count:
        return error_response(404, "not_found", f"no payment {payment_id}")
    merchant_id = request[CLAIMS].merchant_id
    command = CreateReversal(merchant_id, payment_id, "", request_hash(raw), body.reason)
    try:
        [reply] = await state.actors.shards[shard].create_reversals([command])
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry with the same key") from exc
    return reply_response(reply)


async def _read(request: web.Request, kind: str) -> web.Response:
    """GET a payment or a payout; the other kind's id is a 404 here."""
    state = request.app[STATE]
    object_id = request.match_info["payment_id"]
    shard = shard_of(object_id)
    missing = error_response(404, "not_found", f"no {kind} {object_id}")
    if shard is None or shard >= state.router.count:
        return missing
    try:
        reply = await state.router.get_payments[shard].call(
            (request[CLAIMS].merchant_id, object_id)
        )
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    shown = reply.body.get("object")
    if reply.status == 200 and shown != kind and (kind, shown) != ("payment", "posting"):
        return missing
    return reply_response(reply)


async def get_payment(request: web.Request) -> web.Response:
    return await _read(request, "payment")


async def get_payout(request: web.Request) -> web.Response:
    return await _read(request, "payout")


async def get_reversal(request: web.Request) -> web.Response:
    return await _read(request, "reversal")


async def get_balance(request: web.Request) -> web.Response:
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    try:
        reply = await state.router.of_merchant(merchant_id).balance(merchant_id)
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    return reply_response(reply)


KYC_403 = "Not allowed: scope, or the merchant's KYC state or limits"
ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/payments",
        create_payment,
        "Payments",
        "Create a payment (collect money: M-Pesa STK Push or Airtel USSD push)",
        {202: json_answer("Stored; the provider is being asked", Payment)},
        body=PaymentCreate,
        errors=(503,),
        idempotency="required",
        error_texts={
            403: KYC_403,
            429: "Too many requests, or too many payment prompts to this phone",
        },
    ),
    Route(
        "GET",
        "/v1/payments/{payment_id}",
        get_payment,
        "Payments",
        "Get a payment",
        {200: json_answer("The payment", any_of(Payment, out.PaymentRecord))},
        errors=(404, 503),
    ),
    Route(
        "GET",
        "/v1/balance",
        get_balance,
        "Payments",
        "Your balance: available and reserved",
        {200: json_answer("The balance", Balance)},
        errors=(503,),
    ),
    Route(
        "POST",
        "/v1/payouts",
        create_payout,
        "Payouts",
        "Pay out to a phone, a bank account or a SACCO member; amount plus fee reserved",
        {202: json_answer("Reserved and stored; the provider is being asked", Payout)},
        body=PayoutCreate,
        errors=(503,),
        idempotency="required",
        error_texts={403: KYC_403, 422: "Invalid fields, no route, or insufficient_balance"},
    ),
    Route(
        "GET",
        "/v1/payouts/{payment_id}",
        get_payout,
        "Payouts",
        "Get a payout",
        {200: json_answer("The payout", Payout)},
        errors=(404, 503),
    ),
    Route(
        "POST",
        "/v1/payments/{payment_id}/reversal",
        reverse_payment,
        "Payments",
        "Give a succeeded collection back to the payer (whole amount, once)",
        {202: json_answer("The reversal, stored; M-Pesa is being asked", out.Reversal)},
        body=ReversalIn,
        errors=(404, 503),
        idempotency="required",
        error_texts={422: "Invalid fields, or the payment cannot be reversed"},
    ),
    Route(
        "GET",
        "/v1/reversals/{payment_id}",
        get_reversal,
        "Payments",
        "Get a reversal",
        {200: json_answer("The reversal", out.Reversal)},
        errors=(404, 503),
    ),
)
