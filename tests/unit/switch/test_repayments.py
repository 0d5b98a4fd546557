"""Matching a C2B BillRefNumber to a SACCO member account and product."""

from __future__ import annotations

import pytest

from connectors.sacco.registry import Registry, Sacco, sandbox_registry
from switch.repayments import NoMatch, RepaymentTarget, match_bill_ref

SACCOS = sandbox_registry()


@pytest.mark.parametrize(
    ("bill_ref", "expected"),
    [
        ("12345", RepaymentTarget("STIMA", "12345", "deposit")),
        ("12345LN", RepaymentTarget("STIMA", "12345", "loan_repayment")),
        (" 12345 ln ", RepaymentTarget("STIMA", "12345", "loan_repayment")),
        ("12345-SH", RepaymentTarget("STIMA", "12345", "shares")),
        ("12345SV", RepaymentTarget("STIMA", "12345", "deposit")),
    ],
)
def test_paybill_of_one_sacco(bill_ref: str, expected: RepaymentTarget) -> None:
    assert match_bill_ref(bill_ref, SACCOS, paybill_sacco="STIMA") == expected


@pytest.mark.parametrize(
    ("bill_ref", "expected"),
    [
        ("STIMA12345LN", RepaymentTarget("STIMA", "12345", "loan_repayment")),
        ("stima-12345", RepaymentTarget("STIMA", "12345", "deposit")),
        ("WAUMINI 9876 SH", RepaymentTarget("WAUMINI", "9876", "shares")),
    ],
)
def test_shared_paybill_with_sacco_code(bill_ref: str, expected: RepaymentTarget) -> None:
    assert match_bill_ref(bill_ref, SACCOS) == expected


@pytest.mark.parametrize(
    ("bill_ref", "paybill", "reason"),
    [
        ("", "STIMA", "empty"),
        ("1" * 21, "STIMA", "longer than 20"),
        ("12345XY", "STIMA", "unknown product code 'XY'"),
        ("123", "STIMA", "not a Stima Sandbox SACCO member number"),
        ("ABC12345", "STIMA", "not a Stima Sandbox SACCO member number"),
        ("12345", "NOPE", "not registered"),
        ("KENVO12345", None, "does not start with a registered SACCO code"),
        ("STIMA", None, "does not start with a registered SACCO code"),
    ],
)
def test_no_match_says_why(bill_ref: str, paybill: str | None, reason: str) -> None:
    found = match_bill_ref(bill_ref, SACCOS, paybill_sacco=paybill)
    assert isinstance(found, NoMatch)
    assert reason in found.reason


def test_longest_code_wins_and_ambiguity_is_refused() -> None:
    saccos = Registry(
        [
            Sacco("STIMA", "Stima", "file"),
            Sacco("STIMAX", "Stima X", "file", member_number_pattern=r"^[0-9A-Z]{4,10}$"),
        ]
    )
    assert match_bill_ref("STIMAX1234", saccos) == RepaymentTarget("STIMAX", "1234", "deposit")
    found = match_bill_ref("1234LN", saccos, paybill_sacco="STIMAX")  # "1234LN" is a member too
    assert isinstance(found, NoMatch)
    assert "reads both" in found.reason
