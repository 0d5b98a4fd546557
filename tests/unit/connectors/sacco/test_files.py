"""The batch and result CSV files: round trips, and a result file checked line by line (every
kind of damage rejected with line, field and reason; valid lines kept; nothing lost)."""

from __future__ import annotations

import contextlib
import hashlib

import pytest

from connectors.sacco import files
from connectors.sacco.files import (
    FileFormatError,
    ParsedResult,
    Purpose,
    ResultFile,
    ResultLine,
    ResultVersion,
    parse_batch,
    parse_result,
    write_batch,
    write_result,
)
from tests.unit.connectors.sacco.helpers import CREATED, batch, line

BATCH = batch(
    line(1, "10001", 150_050),
    line(2, "10002", 99),
    line(3, "10003", 2_500_000, "loan_disbursement"),
    line(4, "10004", 10_000, "loan_repayment"),
)


def paid(n: int, amount: int, member: str, purpose: Purpose | None = "deposit") -> ResultLine:
    return ResultLine(n, f"pay_s0_{n}", member, amount, "PAID", f"WAU{n:07d}", None, purpose)


def failed(n: int, amount: int, member: str, reason: str = "member account dormant") -> ResultLine:
    return ResultLine(n, f"pay_s0_{n}", member, amount, "FAILED", None, reason, "deposit")


GOOD = (
    paid(1, 150_050, "10001"),
    failed(2, 99, "10002"),
    paid(3, 2_500_000, "10003", "loan_disbursement"),
    paid(4, 10_000, "10004", "loan_repayment"),
)


def result_bytes(
    *lines: ResultLine, batch_id: str = "WAUMINI-1", version: ResultVersion = 2
) -> bytes:
    return write_result(ResultFile("R-1", "WAUMINI", batch_id, CREATED, lines), version)


def parse(data: bytes) -> ParsedResult:
    return parse_result(data, "WAUMINI", {BATCH.batch_id: BATCH})


def retrailer(data: bytes) -> bytes:
    """Recompute count, sum and checksum after editing body lines (a consistent forgery)."""
    lines = data.split(b"\n")[:-2]
    body = [x + b"\n" for x in lines if x.startswith(b"DTL")]
    total = 0
    for x in body:
        # An unreadable amount cannot be summed; the line itself is rejected.
        with contextlib.suppress(ValueError, IndexError, UnicodeDecodeError):
            total += files.parse_amount(x.split(b",")[4].decode())
    trailer = f"TRL,{len(body)},{files.format_amount(total)},{files.checksum(body)}\n"
    return b"\n".join(lines) + b"\n" + trailer.encode()


def errors_of(parsed: ParsedResult) -> list[tuple[int, str]]:
    return [(e.line, e.field) for e in parsed.errors]


def accounted_for(parsed: ParsedResult) -> bool:
    """Nothing lost: every batch payment is either settled here or still missing, never both."""
    settled = {x.payment_id for x in parsed.lines}
    missing = set(parsed.missing(BATCH))
    return not settled & missing and settled | missing == {x.payment_id for x in BATCH.lines}


# --- the batch file -------------------------------------------------------------------------


def test_batch_layout_and_round_trip() -> None:
    data = write_batch(BATCH)
    text = data.decode()
    rows = text.splitlines()
    assert rows[0] == "HDR,SWITCH-SACCO-BATCH/1,WAUMINI-1,WAUMINI,2026-11-27T08:00:00Z"
    assert rows[1] == "COL,line_no,payment_id,member_number,amount,purpose,reference"
    assert rows[2] == "DTL,1,pay_s0_1,10001,1500.50,DEPOSIT,INV-1"
    assert rows[3] == "DTL,2,pay_s0_2,10002,0.99,DEPOSIT,INV-2"
    assert rows[4] == "DTL,3,pay_s0_3,10003,25000.00,LOAN_DISBURSEMENT,INV-3"
    assert rows[5] == "DTL,4,pay_s0_4,10004,100.00,LOAN_REPAYMENT,INV-4"
    body = "".join(r + "\n" for r in rows[2:6]).encode()
    assert rows[6] == f"TRL,4,26601.49,{hashlib.sha256(body).hexdigest()}"
    assert text.endswith("\n")
    assert parse_batch(data) == BATCH


