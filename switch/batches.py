"""Bulk payouts, pure: a batch (JSON or CSV) parsed into one verdict per line, the dry-run
report, the item records and their transitions, counts and totals, the views and the results
CSV, and the batch id.

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
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from switch.idempotency import request_hash
from switch.messages import CreatePayment, Reply
from switch.money import format_minor
from switch.payments import ERASED, iso
from switch.pii import erase_paths
from switch.rails import RAILS as RAIL_TABLE
from switch.spreadsheet import cell as _cell

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
    "bank_code",
    "account_number",
    "account_name",
    "sacco_code",
    "member_number",
    "purpose",
    "reference",
    "remarks",
)
REQUIRED_COLUMNS = ("item_id", "method", "amount", "reference")
RESULT_COLUMNS = (
    "item_id",
    "payment_id",
    "method",
    "amount",
    "status",
    "failure_code",
    "failure_message",
    "provider_receipt",
    "recipient_name",
)

# Rails with their own concurrency limit; "auto" items are routed by the shard, so the batch
# only knows them as "auto".
RAILS = (*(m for m, r in RAIL_TABLE.items() if r.routable and r.direction == "payout"), "auto")

# queued: not yet accepted by the shard (or to be resent); refused: the shard said no and created
# nothing; the rest are the payout's own statuses ("held": stored, screening holds it for review;
# a status the payments grow later is shown as it comes and counts as not final).
ItemStatus = str
ITEM_STATUSES: tuple[str, ...] = (
    "queued",
    "refused",
    "held",
    "pending",
    "processing",
    "succeeded",
    "failed",
    "expired",
)
FINAL_STATUSES = frozenset({"refused", "succeeded", "failed", "expired"})
BatchState = Literal["created", "running", "completed"]


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
    bank = cells("bank_code", "account_number", "account_name")
    if bank:
        body["bank"] = bank
    sacco = cells("sacco_code", "member_number", "purpose")
    if sacco:
        body["sacco"] = sacco
    body.update(cells("reference", "remarks"))
    return body


def _decode(data: bytes) -> str | LineError:
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


def _rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number where the row starts, cells), skipping blank rows."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    for cells in reader:
        if any(c.strip() for c in cells):
            yield start, cells
        start = reader.line_num + 1


def parse_csv(data: bytes, validate: Validate) -> Parsed:
    """A CSV upload with a header row (see :data:`CSV_COLUMNS`); line numbers are the file's."""
    text = _decode(data)
    if isinstance(text, LineError):
        return Parsed(problems=(text,))
    rows = _rows(text)
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


def rail_of(method: str) -> str:
    """The concurrency limit an item counts against (an unknown method: its own name)."""
    return method


# --- item records and their transitions ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """One item of a stored batch: what to send and what became of it."""

    index: int  # position in the batch, from 0
    line: int
    item_id: str
    method: str  # as requested ("auto" included)
    amount_minor: int
    command: CreatePayment  # idem_key already set to item_key(batch_id, item_id)
    status: ItemStatus = "queued"
    payment_id: str | None = None
    rail: str | None = None  # the method the payment took (known once created)
    first_answer: dict[str, Any] | None = None  # {"status": 202, ...} or the refusal
    attempts: int = 0
    last_error: str | None = None  # why the last send must be retried
    fee_minor: int | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    receipt: str | None = None
    recipient_name: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def awaiting(self) -> bool:
        """Created and not final: its payment is read until it is."""
        return self.payment_id is not None and not self.final

    @property
    def at_provider(self) -> bool:
        """Counts against its rail's window: created, not final, not held back for review."""
        return self.awaiting and self.status != "held"


def new_record(index: int, item: BatchItem, batch_id: str) -> ItemRecord:
    command = replace(item.command, idem_key=item_key(batch_id, item.item_id))
    return ItemRecord(index, item.line, item.item_id, item.method, item.amount_minor, command)


Verdict = Literal["accepted", "refused", "retry"]


def answered(item: ItemRecord, reply: Reply | None) -> tuple[ItemRecord, Verdict]:
    """The shard's answer to a create (None: the call itself failed, which may hide a create
    that happened; resending is safe, the key makes it a replay)."""
    attempts = item.attempts + 1
    if reply is None:
        return replace(item, attempts=attempts, last_error="shard_unavailable"), "retry"
    body = reply.body
    if reply.status in (200, 202) and isinstance(body.get("id"), str):
        status = body.get("status")
        first = item.first_answer or {
            "status": reply.status,
            "payment_status": status,
            "replayed": reply.replayed,
        }
        accepted = replace(
            item,
            attempts=attempts,
            last_error=None,
            payment_id=body["id"],
            rail=str(body.get("method") or item.method),
            status=status if isinstance(status, str) and status else "pending",
            first_answer=first,
        )
        return accepted, "accepted"
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    code = str(error.get("code") or f"http_{reply.status}")
    if reply.status == 429 or reply.status >= 500:
        # Overloaded, circuit open, storage hiccup: nothing was stored; send it again later.
        return replace(item, attempts=attempts, last_error=code), "retry"
    refused = replace(
        item,
        attempts=attempts,
        last_error=None,
        status="refused",
        failure_code=code,
        failure_message=str(error.get("message") or ""),
        first_answer={"status": reply.status, "code": code},
    )
    return refused, "refused"


