"""Which party the switch reaches on the hub, and how a payout's status answers the hub."""

from __future__ import annotations

import re

import pytest

from routing.operators import operator_of
from switch.hub import reach


def test_the_switch_participant_id_has_the_participants_format() -> None:
    assert re.fullmatch(r"hpa_[0-9A-Z]{26}", reach.SWITCH_PARTICIPANT)


@pytest.mark.parametrize(
    ("msisdn", "method"),
    [
        ("254712345678", "mpesa_b2c"),  # Safaricom 071
        ("254110000001", "mpesa_b2c"),  # Safaricom 011
        ("254733000001", "airtel_payout"),  # Airtel 073
        ("254100000001", "airtel_payout"),  # Airtel 010
        ("254771000111", None),  # Telkom: no rail of the switch's
        ("254763000001", None),  # Equitel
    ],
)
def test_a_wallet_goes_to_its_operators_payout_rail(msisdn: str, method: str | None) -> None:
    found = reach.wallet(msisdn, operator_of(msisdn))
    assert (found.method if found else None) == method
    if found:
        assert (found.phone, found.destination) == (msisdn, {})
        assert msisdn not in found.label()  # the label masks the number


def test_a_sacco_member_is_reached_only_in_a_registered_sacco_with_a_valid_number() -> None:
    found = reach.sacco_member("STIMA", "10001", {"STIMA": True})
    assert found is not None
    assert (found.method, found.phone) == ("sacco", "")
    assert found.destination == {
        "type": "sacco",
        "sacco_code": "STIMA",
        "member_number": "10001",
        "purpose": "deposit",
    }
    assert reach.sacco_member("STIMA", "x", {"STIMA": False}) is None  # not its number format
    assert reach.sacco_member("NOSUCH", "10001", {}) is None


def test_one_hub_transfer_names_one_payout() -> None:
    assert reach.payout_key("htr_A") == reach.payout_key("htr_A") != reach.payout_key("htr_B")


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        ("succeeded", True),
        ("failed", False),
        ("pending", None),
        ("processing", None),  # answer lost: the payout's recovery says
        ("held", None),  # awaiting review
        ("", None),  # could not read it
    ],
)
def test_only_a_final_payout_commits_or_aborts(status: str, verdict: bool | None) -> None:
    assert reach.outcome(status) is verdict
