"""Standing orders: schedules (month ends, both ends inclusive) and runs paid at most once."""

from __future__ import annotations

from datetime import date

import pytest

from switch.standing_orders import (
    MAX_RUNS,
    RunReport,
    add_months,
    due,
    order_status,
    plan,
    record_run,
    run_dates,
    run_event,
)


def test_monthly_runs_keep_the_day_and_clamp_to_month_end() -> None:
    dates = run_dates(date(2026, 1, 31), date(2026, 5, 31), "monthly")
    assert dates == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
        date(2026, 5, 31),
    ]
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("frequency", "count"),
    [
        ("one_off", 1),
        ("daily", 365),
        ("weekly", 53),
        ("biweekly", 27),
        ("monthly", 12),
        ("bimonthly", 6),
        ("quarterly", 4),
        ("half_yearly", 2),
        ("yearly", 1),
    ],
)
def test_run_counts_over_a_year(frequency: str, count: int) -> None:
    dates = run_dates(date(2026, 1, 1), date(2026, 12, 31), frequency)  # type: ignore[arg-type]
    assert len(dates) == count
    assert dates[0] == date(2026, 1, 1)


def test_schedules_end_at_the_calendars_end() -> None:
    assert run_dates(date(9999, 12, 30), date(9999, 12, 31), "weekly") == [date(9999, 12, 30)]
    assert run_dates(date(9999, 11, 30), date(9999, 12, 31), "monthly")[-1] == date(9999, 12, 30)


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="before"):
        run_dates(date(2026, 2, 1), date(2026, 1, 1), "daily")
    with pytest.raises(ValueError, match=str(MAX_RUNS)):
        run_dates(date(2026, 1, 1), date(2030, 1, 1), "daily")


def test_each_run_is_paid_once_under_duplicate_and_contrary_reports() -> None:
    runs = plan(date(2026, 1, 1), date(2026, 3, 1), "monthly")
    runs, changed = record_run(runs, RunReport(1, True, "RCPT1"))
    assert changed is not None
    assert changed.status == "succeeded"
    assert run_event(changed) == "standing_order.run_succeeded"
    same, again = record_run(runs, RunReport(1, True, "RCPT1"))
    assert again is None
    assert same == runs
    _, contrary = record_run(runs, RunReport(1, False, code="1"))
    assert contrary is None  # a paid run never turns failed
    _, reused = record_run(runs, RunReport(2, True, "RCPT1"))
    assert reused is None  # one receipt pays one run
    runs, failed = record_run(runs, RunReport(2, False, code="1", message="insufficient"))
    assert failed is not None
    assert (failed.status, failed.failure_code) == ("failed", "1")
    assert run_event(failed) == "standing_order.run_failed"
    assert record_run(runs, RunReport(9, True, "X"))[1] is None


def test_order_status_and_due_runs() -> None:
    runs = plan(date(2026, 1, 1), date(2026, 2, 1), "monthly")
    assert order_status(None, False, runs) == "pending_consent"
    assert order_status(False, False, runs) == "declined"
    assert order_status(True, False, runs) == "active"
    assert order_status(True, True, runs) == "cancelled"
    assert [r.seq for r in due(runs, date(2026, 1, 15))] == [1]
    runs, _ = record_run(runs, RunReport(1, True, "A"))
    runs, _ = record_run(runs, RunReport(2, False, code="1"))
    assert order_status(True, False, runs) == "completed"
    assert due(runs, date(2027, 1, 1)) == []
