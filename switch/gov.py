"""Government collections (pure): payment references (PRNs, bill numbers) an agency issues, the
C2B validation that decides before any money moves, and the recording of paid money exactly once.

An agency is a merchant of kind ``government`` (the operator marks it) that has claimed a paybill
for C2B and registered it for collections. Customers pay the paybill with a reference as the
account number. M-Pesa asks the switch's validation URL first; :func:`judge` accepts only a
known, unexpired, unpaid reference with an amount the agency's policy takes, and answers with
Daraja's validation result codes otherwise (``C2B00012`` invalid account number, ``C2B00013``
invalid amount: provider doc "C2B", validation response). An accepted payment places a **hold**
on the reference for its amount, so two customers racing for the last balance cannot both be
accepted. The confirmation, once verified against M-Pesa's own record (README "C2B"), turns the
hold into a payment (:func:`settle`), keyed by the M-Pesa receipt: once only.

A confirmation that comes without an accepted validation (M-Pesa's ``ResponseType`` fallback,
a hold that lapsed) is judged as a validation would be; money that the reference cannot take
without being overpaid is recorded on it as ``excess`` (the agency holds it and refunds it: it
is never counted as paid), so what is paid never exceeds what is due unless the policy allows
overpayment.

Reference statuses (one table, :data:`MEANING`)::

    issued -> partially_paid -> paid
       |            |
       +------------+--> expired    (past its expiry and not fully paid; takes no more money)
       +--> cancelled               (only while nothing is paid or held)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from switch.money import format_minor
from switch.reports import nairobi_day

Status = Literal["issued", "partially_paid", "paid", "expired", "cancelled"]
MEANING: dict[Status, str] = {
    "issued": "Issued; nothing paid yet.",
    "partially_paid": "Part of the amount due is paid (the policy allows partial payments).",
    "paid": "The amount due is paid in full; further payments are refused at validation.",
    "expired": "Past its expiry without being paid in full; payments are refused.",
    "cancelled": "Withdrawn by the agency before anything was paid.",
}
STATUSES: tuple[Status, ...] = tuple(MEANING)
PolicyMode = Literal["none", "minimum", "instalments"]
RejectCode = Literal["C2B00012", "C2B00013"]
# How long an accepted validation holds its amount: M-Pesa confirms within seconds (doc §6), and
# the switch then verifies the receipt; a hold that lapses leaves the payment judged on arrival.
HOLD = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Policy:
    """What the agency accepts: ``none`` (the amount due in one payment), ``minimum`` (any part
    of at least ``minimum_minor``) or ``instalments`` (at least 1/``instalments`` of the amount
    due each time); the last payment may always be the remaining balance."""

    mode: PolicyMode = "none"
    minimum_minor: int = 0
    instalments: int = 0
    allow_overpayment: bool = False

    def smallest(self, amount_due: int, remaining: int) -> int:
        """The least one payment may be while ``remaining`` is owed."""
        if self.mode == "none":
            return remaining
        if self.mode == "minimum":
            return min(self.minimum_minor, remaining)
        return min(math.ceil(amount_due / max(self.instalments, 1)), remaining)

    def to_doc(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "minimum_minor": self.minimum_minor,
            "instalments": self.instalments,
            "allow_overpayment": self.allow_overpayment,
        }


def policy_of(doc: Mapping[str, object]) -> Policy:
    mode = str(doc.get("mode", "none"))
    if mode not in ("none", "minimum", "instalments"):
        raise ValueError(f"unknown policy mode {mode!r}")
    return Policy(
        mode=mode,  # type: ignore[arg-type]  # checked above
        minimum_minor=int(str(doc.get("minimum_minor", 0))),
        instalments=int(str(doc.get("instalments", 0))),
        allow_overpayment=bool(doc.get("allow_overpayment", False)),
    )


@dataclass(frozen=True, slots=True)
class Hold:
    trans_id: str  # the M-Pesa receipt the validation named
    amount_minor: int
    until: datetime


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference as kept; ``payments`` maps M-Pesa receipt -> cents (counted once each)."""

    id: str
    prn: str
    amount_minor: int
    expires_at: datetime
    policy: Policy = Policy()
    payments: tuple[tuple[str, int], ...] = ()
    holds: tuple[Hold, ...] = ()
    excess: tuple[tuple[str, int], ...] = ()
    cancelled: bool = False

    @property
    def paid_minor(self) -> int:
        return sum(amount for _, amount in self.payments)

    @property
    def outstanding_minor(self) -> int:
        return max(self.amount_minor - self.paid_minor, 0)

    def held_minor(self, now: datetime, besides: str = "") -> int:
        return sum(h.amount_minor for h in self.live_holds(now) if h.trans_id != besides)

    def live_holds(self, now: datetime) -> tuple[Hold, ...]:
        return tuple(h for h in self.holds if h.until > now)

    def hold_of(self, trans_id: str) -> Hold | None:
        return next((h for h in self.holds if h.trans_id == trans_id), None)

    def counted(self, receipt: str) -> bool:
        return any(r == receipt for r, _ in (*self.payments, *self.excess))

    def status(self, now: datetime) -> Status:
        if self.cancelled:
            return "cancelled"
        if self.paid_minor >= self.amount_minor:
            return "paid"
        if now >= self.expires_at:
            return "expired"
        return "partially_paid" if self.paid_minor > 0 else "issued"


@dataclass(frozen=True, slots=True)
class Accept:
    reference: Reference  # with the new hold


@dataclass(frozen=True, slots=True)
class Reject:
    code: RejectCode
    reason: str


