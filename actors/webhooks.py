"""Webhook delivery for one shard's merchants: signed per Standard Webhooks, retried with
exponential backoff while the endpoint fails, one event at a time per payment, in order.

An event is sent only once the status change it reports is persisted. What has been delivered
is the payment's ``notified_seq``, written with the payment's next change, and a payment stays in
``inflight`` until its final event is out, so a restart loses no event (it may send one twice:
delivery is at least once, and ``webhook-id`` lets receivers deduplicate). Attempts that fail
are also logged in the ``webhook_deliveries`` collection for the merchant's support.
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

from connectors.http import HttpRequest, TransportError
from connectors.transport import Transport
from infra.metrics import WEBHOOKS
from switch.payments import HistoryEntry, Payment, iso, view
from switch.retry import webhook_delay
from switch.signing import webhook_headers

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str | None
    secret: str


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    timeout: float
    base: float
    cap: float
    max_attempts: int


def event_id(payment_id: str, seq: int) -> str:
    """Stable across retries and restarts, so receivers can deduplicate on ``webhook-id``."""
    return f"evt_{payment_id.removeprefix('pay_')}_{seq}"


def event_body(payment: Payment, entry: HistoryEntry) -> dict[str, Any]:
    """The event for one history entry: the payment as it was right after that entry."""
    data = view(payment, upto_seq=entry.seq)
    return {
        "id": event_id(payment.id, entry.seq),
        "type": f"{data['object']}.{data['status']}",
        "created_at": iso(entry.at),
        "data": data,
    }


class WebhookDispatcher:
    """``payment_of`` reads the shard's current copy; ``delivered`` tells the shard an event is
    done (delivered, or abandoned after the last attempt); ``record`` logs failed attempts."""

    def __init__(
        self,
        transport: Transport,
        policy: RetryPolicy,
        endpoint_of: Callable[[str], Awaitable[Endpoint]],
        payment_of: Callable[[str], Payment | None],
        persisted_seq: Callable[[str], int],
        delivered: Callable[[str, int], None],
        record: Callable[[dict[str, Any]], None],
        concurrency: int = 64,
    ) -> None:
        self._transport = transport
        self._policy = policy
        self._endpoint_of = endpoint_of
        self._payment_of = payment_of
        self._persisted_seq = persisted_seq
        self._delivered = delivered
        self._record = record
        self._due: list[tuple[float, str]] = []
        self._queued: set[str] = set()
        self._attempts: dict[tuple[str, int], int] = {}
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
        """Send once. None when the event is done; otherwise the delay before the next try."""
        endpoint = await self._endpoint_of(payment.merchant_id)
        if not endpoint.url:
            return None
        key = (payment.id, entry.seq)
        attempt = self._attempts.get(key, 0) + 1
        body = orjson.dumps(event_body(payment, entry))
        msg_id = event_id(payment.id, entry.seq)
        headers = webhook_headers(endpoint.secret, msg_id, int(time.time()), body)
        request = HttpRequest("POST", endpoint.url, headers, body, self._policy.timeout)
        error = await self._send(request)
        if error is None:
            WEBHOOKS.labels("delivered").inc()
            self._attempts.pop(key, None)
            if attempt > 1:
                self._log_attempt(payment, msg_id, attempt, "delivered", None)
            return None
        WEBHOOKS.labels("failed_attempt").inc()
        if attempt >= self._policy.max_attempts:
            WEBHOOKS.labels("abandoned").inc()
            self._attempts.pop(key, None)
            self._log_attempt(payment, msg_id, attempt, "abandoned", error)
            log.error(
                "webhook %s for merchant %s abandoned after %d attempts: %s",
                msg_id,
                payment.merchant_id,
                attempt,
                error,
            )
            return None
        self._attempts[key] = attempt
        self._log_attempt(payment, msg_id, attempt, "retrying", error)
        delay = webhook_delay(attempt, self._policy.base, self._policy.cap)
        # The URL is not logged: merchants sometimes put a secret in it.
        log.warning(
            "webhook %s for merchant %s failed (attempt %d of %d): %s; retrying in %.1f s",
            msg_id,
            payment.merchant_id,
            attempt,
            self._policy.max_attempts,
            error,
            delay,
        )
        return delay

    async def _send(self, request: HttpRequest) -> str | None:
        try:
            resp = await self._transport.send(request)
        except TransportError as exc:
            return f"transport: {exc}"
        return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"

    def _log_attempt(
        self, payment: Payment, msg_id: str, attempt: int, status: str, error: str | None
    ) -> None:
        self._record(
            {
                "_id": msg_id,
                "payment_id": payment.id,
                "merchant_id": payment.merchant_id,
                "attempts": attempt,
                "status": status,
                "last_error": error,
                "updated_at": time.time(),
            }
        )
