"""The CSV files exchanged with a file-integration SACCO (pure: bytes in, bytes out).

SACCOs exchange files in schemas of their own; this is ours (UTF-8, comma-separated, one
record per physical line ending in LF, a record type in the first column, amounts in shillings
with exactly two decimals, times ISO-8601 UTC). A batch of instructions, switch -> SACCO::

    HDR,SWITCH-SACCO-BATCH/1,<batch id>,<SACCO code>,<created, e.g. 2026-11-27T08:00:00Z>
    COL,line_no,payment_id,member_number,amount,purpose,reference
    DTL,1,pay_s0_1,12345,1500.00,DEPOSIT,INV-1
    DTL,2,pay_s0_2,67890,25000.00,LOAN_DISBURSEMENT,LN-77
    DTL,3,pay_s0_3,12345,700.00,LOAN_REPAYMENT,12345LN
    TRL,<line count>,<amount sum>,<SHA-256 hex of the body>

Purposes: ``DEPOSIT`` (to the member's savings), ``LOAN_DISBURSEMENT`` (from the member's
approved loan), ``LOAN_REPAYMENT`` (money the member paid, posted to their active loan; the
SACCO picks the loan, as with its paybill). And a result file, SACCO -> switch (one per batch
or several: a SACCO may answer in parts)::

    HDR,SWITCH-SACCO-RESULT/2,<result id>,<SACCO code>,<created>,<batch id>
    COL,line_no,payment_id,member_number,amount,purpose,status,sacco_reference,reason
    DTL,1,pay_s0_1,12345,1500.00,DEPOSIT,PAID,WAU0000123,
    DTL,2,pay_s0_2,67890,25000.00,LOAN_DISBURSEMENT,FAILED,,member account dormant
    DTL,3,pay_s0_3,12345,700.00,LOAN_REPAYMENT,FAILED,,no active loan
    TRL,<line count>,<amount sum>,<SHA-256 hex of the body>

A result line echoes the purpose it was booked as, so money booked as something else (a
repayment taken as a savings deposit) is refused like a wrong amount. Result files of the first
version (``SWITCH-SACCO-RESULT/1``: no purpose column) are still read, and checked on the other
columns: a SACCO that has not moved on, and the result files already in our journal.

The body is the exact bytes of the DTL lines, each with its line ending, in file order. The
checksum detects damage, not forgery (anyone who can write the folder can recompute it):
authenticity comes from the channel (the SACCO's SFTP account).

:func:`parse_result` checks a result file line by line against OUR batch: a malformed line, an
unknown payment id, a line number, member or amount that differs from ours, a bad status, a
duplicate: each becomes a :class:`LineError` (physical line number, field, why) and the other
lines are still returned. A bad header rejects every line (nothing can be matched); a bad or
missing trailer (count, sum, checksum) is reported and marks the file not ``intact``, but each
returned line was checked on its own against our batch. A rejected or missing line is never
settled here: it stays pending until a later result file settles it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

BATCH_MAGIC = "SWITCH-SACCO-BATCH/1"
RESULT_MAGIC = "SWITCH-SACCO-RESULT/2"
RESULT_MAGIC_V1 = "SWITCH-SACCO-RESULT/1"
BATCH_COLUMNS = ("line_no", "payment_id", "member_number", "amount", "purpose", "reference")
RESULT_COLUMNS = (
    "line_no",
    "payment_id",
    "member_number",
    "amount",
    "purpose",
    "status",
    "sacco_reference",
    "reason",
)
RESULT_COLUMNS_V1 = tuple(c for c in RESULT_COLUMNS if c != "purpose")
MAX_REFERENCE = 100
MAX_LINES = 10_000  # per batch file; the gateway splits larger ticks

Purpose = Literal["deposit", "loan_disbursement", "loan_repayment"]
Status = Literal["PAID", "FAILED"]
ResultVersion = Literal[1, 2]
_PURPOSES: dict[str, Purpose] = {
    "DEPOSIT": "deposit",
    "LOAN_DISBURSEMENT": "loan_disbursement",
    "LOAN_REPAYMENT": "loan_repayment",
}
_WIRE_PURPOSE = {v: k for k, v in _PURPOSES.items()}
_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_AMOUNT = re.compile(r"^[0-9]{1,12}\.[0-9]{2}$")
_COUNT = re.compile(r"^[0-9]{1,9}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")


class FileFormatError(ValueError):
    """A file that cannot be read as a whole; ``errors`` says where and why."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors[:5]))


