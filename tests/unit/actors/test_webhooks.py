"""Webhook events and their delivery: ids, bodies as of a history entry, retries, abandonment."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from actors.webhooks import RetryPolicy, WebhookDispatcher
from api.models import WebhookEvent
from connectors.http import HttpRequest, HttpResponse, NotSent
from connectors.transport import MockTransport
from switch.payments import Failure, Payment, ProviderRefs, apply, iso, new_payment
from switch.signing import new_webhook_secret, verify_webhook
from switch.states import Event
from switch.webhooks import LogEntry, Target, event_body, event_id

T0 = datetime(2025, 3, 1, 9, 30, 0, tzinfo=UTC)
PAY_ID = "pay_s1_01JDX4Q8Z5V6W7X8Y9Z0A1B2C3"
SECRET = new_webhook_secret()
URL = "https://merchant.test/hooks"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(p: Payment, event: Event, when: datetime, **kw: Any) -> Payment:
    out = apply(p, event, source="test", at=when, **kw)
    assert out is not None
    return out


def created() -> Payment:
    return new_payment(
        payment_id=PAY_ID,
        merchant_id="mch_1",
        method="mpesa_stk",
        amount_minor=15_000,
        phone="254712345678",
        reference="INV1001",
        description="Order 1001",
        metadata={},
        idem_key="mch_1:k",
        request_hash="h",
        at=T0,
    )


def accepted() -> Payment:
    refs = ProviderRefs(merchant_request_id="mr-1", checkout_request_id="ws_CO_1")
    return step(created(), Event.ACCEPTED, at(1), provider=refs)


def succeeded() -> Payment:
    return step(accepted(), Event.SUCCEED, at(2), provider=ProviderRefs(receipt="TC1ABC"))


def declined() -> Payment:
    failure = Failure("declined", "The customer cancelled.", "1032")
    return step(accepted(), Event.DECLINE, at(2), failure=failure)


# --- event ids and bodies ------------------------------------------------------------------------


def test_event_id_is_stable_and_per_entry() -> None:
    assert event_id(PAY_ID, 3) == "evt_s1_01JDX4Q8Z5V6W7X8Y9Z0A1B2C3_3"
    assert event_id(PAY_ID, 3) == event_id(PAY_ID, 3)
    assert event_id(PAY_ID, 2) != event_id(PAY_ID, 3)
    assert event_id("other", 1) == "evt_other_1"


def test_event_body_of_the_latest_entry() -> None:
    p = succeeded()
    body = event_body(p, p.history[2])
    assert body["id"] == event_id(PAY_ID, 3)
    assert body["type"] == "payment.succeeded"
    assert body["created_at"] == iso(at(2))
    assert body["data"]["status"] == "succeeded"
    assert body["data"]["updated_at"] == iso(at(2))
    assert body["data"]["phone"] == "2547******78"
    assert [h["state"] for h in body["data"]["history"]] == [
        "submitting",
        "awaiting_customer",
        "succeeded",
    ]
    WebhookEvent.model_validate(body)


def test_event_body_as_of_an_earlier_entry() -> None:
    p = succeeded()
    body = event_body(p, p.history[1])
    assert body["id"] == event_id(PAY_ID, 2)
    assert body["type"] == "payment.processing"
    assert body["created_at"] == iso(at(1))
    assert body["data"]["status"] == "processing"
    assert body["data"]["updated_at"] == iso(at(1))
    assert [h["state"] for h in body["data"]["history"]] == ["submitting", "awaiting_customer"]
    WebhookEvent.model_validate(body)


def test_failure_only_on_failed_entries() -> None:
    p = declined()
    failed = event_body(p, p.history[2])
    assert failed["type"] == "payment.failed"
    assert failed["data"]["failure"] == {
        "code": "declined",
        "message": "The customer cancelled.",
        "provider_code": "1032",
    }
    earlier = event_body(p, p.history[1])
    assert earlier["type"] == "payment.processing"
    assert earlier["data"]["failure"] is None


def test_rejected_entry_is_a_failed_event_with_failure() -> None:
    failure = Failure("rejected", "M-Pesa refused the request: bad", "400.002.02")
    p = step(created(), Event.REJECTED, at(1), failure=failure)
    body = event_body(p, p.history[1])
    assert body["type"] == "payment.failed"
    assert body["data"]["failure"]["code"] == "rejected"


def test_expired_entry_is_an_expired_event_with_failure() -> None:
    p = step(accepted(), Event.EXPIRE, at(3), failure=Failure("timeout", "no answer"))
    body = event_body(p, p.history[2])
    assert body["type"] == "payment.expired"
    assert body["data"]["failure"] == {
        "code": "timeout",
        "message": "no answer",
        "provider_code": None,
    }


def test_expired_event_keeps_its_failure_after_a_late_success() -> None:
    expired = step(accepted(), Event.EXPIRE, at(3), failure=Failure("timeout", "no answer"))
    late = step(expired, Event.SUCCEED, at(4), provider=ProviderRefs(receipt="TC1ABC"))
    body = event_body(late, late.history[2])
    assert body["type"] == "payment.expired"
    assert body["data"]["failure"] == {
        "code": "timeout",
        "message": "no answer",
        "provider_code": None,
    }


def test_event_history_stops_at_the_entry_even_with_equal_timestamps() -> None:
    p = step(created(), Event.ACCEPTED, at(1))
    p = step(p, Event.SUCCEED, at(1))  # a callback that lands in the same millisecond
    body = event_body(p, p.history[1])
    assert body["data"]["status"] == "processing"
    assert [h["state"] for h in body["data"]["history"]] == ["submitting", "awaiting_customer"]


# --- the dispatcher ------------------------------------------------------------------------------


class Merchant:
    """An endpoint that answers from a script (the last status repeats) and a shard stand-in."""

    def __init__(self, statuses: list[int | Exception], payment: Payment) -> None:
        self.statuses = list(statuses)
        self.payments = {payment.id: payment}
        self.received: list[HttpRequest] = []
        self.delivered: list[tuple[str, int]] = []
        self.records: list[LogEntry] = []
        self.done = asyncio.Event()
        self.transport = MockTransport(self.handle)
        self.dispatcher: WebhookDispatcher | None = None

    async def handle(self, request: HttpRequest) -> HttpResponse:
        self.received.append(request)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if isinstance(status, Exception):
            raise status
        return HttpResponse(status, b"")

    def on_delivered(self, payment_id: str, seq: int) -> None:
        # What the shard does: remember it, then deliver what is still owed.
        self.delivered.append((payment_id, seq))
        p = replace(self.payments[payment_id], notified_seq=seq)
        self.payments[payment_id] = p
        if p.pending_notifications and self.dispatcher is not None:
            self.dispatcher.enqueue(payment_id)
        else:
            self.done.set()

    def build(self, url: str | None = URL, max_attempts: int = 10) -> WebhookDispatcher:
        async def endpoint_of(merchant_id: str) -> list[Target]:
            assert merchant_id == "mch_1"
            return [Target("we_1", url, (SECRET,), ("*",), True)] if url else []

        self.dispatcher = WebhookDispatcher(
            self.transport,
            RetryPolicy(timeout=1.0, base=0.01, cap=0.05, max_attempts=max_attempts),
            endpoint_of,
            self.payments.get,
            lambda _pid: 10**9,  # every entry counts as persisted here
            self.on_delivered,
            self.records.append,
        )
        return self.dispatcher


async def run(merchant: Merchant, dispatcher: WebhookDispatcher, payment_id: str = PAY_ID) -> None:
    dispatcher.start()
    try:
        dispatcher.enqueue(payment_id)
        await asyncio.wait_for(merchant.done.wait(), 2.0)
    finally:
        await dispatcher.stop()


async def test_delivered_on_the_fourth_attempt_after_three_500s() -> None:
    p = replace(succeeded(), notified_seq=2)  # only the success is owed
    merchant = Merchant([500, 500, 500, 204], p)
    await run(merchant, merchant.build())

    assert merchant.delivered == [(PAY_ID, 3)]
    assert len(merchant.received) == 4
    assert [(r.status, r.attempt.error, r.attempt.status_code) for r in merchant.records] == [
        ("retrying", "HTTP 500", 500),
        ("retrying", "HTTP 500", 500),
        ("retrying", "HTTP 500", 500),
        ("delivered", None, 204),
    ]
    assert {r.event["id"] for r in merchant.records} == {event_id(PAY_ID, 3)}
    assert {(r.event["data"]["id"], r.merchant_id, r.endpoint_id) for r in merchant.records} == {
        (PAY_ID, "mch_1", "we_1")
    }

    for request in merchant.received:
        assert request.method == "POST"
        assert request.url == URL
        assert request.body is not None
        assert verify_webhook(SECRET, request.headers, request.body) is True
        assert request.headers["webhook-id"] == event_id(PAY_ID, 3)
        event = orjson.loads(request.body)
        assert event["id"] == event_id(PAY_ID, 3)
        assert event["type"] == "payment.succeeded"


async def test_first_time_success_is_recorded_too() -> None:
    p = replace(succeeded(), notified_seq=2)
    merchant = Merchant([200], p)
    await run(merchant, merchant.build())
    assert merchant.delivered == [(PAY_ID, 3)]
    assert [(r.status, r.attempt.status_code) for r in merchant.records] == [("delivered", 200)]
    assert len(merchant.received) == 1


async def test_events_of_one_payment_go_one_at_a_time_in_order() -> None:
    merchant = Merchant([204], succeeded())
    await run(merchant, merchant.build())
    assert merchant.delivered == [(PAY_ID, 2), (PAY_ID, 3)]
    assert [r.headers["webhook-id"] for r in merchant.received] == [
        event_id(PAY_ID, 2),
        event_id(PAY_ID, 3),
    ]
    types = [orjson.loads(r.body or b"")["type"] for r in merchant.received]
    assert types == ["payment.processing", "payment.succeeded"]


async def test_max_attempts_abandons_the_event() -> None:
    p = replace(succeeded(), notified_seq=2)
    merchant = Merchant([500], p)
    await run(merchant, merchant.build(max_attempts=3))
    assert merchant.delivered == [(PAY_ID, 3)]
    assert len(merchant.received) == 3
    assert [(r.status, r.attempt.error) for r in merchant.records] == [
        ("retrying", "HTTP 500"),
        ("retrying", "HTTP 500"),
        ("failed", "HTTP 500"),
    ]


async def test_failed_attempts_are_logged_at_warning_and_abandonment_at_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    p = replace(succeeded(), notified_seq=2)
    merchant = Merchant([500], p)
    with caplog.at_level(logging.INFO, logger="actors.webhooks"):
        await run(merchant, merchant.build(max_attempts=2))
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "actors.webhooks"]
    msg_id = event_id(PAY_ID, 3)
    assert [level for level, _ in lines] == [logging.WARNING, logging.ERROR]
    assert (
        lines[0][1]
        == f"webhook {msg_id} for merchant mch_1 to we_1 failed (attempt 1 of 2): HTTP 500"
    )
    assert lines[1][1] == (
        f"webhook {msg_id} for merchant mch_1 to we_1 abandoned after 2 attempts: HTTP 500"
    )
    assert all(URL not in message for _, message in lines)


async def test_transport_errors_are_retried() -> None:
    p = replace(succeeded(), notified_seq=2)
    merchant = Merchant([NotSent("connection refused"), 204], p)
    await run(merchant, merchant.build())
    assert merchant.delivered == [(PAY_ID, 3)]
    assert [r.status for r in merchant.records] == ["retrying", "delivered"]
    assert merchant.records[0].attempt.error == "transport: connection refused"
    assert merchant.records[0].attempt.status_code is None


async def test_merchant_without_url_is_done_at_once_without_http() -> None:
    p = replace(succeeded(), notified_seq=2)
    merchant = Merchant([204], p)
    await run(merchant, merchant.build(url=None))
    assert merchant.delivered == [(PAY_ID, 3)]
    assert merchant.transport.sent == []
    assert merchant.records == []


async def test_nothing_owed_means_nothing_sent() -> None:
    p = replace(succeeded(), notified_seq=3)
    merchant = Merchant([204], p)
    dispatcher = merchant.build()
    dispatcher.start()
    try:
        dispatcher.enqueue(PAY_ID)
        dispatcher.enqueue("pay_s1_missing")
        await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop()
    assert merchant.transport.sent == []
    assert merchant.delivered == []


async def test_a_sub_merchant_without_endpoints_uses_its_aggregators() -> None:
    from actors.shard.memory_store import MemoryWebhooks
    from switch.ids import new_id, ulid
    from switch.platform import sub_merchant_id

    parent = new_id("mch")
    child = sub_merchant_id(parent, ulid())
    hooks = MemoryWebhooks(
        {parent: {"webhook_url": "https://agg.example/h", "webhook_secret": "s"}}
    )
    assert [e["url"] for e in await hooks.endpoints(child)] == ["https://agg.example/h"]
    hooks.merchants[child] = {"webhook_url": "https://sub.example/h", "webhook_secret": "t"}
    assert [e["url"] for e in await hooks.endpoints(child)] == ["https://sub.example/h"]
