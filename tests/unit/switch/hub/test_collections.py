"""Collection accounts (switch/hub/collections.py): numbers with a check digit, which transfers
the switch takes as payee, and the credit a committed hub transfer makes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switch.hub import collections as col
from switch.states import State

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_numbers_carry_a_luhn_check_digit() -> None:
    number = col.account_number(123456789)
    assert (len(number), number[:9]) == (10, "123456789")
    assert col.number_ok(number)
    typo = number[:3] + str((int(number[3]) + 1) % 10) + number[4:]
    assert not col.number_ok(typo)  # one wrong digit is caught
    assert not col.number_ok("12345")
    assert col.account_number(0) == "0000000000"
    with pytest.raises(ValueError, match="nine"):
        col.account_number(10**9)


def test_a_collection_account_is_an_account_party_under_the_switchs_code() -> None:
    assert col.is_collection_account({"type": "ACCOUNT", "id": "99:0000000000"}, "99")
    assert not col.is_collection_account({"type": "ACCOUNT", "id": "68:0000000000"}, "99")
    assert not col.is_collection_account({"type": "MSISDN", "id": "254712345678"}, "99")
    assert not col.is_collection_account({"type": "ACCOUNT", "id": "99:0000000000"}, "")


def test_the_switch_takes_transfers_only_to_active_accounts_in_their_currency() -> None:
    number = col.account_number(42)
    active = {"_id": f"99:{number}", "status": "active", "currency": "KES"}
    assert col.refusal(active, number, "KES") is None
    assert col.refusal(None, number, "KES") == col.Refusal(
        "payee_account_unknown", "no collection account has this number"
    )
    bad_digit = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert col.refusal(active, bad_digit, "KES").reason == "payee_account_unknown"  # type: ignore[union-attr]
    closed = {**active, "status": "closed"}
    assert col.refusal(closed, number, "KES").reason == "payee_account_closed"  # type: ignore[union-attr]
    assert col.refusal(active, number, "USD").reason == "currency_not_allowed"  # type: ignore[union-attr]


def _committed(state: str = "committed") -> dict[str, object]:
    return {
        "_id": "htr_1",
        "amount": 250_000,
        "state": state,
        "note": "INV-42",
        "created_at": AT,
        "history": [{"at": AT, "state": "reserved"}, {"at": AT, "state": state}],
    }


def test_only_a_committed_transfer_makes_a_credit() -> None:
    account = {"_id": "99:0000000000", "merchant_id": "mch_1"}
    payer = {"_id": "hpa_1", "name": "Bank 61", "bank_code": "61"}
    credit = col.credit_of(_committed(), account, payer)
    assert (credit.merchant_id, credit.amount_minor, credit.reference) == (
        "mch_1",
        250_000,
        "INV-42",
    )
    assert credit.payer == {"participant": "hpa_1", "name": "Bank 61", "bank_code": "61"}
    for state in ("reserved", "aborted_rejected", "expired_reserved"):
        with pytest.raises(ValueError, match=state):
            col.credit_of(_committed(state), account, payer)


def test_the_credit_is_a_succeeded_bank_credit_with_the_transfer_as_receipt() -> None:
    account = {"_id": "99:0000000000", "merchant_id": "mch_1"}
    credit = col.credit_of(_committed(), account, {"_id": "hpa_1", "name": "Bank 61"})
    paid = col.credited_payment(credit, "pay_1", "key", 2_500, AT)
    assert (paid.method, paid.state, paid.fee_minor) == ("bank_credit", State.SUCCEEDED, 2_500)
    assert paid.provider.receipt == "htr_1"
    assert paid.metadata["hub_transfer"] == "htr_1"
    assert [h.status_changed for h in paid.history] == [False, True]  # payment.succeeded owed
    assert col.credit_key("htr_1") == "hub-credit:htr_1"