def judge(
    ref: Reference | None, trans_id: str, amount_minor: int, now: datetime
) -> Accept | Reject:
    """May a customer pay ``amount_minor`` to ``ref`` now? Accepting holds the amount."""
    if ref is None:
        return Reject("C2B00012", "no such reference")
    status = ref.status(now)
    if status in ("cancelled", "expired", "paid"):
        return Reject("C2B00012", f"the reference is {status}")
    if ref.counted(trans_id):
        return Reject("C2B00012", f"receipt {trans_id} is already recorded")
    if amount_minor <= 0:
        return Reject("C2B00013", "the amount must be positive")
    room = ref.outstanding_minor - ref.held_minor(now, besides=trans_id)
    if room <= 0:
        return Reject("C2B00013", "the balance is being paid by another payment")
    least = ref.policy.smallest(ref.amount_minor, room)
    if amount_minor < least:
        return Reject("C2B00013", f"at least {format_minor(least)} is due in one payment")
    if amount_minor > room and not ref.policy.allow_overpayment:
        return Reject("C2B00013", f"at most {format_minor(room)} is due")
    others = tuple(h for h in ref.live_holds(now) if h.trans_id != trans_id)
    held = replace(ref, holds=(*others, Hold(trans_id, amount_minor, now + HOLD)))
    return Accept(held)


@dataclass(frozen=True, slots=True)
class Settled:
    reference: Reference
    counted: bool  # True: paid on the reference; False: kept as excess to refund


@dataclass(frozen=True, slots=True)
class Unchanged:
    reason: str


def settle(ref: Reference, receipt: str, amount_minor: int, now: datetime) -> Settled | Unchanged:
    """Record money M-Pesa's record shows was paid for ``ref``: once per receipt. A payment
    accepted at validation (its hold, same amount) is counted even if the reference expired
    since: the customer was told yes before the money moved. Any other is judged now; what the
    reference cannot take is excess, never counted as paid."""
    if ref.counted(receipt):
        return Unchanged(f"receipt {receipt} is already recorded")
    hold = ref.hold_of(receipt)
    rest = tuple(h for h in ref.holds if h.trans_id != receipt and h.until > now)
    if hold is not None and hold.amount_minor == amount_minor:
        paid = replace(ref, holds=rest, payments=(*ref.payments, (receipt, amount_minor)))
        return Settled(paid, counted=True)
    if isinstance(judge(replace(ref, holds=rest), receipt, amount_minor, now), Accept):
        paid = replace(ref, holds=rest, payments=(*ref.payments, (receipt, amount_minor)))
        return Settled(paid, counted=True)
    kept = replace(ref, holds=rest, excess=(*ref.excess, (receipt, amount_minor)))
    return Settled(kept, counted=False)


def release(ref: Reference, trans_id: str) -> Reference:
    """Drop the hold of a payment that did not happen (M-Pesa's record refused it)."""
    return replace(ref, holds=tuple(h for h in ref.holds if h.trans_id != trans_id))


def can_cancel(ref: Reference, now: datetime) -> str | None:
    """Why ``ref`` cannot be cancelled, or None."""
    if ref.payments or ref.excess:
        return "money was paid against this reference"
    if ref.live_holds(now):
        return "a payment to this reference is under way"
    return None


def receipt_number(paid_at: datetime, mpesa_receipt: str) -> str:
    """The agency's receipt number: the Nairobi day and the M-Pesa receipt (unique, and the same
    whichever process records it first)."""
    return f"GR-{nairobi_day(paid_at):%Y%m%d}-{mpesa_receipt}"


def printable(receipt: Mapping[str, str]) -> str:
    """The receipt as text a person prints (fixed width, one field a line)."""
    rows = [
        ("Receipt number", receipt["receipt_number"]),
        ("Agency", receipt["agency"]),
        ("Paybill", receipt["paybill"]),
        ("Revenue head", receipt["revenue_head"]),
        ("Reference", receipt["prn"]),
        ("Payer", receipt["payer_name"]),
        ("Amount paid", f"KES {receipt['amount']}"),
        ("Balance due", f"KES {receipt['balance_after']}"),
        ("M-Pesa receipt", receipt["mpesa_receipt"]),
        ("Paid at", receipt["paid_at"]),
    ]
    width = max(len(name) for name, _ in rows)
    title = "OFFICIAL RECEIPT"
    lines = [title, "=" * len(title), *(f"{name.ljust(width)}  {value}" for name, value in rows)]
    return "\n".join(lines) + "\n"


REPORT_COLUMNS = ("day", "revenue_head", "count", "amount", "journal_amount", "reconciled")


def collections_report(
    receipts: Iterable[Mapping[str, object]], journal_gross: Mapping[str, int]
) -> list[dict[str, object]]:
    """Per Nairobi day and revenue head: how many receipts and how much, next to what the journal
    credited for the same payments (``journal_gross``: payment id -> gross collected). A row is
    reconciled when both agree."""
    groups: dict[tuple[str, str], list[Mapping[str, object]]] = defaultdict(list)
    for r in receipts:
        paid_at = r["paid_at"]
        assert isinstance(paid_at, datetime)
        groups[(nairobi_day(paid_at).isoformat(), str(r["revenue_head"]))].append(r)
    rows: list[dict[str, object]] = []
    for (day, head), items in sorted(groups.items()):
        amount = sum(int(str(r["amount_minor"])) for r in items)
        journal = sum(journal_gross.get(str(r["payment_id"]), 0) for r in items)
        rows.append(
            {
                "day": day,
                "revenue_head": head,
                "count": len(items),
                "amount": format_minor(amount),
                "journal_amount": format_minor(journal),
                "reconciled": amount == journal,
            }
        )
    return rows


def csv_rows(rows: list[dict[str, object]]) -> Iterable[list[str]]:
    yield list(REPORT_COLUMNS)
    for row in rows:
        yield [str(row[c]).lower() if c == "reconciled" else str(row[c]) for c in REPORT_COLUMNS]
