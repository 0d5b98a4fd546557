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
from connectors.airtel.outcomes import airtel_callback
from infra.metrics import CALLBACKS
from switch.ids import shard_of
from switch.messages import CallbackIn, StatusCheck
from switch.providers import CallbackKind, providers, resolve
from switch.signing import verify_callback_token

log = logging.getLogger(__name__)

_ACCEPTED = {"ResultCode": 0, "ResultDesc": "Accepted"}


def _refuse(status: int, verdict: str, provider: str) -> web.Response:
    CALLBACKS.labels(provider, verdict).inc()
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


async def _deliver(
    request: web.Request, shard: int, item: CallbackIn, provider: str
) -> web.Response:
    """Hand the callback to the owning shard; answer only once the change is persisted."""
    verdict = await request.app[STATE].router.apply_callbacks[shard].call(item)
    CALLBACKS.labels(provider, verdict).inc()
    if verdict == "mismatch":
        return _refuse(400, "mismatch", provider)
    if verdict == "unknown_payment":
        return _refuse(404, "unknown_payment", provider)
    return json_response(_ACCEPTED)


# Each provider callback: how to read its body into what the owning shard needs.
Reader = Callable[[str, bytes], CallbackIn]


def _route(
    provider: str, read: Reader, methods: frozenset[str]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        owner = _owner(request)
        if owner is None:
            return _refuse(404, "forged", provider)
        payment_id, shard = owner
        try:
            item = read(payment_id, await request.read())
        except ValueError as exc:  # each connector's MalformedCallback
            log.warning("malformed callback %s for %s: %s", request.path[:60], payment_id, exc)
            return _refuse(400, "malformed", provider)
        return await _deliver(request, shard, replace(item, methods=methods), provider)

    return handle


# Every per-payment callback the providers declare (switch/providers.py), with the only methods
# it may act on: a B2C result can never settle an STK collection, whatever id its URL names.
KINDS: tuple[tuple[str, CallbackKind], ...] = tuple(
    (spec.name, kind) for spec in providers() for kind in spec.callbacks
)
_AIRTEL_COLLECTION = frozenset({"airtel_ussd"})


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
        return _refuse(401, "forged", "airtel")
    except AirtelMalformed as exc:
        log.warning("malformed Airtel callback: %s", exc)
        return _refuse(400, "malformed", "airtel")
    shard = shard_of(item.payment_id)
    if shard is None or shard >= state.router.count:
        return _refuse(404, "unknown_payment", "airtel")
    if key is None:
        [checked] = await state.actors.gateways.check([StatusCheck(item.payment_id, "airtel_ussd")])
        if checked.outcome is None:
            return _refuse(503, "unconfirmed", "airtel")
        item = CallbackIn(item.payment_id, checked.outcome, None, not_found=checked.not_found)
    # Airtel's callback and its enquiry speak only of Airtel collections: the shard refuses it
    # for a payment of any other rail (an M-Pesa payout's id, say), so its "no record" can never
    # fail a payout that M-Pesa paid.
    return await _deliver(request, shard, replace(item, methods=_AIRTEL_COLLECTION), "airtel")


ROUTE_TABLE: tuple[Route, ...] = (
    *(
        callback_route(
            f"/callbacks/{kind.path}/{{payment_id}}/{{token}}",
            _route(name, resolve(kind.reader), frozenset(kind.methods)),
            kind.summary,
            name,
            description="Called by the provider, not by you: the URL carries a per-payment "
            "token checked without a database read.",
        )
        for name, kind in KINDS
    ),
    callback_route(
        "/callbacks/airtel",
        airtel,
        "Airtel Money collection result (one URL, set on Airtel's portal)",
        "airtel",
        errors=(401, 503),
        error_texts={
            401: "The body's hash does not match (callback key configured)",
            503: "Airtel could not confirm the result yet; it retries",
        },
    ),
)
