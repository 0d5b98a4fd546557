"""Provider callbacks. Daraja signs nothing, so the URL carries a per-payment token that the
switch verifies without a database read; the owning shard then checks the callback against the
stored payment (CheckoutRequestID, amount, phone) before anything changes. The answer to Daraja
is sent only after the change is persisted."""

from __future__ import annotations

import logging

from aiohttp import web

from api.errors import json_response
from api.state import STATE
from connectors.mpesa import (
    MalformedCallback,
    parse_b2c_result,
    parse_reversal_result,
    parse_stk_callback,
    parse_transaction_status,
)
from switch.ids import shard_of
from switch.messages import CallbackIn, ProviderOutcome
from switch.metrics import CALLBACKS
from switch.outcomes import (
    from_b2c_result,
    from_reversal_result,
    from_status_result,
    from_stk_result,
)
from switch.signing import verify_callback_token

log = logging.getLogger(__name__)

_ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def _refuse(status: int, verdict: str) -> web.Response:
    CALLBACKS.labels("mpesa", verdict).inc()
    return json_response({"ResultCode": 1, "ResultDesc": "Rejected"}, status)


def _owner(request: web.Request) -> tuple[str, int] | None:
    """The payment id and its shard when the URL's token is genuine (no database read)."""
    state = request.app[STATE]
    payment_id = request.match_info["payment_id"]
    shard = shard_of(payment_id)
    token_ok = verify_callback_token(state.secret_key, payment_id, request.match_info["token"])
    if shard is None or shard >= state.router.count or not token_ok:
        log.warning("callback with a bad token or id refused (%s)", payment_id[:40])
        return None
    return payment_id, shard


async def _deliver(request: web.Request, shard: int, item: CallbackIn) -> web.Response:
    """Hand the callback to the owning shard; answer only once the change is persisted."""
    verdict = await request.app[STATE].router.callbacks[shard].call(item)
    CALLBACKS.labels("mpesa", verdict).inc()
    if verdict == "mismatch":
        return _refuse(400, "mismatch")
    if verdict == "unknown_payment":
        return _refuse(404, "unknown_payment")
    return json_response(_ACCEPTED)


async def stk_callback(request: web.Request) -> web.Response:
    owner = _owner(request)
    if owner is None:
        return _refuse(404, "forged")
    payment_id, shard = owner
    try:
        result = parse_stk_callback(await request.read())
    except MalformedCallback as exc:
        log.warning("malformed STK callback for %s: %s", payment_id, exc)
        return _refuse(400, "malformed")
    item = CallbackIn(payment_id, from_stk_result(result), result.checkout_request_id or None)
    return await _deliver(request, shard, item)


async def b2c_result(request: web.Request) -> web.Response:
    """The result of a payout (ResultURL)."""
    owner = _owner(request)
    if owner is None:
        return _refuse(404, "forged")
    payment_id, shard = owner
    try:
        result = parse_b2c_result(await request.read())
    except MalformedCallback as exc:
        log.warning("malformed B2C result for %s: %s", payment_id, exc)
        return _refuse(400, "malformed")
    item = CallbackIn(
        payment_id,
        from_b2c_result(result),
        None,
        originator_conversation_id=result.originator_conversation_id or None,
    )
    return await _deliver(request, shard, item)


async def b2c_status(request: web.Request) -> web.Response:
    """A Transaction Status answer about a payout (its ResultURL)."""
    owner = _owner(request)
    if owner is None:
        return _refuse(404, "forged")
    payment_id, shard = owner
    try:
        result = parse_transaction_status(await request.read())
    except MalformedCallback as exc:
        log.warning("malformed status result for %s: %s", payment_id, exc)
        return _refuse(400, "malformed")
    item = CallbackIn(
        payment_id, from_status_result(result), None, not_found=result.lookup == "not_found"
    )
    return await _deliver(request, shard, item)


async def reversal_result(request: web.Request) -> web.Response:
    """The result of a reversal."""
    owner = _owner(request)
    if owner is None:
        return _refuse(404, "forged")
    payment_id, shard = owner
    try:
        result = parse_reversal_result(await request.read())
    except MalformedCallback as exc:
        log.warning("malformed reversal result for %s: %s", payment_id, exc)
        return _refuse(400, "malformed")
    return await _deliver(
        request, shard, CallbackIn(payment_id, from_reversal_result(result), None)
    )


async def b2c_timeout(request: web.Request) -> web.Response:
    """QueueTimeOutURL: the request timed out in M-Pesa's queue. That is not an outcome (its
    payload is not documented), so the shard just asks Transaction Status again soon."""
    owner = _owner(request)
    if owner is None:
        return _refuse(404, "forged")
    payment_id, shard = owner
    log.info("queue timeout reported for %s", payment_id)
    return await _deliver(request, shard, CallbackIn(payment_id, ProviderOutcome(None), None))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/callbacks/stk/{payment_id}/{token}", stk_callback)
    app.router.add_post("/callbacks/b2c/result/{payment_id}/{token}", b2c_result)
    app.router.add_post("/callbacks/b2c/status/{payment_id}/{token}", b2c_status)
    app.router.add_post("/callbacks/b2c/timeout/{payment_id}/{token}", b2c_timeout)
    app.router.add_post("/callbacks/reversal/result/{payment_id}/{token}", reversal_result)
    app.router.add_post("/callbacks/reversal/timeout/{payment_id}/{token}", b2c_timeout)
