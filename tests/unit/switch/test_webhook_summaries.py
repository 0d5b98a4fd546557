"""The delivery log's summaries (switch/webhooks.py): deliveries that succeeded at the first try
are listed compactly, one document per merchant and batch, and read back as entries of the same
shape as the others. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switch.webhooks import (
    LogEntry,
    attempt_of,
    delivery_view,
    event_id,
    event_seq,
    first_n,
    log_update,
    seed_update,
    summary_doc,
    summary_entries,
    summary_query,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def entry(n: int, endpoint: str = "we_a", ok: bool = True, first: bool = True) -> LogEntry:
    event = {"id": f"evt_s1_X{n}_2", "type": "payment.processing", "data": {"id": f"pay_s1_X{n}"}}
    at = T0 + timedelta(seconds=n)
    attempt = attempt_of(at, 200 if ok else 500, 0.012, b"thanks", None)
    status = "delivered" if ok else "retrying"
    return LogEntry("m1", endpoint, event, b"{}", attempt, status, first)


def test_only_a_first_attempt_that_succeeded_is_summarised() -> None:
    assert entry(1).summarised
    assert not entry(1, ok=False).summarised
    assert not entry(1, first=False).summarised  # a later success goes to its own entry


def test_a_summary_unfolds_into_the_entries_the_log_shows() -> None:
    doc = summary_doc("wds_1", "m1", [entry(3), entry(1, "we_b")])
    assert (doc["first_at"], doc["created_at"]) == (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=3),
    )
    assert "body" not in str(doc["items"])
    unfolded = summary_entries(doc)
    assert [e["_id"] for e in unfolded] == ["evt_s1_X3_2:we_a", "evt_s1_X1_2:we_b"]
    shown = delivery_view(unfolded[0])
    assert (shown["status"], shown["attempt_count"], shown["last_status_code"]) == (
        "delivered",
        1,
        200,
    )
    assert shown["attempts"][0]["response_excerpt"] == "thanks"
    assert shown["last_latency_ms"] == 12 and shown["created_at"] == "2026-03-01T09:00:03.000Z"


def test_a_summary_is_filtered_item_by_item() -> None:
    doc = summary_doc("wds_1", "m1", [entry(1), entry(2, "we_b"), entry(3)])
    assert len(summary_entries(doc, endpoint_id="we_a")) == 2
    assert [e["event_id"] for e in summary_entries(doc, event_id="evt_s1_X2_2")] == ["evt_s1_X2_2"]
    since, until = T0 + timedelta(seconds=2), T0 + timedelta(seconds=3)
    assert [e["event_id"] for e in summary_entries(doc, since=since, until=until)] == [
        "evt_s1_X2_2"
    ]


def test_the_summary_query_is_the_merchants_own_and_only_for_delivered() -> None:
    assert summary_query("m1", status="failed") is None
    assert summary_query("m1", status="retrying") is None
    q = summary_query("m1", "we_a", "evt_1", "delivered", T0, T0 + timedelta(1))
    assert q == {
        "merchant_id": "m1",
        "items": {"$exists": True},
        "items.endpoint_id": "we_a",
        "items.event_id": "evt_1",
        "created_at": {"$gte": T0},
        "first_at": {"$lt": T0 + timedelta(1)},
    }


def test_a_resent_summarised_delivery_starts_its_entry_with_the_first_attempt() -> None:
    [seed] = summary_entries(summary_doc("wds_1", "m1", [entry(1)]))
    match, update = seed_update(seed)
    assert match == {"_id": "evt_s1_X1_2:we_a"}
    assert update["$setOnInsert"]["attempt_count"] == 1
    assert update["$setOnInsert"]["attempts"][0]["status_code"] == 200
    # The resend's own attempt then counts on from there (log_update's $inc and $push).
    _, after = log_update(entry(1, first=False))
    assert after["$inc"] == {"attempt_count": 1}


def test_newest_and_oldest_first() -> None:
    rows = [{"created_at": T0 + timedelta(seconds=n)} for n in (3, 1, 2)]
    assert [r["created_at"].second for r in first_n(rows, 2, newest=True)] == [3, 2]
    assert [r["created_at"].second for r in first_n(rows, 2, newest=False)] == [1, 2]


def test_an_event_id_names_its_payment_and_history_entry() -> None:
    assert event_seq(event_id("pay_s1_01ABC", 4)) == ("pay_s1_01ABC", 4)
    assert event_seq("evt_test_01ABC") is None
    assert event_seq("evt_x") is None