@dataclass(frozen=True, slots=True)
class LineError:
    line: int  # physical line in the file, 1-based (0: the file as a whole)
    field: str
    reason: str
    payment_id: str | None = None

    def __str__(self) -> str:
        who = f" ({self.payment_id})" if self.payment_id else ""
        return f"line {self.line}{who}: {self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class BatchLine:
    line_no: int
    payment_id: str
    member_number: str
    amount_minor: int
    purpose: Purpose
    reference: str

    def __post_init__(self) -> None:
        if self.line_no < 1:
            raise ValueError("line_no starts at 1")
        for name in ("payment_id", "member_number"):
            if not _ID.fullmatch(getattr(self, name)):
                raise ValueError(f"{name} must be 1-64 of A-Z a-z 0-9 _ . : -")
        if self.amount_minor <= 0:
            raise ValueError("amount must be positive")
        if self.purpose not in _WIRE_PURPOSE:
            raise ValueError(f"purpose must be one of {sorted(_WIRE_PURPOSE)}")
        if len(self.reference) > MAX_REFERENCE or any(c in self.reference for c in "\r\n"):
            raise ValueError(f"reference must be one line of at most {MAX_REFERENCE} characters")


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    sacco_code: str
    created_at: datetime
    lines: tuple[BatchLine, ...]

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.batch_id) or not _ID.fullmatch(self.sacco_code):
            raise ValueError("batch_id and sacco_code must be 1-64 of A-Z a-z 0-9 _ . : -")
        if not 1 <= len(self.lines) <= MAX_LINES:
            raise ValueError(f"a batch holds 1 to {MAX_LINES} lines")
        if [x.line_no for x in self.lines] != list(range(1, len(self.lines) + 1)):
            raise ValueError("lines must be numbered 1, 2, 3, ... in order")
        if len({x.payment_id for x in self.lines}) != len(self.lines):
            raise ValueError("a payment appears twice in the batch")

    @property
    def file_name(self) -> str:
        return f"{self.batch_id}.csv"

    def by_payment(self) -> dict[str, BatchLine]:
        return {x.payment_id: x for x in self.lines}


@dataclass(frozen=True, slots=True)
class ResultLine:
    line_no: int
    payment_id: str
    member_number: str
    amount_minor: int
    status: Status
    sacco_reference: str | None  # PAID: the SACCO's transaction reference
    reason: str | None  # FAILED: why, in the SACCO's words
    purpose: Purpose | None = None  # as the SACCO booked it; None: a /1 file does not say


@dataclass(frozen=True, slots=True)
class ResultFile:
    """What a SACCO (or its simulator) writes back."""

    result_id: str
    sacco_code: str
    batch_id: str
    created_at: datetime
    lines: tuple[ResultLine, ...]

    @property
    def file_name(self) -> str:
        return f"{self.result_id}.csv"


@dataclass(frozen=True, slots=True)
class ParsedResult:
    result_id: str | None
    sacco_code: str | None
    batch_id: str | None
    lines: tuple[ResultLine, ...]  # each checked against our batch
    errors: tuple[LineError, ...]
    intact: bool  # header and trailer (count, sum, checksum) are right

    def missing(self, batch: Batch) -> list[str]:
        """Payment ids of ``batch`` this file does not settle (absent or rejected)."""
        settled = {x.payment_id for x in self.lines}
        return [x.payment_id for x in batch.lines if x.payment_id not in settled]


# --- amounts and times ----------------------------------------------------------------------


def format_amount(minor: int) -> str:
    major, cents = divmod(minor, 100)
    return f"{major}.{cents:02d}"


def parse_amount(text: str) -> int:
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"{text!r} is not shillings with two decimals, e.g. 1500.00")
    major, cents = text.split(".")
    return int(major) * 100 + int(cents)


