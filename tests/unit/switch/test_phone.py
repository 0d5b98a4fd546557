"""Kenyan MSISDN normalisation and masking."""

from __future__ import annotations

import pytest

from switch.phone import mask_msisdn, normalise_msisdn


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0712345678", "254712345678"),
        ("0112345678", "254112345678"),
        ("254712345678", "254712345678"),
        ("254112345678", "254112345678"),
        ("+254712345678", "254712345678"),
        ("+254112345678", "254112345678"),
        ("0712 345 678", "254712345678"),
        ("+254 712 345 678", "254712345678"),
        ("0712-345-678", "254712345678"),
        ("712345678", "254712345678"),
    ],
)
def test_accepted_forms(raw: str, expected: str) -> None:
    assert normalise_msisdn(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "071234567",  # 9 digits with a leading 0
        "07123456789",  # 11 digits
        "25471234567",  # 11 digits
        "2547123456789",  # 13 digits
        "0812345678",  # 08.. is not mobile
        "0212345678",
        "07123a5678",
        "abcdefghij",
        "",
        "   ",
        "+",
    ],
)
def test_rejected_forms(raw: str) -> None:
    with pytest.raises(ValueError, match="must be a Kenyan mobile number"):
        normalise_msisdn(raw)


@pytest.mark.parametrize(
    ("msisdn", "masked"),
    [
        ("254712345678", "2547******78"),
        ("254112345678", "2541******78"),
        ("12345678", "1234**78"),
        ("1234567", "*******"),
        ("", ""),
    ],
)
def test_mask(msisdn: str, masked: str) -> None:
    assert mask_msisdn(msisdn) == masked
