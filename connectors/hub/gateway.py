"""The hub gateway: sends a bank source's request to pay (switch/hub/requests.py) to the payer's
bank, a participant of the hub, as a signed JSON notice to its endpoint (Standard Webhooks
headers with the participant's webhook secret, as every hub notice: actors/hub/notify.py).

The participant is found by its bank code in ``hub_participants`` (read at each send: a
suspended bank is asked nothing). The bank's answer decides the leg's first step:

- 2xx: accepted, its customer is asked; the leg waits (``awaiting_customer``) for the bank's hub
  transfer quoting the reference, or expires (``SWITCH_STK_EXPIRE_AFTER``): the transfer fails;
- 4xx (not 408/429): declined, nothing moved (the bank's ``{"reason"}`` is kept when it gives
  one);
- anything else, or no answer: the bank may have taken it; the leg waits (``unknown``) for the
  payment or the expiry, as if accepted. A request to pay moves no money by itself, and a
  bank asked twice could pay twice, so an unclear answer is never resent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from connectors.hub.orders import RequestToPay
from connectors.transport import AiohttpTransport, Transport
from infra.webhook_sender import post_event
from switch.config import Settings
from switch.hub import requests as rtp
from switch.messages import ProviderOutcome, QueryResult, StatusCheck, SubmitResult
from switch.payments import Failure, iso, now_utc
from switch.states import Event
from switch.webhooks import ALL_EVENTS, Target

Participant = dict[str, Any]
FindBank = Callable[[str], Any]  # bank code -> awaitable of the active participant doc or None


def outcome_of(status: int | None, excerpt: str) -> ProviderOutcome:
    """The bank's answer to a request to pay in the switch's terms (see the module)."""
    if status is not None and 200 <= status < 300:
        return ProviderOutcome(Event.ACCEPTED)
    if status is not None and 400 <= status < 500 and status not in (408, 429):
        try:
            reason = str(orjson.loads(excerpt).get("reason") or "")
        except (orjson.JSONDecodeError, AttributeError):
            reason = ""
        message = "The bank declined the request to pay" + (f": {reason}" if reason else "")
        return ProviderOutcome(Event.REJECTED, failure=Failure("declined", message, reason or None))
    detail = f"the bank answered {status}" if status else "the bank did not answer"
    message = f"{detail}; waiting for its payment until the request expires"
    return ProviderOutcome(Event.ANSWER_LOST, failure=Failure("outcome_unknown", message))


def _refused(message: str) -> ProviderOutcome:
    return ProviderOutcome(Event.REJECTED, failure=Failure("rejected", message))


class HubGatewayCore:
    def __init__(
        self, find_bank: FindBank, transport: Transport, timeout: float, expire_after: float
    ) -> None:
        self.find_bank = find_bank
        self.transport = transport
        self.timeout = timeout
        self.expire_after = expire_after

    async def submit(self, orders: Sequence[RequestToPay]) -> list[SubmitResult]:
        outcomes = await asyncio.gather(*(self._send(o) for o in orders))
        return [SubmitResult(o.payment_id, out) for o, out in zip(orders, outcomes, strict=True)]

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]:
        # Nothing to ask (the rail's recovery is "none"): the bank's payment or the expiry decides.
        return [QueryResult(r.payment_id, None) for r in requests]

    async def _send(self, order: RequestToPay) -> ProviderOutcome:
        if not order.creditor_account:
            return _refused("no collection account to be paid into")
        try:
            bank: Participant | None = await self.find_bank(order.bank_code)
        except Exception as exc:  # nothing sent: the transfer fails, nothing moved
            return _refused(f"the hub's participants could not be read ({exc})")
        if bank is None or not bank.get("endpoint_url"):
            return _refused(f"bank {order.bank_code} is not an active hub participant")
        data = rtp.notice_data(
            order.payment_id,
            order.amount_minor,
            order.bank_code,
            order.account_number,
            order.creditor_account,
            order.description,
            rtp.expiry_of(order.created_at, self.expire_after),
        )
        event_id = f"rtp_{order.payment_id}"
        body = orjson.dumps(
            {"id": event_id, "type": rtp.NOTICE, "created_at": iso(now_utc()), "data": data}
        )
        target = Target(
            str(bank["_id"]), str(bank["endpoint_url"]), (str(bank["webhook_secret"]),),
            (ALL_EVENTS,), True,
        )  # fmt: skip
        attempt = await post_event(self.transport, target, event_id, body, self.timeout)
        return outcome_of(attempt.status_code, attempt.excerpt)


def hub_gateway_from(
    settings: Settings, transport: Transport | None = None, *, deliver: object = None
) -> HubGatewayCore:
    """The gateway over the switch's own database (the hub's participants)."""
    from infra.storage.mongo import connect

    client = connect(settings.mongodb_uri or "mongodb://127.0.0.1:27017")
    participants = client.get_database(settings.mongodb_db)["hub_participants"]

    async def find_bank(code: str) -> Participant | None:
        found: Participant | None = await participants.find_one(
            {"bank_code": code, "status": "active", "kind": "bank"}
        )
        return found

    return HubGatewayCore(
        find_bank,
        transport or AiohttpTransport(limit=settings.provider_concurrency),
        settings.provider_timeout,
        settings.stk_expire_after,
    )
