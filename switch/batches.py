"""Bulk payouts, pure: an upload (JSON or CSV) parsed into one verdict per line, the dry-run
report, and the ids (the batch's, and the Idempotency-Key each item is created under). What
becomes of the items once stored is :mod:`switch.batch_items`.

A batch with any invalid line is refused as a whole (nothing half-runs), so the parser reports
every line and the caller decides. Validating one payout body is not done here: the api injects a
:data:`Validate` callable (the public model lives in ``api/``), which also builds the
:class:`CreatePayment` that the batch will send for the item.

Each item is created under the Idempotency-Key ``batch:<batch_id>:<item_id>``; the shard derives
the payment id from it, so an item can be sent any number of times and is created once.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from switch.idempotency import request_hash
from switch.messages import CreatePayment
from switch.money import format_minor
from switch.providers import DESTINATION_FIELDS

MAX_ITEMS = 10_000
ITEM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BATCH_ID = re.compile(r"^bat_[0-9A-HJKMNP-TV-Z]{26}$")
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

CSV_COLUMNS = (
    "item_id",
    "method",
    "amount",
    "currency",
    "phone",
    *(name for names in DESTINATION_FIELDS.values() for name in names),
    "reference",
    "remarks",
)
REQUIRED_COLUMNS = ("item_id", "method", "amount", "reference")


# --- parsing -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineError:
    """One problem: ``line`` 0 is the upload as a whole (encoding, columns, size)."""

    line: int
    item_id: str | None
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "item_id": self.item_id,
            "field": self.field,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Checked:
    """What the payout validator says about one item's body: its errors as (field, reason), or
    the requested method, the amount and the command to send (``idem_key`` left empty: the batch
    fills it in)."""

    errors: tuple[tuple[str, str], ...] = ()
    method: str = ""
    amount_minor: int = 0
    command: CreatePayment | None = None


Validate = Callable[[dict[str, Any]], Checked]


@dataclass(frozen=True, slots=True)
class BatchItem:
    line: int
    item_id: str
    body: dict[str, Any]  # the payout body as sent, without item_id
    method: str
    amount_minor: int
    command: CreatePayment


@dataclass(frozen=True, slots=True)
class LineVerdict:
    line: int
    item_id: str | None
    item: BatchItem | None
    errors: tuple[LineError, ...] = ()


@dataclass(frozen=True)
class Parsed:
    lines: tuple[LineVerdict, ...] = ()
    problems: tuple[LineError, ...] = ()  # about the whole upload

    @property
    def ok(self) -> bool:
        return bool(self.lines) and not self.problems and all(v.item for v in self.lines)

    @property
    def items(self) -> list[BatchItem]:
        return [v.item for v in self.lines if v.item is not None]

    @property
    def errors(self) -> list[LineError]:
        return [*self.problems, *(e for v in self.lines for e in v.errors)]


def _problem(reason: str, field: str = "body") -> Parsed:
    return Parsed(problems=(LineError(0, None, field, reason),))


def _verdict(
    line: int, item_id: Any, body: dict[str, Any], seen: dict[str, int], validate: Validate
) -> LineVerdict:
    """One line: its item_id checked (format, unique in the batch) and its body validated."""
    errors: list[LineError] = []
    name = item_id if isinstance(item_id, str) else None
    if item_id is None or item_id == "":
        errors.append(LineError(line, None, "item_id", "required"))
    elif name is None or not ITEM_ID.fullmatch(name):
        shown = name if name is not None else None
        errors.append(
            LineError(line, shown, "item_id", "must be 1 to 64 letters, digits, '_' or '-'")
        )
    elif name in seen:
        errors.append(
            LineError(line, name, "item_id", f"duplicate item_id: first used on line {seen[name]}")
        )
    else:
        seen[name] = line
    checked = validate(body)
    errors += [LineError(line, name, f, r) for f, r in checked.errors]
    if errors or checked.command is None or name is None:
        return LineVerdict(line, name, None, tuple(errors))
    item = BatchItem(line, name, body, checked.method, checked.amount_minor, checked.command)
    return LineVerdict(line, name, item)


def parse_json(raw: Any, validate: Validate) -> Parsed:
    """``{"items": [{"item_id": ..., <payout body>}, ...]}``; line numbers count items from 1."""
    if not isinstance(raw, dict):
        return _problem("the body must be a JSON object with an items list")
    unknown = sorted(set(raw) - {"items"})
    if unknown:
        return _problem(f"unknown field(s): {', '.join(unknown)}")
    items = raw.get("items")
    if not isinstance(items, list) or not items:
        return _problem("must be a non-empty list of payouts", "items")
    if len(items) > MAX_ITEMS:
        return _problem(f"{len(items)} items; a batch holds at most {MAX_ITEMS}", "items")
    seen: dict[str, int] = {}
    verdicts = []
    for n, entry in enumerate(items, start=1):
        if not isinstance(entry, dict):
            verdicts.append(
                LineVerdict(n, None, None, (LineError(n, None, "item", "must be an object"),))
            )
            continue
        body = {k: v for k, v in entry.items() if k != "item_id"}
        verdicts.append(_verdict(n, entry.get("item_id"), body, seen, validate))
    return Parsed(tuple(verdicts))


def csv_row_body(row: Mapping[str, str]) -> dict[str, Any]:
    """The payout body a CSV row stands for; empty cells are left out, so a missing required
    value reads "Field required" and an empty destination group is no destination at all."""

    def cells(*names: str) -> dict[str, str]:
        return {n: row[n] for n in names if row.get(n)}

    body: dict[str, Any] = {**cells("method", "amount"), "currency": row.get("currency") or "KES"}
    body.update(cells("phone"))
    for kind, names in DESTINATION_FIELDS.items():
        group = cells(*names)
        if group:
            body[kind] = group
    body.update(cells("reference", "remarks"))
    return body


def decode_upload(data: bytes) -> str | LineError:
    try:
        return data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return LineError(
            line,
            None,
            "file",
            f"not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as CSV UTF-8",
        )


def _header(cells: list[str]) -> list[str] | LineError:
    names = [c.strip().lower() for c in cells]
    if len(names) == 1 and ";" in names[0]:
        return LineError(1, None, "header", "columns must be separated by commas, not ';'")
    unknown = [n for n in names if n not in CSV_COLUMNS]
    if unknown:
        return LineError(
            1,
            None,
            "header",
            f"unknown column(s): {', '.join(repr(u) for u in unknown)}; "
            f"the columns are {', '.join(CSV_COLUMNS)}",
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        return LineError(1, None, "header", f"column(s) given twice: {', '.join(twice)}")
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    if missing:
        return LineError(1, None, "header", f"missing column(s): {', '.join(missing)}")
    return names


def upload_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number where the row starts, cells), skipping blank rows."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    for cells in reader:
        if any(c.strip() for c in cells):
            yield start, cells
        start = reader.line_num + 1


def parse_csv(data: bytes, validate: Validate) -> Parsed:
    """A CSV upload with a header row (see :data:`CSV_COLUMNS`); line numbers are the file's."""
    text = decode_upload(data)
    if isinstance(text, LineError):
        return Parsed(problems=(text,))
    rows = upload_rows(text)
    try:
        first = next(rows, None)
        if first is None:
            return _problem(
                "the file is empty; it needs a header row and one row per payout", "file"
            )
        names = _header(first[1])
        if isinstance(names, LineError):
            return Parsed(problems=(names,))
        seen: dict[str, int] = {}
        verdicts: list[LineVerdict] = []
        for line, cells in rows:
            if len(verdicts) == MAX_ITEMS:
                return _problem(f"more than {MAX_ITEMS} payout rows; split the file", "file")
            verdicts.append(_csv_line(line, cells, names, seen, validate))
    except csv.Error as exc:
        return _problem(f"not a readable CSV file: {exc}", "file")
    if not verdicts:
        return _problem("no payout rows after the header", "file")
    return Parsed(tuple(verdicts))


