"""Provider callbacks. Daraja signs nothing, so the URL carries a per-payment token that the
switch verifies without a database read; the owning shard then checks the callback against the
stored payment (CheckoutRequestID, amount, phone) before anything changes. The answer to Daraja
is sent only after the change is persisted."""

from __future__ import annotations

import logging

from aiohttp import web

from api.errors import json_response
from api.state import STATE, AppState
from connectors.mpesa import MalformedCallback, parse_stk_callback
from switch.ids import shard_of
from switch.messages import CallbackIn
from switch.metrics import CALLBACKS
from switch.outcomes import from_stk_result
from switch.signing import verify_callback_token

log = logging.getLogger(__name__)

_ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def _refuse(status: int, verdict: str) -> web.Response:
    CALLBACKS.labels("mpesa", verdict).inc()
    return json_response({"ResultCode": 1, "ResultDesc": "Rejected"}, status)


async def stk_callback(request: web.Request) -> web.Response:
    state: AppState = request.app[STATE]
    payment_id = request.match_info["payment_id"]
    shard = shard_of(payment_id)
    token_ok = verify_callback_token(state.secret_key, payment_id, request.match_info["token"])
    if shard is None or shard >= state.router.count or not token_ok:
        log.warning("callback with a bad token or id refused (%s)", payment_id[:40])
        return _refuse(404, "forged")
    try:
        result = parse_stk_callback(await request.read())
    except MalformedCallback as exc:
        log.warning("malformed STK callback for %s: %s", payment_id, exc)
        return _refuse(400, "malformed")
    item = CallbackIn(payment_id, from_stk_result(result), result.checkout_request_id or None)
    verdict = await state.router.callbacks[shard].call(item)
    CALLBACKS.labels("mpesa", verdict).inc()
    if verdict == "mismatch":
        return _refuse(400, "mismatch")
    if verdict == "unknown_payment":
        return _refuse(404, "unknown_payment")
    return json_response(_ACCEPTED)
