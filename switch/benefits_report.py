"""A disbursement run's outcome and its exceptions report for auditors, pure.

The run's payouts are the items of its payout batches (one batch per attempt; an item is
``<beneficiary id>-<attempt>``). A beneficiary's outcome is its latest attempt's; a success in
any attempt is the payment (attempts after a failure only). Totals tie to the journal: what the
merchant's accounts lost through the run's payments (every attempt's reserve, settle and release
entries) equals the amounts paid plus their fees, since a failed payout's reservation is
released in full.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from switch import csvsafe
from switch.benefits import EXCEPTION_KINDS, beneficiary_of_item, payment_exception
from switch.money import format_minor

Doc = dict[str, Any]
FAILED = frozenset({"failed", "expired", "refused"})
CSV_COLUMNS = ("beneficiary_id", "name", "kind", "stage", "detail", "score", "payment_id")


def minor(amount: str) -> int:
    """'150' or '150.50' -> cents (the wire form of switch.money.format_minor)."""
    return int(Decimal(amount) * 100)


@dataclass(frozen=True, slots=True)
class Outcome:
    beneficiary_id: str
    attempt: int
    status: str
    amount_minor: int
    payment_id: str | None
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass
class Outcomes:
    latest: dict[str, Outcome] = field(default_factory=dict)
    payment_ids: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.latest.values() if o.status in FAILED]

    def counts(self) -> dict[str, int]:
        paid = sum(1 for o in self.latest.values() if o.status == "succeeded")
        failed = len(self.failed)
        return {"paid": paid, "failed": failed, "in_flight": len(self.latest) - paid - failed}

    def paid_minor(self) -> int:
        return sum(o.amount_minor for o in self.latest.values() if o.status == "succeeded")


def progress(counts: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """A run's counts from its batches' status counts, in attempt order, without reading their
    items: a beneficiary succeeds at most once, and a retry takes every failure of the attempt
    before it, so only the last attempt's failures are still failed."""
    paid = sum(c.get("succeeded", 0) for c in counts)
    final = ("succeeded", *FAILED)
    in_flight = sum(c.get("total", 0) - sum(c.get(s, 0) for s in final) for c in counts)
    failed = sum(counts[-1].get(s, 0) for s in FAILED) if counts else 0
    return {"paid": paid, "failed": failed, "in_flight": in_flight}


def outcomes(items: Iterable[Mapping[str, Any]]) -> Outcomes:
    """Each beneficiary's latest attempt, from batch item views (api: ``item_view``)."""
    result = Outcomes()
    for item in items:
        ben, attempt = beneficiary_of_item(str(item["item_id"]))
        failure = item.get("failure") or {}
        outcome = Outcome(
            ben,
            attempt,
            str(item["status"]),
            minor(str(item["amount"])),
            item.get("payment_id"),
            failure.get("code"),
            failure.get("message"),
        )
        if item.get("payment_id"):
            result.payment_ids.append(str(item["payment_id"]))
        held = result.latest.get(ben)
        if held is None or attempt > held.attempt:
            result.latest[ben] = outcome
    return result


def payment_exceptions(found: Outcomes) -> list[Doc]:
    """The failed payouts of the latest attempts, as report entries."""
    entries = []
    for o in sorted(found.failed, key=lambda o: o.beneficiary_id):
        skipped = payment_exception(o.failure_code, o.failure_message or o.status)
        assert skipped is not None
        entries.append(
            {
                "beneficiary_id": o.beneficiary_id,
                "kind": skipped.kind,
                "stage": f"payment (attempt {o.attempt})",
                "detail": skipped.detail or o.status,
                "payment_id": o.payment_id,
            }
        )
    return entries


def merchant_debit(entries: Iterable[Mapping[str, Any]], merchant_id: str) -> int:
    """What journal entries took from the merchant's accounts (available and reserved), cents."""
    prefix = f"merchant:{merchant_id}:"
    return -sum(
        int(line["amount"])
        for entry in entries
        for line in entry["lines"]
        if str(line["account"]).startswith(prefix)
    )


def summary(
    planned: Sequence[Mapping[str, Any]],
    found: Outcomes,
    fees_minor: int,
    exceptions: Sequence[Mapping[str, Any]],
    journal_debit: int,
    journal_entries: int,
) -> Doc:
    """The report's totals; ``journal.ties`` says whether the journal agrees to the cent."""
    by_kind = dict.fromkeys(EXCEPTION_KINDS, 0)
    for e in exceptions:
        by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + 1
    paid = found.paid_minor()
    return {
        "planned": {
            "count": len(planned),
            "amount": format_minor(sum(int(p["amount_minor"]) for p in planned)),
        },
        **found.counts(),
        "paid_amount": format_minor(paid),
        "fees": format_minor(fees_minor),
        "exceptions": by_kind,
        "journal": {
            "entries": journal_entries,
            "debited": format_minor(journal_debit),
            "ties": journal_debit == paid + fees_minor,
        },
    }


def exceptions_csv(entries: Iterable[Mapping[str, Any]]) -> bytes:
    """The exceptions as CSV (cells made safe for spreadsheets: switch/csvsafe.py)."""
    out = io.StringIO(newline="")
    out.write(csvsafe.line(CSV_COLUMNS))
    for e in entries:
        out.write(csvsafe.line(e.get(c) if e.get(c) is not None else "" for c in CSV_COLUMNS))
    return out.getvalue().encode()
