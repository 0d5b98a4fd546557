"""Limits and velocity rules, and the Nairobi day."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switch.security.aml import (
    ALLOW,
    KES,
    Counters,
    Limits,
    evaluate,
    nairobi_day,
    next_midnight,
)


def test_defaults_are_the_mobile_money_caps_in_cents() -> None:
    limits = Limits()
    assert limits.per_transaction_max == 25_000_000  # KES 250,000
    assert limits.phone_daily_max == 50_000_000  # KES 500,000
    assert limits.merchant_daily_max is None


def test_allow() -> None:
    assert evaluate(1_000 * KES, Counters()) == ALLOW
    assert evaluate(250_000 * KES, Counters()).allowed  # the cap itself is allowed


@pytest.mark.parametrize(
    ("amount", "counters", "limits", "reason", "field"),
    [
        (0, Counters(), Limits(), "amount_below_minimum", "amount"),
        (250_000 * KES + 1, Counters(), Limits(), "amount_above_transaction_limit", "amount"),
        (100 * KES, Counters(), Limits(merchant_transaction_max=50 * KES),
         "amount_above_merchant_transaction_limit", "amount"),
        (200_000 * KES, Counters(phone_today=300_000 * KES + 1), Limits(),
         "phone_daily_limit", "phone"),
        (10 * KES, Counters(merchant_today=1_000 * KES), Limits(merchant_daily_max=1_005 * KES),
         "merchant_daily_limit", "amount"),
    ],
)  # fmt: skip
def test_refusals(amount: int, counters: Counters, limits: Limits, reason: str, field: str) -> None:
    verdict = evaluate(amount, counters, limits)
    assert (verdict.action, verdict.reason, verdict.field) == ("refuse", reason, field)


def test_the_daily_limit_counts_this_transaction() -> None:
    assert evaluate(200_000 * KES, Counters(phone_today=300_000 * KES)).allowed
    assert not evaluate(200_000 * KES + 1, Counters(phone_today=300_000 * KES)).allowed


def test_velocity_holds() -> None:
    limits = Limits(velocity_count=3)
    assert evaluate(100 * KES, Counters(phone_recent=2), limits).allowed
    verdict = evaluate(100 * KES, Counters(phone_recent=3), limits)
    assert (verdict.action, verdict.reason, verdict.field) == ("hold", "velocity", None)
    assert evaluate(100 * KES, Counters(phone_recent=99), Limits(velocity_count=None)).allowed


def test_large_amounts_can_be_held_and_hard_limits_win_over_holds() -> None:
    limits = Limits(hold_above=100_000 * KES, velocity_count=1)
    assert evaluate(150_000 * KES, Counters(), limits).reason == "large_amount"
    assert evaluate(300_000 * KES, Counters(phone_recent=5), limits).action == "refuse"


def test_the_day_turns_at_midnight_in_nairobi() -> None:
    before = datetime(2026, 11, 27, 20, 59, 59, tzinfo=UTC)  # 23:59:59 EAT
    after = datetime(2026, 11, 27, 21, 0, 0, tzinfo=UTC)  # 00:00 EAT on the 28th
    assert nairobi_day(before).isoformat() == "2026-11-27"
    assert nairobi_day(after).isoformat() == "2026-11-28"
    assert next_midnight(before) == after
    assert next_midnight(after) == datetime(2026, 11, 28, 21, 0, tzinfo=UTC)
