"""The shard's decisions that need no I/O, tested directly."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from actors.shard import admission, callbacks, notify, postings, reversals
from switch.messages import CallbackIn, ProviderOutcome
from switch.payments import Failure, HistoryEntry, Payment, ProviderRefs, new_payment
from switch.states import Event, State

AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _payment(method: str = "mpesa_stk", **changes: object) -> Payment:
    p = new_payment(
        payment_id="pay_s0_A",
        merchant_id="mch_1",
        method=method,
        amount_minor=15000,
        phone="254712345678",
        reference="INV1",
        description="d",
        metadata={},
        idem_key="mch_1:k",
        request_hash="h",
        at=AT,
    )
    return replace(p, **changes)  # type: ignore[arg-type]


def test_refusals_come_before_anything_is_stored() -> None:
    assert admission.refusal(0, 0, 10) is None
    circuit = admission.refusal(4.2, 0, 10)
    assert circuit is not None and circuit.body["error"]["code"] == "provider_unavailable"
    full = admission.refusal(0, 10, 10)
    assert full is not None and full.body["error"]["code"] == "overloaded"


def test_a_shortfall_counts_reservations_being_committed() -> None:
    assert admission.shortfall(10_000, 0, 10_000) is None
    short = admission.shortfall(10_000, 1, 10_000)
    assert short is not None and short.status == 422


def test_a_replay_with_another_body_conflicts_unless_unique_by_nature() -> None:
    assert admission.replay_conflict("a", "a", False) is None
    conflict = admission.replay_conflict("a", "b", False)
    assert conflict is not None and conflict.status == 409
    assert admission.replay_conflict("a", "b", True) is None


def test_screening_stages() -> None:
    assert admission.screening_stage(None) == "new"
    assert admission.screening_stage({"leg": "debit"}) == "transfer_debit"
    assert admission.screening_stage({"leg": "credit"}) == "transfer_onward"


def test_callback_judgements() -> None:
    p = _payment(state=State.AWAITING_CUSTOMER)
    stk = frozenset({"mpesa_stk"})
    ok = CallbackIn(p.id, ProviderOutcome(Event.SUCCEED, amount_minor=15000), None, methods=stk)
    assert callbacks.judge(p, ok, resent=False, age=0, not_found_after=600).action == "apply"
    wrong = CallbackIn(p.id, ProviderOutcome(Event.SUCCEED, amount_minor=1), None, methods=stk)
    step = callbacks.judge(p, wrong, resent=False, age=0, not_found_after=600)
    assert step.action == "mismatch" and step.problem
    pending = CallbackIn(p.id, ProviderOutcome(None), None, methods=stk)
    assert callbacks.judge(p, pending, resent=False, age=0, not_found_after=9).action == "pending"
    c2b = _payment("mpesa_c2b", state=State.AWAITING_RESULT, metadata={"shortcode": "600100"})
    other = CallbackIn(
        c2b.id,
        ProviderOutcome(Event.SUCCEED, ProviderRefs(receipt="X"), amount_minor=15000),
        None,
        methods=frozenset({"mpesa_c2b"}),
    )
    declined = callbacks.judge(c2b, other, resent=False, age=0, not_found_after=600)
    assert declined.action == "decline"
    assert declined.outcome is not None and declined.outcome.event == Event.DECLINE


def test_no_record_of_a_payout_is_a_failure_only_when_old_enough() -> None:
    p = _payment("mpesa_b2c", state=State.AWAITING_RESULT)
    item = CallbackIn(p.id, ProviderOutcome(None), None, not_found=True)
    young = reversals.payout_outcome(p, item, resent=False, age=10, not_found_after=600)
    assert young.event is None
    old = reversals.payout_outcome(p, item, resent=False, age=600, not_found_after=600)
    assert old.event == Event.DECLINE


def test_a_reversal_refused_as_done_is_ours_only_after_a_resend() -> None:
    p = _payment("mpesa_reversal", state=State.AWAITING_RESULT)
    refusal = ProviderOutcome(Event.DECLINE, failure=Failure("declined", "x", "R000001"))
    item = CallbackIn(p.id, refusal, None)
    ours = reversals.payout_outcome(p, item, resent=True, age=0, not_found_after=600)
    assert ours.event == Event.SUCCEED
    first = reversals.payout_outcome(p, item, resent=False, age=0, not_found_after=600)
    assert first.event == Event.DECLINE


def test_a_sacco_posting_only_for_a_settled_members_payment() -> None:
    member = {"sacco_code": "S1", "member_number": "M1", "product": "deposit"}
    paid = _payment(
        "mpesa_c2b",
        state=State.SUCCEEDED,
        metadata={"member": member},
        provider=ProviderRefs(receipt="R1"),
    )
    posting = postings.member_posting(paid)
    assert posting is not None and posting.idem_key == "R1:posting"
    assert posting.destination["purpose"] == "deposit"
    assert postings.member_posting(replace(paid, state=State.AWAITING_RESULT)) is None
    assert postings.member_posting(replace(paid, metadata={})) is None


def test_live_events_only_for_status_changes_not_yet_published() -> None:
    p = _payment(state=State.SUCCEEDED)
    changed = HistoryEntry(2, AT, "succeed", "submitting", "succeeded", "callback", True)
    p = replace(p, history=(*p.history, changed))
    published: dict[str, int] = {}
    assert len(notify.live_events([p], published)) == 1
    assert published == {p.id: 2}
    assert notify.live_events([p], published) == []
