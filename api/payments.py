"""``POST /v1/payments`` and ``GET /v1/payments/{id}``."""

from __future__ import annotations

import logging

import orjson
from aiohttp import web
from pydantic import ValidationError

from api.auth import CLAIMS
from api.errors import error_response, json_response, validation_details
from api.models import PaymentCreate
from api.state import STATE, AppState
from switch.errors import Unavailable
from switch.idempotency import check_key, request_hash
from switch.ids import shard_of
from switch.messages import CreatePayment, Reply

log = logging.getLogger(__name__)


def _reply(reply: Reply) -> web.Response:
    headers = {"Idempotent-Replayed": "true"} if reply.replayed else {}
    if reply.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(reply.retry_after)))
    if reply.status in (200, 202) and "id" in reply.body:
        headers["Location"] = f"/v1/payments/{reply.body['id']}"
    return json_response(reply.body, reply.status, headers)


async def create_payment(request: web.Request) -> web.Response:
    state: AppState = request.app[STATE]
    claims = request[CLAIMS]
    key = request.headers.get("Idempotency-Key")
    problem = check_key(key)
    if problem or key is None:
        return error_response(400, "idempotency_key_missing", problem or "")
    try:
        raw = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return error_response(400, "invalid_json", "the body must be a JSON object")
    if not isinstance(raw, dict):
        return error_response(400, "invalid_json", "the body must be a JSON object")
    try:
        body = PaymentCreate.model_validate(raw)
    except ValidationError as exc:
        return error_response(
            422, "validation_failed", "the request has invalid fields", validation_details(exc)
        )
    # The hash covers the request as the client sent it, so a retry with any change is a 409.
    command = CreatePayment(
        merchant_id=claims.merchant_id,
        idem_key=key,
        request_hash=request_hash(raw),
        method=body.method,
        amount_minor=body.amount_minor,
        phone=body.phone,
        reference=body.reference,
        description=body.description or body.reference[:13],
        metadata=dict(body.metadata),
    )
    shard = state.router.shard_of_merchant(claims.merchant_id)
    try:
        reply = await state.router.creates[shard].call(command)
    except Exception as exc:
        log.warning("shard %d did not answer a create: %s", shard, exc)
        raise Unavailable("the payment shard is unavailable; retry with the same key") from exc
    return _reply(reply)


async def get_payment(request: web.Request) -> web.Response:
    state: AppState = request.app[STATE]
    claims = request[CLAIMS]
    payment_id = request.match_info["payment_id"]
    shard = shard_of(payment_id)
    if shard is None or shard >= state.router.count:
        return error_response(404, "not_found", f"no payment {payment_id}")
    try:
        reply = await state.router.gets[shard].call((claims.merchant_id, payment_id))
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    return _reply(reply)


async def get_balance(request: web.Request) -> web.Response:
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    try:
        reply = await state.actors.balance(state.router.shard_of_merchant(merchant_id), merchant_id)
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    return _reply(reply)
