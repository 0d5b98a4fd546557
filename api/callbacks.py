"""Provider callbacks. Daraja signs nothing, so the URL carries a per-payment token that the
switch verifies without a database read; the owning shard then checks the callback against the
stored payment (CheckoutRequestID, amount, phone) before anything changes. The answer to Daraja
is sent only after the change is persisted."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from api.errors import json_response
from api.routes import Route, callback_route
from api.state import STATE
from connectors.airtel import CallbackHashMismatch
from connectors.airtel import MalformedCallback as AirtelMalformed
from connectors.mpesa import (
    MalformedCallback,
    parse_b2c_result,
    parse_reversal_result,
    parse_stk_callback,
    parse_transaction_status,
)
from connectors.pesalink import MalformedCallback as PesaLinkMalformed
from switch.ids import shard_of
from switch.messages import CallbackIn, ProviderOutcome, StatusCheck
from switch.metrics import CALLBACKS
from switch.outcomes import (
    from_b2c_result,
    from_reversal_result,
    from_status_result,
    from_stk_result,
)
from switch.outcomes_airtel import airtel_callback
from switch.outcomes_pesalink import pesalink_callback
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
    verdict = await request.app[STATE].router.apply_callbacks[shard].call(item)
    CALLBACKS.labels("mpesa", verdict).inc()
    if verdict == "mismatch":
        return _refuse(400, "mismatch")
    if verdict == "unknown_payment":
        return _refuse(404, "unknown_payment")
    return json_response(_ACCEPTED)


# Each provider callback: how to read its body into what the owning shard needs.
Reader = Callable[[str, bytes], CallbackIn]


def _stk(payment_id: str, body: bytes) -> CallbackIn:
    result = parse_stk_callback(body)
    return CallbackIn(payment_id, from_stk_result(result), result.checkout_request_id or None)


def _b2c_result(payment_id: str, body: bytes) -> CallbackIn:
    """The result of a payout (its ResultURL)."""
    result = parse_b2c_result(body)
    ours = result.originator_conversation_id or None
    return CallbackIn(payment_id, from_b2c_result(result), None, originator_conversation_id=ours)


def _b2c_status(payment_id: str, body: bytes) -> CallbackIn:
    """A Transaction Status answer about a payout."""
    result = parse_transaction_status(body)
    not_found = result.lookup == "not_found"
    return CallbackIn(payment_id, from_status_result(result), None, not_found=not_found)


def _c2b_status(payment_id: str, body: bytes) -> CallbackIn:
    """A Transaction Status answer about a C2B receipt: M-Pesa's own record of the payment a
    confirmation reported, with the party it credited (checked by the shard)."""
    result = parse_transaction_status(body)
    return CallbackIn(
        payment_id,
        from_status_result(result),
        None,
        not_found=result.lookup == "not_found",
        credit_party=result.credit_party,
    )


def _reversal_result(payment_id: str, body: bytes) -> CallbackIn:
    return CallbackIn(payment_id, from_reversal_result(parse_reversal_result(body)), None)


def _queue_timeout(payment_id: str, _body: bytes) -> CallbackIn:
    """QueueTimeOutURL: the request timed out in M-Pesa's queue. Not an outcome (its payload is
    not documented), so the shard just asks again soon."""
    return CallbackIn(payment_id, ProviderOutcome(None), None)


def _pesalink(payment_id: str, body: bytes) -> CallbackIn:
    return pesalink_callback(payment_id, body)


def _route(
    read: Reader, methods: frozenset[str]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        owner = _owner(request)
        if owner is None:
            return _refuse(404, "forged")
        payment_id, shard = owner
        try:
            item = read(payment_id, await request.read())
        except (MalformedCallback, PesaLinkMalformed) as exc:
            log.warning("malformed callback %s for %s: %s", request.path[:60], payment_id, exc)
            return _refuse(400, "malformed")
        return await _deliver(request, shard, replace(item, methods=methods))

    return handle


_STK = frozenset({"mpesa_stk"})
_B2C = frozenset({"mpesa_b2c"})
_C2B = frozenset({"mpesa_c2b"})
_REVERSAL = frozenset({"mpesa_reversal"})
_AIRTEL_COLLECTION = frozenset({"airtel_ussd"})

# Route kind -> how to read it, and the only methods it may act on (a B2C result can never
# settle an STK collection, whatever id its URL names).
ROUTES: dict[str, tuple[Reader, frozenset[str]]] = {
    "stk": (_stk, _STK),
    "b2c/result": (_b2c_result, _B2C),
    "b2c/status": (_b2c_status, _B2C),
    "b2c/timeout": (_queue_timeout, _B2C),
    "c2b/status": (_c2b_status, _C2B),
    "c2b/timeout": (_queue_timeout, _C2B),
    "reversal/result": (_reversal_result, _REVERSAL),
    "reversal/timeout": (_queue_timeout, _REVERSAL),
    "pesalink": (_pesalink, frozenset({"bank_transfer"})),
}


async def airtel(request: web.Request) -> web.Response:
    """Airtel posts every collection result to the one URL set on its portal, so there is no
    per-payment token. With a callback key configured, the body's hash authenticates it;
    without one, the switch believes nothing it says and asks Airtel itself (an enquiry by our
    id) before any money is credited."""
    state = request.app[STATE]
    key = state.settings.airtel_callback_key
    try:
        item = airtel_callback(await request.read(), key)
    except CallbackHashMismatch as exc:
        log.warning("Airtel callback refused: %s", exc)
        return _refuse(401, "forged")
    except AirtelMalformed as exc:
        log.warning("malformed Airtel callback: %s", exc)
        return _refuse(400, "malformed")
    shard = shard_of(item.payment_id)
    if shard is None or shard >= state.router.count:
        return _refuse(404, "unknown_payment")
    if key is None:
        [checked] = await state.actors.gateways.check([StatusCheck(item.payment_id, "airtel_ussd")])
        if checked.outcome is None:
            return _refuse(503, "unconfirmed")
        item = CallbackIn(item.payment_id, checked.outcome, None, not_found=checked.not_found)
    # Airtel's callback and its enquiry speak only of Airtel collections: the shard refuses it
    # for a payment of any other rail (an M-Pesa payout's id, say), so its "no record" can never
    # fail a payout that M-Pesa paid.
    return await _deliver(request, shard, replace(item, methods=_AIRTEL_COLLECTION))


SUMMARIES = {
    "stk": "STK Push result (the CallBackURL of one payment)",
    "b2c/result": "B2C payout result (ResultURL)",
    "b2c/status": "Transaction Status answer about a payout",
    "b2c/timeout": "B2C request timed out in M-Pesa's queue (QueueTimeOutURL)",
    "c2b/status": "Transaction Status answer about a C2B receipt (checked before any credit)",
    "c2b/timeout": "That status query timed out in M-Pesa's queue (QueueTimeOutURL)",
    "reversal/result": "Reversal result (ResultURL)",
    "reversal/timeout": "Reversal timed out in M-Pesa's queue (QueueTimeOutURL)",
    "pesalink": "PesaLink transfer result",
}
ROUTE_TABLE: tuple[Route, ...] = (
    *(
        callback_route(
            f"/callbacks/{kind}/{{payment_id}}/{{token}}",
            _route(read, methods),
            SUMMARIES[kind],
            description="Called by the provider, not by you: the URL carries a per-payment "
            "token checked without a database read.",
        )
        for kind, (read, methods) in ROUTES.items()
    ),
    callback_route(
        "/callbacks/airtel",
        airtel,
        "Airtel Money collection result (one URL, set on Airtel's portal)",
        errors=(401, 503),
        error_texts={
            401: "The body's hash does not match (callback key configured)",
            503: "Airtel could not confirm the result yet; it retries",
        },
    ),
)
