"""Telling merchants: webhooks (durable, at least once, only for persisted changes) and live
events (best effort). The choice of events is pure (:func:`live_events`); :class:`Notifier`
carries them out through the webhook dispatcher, the merchant's endpoints and the publisher, and
disables an endpoint that has failed every delivery for ``webhook_disable_after`` (3 days): the
endpoint says why, the audit trail records it, and the merchant's other endpoints get a
``webhook_endpoint.disabled`` event."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson

from actors.shard.ports import Clock, PaymentStore
from actors.webhooks import RetryPolicy, WebhookDispatcher
from connectors.transport import Transport
from infra.live import Publisher
from switch.config import Settings
from switch.ids import new_id
from switch.payments import Payment, now_utc
from switch.webhooks import (
    Attempt,
    Target,
    disabled_event,
    event_body,
    iso_z,
    should_disable,
    target_of,
)

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
        self.port = store.webhooks()
        self.cache_for = settings.webhook_endpoint_cache
        self.disable_after = timedelta(seconds=settings.webhook_disable_after)
        self.endpoints: dict[str, tuple[float, list[Target]]] = {}
        # Endpoints failing since (as this shard saw it; also written to the endpoint).
        self.failing: dict[str, datetime] = {}
        self.webhooks = WebhookDispatcher(
            transport,
            RetryPolicy(
                settings.webhook_timeout,
                settings.webhook_retry_base,
                settings.webhook_retry_max,
                settings.webhook_max_attempts,
            ),
            targets_of=self._targets,
            payment_of=payment_of,
            persisted_seq=deliverable,
            delivered=delivered,
            record=lambda entry: self.spawn(self.port.record(entry)),
            health=self._health,
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

    async def _targets(self, merchant_id: str) -> list[Target]:
        cached = self.endpoints.get(merchant_id)
        if cached and cached[0] > self.clock.monotonic():
            return cached[1]
        now = now_utc()
        targets = [target_of(d, now) for d in await self.port.endpoints(merchant_id)]
        self.endpoints[merchant_id] = (self.clock.monotonic() + self.cache_for, targets)
        return targets

    def _health(self, merchant_id: str, target: Target, attempt: Attempt) -> None:
        """Keep each endpoint's failure record; disable one failing for too long."""
        if attempt.ok:
            if self.failing.pop(target.id, None) is not None or target.failing_since:
                self.spawn(self.port.mark_healthy(target.id))
            return
        known = self.failing.get(target.id) or target.failing_since
        since = min(known, attempt.at) if known else attempt.at
        if target.id not in self.failing:
            self.spawn(self.port.mark_failing(target.id, since))
        self.failing[target.id] = since
        if should_disable(since, attempt.at, self.disable_after):
            self.failing.pop(target.id, None)
            self.spawn(self._disable(merchant_id, target, since))

    async def _disable(self, merchant_id: str, target: Target, since: datetime) -> None:
        reason = f"every delivery failed since {iso_z(since)}, none succeeded"
        doc = await self.port.disable(target.id, reason)
        self.endpoints.pop(merchant_id, None)
        if doc is None:
            return  # another shard did it, or the merchant fixed it meanwhile
        log.error("webhook endpoint %s of merchant %s disabled: %s", target.id, merchant_id, reason)
        await self.port.audit(
            "webhook_endpoint.disabled",
            f"webhook_endpoint:{target.id}",
            {"enabled": True},
            {"enabled": False, "disabled_reason": reason},
        )
        event = disabled_event(doc, new_id("evt"), now_utc(), reason)
        await self.webhooks.send_once(merchant_id, event, skip=target.id)
