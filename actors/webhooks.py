"""Webhook delivery for one shard's merchants: to every enabled endpoint whose filters want the
event (switch/webhooks.py), signed per Standard Webhooks with each live secret of the endpoint,
retried with exponential backoff while an endpoint fails, one event at a time per payment, in
order. An event is done when every endpoint has it or has been given up on.

An event is sent only once the status change it reports is persisted. What has been delivered
is the payment's ``notified_seq``, written with the payment's next change, and a payment stays in
``inflight`` until its final event is out, so a restart loses no event (it may send one twice:
delivery is at least once, and ``webhook-id`` lets receivers deduplicate). Every attempt is
logged (``webhook_deliveries``, written in batches: a delivery that succeeds at the first try as
an item of a summary, any other as an entry of its own; switch/webhooks.py) and reported to
``health``, which disables an endpoint that fails for days (actors/shard/notify.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from connectors.transport import Transport
from infra.metrics import WEBHOOKS
from infra.webhook_sender import post_event
from switch.payments import HistoryEntry, Payment
from switch.retry import webhook_delay
from switch.webhooks import Attempt, LogEntry, Target, event_body

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    timeout: float
    base: float
    cap: float
    max_attempts: int


class WebhookDispatcher:
    """``targets_of`` gives a merchant's endpoints; ``payment_of`` reads the shard's current copy;
    ``delivered`` tells the shard an event is done (delivered everywhere, or given up on after the
    last attempt); ``record`` logs each attempt; ``health`` hears each endpoint's outcome."""

    def __init__(
        self,
        transport: Transport,
        policy: RetryPolicy,
        targets_of: Callable[[str], Awaitable[list[Target]]],
        payment_of: Callable[[str], Payment | None],
        persisted_seq: Callable[[str], int],
        delivered: Callable[[str, int], None],
        record: Callable[[LogEntry], None],
        health: Callable[[str, Target, Attempt], None] = lambda _m, _t, _a: None,
        concurrency: int = 64,
    ) -> None:
        self._transport = transport
        self._policy = policy
        self._targets_of = targets_of
        self._payment_of = payment_of
        self._persisted_seq = persisted_seq
        self._delivered = delivered
        self._record = record
        self._health = health
        self._due: list[tuple[float, str]] = []
        self._queued: set[str] = set()
        # Per event: attempts made, and the endpoints still owed it (None: all that want it).
        self._attempts: dict[tuple[str, int], int] = {}
        self._owed: dict[tuple[str, int], set[str]] = {}
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def backlog(self) -> int:
        """Payments with an event waiting: due, backing off after a failure, or being sent."""
        return len(self._queued) + len(self._running)

    def enqueue(self, payment_id: str, delay: float = 0.0) -> None:
        if payment_id in self._queued:
            return
        self._queued.add(payment_id)
        heapq.heappush(self._due, (time.monotonic() + delay, payment_id))
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            if not self._due:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            due_at, payment_id = self._due[0]
            wait = due_at - time.monotonic()
            if wait > 0:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
                continue
            heapq.heappop(self._due)
            await self._slots.acquire()
            task = asyncio.create_task(self._deliver_next(payment_id))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _deliver_next(self, payment_id: str) -> None:
        try:
            self._queued.discard(payment_id)
            payment = self._payment_of(payment_id)
            if payment is None or not payment.pending_notifications:
                return
            entry = payment.pending_notifications[0]
            if entry.seq > self._persisted_seq(payment_id):
                return  # not durable yet: the commit that makes it so enqueues it again
            retry_in = await self._attempt(payment, entry)
            if retry_in is None:
                self._delivered(payment_id, entry.seq)
            else:
                self.enqueue(payment_id, retry_in)
        except Exception:
            log.exception("webhook delivery for %s crashed; retrying later", payment_id)
            self.enqueue(payment_id, self._policy.base)
        finally:
            self._slots.release()

    async def _attempt(self, payment: Payment, entry: HistoryEntry) -> float | None:
        """Send once to each endpoint still owed the event. None when the event is done;
        otherwise the delay before the next try."""
        key = (payment.id, entry.seq)
        event = event_body(payment, entry)
        wanted = [t for t in await self._targets_of(payment.merchant_id) if t.wants(event["type"])]
        owed = self._owed.get(key)
        # An endpoint disabled or deleted meanwhile is owed nothing more.
        targets = [t for t in wanted if owed is None or t.id in owed]
        if not targets:
            self._forget(key)
            return None
        attempt = self._attempts.get(key, 0) + 1
        body = orjson.dumps(event)
        outcomes = await asyncio.gather(
            *(
                post_event(self._transport, t, event["id"], body, self._policy.timeout)
                for t in targets
            )
        )
        last = attempt >= self._policy.max_attempts
        still: set[str] = set()
        for target, outcome in zip(targets, outcomes, strict=True):
            status = "delivered" if outcome.ok else "failed" if last else "retrying"
            self._record(
                LogEntry(payment.merchant_id, target.id, event, body, outcome, status, attempt == 1)
            )
            self._health(payment.merchant_id, target, outcome)
            if outcome.ok:
                WEBHOOKS.labels("delivered").inc()
                continue
            WEBHOOKS.labels("failed_attempt").inc()
            self._log_failure(event["id"], payment.merchant_id, target, attempt, outcome, last)
            if not last:
                still.add(target.id)
        if not still:
            self._forget(key)
            return None
        self._attempts[key], self._owed[key] = attempt, still
        return webhook_delay(attempt, self._policy.base, self._policy.cap)

    def _forget(self, key: tuple[str, int]) -> None:
        self._attempts.pop(key, None)
        self._owed.pop(key, None)

    def _log_failure(
        self, msg_id: str, merchant_id: str, target: Target, attempt: int, a: Attempt, last: bool
    ) -> None:
        # The URL is not logged: merchants sometimes put a secret in it.
        if last:
            WEBHOOKS.labels("abandoned").inc()
            log.error(
                "webhook %s for merchant %s to %s abandoned after %d attempts: %s",
                msg_id,
                merchant_id,
                target.id,
                attempt,
                a.error,
            )
        else:
            log.warning(
                "webhook %s for merchant %s to %s failed (attempt %d of %d): %s",
                msg_id,
                merchant_id,
                target.id,
                attempt,
                self._policy.max_attempts,
                a.error,
            )

    async def send_once(self, merchant_id: str, event: dict[str, Any], skip: str = "") -> None:
        """An event that is no payment's (an endpoint's notice): one attempt to each endpoint
        that wants it (but ``skip``), logged; a failure is in the log, for a resend."""
        body = orjson.dumps(event)
        targets = [
            t
            for t in await self._targets_of(merchant_id)
            if t.wants(event["type"]) and t.id != skip
        ]
        outcomes = await asyncio.gather(
            *(
                post_event(self._transport, t, event["id"], body, self._policy.timeout)
                for t in targets
            )
        )
        for target, outcome in zip(targets, outcomes, strict=True):
            status = "delivered" if outcome.ok else "failed"
            self._record(LogEntry(merchant_id, target.id, event, body, outcome, status, True))
