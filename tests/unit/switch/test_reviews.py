"""Held payments and their review (pure): holding, four eyes, rejection, the view's review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switch.compliance import Screening
from switch.payments import Failure, Payment, apply, new_payment, view
from switch.reviews import Refused, Step, maker_for, quiet_last, review_step, screened
from switch.states import Event, State

AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
HOLD = Screening(
    "hold",
    "sanctions",
    rules=("sanctions:TEST-001",),
    message="the recipient's name matches a sanctions list entry",
    hits=({"name": "Barney Fictitia", "entry_id": "TEST-001"},),
    day="2026-11-27",
)


def _payout(amount: int = 50_000) -> Payment:
    return new_payment(
        payment_id="pay_s0_1",
        merchant_id="mch_1",
        method="mpesa_b2c",
        amount_minor=amount,
        phone="254712345678",
        reference="R1",
        description="d",
        metadata={"recipient_name": "Barney Fictitia"},
        idem_key="k",
        request_hash="h",
        at=AT,
        fee_minor=1500,
        command="BusinessPayment",
    )


def _decide(p: Payment, decision: str, who: str, reason: str | None = None) -> Payment:
    step = review_step(p, decision, who, reason)
    assert isinstance(step, Step), step
    failure = Failure(*step.failure) if step.failure else None
    after = apply(
        p,
        step.event,
        source="review",
        at=AT + timedelta(minutes=1),
        detail=step.detail,
        failure=failure,
    )
    assert after is not None
    return quiet_last(after) if step.event == Event.APPROVE else after


def test_an_allowed_payment_records_the_day_it_was_counted() -> None:
    p = screened(_payout(), Screening("allow", day="2026-11-27"), 1)
    assert p.state == State.SUBMITTING
    assert p.history[0].detail == {"aml": {"day": "2026-11-27"}}
    assert p.pending_notifications == []
    assert "review" not in view(p)


def test_a_held_payment_is_stored_held_and_notifies_the_merchant() -> None:
    p = screened(_payout(), HOLD, 1)
    assert p.state == State.HELD
    [entry] = p.history
    assert (entry.event, entry.to_state, entry.status_changed) == ("hold", "held", True)
    assert p.pending_notifications == [entry]  # payout.held
    shown = view(p)
    assert shown["status"] == "held"
    assert shown["review"] == {
        "status": "pending",
        "reason": "sanctions",
        "rules": ["sanctions:TEST-001"],
        "message": "the recipient's name matches a sanctions list entry",
        "approvals_needed": 1,
        "approvals": [],
    }


def test_one_approval_sends_it_without_a_pending_webhook() -> None:
    p = _decide(screened(_payout(), HOLD, 1), "approve", "user:a")
    assert p.state == State.SUBMITTING
    assert p.history[-1].detail["review"] == {"decision": "approve", "by": "user:a", "reason": None}
    assert p.pending_notifications == [p.history[0]]  # only the hold; not "payout.pending"
    assert view(p)["review"]["status"] == "approved"


def test_two_approvers_must_be_different_people() -> None:
    p = screened(_payout(), HOLD, 2)
    p = _decide(p, "approve", "user:a")
    assert p.state == State.HELD
    assert p.history[-1].event == "endorse"
    again = review_step(p, "approve", "user:a", None)
    assert isinstance(again, Refused)
    assert (again.status, again.code) == (409, "already_approved")
    p = _decide(p, "approve", "user:b")
    assert p.state == State.SUBMITTING
    review = view(p)["review"]
    assert [a["by"] for a in review["approvals"]] == ["user:a", "user:b"]
    assert review["approvals_needed"] == 2


def test_a_rejection_needs_a_reason_and_fails_the_payment() -> None:
    held = screened(_payout(), HOLD, 2)
    refused = review_step(held, "reject", "user:a", "  ")
    assert isinstance(refused, Refused)
    assert (refused.status, refused.code, refused.field) == (422, "reason_required", "reason")
    p = _decide(held, "reject", "user:a", "name confirmed on the list")
    assert p.state == State.REJECTED
    shown = view(p)
    assert shown["status"] == "failed"
    assert shown["failure"]["code"] == "review_rejected"
    assert shown["review"]["status"] == "rejected"
    assert shown["review"]["rejection_reason"] == "name confirmed on the list"


def test_only_held_payments_are_reviewed() -> None:
    p = screened(_payout(), Screening("allow"), 1)
    answer = review_step(p, "approve", "user:a", None)
    assert isinstance(answer, Refused)
    assert (answer.status, answer.code) == (409, "not_held")
    sent = _decide(screened(_payout(), HOLD, 1), "approve", "user:a")
    late = review_step(sent, "reject", "user:b", "too late")
    assert isinstance(late, Refused) and late.code == "not_held"


def test_an_unknown_decision_is_refused() -> None:
    answer = review_step(screened(_payout(), HOLD, 1), "maybe", "user:a", None)
    assert isinstance(answer, Refused) and answer.field == "decision"


def test_the_maker_never_approves_its_own_held_payment() -> None:
    """Issue 10, finding 4: four eyes. The maker is refused, whatever the count needed."""
    for needed in (1, 2):
        p = screened(_payout(), HOLD, needed, maker="user:maker")
        refused = review_step(p, "approve", "user:maker", "looks fine")
        assert isinstance(refused, Refused)
        assert (refused.status, refused.code) == (403, "maker_cannot_approve")


def test_above_the_threshold_two_people_other_than_the_maker() -> None:
    p = screened(_payout(), HOLD, 2, maker="user:maker")
    p = _decide(p, "approve", "user:a")
    assert p.state == State.HELD
    assert isinstance(review_step(p, "approve", "user:maker", None), Refused)
    assert isinstance(review_step(p, "approve", "user:a", None), Refused)
    p = _decide(p, "approve", "user:b")
    assert p.state == State.SUBMITTING
    assert [a["by"] for a in view(p)["review"]["approvals"]] == ["user:a", "user:b"]


def test_the_maker_may_withdraw_its_own_held_payment() -> None:
    p = _decide(screened(_payout(), HOLD, 1, maker="user:maker"), "reject", "user:maker", "typo")
    assert p.state == State.REJECTED


def test_the_maker_of_a_payment() -> None:
    assert maker_for("session", "usr_1", None) == "user:usr_1"
    assert maker_for("client", "cli_1", "user:usr_2") == "user:usr_2"
    assert maker_for("client", "cli_1", "") == "client:cli_1"  # no person issued its secret
    assert maker_for("client", "cli_1", None) is None  # an older token: look the client up
