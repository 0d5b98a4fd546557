"""PesaLink bank codes (CBK's list) and limits (IPSL's PesaLink FAQs)."""

from __future__ import annotations

import pytest

from connectors.pesalink import (
    BANKS,
    DEFAULT_MINIMUM_CENTS,
    MAX_PER_TRANSACTION_CENTS,
    NOT_ON_PESALINK,
    bank_code_form,
    bank_name,
    check_limits,
    is_pesalink_bank,
    normalise_bank_code,
)
from connectors.pesalink.banks import TIER_ONE, kes


def test_the_table_holds_every_current_participant_of_the_reference() -> None:
    assert len(BANKS) == 43
    assert BANKS["01"] == "KCB Bank Kenya"
    assert BANKS["68"] == "Equity Bank Kenya"
    assert BANKS["57"] == "I&M Bank"
    assert {"32", "89", "97"} <= set(BANKS)  # SACCOs and Telkom: unverified but listed
    assert set(BANKS) >= TIER_ONE
    assert not set(BANKS) & set(NOT_ON_PESALINK)
    assert all(len(code) == 2 and code.isdigit() for code in BANKS)


@pytest.mark.parametrize("form", ["1", "01", "0001", " 01 "])
def test_one_two_and_four_digit_forms_are_the_same_bank(form: str) -> None:
    assert normalise_bank_code(form) == "01"
    assert bank_name(form) == "KCB Bank Kenya"


@pytest.mark.parametrize("form", ["001", "01100", "0100", "1a", "", "-1", "+1", "\u0661"])
def test_branch_and_sort_codes_and_junk_are_not_bank_codes(form: str) -> None:
    with pytest.raises(ValueError, match="1, 2 or 4 digits"):
        bank_code_form(form)
    assert not is_pesalink_bank(form)


def test_a_former_bank_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match=r"39 \(Imperial Bank\) is not on PesaLink"):
        normalise_bank_code("39")
    with pytest.raises(ValueError, match="not a CBK bank code"):
        normalise_bank_code("99")
    assert bank_code_form("39") == "39"  # the form is fine, the bank is not


def test_bank_code_form_never_accepts_a_non_string() -> None:
    with pytest.raises(ValueError, match="bank code"):
        bank_code_form(68)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cents", "expected"),
    [
        (DEFAULT_MINIMUM_CENTS, None),
        (MAX_PER_TRANSACTION_CENTS, None),
        (DEFAULT_MINIMUM_CENTS - 1, "below the bank's PesaLink minimum of KES 10.00"),
        (MAX_PER_TRANSACTION_CENTS + 1, "above PesaLink's maximum of KES 999,999.00"),
        (0, "positive whole number of cents"),
        (-5, "positive whole number of cents"),
    ],
)
def test_per_transaction_limits(cents: int, expected: str | None) -> None:
    message = check_limits(cents)
    if expected is None:
        assert message is None
    else:
        assert message is not None and expected in message


def test_limits_refuse_what_is_not_an_int() -> None:
    assert check_limits(True) is not None
    assert check_limits(10.5) is not None  # type: ignore[arg-type]


def test_a_bank_minimum_and_a_daily_cap_are_parameters() -> None:
    assert check_limits(100, minimum_cents=100) is None
    assert check_limits(50_000, sent_today_cents=50_000, daily_limit_cents=100_000) is None
    message = check_limits(50_001, sent_today_cents=50_000, daily_limit_cents=100_000)
    assert message == "the amount is above what is left of today's limit (KES 500.00)"
    assert "KES 0.00" in (check_limits(1_000, sent_today_cents=200_000, daily_limit_cents=1) or "")
    # PesaLink publishes no daily cap: without one, any day total passes.
    assert check_limits(1_000, sent_today_cents=10**12) is None


def test_kes_formats_cents_for_people() -> None:
    assert kes(12_345_678) == "KES 123,456.78"
    assert kes(5) == "KES 0.05"
