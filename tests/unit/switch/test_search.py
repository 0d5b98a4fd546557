"""Filters, cursor, order and windows of switch/search.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switch.search import (
    SCAN_BUDGET,
    WINDOW_TARGET,
    FilterError,
    Position,
    after,
    decode_cursor,
    encode_cursor,
    floor,
    matches,
    narrowed,
    next_width,
    next_window,
    page_end,
    parse_filters,
    start,
)

KEY = b"k" * 32
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _doc(i: int, **extra: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "_id": f"pay_s0_{i:04d}",
        "created_at": T0 - timedelta(seconds=i),
        "updated_at": T0 - timedelta(seconds=i) + timedelta(seconds=2),
        "status": "succeeded",
        "method": "mpesa_stk",
        "reference": "INV1",
        "amount_minor": 15_000,
        "provider": {"receipt": "UKR0000001"},
    }
    doc.update(extra)
    return doc


def _fields(exc: pytest.ExceptionInfo[FilterError]) -> dict[str, str]:
    return {d["field"]: d["reason"] for d in exc.value.details}


def test_filters_are_read_and_every_bad_one_is_named() -> None:
    f = parse_filters(
        "payments",
        {
            "status": "succeeded,failed",
            "provider": "mpesa",
            "created_since": "2026-12-01",
            "created_until": "2026-12-07T10:00:00+03:00",
            "amount_min": "100",
            "amount_max": "150.00",
            "phone": "0712 345 678",
            "limit": "20",
        },
    )
    assert f.status == {"succeeded", "failed"} and f.phone == "254712345678"
    assert f.created_since == datetime(2026, 11, 30, 21, 0, tzinfo=UTC)  # Nairobi midnight
    assert f.created_until == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    assert (f.amount_min, f.amount_max, f.limit) == (10_000, 15_000, 20)
    assert "mpesa_b2c" not in f.methods and "mpesa_stk" in f.methods
    with pytest.raises(FilterError) as exc:
        parse_filters(
            "payments",
            {
                "status": "paid",
                "created_since": "yesterday",
                "amount_min": "1.5",
                "limit": "500",
                "colour": "red",
                "account": "123",  # a payouts filter
                "phone": "12",
            },
        )
    found = _fields(exc)
    assert set(found) == {
        "status",
        "created_since",
        "amount_min",
        "limit",
        "colour",
        "account",
        "phone",
    }
    assert "paid" in found["status"] and "not a filter of payments" in found["colour"]


def test_ranges_must_not_be_upside_down_and_times_need_a_zone() -> None:
    with pytest.raises(FilterError) as exc:
        parse_filters("payouts", {"amount_min": "200", "amount_max": "100"})
    assert _fields(exc) == {"amount_max": "before amount_min"}
    with pytest.raises(FilterError) as exc:
        parse_filters("payouts", {"updated_since": "2026-12-07T10:00:00"})
    assert "zone" in _fields(exc)["updated_since"]
    with pytest.raises(FilterError) as exc:
        parse_filters("transfers", {"method": "mpesa_stk"})
    assert "method" in _fields(exc)


def test_a_cursor_is_bound_to_its_merchant_list_and_filters() -> None:
    f = parse_filters("payments", {"status": "succeeded"})
    pos = Position(T0, "pay_s0_0001")
    cursor = encode_cursor(KEY, "mch_A", f, pos)
    again = parse_filters("payments", {"status": "succeeded", "cursor": cursor, "limit": "5"})
    assert decode_cursor(KEY, "mch_A", again) == pos
    for merchant, kind, query in (
        ("mch_B", "payments", {"status": "succeeded"}),  # another merchant
        ("mch_A", "payouts", {"status": "succeeded"}),  # another list
        ("mch_A", "payments", {"status": "failed"}),  # other filters
    ):
        other = parse_filters(kind, {**query, "cursor": cursor})  # type: ignore[arg-type]
        with pytest.raises(FilterError) as exc:
            decode_cursor(KEY, merchant, other)
        assert "cursor" in _fields(exc)
    body, sig = cursor.split(".")
    forged = parse_filters("payments", {"status": "succeeded", "cursor": body + "." + sig[::-1]})
    with pytest.raises(FilterError):
        decode_cursor(KEY, "mch_A", forged)
    with pytest.raises(FilterError):
        decode_cursor(b"x" * 32, "mch_A", again)  # another switch's key


def test_each_filter_narrows() -> None:
    base = parse_filters("payments", {})
    doc = _doc(1)
    assert matches(doc, base)
    cases = {
        "status": ("failed", "succeeded"),
        "method": ("airtel_ussd", "mpesa_stk"),
        "provider": ("airtel", "mpesa"),
        "reference": ("INV2", "INV1"),
        "receipt": ("UKR0000002", "UKR0000001"),
        "amount_min": ("151", "150"),
        "amount_max": ("149", "150"),
        "created_since": ("2026-12-07T09:00:00Z", "2026-12-07T08:59:59Z"),
        "created_until": ("2026-12-07T08:59:59Z", "2026-12-07T09:00:00Z"),
        "updated_since": ("2026-12-07T09:00:02Z", "2026-12-07T09:00:00Z"),
        "updated_until": ("2026-12-07T09:00:00Z", "2026-12-07T09:00:02Z"),
    }
    for name, (misses, hits) in cases.items():
        assert not matches(doc, parse_filters("payments", {name: misses})), name
        assert matches(doc, parse_filters("payments", {name: hits})), name
    phone = narrowed(base, "bidx-1", None)
    assert not matches(doc, phone) and matches({**doc, "phone_bidx": "bidx-1"}, phone)
    payouts = narrowed(parse_filters("payouts", {"account": "0150000503"}), None, "acct-1")
    out = _doc(2, method="bank_transfer", account_bidx="acct-1")
    assert matches(out, payouts) and not matches({**out, "account_bidx": "acct-2"}, payouts)
    assert not matches(out, base)  # a payout is not in the payments list
    transfers = parse_filters("transfers", {})
    assert matches(_doc(3, transfer={"id": "trf_1", "leg": "debit"}), transfers)
    assert not matches(_doc(3, transfer={"id": "trf_1", "leg": "credit"}), transfers)
    assert not matches(_doc(3), transfers)


def test_order_is_newest_first_then_id_and_pages_end_where_they_stop() -> None:
    same = [_doc(0, _id="pay_s0_b"), _doc(0, _id="pay_s0_a"), _doc(1)]
    pos = Position(T0, "pay_s0_b")
    assert [after(d, pos) for d in same] == [False, True, True]
    assert all(not after(d, Position(T0, "")) for d in same[:2])
    assert page_end(same, 2) == Position(T0, "pay_s0_a")
    assert page_end(same, 3) is None


def test_windows_walk_back_to_the_floor_and_adapt_to_the_rate() -> None:
    f = parse_filters("payments", {"created_since": "2026-12-07T08:00:00Z"})
    since = T0 - timedelta(days=30)
    bottom = floor(f, since)
    assert bottom == datetime(2026, 12, 7, 8, tzinfo=UTC)
    top = start(f, None, T0)
    assert top.at == T0 + timedelta(minutes=5)
    w = next_window(top.at, bottom, timedelta(hours=1))
    assert w is not None and w.since == top.at - timedelta(hours=1)
    assert w.query("mch_A") == {
        "merchant_id": "mch_A",
        "created_at": {"$gte": w.since, "$lte": w.upto},
    }
    last = next_window(bottom + timedelta(minutes=1), bottom, timedelta(hours=1))
    assert last is not None and last.since == bottom
    assert next_window(bottom - timedelta(seconds=1), bottom, timedelta(hours=1)) is None
    hour = timedelta(hours=1)
    assert next_width(hour, 0) == 8 * hour
    assert next_width(hour, WINDOW_TARGET * 10) == hour / 4
    assert next_width(hour, WINDOW_TARGET) == hour
    until = parse_filters("payments", {"created_until": "2026-12-01"})
    assert start(until, None, T0).at == datetime(2026, 12, 1, 20, 59, 59, 999000, tzinfo=UTC)
    assert SCAN_BUDGET >= 5 * WINDOW_TARGET
