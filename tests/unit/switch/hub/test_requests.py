"""A bank account as a transfer's source (switch/hub/requests.py): which committed hub transfer
pays a debit leg, and the bank's answer to a request to pay (connectors/hub/gateway.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.hub.gateway import outcome_of
from switch.hub import requests as rtp
from switch.states import Event
from switch.transfers import CREDIT_METHODS, DEBIT_METHODS, leg_spec

LEG = "pay_s0_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
HUB_TID = "htr_1"


def _leg(**change: Any) -> dict[str, Any]:
    shown = {
        "id": LEG,
        "method": "bank_request",
        "status": "processing",
        "amount": "700",
        "provider": {"name": "hub", "receipt": None, "result_code": None},
        "destination": {"bank_code": "07", "account_number": "******1270"},
    }
    return {**shown, **change}


def test_the_reference_is_the_leg_id_and_only_such_notes_name_a_leg() -> None:
    assert rtp.reference_of(LEG) == LEG and len(LEG) <= 35  # one ISO 20022 remittance line
    assert rtp.leg_of(f" {LEG} ") == LEG
    assert rtp.leg_of("INV-42") is None
    assert rtp.leg_of("") is None


def test_a_transfer_pays_a_waiting_leg_of_the_same_amount_from_the_asked_bank() -> None:
    assert rtp.mismatch(_leg(), HUB_TID, 70_000, "07") is None
    assert rtp.mismatch(_leg(status="pending"), HUB_TID, 70_000, "07") is None


@pytest.mark.parametrize(
    ("leg", "amount", "bank", "why"),
    [
        (None, 70_000, "07", "no request to pay"),
        (_leg(method="bank_credit"), 70_000, "07", "no request to pay"),
        (_leg(), 69_900, "07", "amount 699 differs"),
        (_leg(), 70_000, "68", "paid by bank 68, bank 07 was asked"),
        (_leg(), 70_000, "", "paid by bank ?"),
        (_leg(status="failed"), 70_000, "07", "the request to pay is failed"),
        (_leg(status="expired"), 70_000, "07", "the request to pay is expired"),
        # Paid already by another hub transfer: never a second time.
        (_leg(status="succeeded", provider={"receipt": "htr_0"}), 70_000, "07", "succeeded"),
    ],
)
def test_anything_else_is_never_matched(
    leg: dict[str, Any] | None, amount: int, bank: str, why: str
) -> None:
    found = rtp.mismatch(leg, HUB_TID, amount, bank)
    assert found is not None and why in found


def test_the_transfer_that_paid_the_leg_matches_again() -> None:
    paid = _leg(status="succeeded", provider={"receipt": HUB_TID})
    assert rtp.mismatch(paid, HUB_TID, 70_000, "07") is None


def test_the_notice_names_amount_debtor_creditor_and_reference() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    data = rtp.notice_data(LEG, 70_050, "07", "0012341270", "99:1234567897", "Transfer", "x")
    assert data["amount"] == "700.50" and data["reference"] == LEG
    assert data["debtor"] == {"bank_code": "07", "account_number": "0012341270"}
    assert data["creditor"] == {"type": "ACCOUNT", "id": "99:1234567897"}
    assert rtp.expiry_of(at, 300).startswith("2026-01-02T03:09:05")


def test_a_bank_source_is_debited_by_a_request_and_refunded_by_pesalink() -> None:
    assert DEBIT_METHODS["bank"] == "bank_request"
    spec = {
        "id": "trf_x",
        "source": {"type": "bank", "bank_code": "07", "account_number": "0012341270",
                   "collection_account": "99:1234567897"},
        "destination": {"type": "mpesa", "phone": "254712345678"},
    }  # fmt: skip
    debit = leg_spec(spec, "debit")
    assert (debit.method, debit.destination["collection_account"]) == (
        "bank_request",
        "99:1234567897",
    )
    assert leg_spec(spec, "refund").method == CREDIT_METHODS["bank"] == "bank_transfer"


@pytest.mark.parametrize(
    ("status", "excerpt", "event", "code"),
    [
        (202, "", Event.ACCEPTED, None),
        (200, "{}", Event.ACCEPTED, None),
        (422, '{"reason": "customer declined"}', Event.REJECTED, "declined"),
        (404, "not json", Event.REJECTED, "declined"),
        (429, "", Event.ANSWER_LOST, "outcome_unknown"),
        (503, "", Event.ANSWER_LOST, "outcome_unknown"),
        (None, "", Event.ANSWER_LOST, "outcome_unknown"),
    ],
)
def test_the_banks_answer_to_a_request(
    status: int | None, excerpt: str, event: Event, code: str | None
) -> None:
    out = outcome_of(status, excerpt)
    assert out.event == event
    assert (out.failure.code if out.failure else None) == code
    if "customer declined" in excerpt:
        assert out.failure is not None and "customer declined" in out.failure.message
