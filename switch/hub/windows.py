"""Settlement windows (pure): their state table, their ids, and when the schedule closes them.

States are Mojaloop central-settlement's (``settlementWindowState``), each with its meaning::

    OPEN --close--> CLOSED --include--> PENDING_SETTLEMENT --settle--> SETTLED
                      ^                        |
                      \\-------abort-----------/

Exactly one window is OPEN: every transfer committed while it is open names it. Closing one and
opening the next are one write of the position actor (the single writer of commits), so every
committed transfer belongs to exactly one window. Mojaloop passes through PROCESSING while its
close handler aggregates the window, and can end a settlement's windows in ABORTED or FAILED; here
the close is one transaction (nothing to process afterwards: a window's content is read from its
transfers), and an aborted settlement gives its windows back as CLOSED, to be included in a later
settlement, so those states are never entered (kept in the table so the names are Mojaloop's).

The schedule: windows close at fixed Nairobi times, or every N minutes from the opening of KEPSS
(07:00), on business days only; the last close of a day is at :data:`LAST_CLOSE`, before the
19:00 KEPSS cut-off, so the day's settlement can reach the RTGS the same day. Saturdays, Sundays
and public holidays have no close: what commits then rolls into the next business day's first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from switch.reports import NAIROBI, is_business_day

WINDOW = "hwin"
KEPSS_OPEN = time(7, 0)
KEPSS_CUT_OFF = time(19, 0)
LAST_CLOSE = time(18, 30)  # half an hour to net, report and instruct the RTGS before the cut-off


class WindowState(StrEnum):
    OPEN = "OPEN"
    PROCESSING = "PROCESSING"
    CLOSED = "CLOSED"
    PENDING_SETTLEMENT = "PENDING_SETTLEMENT"
    SETTLED = "SETTLED"
    ABORTED = "ABORTED"


class WindowEvent(StrEnum):
    CLOSE = "close"  # by hand or by the schedule; the next window opens in the same write
    INCLUDE = "include"  # a settlement was created over it
    SETTLE = "settle"  # the settlement was acknowledged: the RTGS moved the money
    ABORT = "abort"  # its settlement was aborted before the acknowledgement


MEANING: dict[WindowState, str] = {
    WindowState.OPEN: "receives every transfer committed now; exactly one window is open",
    WindowState.PROCESSING: "Mojaloop's close in progress; never entered: a close is one write",
    WindowState.CLOSED: "no more transfers; may be included in a settlement",
    WindowState.PENDING_SETTLEMENT: "included in a settlement awaiting the RTGS acknowledgement",
    WindowState.SETTLED: "the settlement bank confirmed its net positions moved; positions reset",
    WindowState.ABORTED: "Mojaloop's failed settlement; never entered: an abort gives back CLOSED",
}

TRANSITIONS: dict[tuple[WindowState, WindowEvent], WindowState] = {
    (WindowState.OPEN, WindowEvent.CLOSE): WindowState.CLOSED,
    (WindowState.CLOSED, WindowEvent.INCLUDE): WindowState.PENDING_SETTLEMENT,
    (WindowState.PENDING_SETTLEMENT, WindowEvent.SETTLE): WindowState.SETTLED,
    (WindowState.PENDING_SETTLEMENT, WindowEvent.ABORT): WindowState.CLOSED,
}


def advance(state: WindowState, event: WindowEvent) -> WindowState | None:
    """The state after ``event``; None when the table has no such move."""
    return TRANSITIONS.get((state, event))


def window_id(n: int) -> str:
    return f"{WINDOW}_{n}"


def next_window_id(current: str) -> str:
    """``hwin_7`` -> ``hwin_8``: the next id is fixed, so two closes of one window meet on it."""
    prefix, _, n = current.rpartition("_")
    if prefix != WINDOW or not n.isdigit():
        raise ValueError(f"not a window id: {current}")
    return window_id(int(n) + 1)


@dataclass(frozen=True, slots=True)
class WindowSwitch:
    """The OPEN window ``closed`` becomes CLOSED and ``opened`` is created OPEN, in one write."""

    closed: str
    opened: str
    by: str
    reason: str
    at: datetime
    commits: int


# --- the schedule ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Schedule:
    """Nairobi times of day at which the open window closes, on business days."""

    times: tuple[time, ...]

    def __post_init__(self) -> None:
        if any(not KEPSS_OPEN <= t <= LAST_CLOSE for t in self.times):
            raise ValueError(f"close times must be between {KEPSS_OPEN} and {LAST_CLOSE}")


def parse_schedule(text: str, every_minutes: int = 0) -> Schedule:
    """``"10:00,13:00"`` (Nairobi times), or every ``every_minutes`` from 07:00; either way the
    day ends with a close at :data:`LAST_CLOSE`. Empty text and no interval: no schedule."""
    times: set[time] = set()
    for part in (p.strip() for p in text.split(",") if p.strip()):
        hours, _, minutes = part.partition(":")
        times.add(time(int(hours), int(minutes or 0)))
    if every_minutes > 0:
        at = datetime.combine(date(2000, 1, 1), KEPSS_OPEN) + timedelta(minutes=every_minutes)
        while at.time() < LAST_CLOSE and at.date() == date(2000, 1, 1):
            times.add(at.time())
            at += timedelta(minutes=every_minutes)
    if times:
        times.add(LAST_CLOSE)
    return Schedule(tuple(sorted(times)))


def _instants(day: date, schedule: Schedule) -> list[datetime]:
    if not is_business_day(day):
        return []
    return [datetime.combine(day, t, NAIROBI).astimezone(UTC) for t in schedule.times]


def due(schedule: Schedule, since: datetime, now: datetime) -> datetime | None:
    """The latest scheduled close in ``(since, now]`` (None: none is due). Closes missed while no
    process ran are one close, not several."""
    if not schedule.times or now <= since:
        return None
    day = now.astimezone(NAIROBI).date()
    first = since.astimezone(NAIROBI).date()
    while day >= first:
        for at in reversed(_instants(day, schedule)):
            if since < at <= now:
                return at
            if at <= since:
                return None
        day -= timedelta(days=1)
    return None


def next_close(schedule: Schedule, after: datetime, horizon_days: int = 14) -> datetime | None:
    """The first scheduled close after ``after`` (a weekend or holiday rolls to the next business
    day's first close)."""
    day = after.astimezone(NAIROBI).date()
    for _ in range(horizon_days):
        for at in _instants(day, schedule):
            if at > after:
                return at
        day += timedelta(days=1)
    return None
