"""A file SACCO's result files as reconciliation records (pure): PAID lines only, checked
against our batch, a line paid in two files twice, our payment ids as the written set."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.sacco import files
from connectors.sacco.records import SOURCE, result_records
from switch.recon.matching import Window, match
from switch.recon.records import SwitchTxn

SENT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
ANSWERED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _files() -> tuple[bytes, bytes]:
    lines = (
        files.BatchLine(1, "pay_1", "10001", 150_000, "deposit", "INV-1"),
        files.BatchLine(2, "pay_2", "10002", 250_000, "loan_disbursement", "LN-2"),
    )
    batch = files.write_batch(files.Batch("b1", "WAUMINI", SENT, lines))
    result = files.ResultFile(
        "r1",
        "WAUMINI",
        "b1",
        ANSWERED,
        (
            files.ResultLine(1, "pay_1", "10001", 150_000, "PAID", "WAU1", None, "deposit"),
            files.ResultLine(
                2, "pay_2", "10002", 250_000, "FAILED", None, "dormant", "loan_disbursement"
            ),
        ),
    )
    return batch, files.write_result(result)


def test_paid_lines_are_records_and_failed_ones_are_not() -> None:
    batch, result = _files()
    records, written = result_records("WAUMINI", [batch], [result])
    assert written == {"pay_1", "pay_2"}
    [record] = records
    assert (record.source, record.receipt, record.reference, record.amount) == (
        SOURCE,
        "WAU1",
        "pay_1",
        150_000,
    )
    assert record.direction == "out" and record.at == ANSWERED and record.provider == "sacco"


def test_a_result_of_a_batch_we_never_wrote_or_another_saccos_gives_nothing() -> None:
    batch, result = _files()
    assert result_records("WAUMINI", [], [result]) == ([], set())
    assert result_records("STIMA", [batch], [result])[0] == []


def test_a_run_matches_the_paid_line_and_finds_a_line_paid_twice() -> None:
    batch, result = _files()
    paid = SwitchTxn("pay_1", "m1", "sacco", "succeeded", 150_000, SENT, "WAU1")
    failed = SwitchTxn("pay_2", "m1", "sacco", "failed", 250_000, SENT)
    window = Window(SENT, ANSWERED)
    records, _ = result_records("WAUMINI", [batch], [result])
    kinds = {f.key: f.kind for f in match([paid, failed], records, [SOURCE], window)}
    assert kinds.get("pay_1") == "matched" and "pay_2" not in kinds
    twice, _ = result_records("WAUMINI", [batch], [result, result])
    kinds = {f.key: f.kind for f in match([paid, failed], twice, [SOURCE], window)}
    assert kinds["pay_1"] == "duplicate"