def test_batch_reference_with_commas_and_quotes_survives() -> None:
    tricky = batch(files.BatchLine(1, "pay_1", "10001", 100, "deposit", 'Rent, "May"'))
    assert parse_batch(write_batch(tricky)) == tricky


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.replace(b"1500.50", b"1500.51", 1), "checksum"),  # body changed
        (lambda d: d.replace(b"TRL,4,", b"TRL,5,"), "line_count"),
        (lambda d: d.replace(b"26601.49", b"26601.50"), "amount_sum"),
        (lambda d: d.rsplit(b"TRL", 1)[0], "trailer"),  # truncated
        (lambda d: d.replace(b"HDR,SWITCH-SACCO-BATCH/1", b"HDR,OTHER/9"), "header"),
    ],
)
def test_batch_tampering_is_refused_whole(edit, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FileFormatError) as caught:
        parse_batch(edit(write_batch(BATCH)))
    assert field in [e.field for e in caught.value.errors]


def test_batch_values_are_validated() -> None:
    with pytest.raises(ValueError, match="numbered"):
        batch(line(2))
    with pytest.raises(ValueError, match="twice"):
        batch(line(1), files.BatchLine(2, "pay_s0_1", "1", 1, "deposit", ""))
    with pytest.raises(ValueError, match="one line"):
        files.BatchLine(1, "p", "1", 1, "deposit", "a\nb")
    with pytest.raises(ValueError, match="positive"):
        files.BatchLine(1, "p", "1", 0, "deposit", "")


# --- the result file: sound -----------------------------------------------------------------


def test_result_round_trip() -> None:
    parsed = parse(result_bytes(*GOOD))
    assert parsed.intact
    assert parsed.errors == ()
    assert parsed.lines == GOOD
    assert (parsed.result_id, parsed.sacco_code, parsed.batch_id) == ("R-1", "WAUMINI", "WAUMINI-1")
    assert parsed.missing(BATCH) == []


def test_crlf_result_file_is_read() -> None:
    lines = result_bytes(*GOOD).decode().splitlines()
    body = [(x + "\r\n").encode() for x in lines[2:6]]
    trailer = f"TRL,4,26601.49,{files.checksum(body)}"
    data = "\r\n".join([*lines[:6], trailer, ""]).encode()
    parsed = parse(data)
    assert parsed.intact, parsed.errors
    assert parsed.lines == GOOD


def test_partial_result_file_leaves_the_rest_missing() -> None:
    parsed = parse(result_bytes(GOOD[0], GOOD[2]))
    assert parsed.intact  # a SACCO may answer in parts: not an error
    assert [x.payment_id for x in parsed.lines] == ["pay_s0_1", "pay_s0_3"]
    assert parsed.missing(BATCH) == ["pay_s0_2", "pay_s0_4"]
    assert accounted_for(parsed)


# --- the result file: damaged, line by line ------------------------------------------------


def test_checksum_tampering_is_detected_but_sound_lines_are_kept() -> None:
    data = result_bytes(*GOOD).replace(b"WAU0000001", b"WAU0000009")
    parsed = parse(data)
    assert not parsed.intact
    assert errors_of(parsed) == [(7, "checksum")]
    assert len(parsed.lines) == 4  # each still matches our batch on its own


def test_control_totals_tampering_is_detected() -> None:
    data = result_bytes(*GOOD).replace(b"TRL,4,26601.49", b"TRL,3,26000.00")
    assert sorted(f for _, f in errors_of(parse(data))) == ["amount_sum", "line_count"]


def test_missing_trailer_marks_the_file_truncated() -> None:
    data = result_bytes(*GOOD).rsplit(b"TRL", 1)[0]
    parsed = parse(data)
    assert not parsed.intact
    assert [e.field for e in parsed.errors] == ["trailer"]
    assert len(parsed.lines) == 4


