"""Bulk payout items, pure: the record of each stored item and its transitions (the shard's
answer to a create, the stored payment read back, an erasure), their storage documents, the
batch's counts and totals, and the views and results CSV a merchant sees. The upload and the
ids are :mod:`switch.batches`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from switch.batches import BatchItem, item_key
from switch.messages import CreatePayment, Reply
from switch.money import format_minor
from switch.payments import ERASED, iso
from switch.pii import erase_paths
from switch.rails import RAILS as RAIL_TABLE
from switch.spreadsheet import cell as _cell

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

# Each payout rail's window (how many of its items batches have with the provider at once),
# from its provider's description; "auto" items are routed by the shard, so the batch only knows
# them as "auto", with a window of their own.
AUTO = "auto"
WINDOWS: dict[str, int] = {
    **{m: r.batch_window for m, r in RAIL_TABLE.items() if r.routable and r.direction == "payout"},
    AUTO: 50,
}

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


def rail_of(method: str) -> str:
    """The concurrency limit an item counts against (an unknown method: its own name)."""
    return method


# --- records and their transitions ---------------------------------------------------------


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
        # A replay (a resend after a lost answer or a restart) may answer a payment already
        # final; the answer lacks what the item shows of it (receipt, recipient, failure, fee),
        # so the item waits as "pending" for the read of the stored payment, which has it all.
        known = status if isinstance(status, str) and status not in FINAL_STATUSES else ""
        accepted = replace(
            item,
            attempts=attempts,
            last_error=None,
            payment_id=body["id"],
            rail=str(body.get("method") or item.method),
            status=known or "pending",
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
