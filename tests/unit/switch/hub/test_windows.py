"""Settlement windows (switch/hub/windows.py): the state table and the schedule (Nairobi times,
business days only, the last close before the KEPSS cut-off, weekends rolling to Monday)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from switch.hub.windows import (
    LAST_CLOSE,
    MEANING,
    TRANSITIONS,
    Schedule,
    WindowEvent,
    WindowState,
    advance,
    due,
    next_close,
    next_window_id,
    parse_schedule,
)


def test_every_state_has_a_meaning_and_the_moves_are_mojaloops() -> None:
    assert set(MEANING) == set(WindowState)
    assert advance(WindowState.OPEN, WindowEvent.CLOSE) is WindowState.CLOSED
    assert advance(WindowState.PENDING_SETTLEMENT, WindowEvent.ABORT) is WindowState.CLOSED
    assert advance(WindowState.SETTLED, WindowEvent.INCLUDE) is None
    assert advance(WindowState.OPEN, WindowEvent.INCLUDE) is None
    assert all(target is not WindowState.OPEN for target in TRANSITIONS.values())


def test_window_ids_follow_each_other() -> None:
    assert next_window_id("hwin_9") == "hwin_10"
    with pytest.raises(ValueError, match="not a window id"):
        next_window_id("x_1")


def test_a_schedule_always_ends_before_the_cut_off() -> None:
    assert parse_schedule("").times == ()
    assert parse_schedule("10:00, 14:00").times == (time(10), time(14), LAST_CLOSE)
    every = parse_schedule("", every_minutes=240).times
    assert every == (time(11), time(15), LAST_CLOSE)
    with pytest.raises(ValueError, match="between"):
        parse_schedule("19:30")


# Monday 7 December 2026; Nairobi is UTC+3.
def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


def test_due_is_the_latest_close_since_the_window_opened() -> None:
    s = parse_schedule("10:00,14:00")
    assert due(s, _utc(7, 6), _utc(7, 6, 59)) is None  # 09:59 Nairobi
    assert due(s, _utc(7, 6), _utc(7, 7)) == _utc(7, 7)  # 10:00 Nairobi
    assert due(s, _utc(7, 7), _utc(7, 10)) is None  # just closed at 10:00
    # Missed closes (no process ran from 09:00 to 20:00) are one close, the latest.
    assert due(s, _utc(7, 6), _utc(7, 17)) == _utc(7, 15, 30)


def test_weekends_and_holidays_roll_to_the_next_business_day() -> None:
    s = Schedule((time(10),))
    friday_after = _utc(11, 8)  # Friday 11 December, 11:00 Nairobi
    # Saturday 12, Sunday 13 (and 12 December is Jamhuri Day anyway): Monday 14 at 10:00.
    assert next_close(s, friday_after) == _utc(14, 7)
    assert due(s, friday_after, _utc(13, 12)) is None
    # 25 and 26 December 2026 are Friday and Saturday; 28 is a business day.
    assert next_close(s, _utc(24, 8)) == _utc(28, 7)
