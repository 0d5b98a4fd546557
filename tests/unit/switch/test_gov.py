"""Government collections' rules (switch/gov.py): validation verdicts and holds, counting a
payment once, excess, statuses, receipts and the daily report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switch import gov

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
KES = 100


def ref(amount: int = 5000, policy: gov.Policy | None = None, **kw: object) -> gov.Reference:
    return gov.Reference(
        id="gref_1",
        prn="LR-1",
        amount_minor=amount * KES,
        expires_at=NOW + timedelta(days=1),
        policy=policy or gov.Policy(),
        **kw,  # type: ignore[arg-type]
    )


def accepted(verdict: gov.Accept | gov.Reject) -> gov.Reference:
    assert isinstance(verdict, gov.Accept), verdict
    return verdict.reference


def code(verdict: gov.Accept | gov.Reject) -> str:
    assert isinstance(verdict, gov.Reject), verdict
    return verdict.code


def test_unknown_cancelled_expired_and_paid_references_are_invalid_accounts() -> None:
    assert code(gov.judge(None, "R1", 100, NOW)) == "C2B00012"
    assert code(gov.judge(ref(cancelled=True), "R1", 5000 * KES, NOW)) == "C2B00012"
    late = NOW + timedelta(days=2)
    assert code(gov.judge(ref(), "R1", 5000 * KES, late)) == "C2B00012"
    paid = ref(payments=(("R0", 5000 * KES),))
    assert code(gov.judge(paid, "R1", 1 * KES, NOW)) == "C2B00012"


def test_no_partial_policy_takes_exactly_the_amount_due() -> None:
    assert code(gov.judge(ref(), "R1", 4999 * KES, NOW)) == "C2B00013"
    assert code(gov.judge(ref(), "R1", 5001 * KES, NOW)) == "C2B00013"
    held = accepted(gov.judge(ref(), "R1", 5000 * KES, NOW))
    assert held.held_minor(NOW) == 5000 * KES


@pytest.mark.parametrize(
    ("policy", "smallest"),
    [
        (gov.Policy("minimum", minimum_minor=1000 * KES), 1000),
        (gov.Policy("instalments", instalments=3), 1667),  # 5000 / 3, rounded up
    ],
)
def test_partial_policies_set_the_smallest_payment(policy: gov.Policy, smallest: int) -> None:
    r = ref(policy=policy)
    assert code(gov.judge(r, "R1", (smallest - 1) * KES, NOW)) == "C2B00013"
    accepted(gov.judge(r, "R1", smallest * KES, NOW))
    # Only the remainder is left: it may be paid even though it is below the smallest part.
    nearly = ref(policy=policy, payments=(("R0", 4900 * KES),))
    accepted(gov.judge(nearly, "R1", 100 * KES, NOW))
    assert code(gov.judge(nearly, "R1", 101 * KES, NOW)) == "C2B00013"


def test_overpayment_only_when_allowed() -> None:
    assert code(gov.judge(ref(), "R1", 6000 * KES, NOW)) == "C2B00013"
    generous = ref(policy=gov.Policy(allow_overpayment=True))
    accepted(gov.judge(generous, "R1", 6000 * KES, NOW))
    assert code(gov.judge(generous, "R1", 4000 * KES, NOW)) == "C2B00013"


def test_a_hold_keeps_racing_payments_from_taking_the_same_balance() -> None:
    r = ref(policy=gov.Policy("minimum", minimum_minor=100 * KES))
    first = accepted(gov.judge(r, "R1", 3000 * KES, NOW))
    assert code(gov.judge(first, "R2", 3000 * KES, NOW)) == "C2B00013"
    second = accepted(gov.judge(first, "R2", 2000 * KES, NOW))
    assert code(gov.judge(second, "R3", 1 * KES, NOW)) == "C2B00013"
    # The same payment validated again replaces its own hold rather than adding one.
    assert accepted(gov.judge(second, "R1", 3000 * KES, NOW)).held_minor(NOW) == 5000 * KES
    # A lapsed hold frees its amount.
    later = NOW + gov.HOLD + timedelta(seconds=1)
    accepted(gov.judge(second, "R3", 5000 * KES, later))


def test_settle_counts_a_receipt_once_and_keeps_what_does_not_fit_apart() -> None:
    r = accepted(gov.judge(ref(), "R1", 5000 * KES, NOW))
    done = gov.settle(r, "R1", 5000 * KES, NOW)
    assert isinstance(done, gov.Settled) and done.counted
    assert done.reference.status(NOW) == "paid" and not done.reference.holds
    assert isinstance(gov.settle(done.reference, "R1", 5000 * KES, NOW), gov.Unchanged)
    # Money that came without validation and would overpay is excess, never paid.
    extra = gov.settle(done.reference, "R9", 5000 * KES, NOW)
    assert isinstance(extra, gov.Settled) and not extra.counted
    assert extra.reference.paid_minor == 5000 * KES
    assert extra.reference.excess == (("R9", 5000 * KES),)
    assert isinstance(gov.settle(extra.reference, "R9", 5000 * KES, NOW), gov.Unchanged)


def test_a_validated_payment_counts_even_if_the_reference_expired_meanwhile() -> None:
    r = accepted(gov.judge(ref(), "R1", 5000 * KES, NOW))
    later = NOW + timedelta(days=2)
    done = gov.settle(r, "R1", 5000 * KES, later)
    assert isinstance(done, gov.Settled) and done.counted
    unvalidated = gov.settle(ref(), "R2", 5000 * KES, later)
    assert isinstance(unvalidated, gov.Settled) and not unvalidated.counted


def test_statuses_and_cancelling() -> None:
    assert ref().status(NOW) == "issued"
    part = ref(policy=gov.Policy("minimum", minimum_minor=KES), payments=(("R0", KES),))
    assert part.status(NOW) == "partially_paid"
    assert part.status(NOW + timedelta(days=2)) == "expired"
    assert gov.can_cancel(part, NOW) == "money was paid against this reference"
    held = accepted(gov.judge(ref(), "R1", 5000 * KES, NOW))
    assert gov.can_cancel(held, NOW) == "a payment to this reference is under way"
    assert gov.can_cancel(gov.release(held, "R1"), NOW) is None
    assert set(gov.STATUSES) == set(gov.MEANING)


def test_receipt_number_printable_and_report() -> None:
    late_evening = datetime(2026, 12, 6, 22, 30, tzinfo=UTC)  # 01:30 on the 7th in Nairobi
    assert gov.receipt_number(late_evening, "UL6MCPI4BJ") == "GR-20261207-UL6MCPI4BJ"
    text = gov.printable(
        {"receipt_number": "GR-1", "agency": "Kaunti", "paybill": "888880",
         "revenue_head": "Land rates", "prn": "LR-1", "payer_name": "A O", "amount": "500",
         "balance_after": "0", "mpesa_receipt": "UL6MCPI4BJ", "paid_at": "2026-12-06T09:00Z"}
    )  # fmt: skip
    assert "Revenue head    Land rates" in text and text.startswith("OFFICIAL RECEIPT")
    receipts = [
        {"paid_at": NOW, "revenue_head": "Land rates", "amount_minor": 500 * KES,
         "payment_id": "p1"},
        {"paid_at": late_evening, "revenue_head": "Land rates", "amount_minor": 200 * KES,
         "payment_id": "p2"},
        {"paid_at": NOW, "revenue_head": "Parking", "amount_minor": 50 * KES,
         "payment_id": "p3"},
    ]  # fmt: skip
    rows = gov.collections_report(receipts, {"p1": 500 * KES, "p2": 200 * KES})
    assert [(r["day"], r["revenue_head"], r["amount"], r["reconciled"]) for r in rows] == [
        ("2026-12-06", "Land rates", "500", True),
        ("2026-12-06", "Parking", "50", False),  # no journal credit: not reconciled
        ("2026-12-07", "Land rates", "200", True),
    ]
    assert list(gov.csv_rows(rows))[1] == ["2026-12-06", "Land rates", "1", "500", "500", "true"]
