"""Transaction limits and velocity rules (pure); the Redis counters they read are in infra/aml.py.

Defaults are Kenya's published mobile-money caps: KES 250,000
per transaction (CBK statement of 8 Sep 2023, and Daraja's documented maximum) and KES 500,000 a
day per customer (announced by Safaricom, effective 15 Aug 2023, as approved by CBK per the
press; the file attributes it to Safaricom, not to a CBK tariff). No published cap exists for a
merchant's day, so that limit is off unless configured. All amounts are integer cents.

``evaluate`` returns one of three verdicts:

- ``allow``;
- ``refuse(reason, field)``: a hard limit, the request is answered with an error naming the
  field (the operator would refuse it anyway: Daraja ResultCode 3 or 4);
- ``hold(reason)``: suspicious but not unlawful (velocity, a large amount): do not send it to a
  provider; put it in the review queue.

The caller keeps the counters (:class:`infra.aml.DailyCounters`) and must *reserve* before it asks:
``add`` the amount, evaluate with the totals *before* this transaction, and ``release`` the
amount again when the verdict is not allow or the payment fails. That keeps two concurrent
requests from both slipping under a limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Literal

NAIROBI = timezone(timedelta(hours=3), "EAT")  # no daylight saving (East Africa Time, UTC+3)
KES = 100  # cents per shilling

Action = Literal["allow", "hold", "refuse"]


@dataclass(frozen=True, slots=True)
class Limits:
    per_transaction_max: int = 250_000 * KES
    per_transaction_min: int = 1 * KES
    phone_daily_max: int | None = 500_000 * KES
    merchant_daily_max: int | None = None
    merchant_transaction_max: int | None = None  # a merchant's own, lower cap if it wants one
    velocity_count: int | None = 10  # at most this many per phone within the window ...
    velocity_window_s: int = 3600  # ... else hold
    hold_above: int | None = None  # amounts above this are held for review


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: str = ""
    field: str | None = None

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


ALLOW = Verdict("allow")


def hold(reason: str) -> Verdict:
    return Verdict("hold", reason)


def refuse(reason: str, field: str) -> Verdict:
    return Verdict("refuse", reason, field)


@dataclass(frozen=True, slots=True)
class Counters:
    """Totals *before* this transaction: today's sums per phone and per merchant (cents) and the
    phone's transactions within the velocity window."""

    phone_today: int = 0
    merchant_today: int = 0
    phone_recent: int = 0


def _over(cap: int | None, total: int) -> bool:
    return cap is not None and total > cap


def evaluate(amount: int, counters: Counters, limits: Limits = Limits()) -> Verdict:
    """The first rule broken decides; hard limits before holds."""
    if amount < limits.per_transaction_min:
        return refuse("amount_below_minimum", "amount")
    if amount > limits.per_transaction_max:
        return refuse("amount_above_transaction_limit", "amount")
    if limits.merchant_transaction_max is not None and amount > limits.merchant_transaction_max:
        return refuse("amount_above_merchant_transaction_limit", "amount")
    if (
        limits.phone_daily_max is not None
        and counters.phone_today + amount > limits.phone_daily_max
    ):
        return refuse("phone_daily_limit", "phone")
    if (
        limits.merchant_daily_max is not None
        and counters.merchant_today + amount > limits.merchant_daily_max
    ):
        return refuse("merchant_daily_limit", "amount")
    if limits.velocity_count is not None and counters.phone_recent >= limits.velocity_count:
        return hold("velocity")
    if limits.hold_above is not None and amount > limits.hold_above:
        return hold("large_amount")
    return ALLOW


# --- days in Nairobi ----------------------------------------------------------------------------


def nairobi_day(now: datetime) -> date:
    return now.astimezone(NAIROBI).date()


def next_midnight(now: datetime) -> datetime:
    """The next 00:00 in Nairobi, as an aware datetime."""
    day = nairobi_day(now) + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=NAIROBI)
