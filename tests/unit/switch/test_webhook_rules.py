"""Webhook endpoint rules (switch/webhooks.py): filters, secrets with a rotation overlap, the
signature header, the automatic-disable rule and the delivery log's records. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switch.signing import new_webhook_secret, verify_webhook
from switch.webhooks import (
    attempt_of,
    delivery_query,
    excerpt,
    filter_problems,
    live_secrets,
    matches,
    rotated,
    should_disable,
    signed_headers,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_filters_match_exact_types_objects_and_everything() -> None:
    assert matches(["*"], "payment.failed")
    assert matches(["payment.*"], "payment.succeeded")
    assert not matches(["payment.*"], "payout.succeeded")
    assert matches(["payment.succeeded"], "payment.succeeded")
    assert not matches(["payment.succeeded"], "payment.failed")
    assert not matches([], "payment.failed")


def test_bad_filters_are_named() -> None:
    assert filter_problems(["payment.*", "payout.failed", "*"]) == []
    assert filter_problems([]) == ["must name at least one event type, or * for all"]
    assert len(filter_problems(["payment", "PAYMENT.x", "payment.succeeded"])) == 2
    assert filter_problems(["*"] * 21) == ["at most 20 filters"]


def test_rotation_keeps_the_old_secret_signing_for_the_overlap() -> None:
    first, second = new_webhook_secret(), new_webhook_secret()
    secrets = [{"secret": first, "expires_at": None}]
    after = rotated(secrets, second, T0, timedelta(hours=1))
    assert live_secrets(after, T0) == [second, first]
    assert live_secrets(after, T0 + timedelta(minutes=59)) == [second, first]
    assert live_secrets(after, T0 + timedelta(hours=1)) == [second]


def test_rotation_without_overlap_stops_every_older_secret() -> None:
    a, b, c = (new_webhook_secret() for _ in range(3))
    once = rotated([{"secret": a, "expires_at": None}], b, T0, timedelta(days=1))
    twice = rotated(once, c, T0 + timedelta(minutes=1), timedelta(0))
    assert live_secrets(twice, T0 + timedelta(minutes=1)) == [c]
    assert [s["secret"] for s in twice] == [c]


def test_both_signatures_are_sent_and_each_secret_verifies() -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    body = b'{"id": "evt_1"}'
    headers = signed_headers([new, old], "evt_1", 1_700_000_000, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert all(s.startswith("v1,") for s in headers["webhook-signature"].split(" "))
    now = 1_700_000_010
    assert verify_webhook(new, headers, body, now=now)
    assert verify_webhook(old, headers, body, now=now)
    assert not verify_webhook(new_webhook_secret(), headers, body, now=now)
    assert not verify_webhook(old, headers, body + b" ", now=now)


def test_an_endpoint_is_disabled_only_after_the_whole_window_of_failures() -> None:
    window = timedelta(days=3)
    assert not should_disable(None, T0, window)
    assert not should_disable(T0, T0 + window - timedelta(seconds=1), window)
    assert should_disable(T0, T0 + window, window)


def test_attempts_keep_only_an_excerpt_of_the_answer() -> None:
    ok = attempt_of(T0, 200, 0.0123, b"x" * 5000, None)
    assert (ok.ok, ok.latency_ms, len(ok.excerpt)) == (True, 12, 256)
    refused = attempt_of(T0, 503, 0.5, b"busy", None)
    assert (refused.ok, refused.error, refused.excerpt) == (False, "HTTP 503", "busy")
    assert excerpt(b"\xff\xfeok") == "\ufffd\ufffdok"


def test_the_log_query_is_the_merchants_own() -> None:
    q = delivery_query("mch_1", endpoint_id="we_1", status="failed", since=T0)
    assert q == {
        "merchant_id": "mch_1",
        "endpoint_id": "we_1",
        "status": "failed",
        "created_at": {"$gte": T0},
    }
