"""Invoices (M-Pesa Bill Manager): statuses and the matching of payments to invoices. Pure.

An invoice asks a customer to pay an amount to the merchant's paybill with an account reference
by a due date. Customers pay through C2B, so the amount an invoice is credited with is always the
amount of a C2B payment the switch has verified against M-Pesa's own record (README "C2B"),
never an amount a caller or a push names. Each payment counts once (keyed by its M-Pesa receipt).

Statuses, derived from the amounts and two facts (cancelled, past due)::

    open -> partially_paid -> paid -> overpaid
      |          (a payment may jump straight to paid or overpaid)
      +-> cancelled  (only while nothing is paid: Bill Manager answers 409 otherwise)
      +-> expired    (past its due date with nothing paid; a later payment still counts)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

InvoiceStatus = Literal["open", "partially_paid", "paid", "overpaid", "cancelled", "expired"]
STATUSES: tuple[InvoiceStatus, ...] = (
    "open",
    "partially_paid",
    "paid",
    "overpaid",
    "cancelled",
    "expired",
)
MAX_BULK = 1000  # Bill Manager's bulk-invoicing limit (provider docs: "up to 1000")


@dataclass(frozen=True, slots=True)
class Invoice:
    """One invoice as the switch keeps it; ``payments`` maps M-Pesa receipt -> cents."""

    id: str
    merchant_id: str
    external_reference: str
    account_reference: str
    amount_minor: int
    due_date: date
    created_seq: int = 0  # orders invoices of one account: the oldest is paid first
    payments: tuple[tuple[str, int], ...] = ()
    cancelled: bool = False
    past_due: bool = False

    @property
    def paid_minor(self) -> int:
        return sum(amount for _, amount in self.payments)

    @property
    def outstanding_minor(self) -> int:
        return max(self.amount_minor - self.paid_minor, 0)

    @property
    def status(self) -> InvoiceStatus:
        return status_of(self.amount_minor, self.paid_minor, self.cancelled, self.past_due)

    def has(self, receipt: str) -> bool:
        return any(r == receipt for r, _ in self.payments)


def status_of(amount: int, paid: int, cancelled: bool, past_due: bool) -> InvoiceStatus:
    if cancelled:
        return "cancelled"
    if paid > amount:
        return "overpaid"
    if paid == amount:
        return "paid"
    if paid > 0:
        return "partially_paid"
    return "expired" if past_due else "open"


def event_type(before: InvoiceStatus | None, after: InvoiceStatus) -> str | None:
    """The webhook a change calls for (``invoice.created``, ``invoice.paid``, ...), or None."""
    if before is None:
        return "invoice.created"
    if before == after:
        return None
    return f"invoice.{after}"


@dataclass(frozen=True, slots=True)
class Applied:
    invoice: Invoice
    before: InvoiceStatus


@dataclass(frozen=True, slots=True)
class NotApplied:
    """The payment stays an ordinary credit of the merchant; the reason says why."""

    reason: str


def choose(invoices: list[Invoice], account_reference: str) -> Invoice | None:
    """Which invoice a payment to ``account_reference`` pays: the oldest one still owing money,
    else the newest one not cancelled (which it then overpays); None when none matches."""
    ref = normalise_reference(account_reference)
    mine = sorted(
        (i for i in invoices if normalise_reference(i.account_reference) == ref),
        key=lambda i: i.created_seq,
    )
    owing = [i for i in mine if not i.cancelled and i.outstanding_minor > 0]
    if owing:
        return owing[0]
    live = [i for i in mine if not i.cancelled]
    return live[-1] if live else None


def apply_payment(invoice: Invoice, receipt: str, amount_minor: int) -> Applied | NotApplied:
    """Credit a verified payment to ``invoice``; a receipt already counted changes nothing."""
    if amount_minor <= 0:
        return NotApplied("a payment must be a positive amount")
    if invoice.has(receipt):
        return NotApplied(f"receipt {receipt} is already counted on {invoice.id}")
    if invoice.cancelled:
        return NotApplied(f"{invoice.id} is cancelled")
    paid = replace(invoice, payments=(*invoice.payments, (receipt, amount_minor)))
    return Applied(paid, invoice.status)


def cancel(invoice: Invoice) -> Applied | NotApplied:
    """Cancel an invoice on which nothing is paid (Bill Manager refuses the rest with 409)."""
    if invoice.cancelled:
        return NotApplied(f"{invoice.id} is already cancelled")
    if invoice.paid_minor > 0:
        return NotApplied("partially or fully paid invoices cannot be cancelled")
    return Applied(replace(invoice, cancelled=True), invoice.status)


def expire(invoice: Invoice, today: date) -> Applied | NotApplied:
    """Mark an invoice past its due date; only an unpaid one changes status (to expired)."""
    if invoice.past_due or today <= invoice.due_date:
        return NotApplied("not past due")
    return Applied(replace(invoice, past_due=True), invoice.status)


def normalise_reference(reference: str) -> str:
    """Account references compare as M-Pesa's C2B routing does: trimmed, case-insensitive."""
    return reference.strip().upper()


def duplicate_references(references: list[str]) -> list[int]:
    """Positions (0-based) of external references repeated within one bulk request."""
    seen: set[str] = set()
    repeated = []
    for index, reference in enumerate(references):
        if reference in seen:
            repeated.append(index)
        seen.add(reference)
    return repeated
