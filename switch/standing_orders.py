"""Standing orders (M-Pesa Ratiba): schedules and the record of each run. Pure.

A standing order collects ``amount`` from a customer every period between two dates (a loan
instalment, a SACCO contribution, a subscription). The customer consents once, on a PIN prompt
M-Pesa sends when the order is created; each run is then a payment of its own, recorded with its
own status. A run is paid at most once: the first final outcome of a run is kept and any later
report of the same run (a duplicate callback) changes nothing.

Order statuses::

    pending_consent -> active -> completed   (the last run is final)
          |              +-----> cancelled   (no further runs; runs already final stay)
          +-> declined   (the customer refused or never answered the consent prompt)
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

Frequency = Literal[
    "one_off", "daily", "weekly", "biweekly", "monthly", "bimonthly", "quarterly", "half_yearly",
    "yearly",
]  # fmt: skip
FREQUENCIES: tuple[Frequency, ...] = (
    "one_off",
    "daily",
    "weekly",
    "biweekly",
    "monthly",
    "bimonthly",
    "quarterly",
    "half_yearly",
    "yearly",
)
OrderStatus = Literal["pending_consent", "active", "declined", "cancelled", "completed"]
RunStatus = Literal["scheduled", "succeeded", "failed"]
MAX_RUNS = 1000  # a schedule longer than this is refused (about 2.7 years of daily runs)

_DAYS = {"daily": 1, "weekly": 7, "biweekly": 14}
_MONTHS = {"monthly": 1, "bimonthly": 2, "quarterly": 3, "half_yearly": 6, "yearly": 12}


def add_months(start: date, months: int) -> date:
    """``start`` moved by whole months, the day clamped to the month's end (31 Jan -> 28 Feb)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def run_dates(start: date, end: date, frequency: Frequency) -> list[date]:
    """Every date a run falls due, from ``start`` up to and including ``end``.

    Monthly steps are counted from ``start`` (not from the previous run), so a run on the 31st
    returns to the 31st after a short month. ValueError for an empty or too long schedule.
    """
    if end < start:
        raise ValueError("end_date must not be before start_date")
    if frequency == "one_off":
        return [start]
    dates: list[date] = []
    step = 0
    while True:
        try:
            if frequency in _DAYS:
                due = start + timedelta(days=_DAYS[frequency] * step)
            else:
                due = add_months(start, _MONTHS[frequency] * step)
        except (OverflowError, ValueError):
            return dates  # past the calendar's last day (year 9999): nothing falls due there
        if due > end:
            return dates
        dates.append(due)
        step += 1
        if len(dates) > MAX_RUNS:
            raise ValueError(f"the schedule has more than {MAX_RUNS} runs")


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a standing order (``seq`` from 1, in due-date order)."""

    seq: int
    due_date: date
    status: RunStatus = "scheduled"
    receipt: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True, slots=True)
class RunReport:
    """What the provider says about one run (after the switch authenticated and checked it)."""

    seq: int
    paid: bool
    receipt: str | None = None
    code: str = ""
    message: str = ""


def plan(start: date, end: date, frequency: Frequency) -> tuple[Run, ...]:
    return tuple(Run(seq, due) for seq, due in enumerate(run_dates(start, end, frequency), 1))


def record_run(runs: tuple[Run, ...], report: RunReport) -> tuple[tuple[Run, ...], Run | None]:
    """The runs with ``report`` applied, and the run that changed (None: nothing changed).

    A run that is already final never changes: a duplicate or late report of a paid run cannot
    pay it twice, nor turn a paid run into a failed one. A receipt counts for one run only.
    """
    index = next((i for i, r in enumerate(runs) if r.seq == report.seq), None)
    if index is None or runs[index].status != "scheduled":
        return runs, None
    if report.paid and any(r.receipt == report.receipt for r in runs if report.receipt):
        return runs, None
    if report.paid:
        changed = replace(runs[index], status="succeeded", receipt=report.receipt)
    else:
        changed = replace(
            runs[index], status="failed", failure_code=report.code, failure_message=report.message
        )
    return (*runs[:index], changed, *runs[index + 1 :]), changed


def order_status(consent: bool | None, cancelled: bool, runs: tuple[Run, ...]) -> OrderStatus:
    """``consent``: None while the customer has not answered the prompt."""
    if consent is False:
        return "declined"
    if consent is None:
        return "pending_consent"
    if cancelled:
        return "cancelled"
    return "completed" if all(r.status != "scheduled" for r in runs) else "active"


def run_event(run: Run) -> str:
    """The webhook a final run calls for."""
    return (
        "standing_order.run_succeeded" if run.status == "succeeded" else "standing_order.run_failed"
    )


def due(runs: tuple[Run, ...], today: date) -> list[Run]:
    """Runs that fell due on or before ``today`` and have no outcome yet."""
    return [r for r in runs if r.status == "scheduled" and r.due_date <= today]
