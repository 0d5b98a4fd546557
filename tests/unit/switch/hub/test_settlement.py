"""Deferred multilateral net settlement (switch/hub/settlement.py): nets sum to zero and agree
with the transfers or no settlement is made; the report's gross, bilateral and net figures; the
RTGS instruction; CSV cells a spreadsheet cannot run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switch.hub import settlement as st
from switch.hub.settlement import Flow, LedgerFault

AT = datetime(2026, 12, 7, 15, tzinfo=UTC)
# Mojaloop's worked example: A->B 100, B->C 30, C->A 20 -> A +80, B -70, C -10.
FLOWS = [Flow("a", "b", 2, 10_000), Flow("b", "c", 1, 3_000), Flow("c", "a", 1, 2_000)]
NETS = {"a": 8_000, "b": -7_000, "c": -1_000}


def _doc() -> dict[str, object]:
    return st.new_settlement("hset_1", ["hwin_2", "hwin_1"], "KES", "day", "op1", AT, NETS, FLOWS)


def test_nets_must_sum_to_zero_and_agree_with_the_transfers() -> None:
    st.check_nets(NETS, FLOWS)
    with pytest.raises(LedgerFault, match="sum to 1"):
        st.check_nets({**NETS, "c": -900}, FLOWS)
    with pytest.raises(LedgerFault, match=r"disagree .* a, b"):
        st.check_nets({"a": 7_000, "b": -6_000, "c": -1_000}, FLOWS)


def test_the_report_has_gross_bilateral_and_net() -> None:
    view = st.view(_doc())
    assert view["state"] == "PENDING_SETTLEMENT"
    assert view["windows"] == ["hwin_1", "hwin_2"]
    assert view["transfers"] == 4
    a = view["participants"][0]
    assert (a["participant"], a["direction"], a["net"]) == ("a", "NET_SENDER", "80")
    assert (a["sent"], a["sent_count"], a["received"], a["received_count"]) == ("100", 2, "20", 1)
    assert a["bilateral"] == [
        {"counterparty": "b", "sent": "100", "received": "0", "net": "100"},
        {"counterparty": "c", "sent": "0", "received": "20", "net": "-20"},
    ]
    assert [p["direction"] for p in view["participants"]] == [
        "NET_SENDER",
        "NET_RECIPIENT",
        "NET_RECIPIENT",
    ]


def test_the_csv_report_and_the_instruction() -> None:
    doc = _doc()
    lines = st.report_csv(doc).decode().split("\r\n")
    assert lines[0] == ",".join(st.REPORT_COLUMNS)
    assert "hset_1,a,,100,20,80,NET_SENDER" in lines
    assert "hset_1,b,,30,100,'-70,NET_RECIPIENT" in lines  # defused: a cell never runs
    made = st.instruction(doc, {"a": {"name": "A", "bank_code": "01", "bic": None}})
    assert [(x["participant"], x["side"], x["amount"]) for x in made["lines"]] == [
        ("a", "DEBIT", "80"),
        ("b", "CREDIT", "70"),
        ("c", "CREDIT", "10"),
    ]
    assert made["total_debits"] == made["total_credits"] == "80"
    assert st.instruction_csv(made).decode().startswith("seq,participant,name,bank_code")
    assert st.nets_of(doc) == NETS


def test_gross_transfers_are_listed_per_window_outside_the_nets() -> None:
    gross = [
        {"_id": "t9", "window_id": "hwin_1", "payer": "a", "payee": "c", "amount": 150_000_000},
        {"_id": "t7", "window_id": "hwin_2", "payer": "b", "payee": "a", "amount": 100_000_050},
    ]
    doc = st.new_settlement(
        "hset_1", ["hwin_1", "hwin_2"], "KES", "d", "op", AT, NETS, FLOWS, gross
    )
    view = st.view(doc)
    assert view["gross"] == {
        "hwin_1": [{"id": "t9", "payer": "a", "payee": "c", "amount": "1500000"}],
        "hwin_2": [{"id": "t7", "payer": "b", "payee": "a", "amount": "1000000.50"}],
    }
    assert view["transfers"] == 4  # the netted ones only
    assert {p["participant"]: p["net"] for p in view["participants"]} == {
        "a": "80",
        "b": "-70",
        "c": "-10",
    }
    assert st.view(_doc())["gross"] == {}