def format_time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("needs a time-zone-aware datetime")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def checksum(body_lines: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for line in body_lines:
        digest.update(line)
    return digest.hexdigest()


# --- writing --------------------------------------------------------------------------------


def _row(*fields: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue().encode()


def _with_trailer(head: list[bytes], body: list[bytes], total_minor: int) -> bytes:
    trailer = _row("TRL", str(len(body)), format_amount(total_minor), checksum(body))
    return b"".join([*head, *body, trailer])


def write_batch(batch: Batch) -> bytes:
    head = [
        _row("HDR", BATCH_MAGIC, batch.batch_id, batch.sacco_code, format_time(batch.created_at)),
        _row("COL", *BATCH_COLUMNS),
    ]
    body = [
        _row(
            "DTL",
            str(x.line_no),
            x.payment_id,
            x.member_number,
            format_amount(x.amount_minor),
            _WIRE_PURPOSE[x.purpose],
            x.reference,
        )
        for x in batch.lines
    ]
    return _with_trailer(head, body, sum(x.amount_minor for x in batch.lines))


def write_result(result: ResultFile, version: ResultVersion = 2) -> bytes:
    """A result file; ``version=1`` writes the first layout (no purpose column)."""
    if version == 2 and any(x.purpose is None for x in result.lines):
        raise ValueError("a /2 result line needs its purpose")
    head = [
        _row(
            "HDR",
            RESULT_MAGIC if version == 2 else RESULT_MAGIC_V1,
            result.result_id,
            result.sacco_code,
            format_time(result.created_at),
            result.batch_id,
        ),
        _row("COL", *(RESULT_COLUMNS if version == 2 else RESULT_COLUMNS_V1)),
    ]
    body = [_row("DTL", *_result_fields(x, version)) for x in result.lines]
    return _with_trailer(head, body, sum(x.amount_minor for x in result.lines))


def _result_fields(x: ResultLine, version: ResultVersion) -> list[str]:
    fields = [str(x.line_no), x.payment_id, x.member_number, format_amount(x.amount_minor)]
    if version == 2:
        fields.append(_WIRE_PURPOSE[x.purpose] if x.purpose else "")
    return [*fields, x.status, x.sacco_reference or "", x.reason or ""]


# --- reading: the shared skeleton -----------------------------------------------------------


@dataclass(slots=True)
class _Skeleton:
    header: tuple[int, list[str]] | None
    details: list[tuple[int, list[str] | None, bytes]]  # (line, fields or None, raw bytes)
    errors: list[LineError]
    file_errors: list[LineError]
    columns: tuple[int, tuple[str, ...]] | None = None  # the COL record seen: (line, names)


def _records(data: bytes, columns: Collection[tuple[str, ...]]) -> _Skeleton:
    """Split a file into header, detail and trailer records and check the trailer."""
    raw_lines = data.split(b"\n")
    ends_with_newline = raw_lines[-1] == b""
    if ends_with_newline:
        raw_lines.pop()
    sk = _Skeleton(None, [], [], [])
    trailer: tuple[int, list[str]] | None = None
    for number, raw in enumerate(raw_lines, start=1):
        with_end = raw + b"\n" if number < len(raw_lines) or ends_with_newline else raw
        fields = _fields(raw)
        if not raw.strip(b"\r \t"):
            continue
        if fields is None:
            if raw.startswith(b"DTL,"):  # counted in the totals; the line check reports it
                sk.details.append((number, None, with_end))
            else:
                sk.errors.append(LineError(number, "record", "not UTF-8 CSV"))
            continue
        kind = fields[0]
        if trailer is not None:
            sk.errors.append(LineError(number, "record", "comes after the trailer"))
        elif kind == "HDR" and sk.header is None and number == 1:
            sk.header = (number, fields)
        elif kind == "COL" and tuple(fields[1:]) in columns and sk.columns is None:
            sk.columns = (number, tuple(fields[1:]))
        elif kind == "DTL":
            sk.details.append((number, fields, with_end))
        elif kind == "TRL":
            trailer = (number, fields)
        else:
            sk.errors.append(LineError(number, "record", f"unexpected record {kind[:10]!r}"))
    if sk.header is None:
        sk.file_errors.append(LineError(1, "header", "no HDR record on line 1"))
    sk.file_errors.extend(_check_trailer(trailer, sk.details))
    return sk


def _fields(raw: bytes) -> list[str] | None:
    try:
        text = raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None
    try:
        rows = list(csv.reader([text], strict=True)) if text else [[]]
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


def _check_trailer(
    trailer: tuple[int, list[str]] | None, details: list[tuple[int, list[str] | None, bytes]]
) -> list[LineError]:
    if trailer is None:
        return [LineError(0, "trailer", "no TRL record: the file may be truncated")]
    line, fields = trailer
    if len(fields) != 4 or not _COUNT.fullmatch(fields[1]) or not _SHA.fullmatch(fields[3]):
        return [LineError(line, "trailer", "expected TRL,<count>,<amount sum>,<sha256 hex>")]
    errors = []
    if int(fields[1]) != len(details):
        errors.append(
            LineError(line, "line_count", f"trailer says {fields[1]}, file has {len(details)}")
        )
    amounts = [_amount_of(f) for _, f, _ in details]
    try:
        stated = parse_amount(fields[2])
    except ValueError as exc:
        errors.append(LineError(line, "amount_sum", str(exc)))
    else:
        if None not in amounts and stated != sum(a for a in amounts if a is not None):
            total = format_amount(sum(a for a in amounts if a is not None))
            errors.append(LineError(line, "amount_sum", f"trailer says {fields[2]}, lines {total}"))
    if checksum(raw for _, _, raw in details) != fields[3]:
        errors.append(LineError(line, "checksum", "SHA-256 of the body does not match"))
    return errors


def _amount_of(fields: list[str] | None) -> int | None:
    if fields is None or len(fields) < 5:
        return None
    try:
        return parse_amount(fields[4])
    except ValueError:
        return None


# --- reading a batch (the SACCO's side, and our own journal) --------------------------------


def parse_batch(data: bytes) -> Batch:
    """A batch file, all or nothing: FileFormatError lists every problem."""
    sk = _records(data, (BATCH_COLUMNS,))
    errors = [*sk.file_errors, *sk.errors]
    head = sk.header[1] if sk.header else []
    if sk.header and (len(head) != 5 or head[1] != BATCH_MAGIC):
        errors.append(LineError(1, "header", f"expected HDR,{BATCH_MAGIC},<id>,<code>,<time>"))
    lines = []
    for number, fields, _ in sk.details:
        try:
            lines.append(_batch_line(fields))
        except (ValueError, TypeError, KeyError) as exc:
            errors.append(LineError(number, "record", str(exc)))
    if errors:
        raise FileFormatError(errors)
    try:
        return Batch(head[2], head[3], parse_time(head[4]), tuple(lines))
    except ValueError as exc:
        raise FileFormatError([LineError(0, "batch", str(exc))]) from None


def _batch_line(fields: list[str] | None) -> BatchLine:
    if fields is None or len(fields) != 7:
        raise ValueError(f"expected 7 fields, got {len(fields or [])}")
    if fields[5] not in _PURPOSES:
        raise ValueError(f"purpose {fields[5]!r} is not one of {sorted(_PURPOSES)}")
    return BatchLine(
        line_no=int(fields[1]),
        payment_id=fields[2],
        member_number=fields[3],
        amount_minor=parse_amount(fields[4]),
        purpose=_PURPOSES[fields[5]],
        reference=fields[6],
    )


# --- reading a result file (our side) -------------------------------------------------------


def parse_result(data: bytes, sacco_code: str, batches: Mapping[str, Batch]) -> ParsedResult:
    """Check a result file line by line against our batch (module docstring)."""
    sk = _records(data, (RESULT_COLUMNS, RESULT_COLUMNS_V1))
    head = sk.header[1] if sk.header else []
    header_error = _header_error(head, sacco_code, batches) if sk.header else None
    if sk.header is None or header_error is not None:
        why = header_error or sk.file_errors[0]
        rejected = [
            LineError(n, "header", f"not read: {why.reason}", _pid(f)) for n, f, _ in sk.details
        ]
        result_id = head[2] if len(head) > 2 else None
        return ParsedResult(result_id, None, None, (), (why, *rejected), False)
    batch = batches[head[5]]
    ours = batch.by_payment()
    version: ResultVersion = 2 if head[1] == RESULT_MAGIC else 1
    candidates: list[tuple[int, ResultLine]] = []
    errors = list(sk.errors)
    expected = RESULT_COLUMNS if version == 2 else RESULT_COLUMNS_V1
    if sk.columns is not None and sk.columns[1] != expected:
        errors.append(LineError(sk.columns[0], "columns", f"not the /{version} columns"))
    for number, fields, _ in sk.details:
        checked = _result_line(number, fields, ours, version)
        if isinstance(checked, LineError):
            errors.append(checked)
        else:
            candidates.append((number, checked))
    kept, duplicates = _drop_duplicates(candidates)
    errors.extend(duplicates)
    errors.extend(sk.file_errors)
    errors.sort(key=lambda e: e.line)
    return ParsedResult(head[2], head[3], head[5], kept, tuple(errors), not sk.file_errors)


def _header_error(
    head: list[str], sacco_code: str, batches: Mapping[str, Batch]
) -> LineError | None:
    if len(head) != 6 or head[1] not in (RESULT_MAGIC, RESULT_MAGIC_V1):
        return LineError(1, "header", f"expected HDR,{RESULT_MAGIC},<id>,<code>,<time>,<batch>")
    if head[3] != sacco_code:
        return LineError(1, "sacco_code", f"{head[3]!r} is not {sacco_code!r}")
    if head[5] not in batches:
        return LineError(1, "batch_id", f"no batch {head[5][:64]!r} was sent to {sacco_code}")
    try:
        parse_time(head[4])
    except ValueError:
        return LineError(1, "created_at", f"{head[4][:40]!r} is not YYYY-MM-DDTHH:MM:SSZ")
    return None


def _pid(fields: list[str] | None) -> str | None:
    return fields[2][:64] if fields is not None and len(fields) > 2 else None


def _result_line(
    number: int, fields: list[str] | None, ours: Mapping[str, BatchLine], version: ResultVersion
) -> ResultLine | LineError:
    width = 9 if version == 2 else 8
    if fields is None or len(fields) != width:
        got = "unreadable" if fields is None else f"{len(fields)} fields"
        return LineError(number, "record", f"expected {width} fields, got {got}", _pid(fields))
    wire_purpose = fields[5] if version == 2 else None
    rest = [*fields[:5], *fields[6:]] if version == 2 else fields
    _, line_no, pid, member, amount, status, ref, reason = rest

    def bad(field: str, why: str) -> LineError:
        return LineError(number, field, why, pid[:64])

    line = ours.get(pid)
    if line is None:
        return bad("payment_id", "not in the batch this file answers")
    if not _COUNT.fullmatch(line_no) or int(line_no) != line.line_no:
        return bad("line_no", f"{line_no[:12]!r}, ours is {line.line_no}")
    if member != line.member_number:
        return bad("member_number", f"{member[:20]!r}, ours is {line.member_number!r}")
    try:
        amount_minor = parse_amount(amount)
    except ValueError as exc:
        return bad("amount", str(exc))
    if amount_minor != line.amount_minor:
        return bad("amount", f"{amount}, ours is {format_amount(line.amount_minor)}")
    if wire_purpose is not None and _PURPOSES.get(wire_purpose) != line.purpose:
        return bad("purpose", f"{wire_purpose[:20]!r}, ours is {_WIRE_PURPOSE[line.purpose]}")
    if status not in ("PAID", "FAILED"):
        return bad("status", f"{status[:12]!r} is not PAID or FAILED")
    if status == "PAID" and not ref.strip():
        return bad("sacco_reference", "a PAID line needs the SACCO's reference")
    if status == "FAILED" and not reason.strip():
        return bad("reason", "a FAILED line needs a reason")
    paid = status == "PAID"
    return ResultLine(
        line.line_no,
        pid,
        member,
        amount_minor,
        "PAID" if paid else "FAILED",
        ref.strip() if paid else (ref.strip() or None),
        None if paid else reason.strip(),
        line.purpose if wire_purpose is not None else None,
    )


def _drop_duplicates(
    candidates: list[tuple[int, ResultLine]],
) -> tuple[tuple[ResultLine, ...], list[LineError]]:
    """A payment answered twice in one file: identical repeats are dropped; answers that
    disagree reject every copy (which one is true cannot be told)."""
    seen: dict[str, list[tuple[int, ResultLine]]] = {}
    for number, line in candidates:
        seen.setdefault(line.payment_id, []).append((number, line))
    kept: list[ResultLine] = []
    errors: list[LineError] = []
    for pid, copies in seen.items():
        first_no, first = copies[0]
        if all(line == first for _, line in copies):
            kept.append(first)
            errors.extend(
                LineError(n, "payment_id", f"duplicate of line {first_no}", pid)
                for n, _ in copies[1:]
            )
        else:
            lines = ", ".join(str(n) for n, _ in copies)
            errors.extend(
                LineError(n, "payment_id", f"conflicting answers on lines {lines}", pid)
                for n, _ in copies
            )
    return tuple(kept), errors