def _csv_line(
    line: int, cells: list[str], names: list[str], seen: dict[str, int], validate: Validate
) -> LineVerdict:
    if len(cells) > len(names):
        item_id = cells[names.index("item_id")].strip() or None
        reason = f"{len(cells)} cells but the header has {len(names)} columns"
        return LineVerdict(line, item_id, None, (LineError(line, item_id, "row", reason),))
    row = {n: c.strip() for n, c in zip(names, cells, strict=False)}
    return _verdict(line, row.get("item_id") or None, csv_row_body(row), seen, validate)


def batch_request_hash(items: Iterable[BatchItem]) -> str:
    """The batch's hash: its items as parsed, so the same payouts in JSON or in a CSV with other
    column order or spacing are the same request."""
    return request_hash({"items": [{"item_id": i.item_id, **i.body} for i in items]})


def report(parsed: Parsed) -> dict[str, Any]:
    """The dry-run answer: counts, totals per method of the valid lines, every line's verdict."""
    valid = parsed.items
    by_method: dict[str, dict[str, Any]] = {}
    for item in valid:
        entry = by_method.setdefault(item.method, {"count": 0, "amount_minor": 0})
        entry["count"] += 1
        entry["amount_minor"] += item.amount_minor
    return {
        "object": "payout_batch_validation",
        "valid": parsed.ok,
        "counts": {
            "lines": len(parsed.lines),
            "valid": len(valid),
            "invalid": len(parsed.lines) - len(valid),
        },
        "totals": {
            "count": len(valid),
            "amount": format_minor(sum(i.amount_minor for i in valid)),
            "by_method": {
                m: {"count": e["count"], "amount": format_minor(e["amount_minor"])}
                for m, e in sorted(by_method.items())
            },
        },
        "problems": [p.as_dict() for p in parsed.problems],
        "lines": [_line_view(v) for v in parsed.lines],
    }