def retry_delay(attempts: int, base: float, cap: float, hint: float | None = None) -> float:
    """Exponential backoff, at least what the shard asked for (Retry-After)."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    return float(max(delay, min(hint or 0.0, cap)))


PAYMENT_FIELDS = {"status": 1, "method": 1, "fee_minor": 1, "failure": 1, "provider": 1}


def observed(item: ItemRecord, doc: Mapping[str, Any]) -> ItemRecord | None:
    """The item after reading its stored payment (``PAYMENT_FIELDS``), or None if unchanged."""
    status = doc.get("status")
    failure = doc.get("failure") or {}
    provider = doc.get("provider") or {}
    new = replace(
        item,
        status=status if isinstance(status, str) and status else item.status,
        rail=doc.get("method") or item.rail,
        fee_minor=doc.get("fee_minor", item.fee_minor),
        failure_code=failure.get("code"),
        failure_message=failure.get("message"),
        receipt=provider.get("receipt"),
        recipient_name=provider.get("receiver_name"),
    )
    return None if new == item else new


# --- storage documents ---------------------------------------------------------------------------


def command_doc(command: CreatePayment) -> dict[str, Any]:
    # Plain values only today; if CreatePayment grows nested dataclasses, rebuild them in
    # command_from_doc.
    return asdict(command)


def command_from_doc(doc: Mapping[str, Any]) -> CreatePayment:
    known = {f.name for f in fields(CreatePayment)}
    return CreatePayment(**{k: v for k, v in doc.items() if k in known})


def record_doc(r: ItemRecord) -> dict[str, Any]:
    doc = {f.name: getattr(r, f.name) for f in fields(ItemRecord)}
    doc["command"] = command_doc(r.command)
    return doc


def record_from_doc(doc: Mapping[str, Any]) -> ItemRecord:
    known = {f.name for f in fields(ItemRecord)}
    values = {k: v for k, v in doc.items() if k in known}
    values["command"] = command_from_doc(doc["command"])
    return ItemRecord(**values)


def erased_item(r: ItemRecord, payment_id: str) -> ItemRecord:
    """The item once its person is erased (their payment ``payment_id`` was): the phone,
    account and member numbers and names of its request and the recipient's name become
    ``[erased]``. An item still queued (its answer was lost) learns its payment id instead of
    being sent again: the payment exists, and an erased request must never reach a shard."""
    command = command_from_doc(erase_paths(command_doc(r.command)))
    name = ERASED if r.recipient_name else r.recipient_name
    erased = replace(r, command=command, recipient_name=name)
    if r.status == "queued":
        erased = replace(erased, payment_id=payment_id, status="pending", last_error=None)
    return erased


# --- counts, totals, views -----------------------------------------------------------------------


def status_counts(statuses: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(ITEM_STATUSES, 0)
    total = 0
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
        total += 1
    return {"total": total, **counts}


def is_complete(counts: Mapping[str, int]) -> bool:
    return sum(counts.get(s, 0) for s in FINAL_STATUSES) == counts.get("total", 0)


@dataclass
class _Sums:
    count: int = 0
    amount: int = 0
    succeeded: int = 0
    fees: int = 0

    def add(self, r: ItemRecord) -> None:
        self.count += 1
        self.amount += r.amount_minor
        if r.status == "succeeded":  # a failed payout's fee is released with its reservation
            self.succeeded += r.amount_minor
            self.fees += r.fee_minor or 0

    def as_doc(self) -> dict[str, int]:
        return {
            "count": self.count,
            "amount_minor": self.amount,
            "succeeded_minor": self.succeeded,
            "fee_minor": self.fees,
        }


def totals(records: Iterable[ItemRecord]) -> dict[str, Any]:
    """Amounts in cents (stored form): all items, and per requested method."""
    overall = _Sums()
    per: dict[str, _Sums] = {}
    for r in records:
        overall.add(r)
        per.setdefault(r.method, _Sums()).add(r)
    return {**overall.as_doc(), "by_method": {m: s.as_doc() for m, s in sorted(per.items())}}


def _money(sums: Mapping[str, int]) -> dict[str, Any]:
    return {
        "count": sums["count"],
        "amount": format_minor(sums["amount_minor"]),
        "succeeded": format_minor(sums["succeeded_minor"]),
        "fees": format_minor(sums["fee_minor"]),
    }


def batch_view(header: Mapping[str, Any]) -> dict[str, Any]:
    """The batch object of the public API, without items (a stored header, see actors)."""
    t = header["totals"]
    completed = header.get("completed_at")
    return {
        "id": header["_id"],
        "object": "payout_batch",
        "state": header["state"],
        "created_at": iso(header["created_at"]),
        "updated_at": iso(header["updated_at"]),
        "completed_at": iso(completed) if completed else None,
        "counts": dict(header["counts"]),
        "totals": {
            **_money(t),
            "by_method": {m: _money(s) for m, s in t["by_method"].items()},
        },
        "results_url": f"/v1/payouts/batches/{header['_id']}/results.csv",
    }


def item_view(r: ItemRecord) -> dict[str, Any]:
    failure = None
    if r.failure_code:
        failure = {"code": r.failure_code, "message": r.failure_message or ""}
    return {
        "item_id": r.item_id,
        "line": r.line,
        "payment_id": r.payment_id,
        "method": r.rail or r.method,
        "amount": format_minor(r.amount_minor),
        "status": r.status,
        "failure": failure,
        "provider_receipt": r.receipt,
        "recipient_name": r.recipient_name,
        "last_error": r.last_error if r.status == "queued" else None,
    }


def results_csv(records: Iterable[ItemRecord]) -> bytes:
    """The results file: one row per item, in batch order (UTF-8, with a header row)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(RESULT_COLUMNS)
    for r in records:
        writer.writerow(
            [
                r.item_id,
                r.payment_id or "",
                r.rail or r.method,
                format_minor(r.amount_minor),
                r.status,
                r.failure_code or "",
                _cell(r.failure_message),
                _cell(r.receipt),
                _cell(r.recipient_name),
            ]
        )
    return out.getvalue().encode()