@pytest.mark.parametrize(
    ("old", "new", "field", "why"),
    [
        (b"10001,1500.50", b"10001,1500.51", "amount", "1500.51, ours is 1500.50"),
        (b"10001,1500.50", b"10001,1500.5", "amount", "two decimals"),
        (b"pay_s0_1,10001", b"pay_s0_1,10009", "member_number", "ours is '10001'"),
        (b"DTL,1,pay_s0_1", b"DTL,2,pay_s0_1", "line_no", "ours is 1"),
        (b"DTL,1,pay_s0_1", b"DTL,1,pay_s0_77", "payment_id", "not in the batch"),
        (b"PAID,WAU0000001,", b"DONE,WAU0000001,", "status", "not PAID or FAILED"),
        (b"PAID,WAU0000001,", b"PAID,,", "sacco_reference", "needs the SACCO's reference"),
        (b"PAID,WAU0000001,", b"PAID,WAU0000001", "record", "expected 9 fields"),
        (b"1500.50,DEPOSIT,", b"1500.50,LOAN_REPAYMENT,", "purpose", "ours is DEPOSIT"),
        (b"1500.50,DEPOSIT,", b"1500.50,SHARES,", "purpose", "'SHARES', ours is DEPOSIT"),
        (b"DTL,1,pay_s0_1,10001", b'DTL,1,"pay_s0_1,10001', "record", "unreadable"),
    ],
)
def test_one_bad_line_is_rejected_and_the_others_kept(
    old: bytes, new: bytes, field: str, why: str
) -> None:
    parsed = parse(retrailer(result_bytes(*GOOD).replace(old, new, 1)))
    assert [(e.line, e.field) for e in parsed.errors] == [(3, field)]
    assert why in parsed.errors[0].reason
    assert parsed.intact  # the trailer was recomputed: only the line is wrong
    assert [x.payment_id for x in parsed.lines] == ["pay_s0_2", "pay_s0_3", "pay_s0_4"]
    assert parsed.missing(BATCH) == ["pay_s0_1"]  # stays pending, not lost
    assert accounted_for(parsed)


def test_failed_line_needs_a_reason() -> None:
    data = retrailer(result_bytes(*GOOD).replace(b"FAILED,,member account dormant", b"FAILED,,"))
    parsed = parse(data)
    assert [(e.line, e.field) for e in parsed.errors] == [(4, "reason")]


def test_not_utf8_line_is_rejected() -> None:
    data = retrailer(result_bytes(*GOOD).replace(b"WAU0000003", b"WAU\xff000003"))
    parsed = parse(data)
    assert [(e.line, e.field) for e in parsed.errors] == [(5, "record")]
    assert "pay_s0_3" in parsed.missing(BATCH)


def test_identical_duplicate_keeps_the_first() -> None:
    parsed = parse(result_bytes(*GOOD, GOOD[0]))
    assert [(e.line, e.field, e.reason) for e in parsed.errors] == [
        (7, "payment_id", "duplicate of line 3")
    ]
    assert [x.payment_id for x in parsed.lines] == ["pay_s0_1", "pay_s0_2", "pay_s0_3", "pay_s0_4"]


def test_conflicting_duplicates_reject_every_copy() -> None:
    contrary = failed(1, 150_050, "10001", "flipped")
    parsed = parse(result_bytes(*GOOD, contrary))
    assert [(e.line, e.field) for e in parsed.errors] == [(3, "payment_id"), (7, "payment_id")]
    assert "conflicting answers on lines 3, 7" in parsed.errors[0].reason
    assert parsed.missing(BATCH) == ["pay_s0_1"]


