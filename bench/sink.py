"""The merchants' side of the bench: an aiohttp server in the runner that receives the switch's
webhooks (``POST /hooks/<i>`` for the bench's merchant ``i``, each signature checked with that
merchant's secret) and the Daraja simulator's callbacks (``POST /daraja``, for the ``daraja``
ceiling) and notes when each arrived, and for which merchant."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from switch.signing import verify_webhook

FINAL_TYPES = frozenset({"payment.succeeded", "payment.failed", "payment.expired"})
DARAJA_PREFIX = "daraja."


@dataclass(frozen=True, slots=True)
class Arrival:
    payment_id: str  # a switch payment id, or a CheckoutRequestID for Daraja callbacks
    type: str  # payment.<status> or daraja.<ResultCode>
    at: float  # epoch seconds
    event_id: str = ""
    merchant: int = -1  # the bench merchant whose webhook URL it came to; -1: a Daraja callback

    @property
    def final(self) -> bool:
        return self.type in FINAL_TYPES or self.type.startswith(DARAJA_PREFIX)


@dataclass
class Sink:
    # Merchant index -> webhook secret, set once the merchants exist; a hook not in it is refused
    # (404, counted in unknown_hooks); an empty secret skips the signature check.
    webhook_secrets: dict[int, str] = field(default_factory=dict)
    arrivals: list[Arrival] = field(default_factory=list)
    first_final: dict[str, float] = field(default_factory=dict)  # payment id -> arrival
    bad_signatures: int = 0
    malformed: int = 0
    unknown_hooks: int = 0
    types: Counter[str] = field(default_factory=Counter)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self, port: int) -> Sink:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/hooks/{merchant:[0-9]+}", self.webhook)
        app.router.add_post("/daraja", self.daraja)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port, backlog=2048).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _note(self, arrival: Arrival) -> None:
        self.arrivals.append(arrival)
        self.types[arrival.type] += 1
        if arrival.final:
            self.first_final.setdefault(arrival.payment_id, arrival.at)

    async def webhook(self, request: web.Request) -> web.Response:
        at = time.time()
        body = await request.read()
        merchant = int(request.match_info["merchant"])
        secret = self.webhook_secrets.get(merchant)
        if secret is None:
            self.unknown_hooks += 1
            return web.Response(status=404)
        if secret and not verify_webhook(secret, request.headers, body):
            self.bad_signatures += 1
            return web.Response(status=400)
        try:
            event = orjson.loads(body)
            payment_id, kind = str(event["data"]["id"]), str(event["type"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.malformed += 1
            return web.Response(status=400)
        self._note(Arrival(payment_id, kind, at, request.headers.get("webhook-id", ""), merchant))
        return web.Response(status=204)

    async def daraja(self, request: web.Request) -> web.Response:
        at = time.time()
        try:
            cb = orjson.loads(await request.read())["Body"]["stkCallback"]
            checkout, code = str(cb["CheckoutRequestID"]), cb["ResultCode"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.malformed += 1
            return web.Response(status=400)
        self._note(Arrival(checkout, f"{DARAJA_PREFIX}{code}", at))
        # What Daraja expects back from a callback URL.
        return web.json_response({"ResultCode": 0, "ResultDesc": "Accepted"})
