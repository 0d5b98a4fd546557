"""The matching engine and the breaks queue's rules (switch/recon/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switch.ledger import Balances
from switch.recon.breaks import (
    WRITE_OFFS,
    approval_refusal,
    correction,
    recon_float,
    refusal,
    write_off_entry,
)
from switch.recon.matching import Finding, Window, match
from switch.recon.records import ProviderRecord, SwitchTxn

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
WINDOW = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))


def txn(
    pid: str, amount: int, receipt: str = "", status: str = "succeeded", method: str = "mpesa_c2b"
) -> SwitchTxn:
    return SwitchTxn(pid, "mch_1", method, status, amount, T0, receipt)


def rec(
    receipt: str,
    amount: int,
    source: str = "mpesa_pull",
    reference: str = "",
    direction: str = "in",
) -> ProviderRecord:
    return ProviderRecord(
        source,
        receipt,
        amount,
        direction,
        T0,
        reference,  # type: ignore[arg-type]
        account="ACME1",
        shortcode="600984",
    )


def kinds(findings: list[Finding]) -> dict[str, str]:
    return {f.key: f.kind for f in findings}


def test_every_kind_of_break_is_found_and_nothing_else() -> None:
    txns = [
        txn("pay_ok", 10000, "RCPTOK0001"),
        txn("pay_amount", 20000, "RCPTAMT001"),
        txn("pay_gone", 30000, "RCPTGONE01"),  # the provider never shows it
        txn("pay_lost", 40000, "", status="processing"),  # switch never heard back
        txn("pay_dup", 50000, "RCPTDUP001"),
    ]
    records = [
        rec("RCPTOK0001", 10000),
        rec("RCPTAMT001", 25000),
        rec("RCPTSTRNGR", 7000),  # nobody in the switch
        rec("RCPTDUP001", 50000),
        rec("RCPTDUP001", 50000),
    ]
    found = kinds(match(txns, records, ["mpesa_pull"], WINDOW))
    assert found == {
        "RCPTOK0001": "matched",
        "RCPTAMT001": "amount_mismatch",
        "pay_gone": "missing_at_provider",
        "RCPTSTRNGR": "missing_in_switch",
        "RCPTDUP001": "duplicate",
    }


def test_a_payment_the_switch_did_not_settle_is_missing_in_the_switch() -> None:
    txns = [SwitchTxn("pay_1", "mch_1", "bank_transfer", "failed", 500000, T0)]
    records = [rec("BK1", 500000, "bank_camt053", reference="pay_1", direction="out")]
    (finding,) = match(txns, records, ["bank_camt053"], WINDOW)
    assert (finding.kind, finding.payment_id, finding.switch_amount) == (
        "missing_in_switch",
        "pay_1",
        None,
    )
    assert "failed" in finding.detail


def test_records_name_our_id_before_their_receipt_and_sources_agree() -> None:
    txns = [txn("pay_b", 500000, method="bank_transfer")]
    both = [
        rec("BK9", 500000, "bank_mt940", "pay_b", "out"),
        rec("BK9", 500000, "bank_camt053", "pay_b", "out"),
    ]
    assert kinds(match(txns, both, ["bank_mt940", "bank_camt053"], WINDOW)) == {"pay_b": "matched"}
    disagree = [both[0], rec("BK9", 400000, "bank_camt053", "pay_b", "out")]
    (finding,) = match(txns, disagree, ["bank_mt940", "bank_camt053"], WINDOW)
    assert finding.kind == "amount_mismatch" and finding.provider_amount == 400000


def test_only_rails_a_source_covers_can_be_missing_there() -> None:
    txns = [txn("pay_stk", 10000, "RCPTSTK001", method="mpesa_stk")]
    assert match(txns, [], ["mpesa_pull"], WINDOW) == []  # Pull lists C2B only
    (f,) = match(txns, [], ["mpesa_statement"], WINDOW)
    assert f.kind == "missing_at_provider"


def test_payments_outside_the_expected_window_are_not_called_missing() -> None:
    late = Window(WINDOW.expect_from, T0 - timedelta(seconds=1))
    assert match([txn("pay_new", 10000, "R1")], [], ["mpesa_pull"], late) == []


def test_two_switch_payments_with_one_receipt_are_a_duplicate() -> None:
    txns = [txn("pay_a", 10000, "RCPT000001"), txn("pay_b", 10000, "RCPT000001")]
    found = match(txns, [rec("RCPT000001", 10000)], ["mpesa_pull"], WINDOW)
    assert {f.kind for f in found} == {"matched", "duplicate"}


def test_break_ids_are_stable_across_runs() -> None:
    records = [rec("RCPTSTRNGR", 7000)]
    first = match([], records, ["mpesa_pull"], WINDOW)
    again = match([], records, ["mpesa_pull"], WINDOW)
    assert first[0].id == again[0].id and first[0].id.startswith("brk_")


def _break(
    kind: str, switch: int | None, provider: int | None, direction: str = "in", **extra: object
) -> dict[str, object]:
    return {
        "_id": "brk_x",
        "status": "open",
        "kind": kind,
        "provider": "mpesa",
        "switch_amount": switch,
        "provider_amount": provider,
        "direction": direction,
        "records": [{"direction": direction, "shortcode": "600984"}],
        **extra,
    }


@pytest.mark.parametrize(
    ("brk", "cents"),
    [
        (_break("missing_at_provider", 30000, None), 30000),  # booked money the provider lacks
        (_break("amount_mismatch", 20000, 25000), -5000),
        (_break("missing_at_provider", 15000, None, "out"), -15000),  # payout never paid
        (_break("duplicate", 50000, 100000), -50000),
    ],
)
def test_a_write_off_balances_and_corrects_the_float(brk: dict[str, object], cents: int) -> None:
    assert correction(brk) == cents
    entry = write_off_entry(brk)
    balances = Balances.replay([entry])
    assert balances.of(recon_float("mpesa")) == cents
    assert balances.of(WRITE_OFFS) == -cents
    assert entry.id == "brk_x:write_off"


def test_which_resolution_fits_which_break() -> None:
    lost = _break("missing_in_switch", None, 7000)
    assert refusal(lost, "confirm") is None
    assert refusal(lost, "allocate") is None
    assert refusal(lost, "write_off") is None
    gone = _break("missing_at_provider", 30000, None)
    assert refusal(gone, "confirm").code == "not_applicable"  # type: ignore[union-attr]
    assert refusal({**gone, "status": "resolved"}, "write_off").code == "not_open"  # type: ignore[union-attr]
    assert refusal(_break("amount_mismatch", 100, 100), "write_off") is not None
    assert refusal(lost, "refund_everyone").code == "unknown_action"  # type: ignore[union-attr]


def test_no_one_approves_what_they_proposed() -> None:
    proposal = {"proposed_by": "operator:cli_a"}
    assert approval_refusal(proposal, "operator:cli_a").code == "same_person"  # type: ignore[union-attr]
    assert approval_refusal(proposal, "operator:cli_b") is None
    assert approval_refusal(None, "operator:cli_b").code == "no_proposal"  # type: ignore[union-attr]
