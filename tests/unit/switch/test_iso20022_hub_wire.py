"""The hub's transfers on the ISO 20022 wire (switch/iso20022/hub_wire.py): the pacs.008 to a
payee bank is schema-valid and names the transfer, a bank's pacs.002 reads as the payee's
answer, and a transfer's state reads as a pacs.002."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from switch.iso20022 import hub_wire, pacs002, pacs008
from switch.iso20022.pacs002 import TxStatus
from switch.iso20022.values import uetr

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
TID = "htr_01JDX4Q3W0TQK2M8V5E4R7C1BN"


def transfer(state: str = "RESERVED", error: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": TID,
        "payer": "hpa_01JDX4Q3W0TQK2M8V5E4R7C1AA",
        "payee": "hpa_01JDX4Q3W0TQK2M8V5E4R7C1BB",
        "amount": "1500.00",
        "currency": "KES",
        "state": state,
        "party": {"type": "ACCOUNT", "id": "68:6810000001"},
        "note": "rent",
        "error": error,
    }


def test_uetr_is_a_stable_version_4_uuid_per_transfer() -> None:
    assert uetr("u", hub_wire.uetr_of(TID)) == hub_wire.uetr_of(TID)
    assert hub_wire.uetr_of(TID) != hub_wire.uetr_of(TID + "X")
    for n in range(200):  # every variant digit is one UUID v4 allows
        uetr("u", hub_wire.uetr_of(f"htr_{n}"))


def test_the_notice_is_a_valid_pacs008_naming_the_transfer_and_the_banks() -> None:
    msg = hub_wire.notice(transfer(), hub_wire.Banks("01", "68"), "HUBMSG1", NOW)
    [tx] = pacs008.parse(pacs008.build(msg)).transfers  # parse validates against the XSD
    assert (tx.end_to_end_id, tx.uetr) == (TID, hub_wire.uetr_of(TID))
    assert (tx.amount, tx.currency, tx.remittance) == (Decimal("1500.00"), "KES", "rent")
    assert (tx.debtor_agent.member_id, tx.creditor_agent.member_id) == ("01", "68")
    assert tx.creditor_account == "6810000001"


def test_a_payer_without_a_bank_code_is_named_by_its_participant_id() -> None:
    msg = hub_wire.notice(transfer(), hub_wire.Banks("", "68"), "HUBMSG1", NOW)
    assert msg.transfers[0].debtor_agent.member_id == transfer()["payer"]


def status(code: str, reason: str | None = None, uetr_: str | None = None) -> TxStatus:
    return TxStatus(code, TID, uetr_ or hub_wire.uetr_of(TID), reason=reason)


@pytest.mark.parametrize("code", ["ACCP", "ACSP", "ACSC", "ACCC"])
def test_an_acceptance_commits(code: str) -> None:
    assert hub_wire.answer_of(status(code)) == hub_wire.Answer(TID, True)


def test_a_rejection_aborts_with_the_hub_reason_of_its_code() -> None:
    answer = hub_wire.answer_of(status("RJCT", "AC04"))
    assert answer == hub_wire.Answer(TID, False, "payee_account_closed")


@pytest.mark.parametrize("code", ["PDNG", "ACTC", "XXXX"])
def test_anything_not_final_waits(code: str) -> None:
    assert hub_wire.answer_of(status(code)) is None


def test_a_status_whose_uetr_is_not_the_transfers_is_refused() -> None:
    with pytest.raises(ValueError, match="OrgnlUETR"):
        hub_wire.answer_of(status("ACCP", uetr_=hub_wire.uetr_of("htr_other")))


@pytest.mark.parametrize(
    ("state", "error", "code", "reason"),
    [
        ("RESERVED", None, "ACSP", None),
        ("COMMITTED", None, "ACSC", None),
        (
            "ABORTED",
            {"code": "4001", "reason": "payer participant has insufficient"},
            "RJCT",
            "AM04",
        ),
        ("ABORTED", {"code": "4200", "reason": "past its net debit cap"}, "RJCT", "AM04"),
        ("ABORTED", {"code": "3303", "reason": "transfer expired"}, "RJCT", "AB05"),
        ("ABORTED", {"code": "5101", "reason": "payee_account_closed"}, "RJCT", "AC04"),
        ("ABORTED", {"code": "5100", "reason": "payee rejected"}, "RJCT", "NARR"),
    ],
)
def test_a_transfer_state_as_a_pacs002(
    state: str, error: dict[str, Any] | None, code: str, reason: str | None
) -> None:
    report = hub_wire.report(transfer(state, error), "ORIG1", "HUBMSG2", NOW)
    [st] = pacs002.parse(pacs002.build(report)).statuses
    assert (st.status, st.reason, st.original_end_to_end_id) == (code, reason, TID)
    assert st.original_uetr == hub_wire.uetr_of(TID)
