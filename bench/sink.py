"""The merchants' side of the bench: an aiohttp server in the runner that receives the switch's
webhooks (``POST /hooks/<i>`` for the bench's merchant ``i``, each signature checked with that
merchant's secret) and the Daraja simulator's callbacks (``POST /daraja``, for the ``daraja``
ceiling) and notes when each arrived, and for which merchant.

Transfers have no webhooks of their own: their legs are ordinary payments and payouts whose
webhooks carry ``transfer_id``. The sink notes a transfer as done (a ``transfer.<outcome>``
arrival, once per transfer) from its legs: a debit leg that failed or expired (nothing moved), a
payout leg that succeeded (the credit, or the refund after a failed credit), or a second payout
leg that failed (the refund failed too)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from switch.signing import verify_webhook

FINAL_TYPES = frozenset(
    {
        "payment.succeeded",
        "payment.failed",
        "payment.expired",
        "payout.succeeded",
        "payout.failed",
        "transfer.succeeded",  # made by the sink from the legs (module docstring)
        "transfer.failed",
        "transfer.refunded",
        "transfer.refund_failed",
    }
)
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


def transfer_outcome(kind: str, failed_payouts: set[str], leg_id: str) -> str | None:
    """What a leg's webhook (``kind``: payment.failed, payout.succeeded...) says of its transfer:
    done with this outcome, or None (more legs to come). ``failed_payouts`` holds the payout legs
    seen failing so far and is updated. The sink cannot tell a credit from a refund, so a payout
    that succeeded reads as ``succeeded`` after no failure and ``refunded`` after one. Pure."""
    if kind in ("payment.failed", "payment.expired"):
        return "failed"  # the debit: nothing moved
    if kind == "payout.succeeded":
        return "refunded" if failed_payouts - {leg_id} else "succeeded"
    if kind == "payout.failed":
        failed_payouts.add(leg_id)
        return "refund_failed" if len(failed_payouts) > 1 else None
    return None


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
    # transfer id -> ids of its payout legs that failed (a second one ends the transfer)
    transfer_failed_payouts: dict[str, set[str]] = field(default_factory=dict)
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
            transfer_id = str(event["data"].get("transfer_id") or "")
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            self.malformed += 1
            return web.Response(status=400)
        self._note(Arrival(payment_id, kind, at, request.headers.get("webhook-id", ""), merchant))
        if transfer_id:
            self._leg(transfer_id, payment_id, kind, at, merchant)
        return web.Response(status=204)

    def _leg(self, transfer_id: str, leg_id: str, kind: str, at: float, merchant: int) -> None:
        failed = self.transfer_failed_payouts.setdefault(transfer_id, set())
        outcome = transfer_outcome(kind, failed, leg_id)
        if outcome is not None and transfer_id not in self.first_final:
            self._note(Arrival(transfer_id, f"transfer.{outcome}", at, "", merchant))

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