def test_lines_after_the_trailer_and_unknown_records_are_rejected() -> None:
    data = result_bytes(*GOOD) + b"DTL,9,x\n"
    parsed = parse(data.replace(b"COL,", b"XYZ,", 1))
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "record"), (8, "record")]
    assert len(parsed.lines) == 4


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.replace(b",WAUMINI,", b",STIMA,", 1), "sacco_code"),
        (lambda d: d.replace(b",WAUMINI-1\n", b",WAUMINI-9\n", 1), "batch_id"),
        (lambda d: d.replace(b"2026-11-27T08:00:00Z", b"yesterday", 1), "created_at"),
        (lambda d: d.split(b"\n", 1)[1], "header"),
    ],
)
def test_bad_header_rejects_every_line(edit, field) -> None:  # type: ignore[no-untyped-def]
    parsed = parse(edit(result_bytes(*GOOD)))
    assert parsed.lines == ()
    assert parsed.batch_id is None
    assert parsed.errors[0].field == field
    assert len(parsed.errors) == 1 + 4  # the file, then each line: not read
    assert {e.payment_id for e in parsed.errors[1:]} == {x.payment_id for x in BATCH.lines}
    assert parsed.missing(BATCH) == [x.payment_id for x in BATCH.lines]


def test_error_text_names_line_field_and_payment() -> None:
    parsed = parse(retrailer(result_bytes(*GOOD).replace(b"10001,1500.50", b"10001,1.00", 1)))
    assert str(parsed.errors[0]) == "line 3 (pay_s0_1): amount: 1.00, ours is 1500.50"


# --- purposes and the first result layout ----------------------------------------------------


def test_result_lines_echo_the_purpose() -> None:
    text = result_bytes(*GOOD).decode().splitlines()
    assert text[0].startswith("HDR,SWITCH-SACCO-RESULT/2,")
    assert text[1] == (
        "COL,line_no,payment_id,member_number,amount,purpose,status,sacco_reference,reason"
    )
    assert text[5] == "DTL,4,pay_s0_4,10004,100.00,LOAN_REPAYMENT,PAID,WAU0000004,"
    assert parse(result_bytes(*GOOD)).lines[3].purpose == "loan_repayment"


def test_a_repayment_booked_as_a_deposit_is_refused() -> None:
    """The SACCO put the member's loan money on their savings: not settled, stays pending."""
    data = result_bytes(*GOOD).replace(b"100.00,LOAN_REPAYMENT,", b"100.00,DEPOSIT,")
    parsed = parse(retrailer(data))
    assert [(e.line, e.field, e.payment_id) for e in parsed.errors] == [(6, "purpose", "pay_s0_4")]
    assert parsed.missing(BATCH) == ["pay_s0_4"]


def test_first_layout_result_files_are_still_read() -> None:
    data = result_bytes(*GOOD, version=1)
    text = data.decode().splitlines()
    assert text[0].startswith("HDR,SWITCH-SACCO-RESULT/1,")
    assert text[5] == "DTL,4,pay_s0_4,10004,100.00,PAID,WAU0000004,"
    parsed = parse(data)
    assert parsed.intact and parsed.errors == ()
    assert [x.purpose for x in parsed.lines] == [None] * 4  # the file does not say
    assert [x.status for x in parsed.lines] == [x.status for x in GOOD]


def test_columns_of_the_other_layout_are_reported() -> None:
    v1_columns = b"COL,line_no,payment_id,member_number,amount,status,sacco_reference,reason"
    data = result_bytes(*GOOD).replace(result_bytes(*GOOD).split(b"\n")[1], v1_columns)
    parsed = parse(data)
    assert [(e.line, e.field) for e in parsed.errors] == [(2, "columns")]
    assert len(parsed.lines) == 4  # each line is still checked by the header's layout


def test_a_second_layout_line_needs_its_purpose() -> None:
    with pytest.raises(ValueError, match="purpose"):
        result_bytes(paid(1, 150_050, "10001", None))
    assert b"RESULT/1" in result_bytes(paid(1, 150_050, "10001", None), version=1)


def test_unknown_batch_purpose_is_refused() -> None:
    data = write_batch(BATCH).replace(b",LOAN_REPAYMENT,", b",SHARES,")
    with pytest.raises(FileFormatError) as caught:
        parse_batch(data)
    assert any("purpose 'SHARES'" in e.reason for e in caught.value.errors)
    with pytest.raises(ValueError, match="purpose"):
        files.BatchLine(1, "p", "1", 1, "shares", "")  # type: ignore[arg-type]