def _line_view(v: LineVerdict) -> dict[str, Any]:
    if v.item is not None:
        return {
            "line": v.line,
            "item_id": v.item_id,
            "valid": True,
            "method": v.item.method,
            "amount": format_minor(v.item.amount_minor),
        }
    errors = [{"field": e.field, "reason": e.reason} for e in v.errors]
    return {"line": v.line, "item_id": v.item_id, "valid": False, "errors": errors}


# --- ids ---------------------------------------------------------------------------------------


def batch_id_for(secret_key: bytes, scoped_idempotency_key: str) -> str:
    """The batch id of a (merchant, Idempotency-Key) pair: a keyed hash like payment ids
    (:func:`switch.ids.payment_id_for`), so a replay names the same batch."""
    digest = hmac.new(secret_key, b"batch:" + scoped_idempotency_key.encode(), hashlib.sha256)
    value = int.from_bytes(digest.digest()[:16], "big") >> 2  # 126 bits -> 26 characters
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "bat_" + "".join(reversed(chars))


def is_batch_id(text: str) -> bool:
    return bool(_BATCH_ID.fullmatch(text))


def item_key(batch_id: str, item_id: str) -> str:
    """The Idempotency-Key an item is created under."""
    return f"batch:{batch_id}:{item_id}"


def item_of_key(scoped_key: str, merchant_id: str) -> tuple[str, str] | None:
    """(batch id, item id) of the item a payment was created for, from the payment's scoped
    Idempotency-Key (``<merchant>:batch:<batch id>:<item id>``); None for other payments."""
    prefix = f"{merchant_id}:batch:"
    if not scoped_key.startswith(prefix):
        return None
    batch_id, _, item_id = scoped_key[len(prefix) :].partition(":")
    if not is_batch_id(batch_id) or not ITEM_ID.fullmatch(item_id):
        return None
    return batch_id, item_id
