"""Telling merchants: webhooks (durable, at least once, only for persisted changes) and live
events (best effort). The choice of events is pure (:func:`live_events`); :class:`Notifier`
carries them out through the webhook dispatcher, the merchant's endpoint and the publisher."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from actors.shard.ports import Clock, PaymentStore
from actors.webhooks import Endpoint, RetryPolicy, WebhookDispatcher, event_body
from connectors.transport import Transport
from infra.live import Publisher
from infra.storage.mongo import Doc
from switch.config import Settings
from switch.payments import Payment

log = logging.getLogger(__name__)

MERCHANT_TTL = 60.0


def live_events(payments: Iterable[Payment], published: dict[str, int]) -> list[tuple[str, bytes]]:
    """The live events for status changes just persisted and not yet published (``published``:
    per payment, the last history seq published; advanced here)."""
    events = []
    for p in payments:
        done = published.get(p.id, 0)
        for entry in p.history:
            if entry.status_changed and entry.seq > done:
                events.append((p.merchant_id, orjson.dumps(event_body(p, entry))))
        published[p.id] = p.history[-1].seq
    return events


class Notifier:
    """``payment_of`` reads the shard's copy; ``deliverable`` says up to which history seq a
    payment is persisted; ``delivered`` tells the shard an event is out (or abandoned)."""

    def __init__(
        self,
        settings: Settings,
        store: PaymentStore,
        transport: Transport,
        publisher: Publisher | None,
        clock: Clock,
        spawn: Callable[[Awaitable[Any]], None],
        payment_of: Callable[[str], Payment | None],
        deliverable: Callable[[str], int],
        delivered: Callable[[str, int], None],
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.clock = clock
        self.spawn = spawn
        self.published: dict[str, int] = {}
        self.endpoints: dict[str, tuple[float, Endpoint]] = {}
        self.webhooks = WebhookDispatcher(
            transport,
            RetryPolicy(
                settings.webhook_timeout,
                settings.webhook_retry_base,
                settings.webhook_retry_max,
                settings.webhook_max_attempts,
            ),
            endpoint_of=self._endpoint,
            payment_of=payment_of,
            persisted_seq=deliverable,
            delivered=delivered,
            record=self._record_attempt,
        )

    def start(self) -> None:
        self.webhooks.start()

    async def stop(self) -> None:
        await self.webhooks.stop()

    def webhook(self, payment_id: str) -> None:
        """The payment has events to deliver (the dispatcher sends only persisted ones)."""
        self.webhooks.enqueue(payment_id)

    def publish(self, payments: Iterable[Payment]) -> None:
        if self.publisher is None:
            return
        events = live_events(payments, self.published)
        if events:
            self.spawn(self.publisher.publish(events))

    def forget(self, payment_id: str) -> None:
        self.published.pop(payment_id, None)

    async def _endpoint(self, merchant_id: str) -> Endpoint:
        cached = self.endpoints.get(merchant_id)
        if cached and cached[0] > self.clock.monotonic():
            return cached[1]
        doc = await self.store.merchant(merchant_id)
        endpoint = Endpoint(doc.get("webhook_url"), doc.get("webhook_secret", ""))
        self.endpoints[merchant_id] = (self.clock.monotonic() + MERCHANT_TTL, endpoint)
        return endpoint

    def _record_attempt(self, doc: Doc) -> None:
        self.spawn(self.store.record_attempt(doc))
