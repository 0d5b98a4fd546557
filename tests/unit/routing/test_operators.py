"""Operator ranges (operators' published prefixes)."""

from __future__ import annotations

import pytest

from routing.operators import operator_of
from switch.phone import normalise_msisdn


@pytest.mark.parametrize(
    ("national", "operator"),
    [
        ("0712345678", "safaricom"),
        ("0700000000", "safaricom"),
        ("0729999999", "safaricom"),
        ("0110123456", "safaricom"),
        ("0740123456", "safaricom"),
        ("0757123456", "safaricom"),
        ("0768123456", "safaricom"),
        ("0790123456", "safaricom"),
        ("0733123456", "airtel"),
        ("0750123456", "airtel"),
        ("0756123456", "airtel"),
        ("0762123456", "airtel"),
        ("0780123456", "airtel"),
        ("0100123456", "airtel"),
        ("0770123456", "telkom"),
        ("0120123456", "telkom"),
        ("0763123456", "equitel"),
        ("0124123456", "equitel"),
        ("0744123456", "other"),
        ("0747123456", "other"),
        ("0760123456", "other"),
        ("0130123456", "other"),
        ("0150123456", "other"),  # not allocated in the table
    ],
)
def test_operator_of(national: str, operator: str) -> None:
    assert operator_of(normalise_msisdn(national)) == operator
