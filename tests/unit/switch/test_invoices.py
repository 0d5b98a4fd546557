"""Invoices: matching verified payments to invoices (partial, full, over), cancel and expiry."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from switch.invoices import (
    Applied,
    Invoice,
    NotApplied,
    apply_payment,
    cancel,
    choose,
    duplicate_references,
    event_type,
    expire,
    status_of,
)

DUE = date(2026, 12, 31)


def invoice(seq: int = 0, amount: int = 80_000, ref: str = "G70", **kw: object) -> Invoice:
    base = Invoice(f"inv_{seq}", "m1", f"EXT-{seq}", ref, amount, DUE, created_seq=seq)
    return replace(base, **kw)  # type: ignore[arg-type]


def paid(inv: Invoice, receipt: str, amount: int) -> Invoice:
    result = apply_payment(inv, receipt, amount)
    assert isinstance(result, Applied)
    return result.invoice


def test_statuses_follow_the_amounts() -> None:
    inv = invoice()
    assert inv.status == "open"
    inv = paid(inv, "R1", 30_000)
    assert (inv.status, inv.paid_minor, inv.outstanding_minor) == ("partially_paid", 30_000, 50_000)
    inv = paid(inv, "R2", 50_000)
    assert inv.status == "paid"
    inv = paid(inv, "R3", 100)
    assert (inv.status, inv.outstanding_minor) == ("overpaid", 0)


def test_a_receipt_counts_once() -> None:
    inv = paid(invoice(), "R1", 30_000)
    again = apply_payment(inv, "R1", 30_000)
    assert isinstance(again, NotApplied)
    assert inv.paid_minor == 30_000


def test_cancelled_invoices_take_no_payment_and_paid_ones_cannot_be_cancelled() -> None:
    inv = invoice()
    done = cancel(inv)
    assert isinstance(done, Applied)
    assert done.invoice.status == "cancelled"
    assert isinstance(apply_payment(done.invoice, "R1", 100), NotApplied)
    assert isinstance(cancel(done.invoice), NotApplied)
    refused = cancel(paid(inv, "R1", 100))
    assert isinstance(refused, NotApplied)
    assert "paid" in refused.reason


def test_expiry_only_after_the_due_date_and_a_late_payment_still_counts() -> None:
    inv = invoice()
    assert isinstance(expire(inv, DUE), NotApplied)
    late = expire(inv, date(2027, 1, 1))
    assert isinstance(late, Applied)
    assert late.invoice.status == "expired"
    assert paid(late.invoice, "R1", 80_000).status == "paid"
    partly = paid(inv, "R9", 100)
    after = expire(partly, date(2027, 1, 1))
    assert isinstance(after, Applied)
    assert after.invoice.status == "partially_paid"  # money is still owed, not expired


def test_choose_pays_the_oldest_owing_invoice_of_the_account() -> None:
    old, new, other = invoice(1), invoice(2), invoice(3, ref="X1")
    assert choose([new, other, old], " g70 ") == old
    old_paid = paid(old, "R1", 80_000)
    assert choose([old_paid, new], "G70") == new
    all_paid = [old_paid, paid(new, "R2", 80_000)]
    chosen = choose(all_paid, "G70")
    assert chosen is not None
    assert chosen.id == "inv_2"  # nothing owed: the newest takes the overpayment
    assert choose([replace(old, cancelled=True)], "G70") is None
    assert choose([old], "NOPE") is None


@pytest.mark.parametrize(
    ("amount", "paid_", "cancelled", "past", "expected"),
    [
        (100, 0, False, False, "open"),
        (100, 0, False, True, "expired"),
        (100, 50, False, True, "partially_paid"),
        (100, 100, False, False, "paid"),
        (100, 101, False, False, "overpaid"),
        (100, 0, True, True, "cancelled"),
    ],
)
def test_status_table(amount: int, paid_: int, cancelled: bool, past: bool, expected: str) -> None:
    assert status_of(amount, paid_, cancelled, past) == expected


def test_events_and_duplicates() -> None:
    assert event_type(None, "open") == "invoice.created"
    assert event_type("open", "open") is None
    assert event_type("open", "paid") == "invoice.paid"
    assert duplicate_references(["a", "b", "a", "c", "b"]) == [2, 4]


def test_a_payment_must_be_positive() -> None:
    assert isinstance(apply_payment(invoice(), "R1", 0), NotApplied)
