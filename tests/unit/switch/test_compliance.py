"""Screening decisions (pure): KYC gate, limits, sanctions holds, approvals needed, overrides."""

from __future__ import annotations

from typing import Any

import pytest

from switch.compliance import (
    TWO_APPROVERS_FROM,
    approvals_needed,
    combine,
    kyc_refusal,
    kyc_state,
    merchant_limits,
    recipient_names,
)
from switch.security.aml import ALLOW, Limits, hold, refuse

KES = 100
HIT: dict[str, Any] = {
    "name": "Barney Fictitia",
    "entry_id": "TEST-001",
    "listed_name": "Barney Fictitia",
    "score": 1.0,
    "source": "TEST DATA",
}


def test_unknown_or_missing_kyc_state_counts_as_pending() -> None:
    assert kyc_state(None) == "pending"
    assert kyc_state({}) == "pending"
    assert kyc_state({"kyc_status": "approved-ish"}) == "pending"
    assert kyc_state({"kyc_status": "verified"}) == "verified"


@pytest.mark.parametrize(
    ("state", "sandbox", "refused"),
    [
        ("verified", False, None),
        ("verified", True, None),
        ("pending", True, None),
        ("pending", False, "kyc_pending"),
        ("suspended", False, "merchant_suspended"),
        ("suspended", True, "merchant_suspended"),  # sandbox does not lift a suspension
    ],
)
def test_kyc_gate(state: Any, sandbox: bool, refused: str | None) -> None:
    answer = kyc_refusal(state, sandbox)
    if refused is None:
        assert answer is None
    else:
        assert answer is not None
        assert (answer.action, answer.reason, answer.status, answer.field) == (
            "refuse",
            refused,
            403,
            "merchant",
        )


def test_kyc_refusal_comes_before_everything_else() -> None:
    verdict = refuse("phone_daily_limit", "phone")
    out = combine("suspended", False, verdict, [HIT], 100 * KES, Limits())
    assert out.reason == "merchant_suspended"


def test_a_limit_refusal_names_the_field_and_the_cap() -> None:
    out = combine("verified", False, refuse("phone_daily_limit", "phone"), [], 300 * KES, Limits())
    assert (out.action, out.status, out.field, out.reason) == (
        "refuse",
        422,
        "phone",
        "phone_daily_limit",
    )
    assert out.message == (
        "KES 300 is over today's limit for this phone number (KES 500000); "
        "nothing was stored or sent"
    )


def test_a_sanctions_hit_holds_with_every_rule_listed() -> None:
    out = combine("verified", False, hold("velocity"), [HIT], 100 * KES, Limits())
    assert out.action == "hold"
    assert out.reason == "sanctions"
    assert out.rules == ("sanctions:TEST-001", "velocity")
    assert out.hits == (HIT,)


def test_a_velocity_hold_alone() -> None:
    out = combine("verified", False, hold("velocity"), [], 100 * KES, Limits())
    assert (out.action, out.reason, out.rules) == ("hold", "velocity", ("velocity",))


def test_nothing_fired_allows() -> None:
    assert combine("verified", False, ALLOW, [], 100 * KES, Limits()).allowed


def test_transfer_stages() -> None:
    onward = combine(
        "suspended", False, refuse("x", "amount"), [HIT], 1, Limits(), "transfer_onward"
    )
    assert onward.allowed  # the money is already in the switch: never refused or held
    debit = combine("verified", False, hold("velocity"), [HIT], 1, Limits(), "transfer_debit")
    assert debit.allowed  # transfers are not held (switch/transfers.py has no held state)
    refused = combine("pending", False, ALLOW, [], 1, Limits(), "transfer_debit")
    assert refused.reason == "kyc_pending"


def test_two_approvers_at_and_above_the_threshold() -> None:
    assert approvals_needed(TWO_APPROVERS_FROM - 1) == 1
    assert approvals_needed(TWO_APPROVERS_FROM) == 2
    assert approvals_needed(500 * KES, two_from=500 * KES) == 2


def test_recipient_names_from_the_request() -> None:
    names = recipient_names(
        {"account_name": " Jane Doe ", "bank_code": "01"},
        {"recipient_name": "Barney Fictitia", "other": 1},
        known=["Jane Doe", ""],
    )
    assert names == ["Jane Doe", "Barney Fictitia"]
    assert recipient_names({}, {"recipient_name": 5}) == []


def test_merchant_overrides_may_only_lower_the_switch_caps() -> None:
    base = Limits(phone_daily_max=500_000 * KES)
    own = merchant_limits(
        base,
        {
            "limits": {
                "transaction_max": 1_000 * KES,
                "phone_daily_max": 900_000 * KES,  # higher than the switch's: ignored
                "merchant_daily_max": 2_000 * KES,
                "hold_above": 700 * KES,
            }
        },
    )
    assert own.merchant_transaction_max == 1_000 * KES
    assert own.phone_daily_max == 500_000 * KES
    assert own.merchant_daily_max == 2_000 * KES
    assert own.hold_above == 700 * KES
    assert merchant_limits(base, {"limits": "nonsense"}) == base
    assert merchant_limits(base, None) == base
