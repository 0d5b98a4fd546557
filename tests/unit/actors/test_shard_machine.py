"""The shard's state machine driven directly: commands and provider events in, effects out. No
event loop, no store, no provider (the way h11 tests its connection)."""

from __future__ import annotations

from dataclasses import replace

from actors.shard import admission
from actors.shard.effects import (
    Durable,
    Illegal,
    Post,
    Query,
    StatusChanged,
    Touch,
)
from actors.shard.machine import Admit
from actors.shard.postings import POSTING_METHOD
from switch.compliance import Screening
from switch.messages import C2bIn, CallbackIn, CreatePayment, ProviderOutcome, Reply
from switch.payments import Failure, ProviderRefs
from switch.states import Event, State
from tests.unit.actors.shard_rig import MERCHANT, Bench, b2c, stk

STK = frozenset({"mpesa_stk"})
B2C = frozenset({"mpesa_b2c"})
C2B = frozenset({"mpesa_c2b"})
AVAILABLE = f"merchant:{MERCHANT}:available"
HOLD = Screening("hold", "velocity", rules=("velocity",), message="many payments")


def kinds(effects: list[object]) -> list[str]:
    return [type(e).__name__ for e in effects]


def paid(pid: str, amount: int = 15000, methods: frozenset[str] = STK) -> CallbackIn:
    outcome = ProviderOutcome(Event.SUCCEED, ProviderRefs(receipt="SGR7ABC1"), amount_minor=amount)
    return CallbackIn(pid, outcome, f"ws_CO_{pid}", methods=methods)


# --- admission and idempotency ---------------------------------------------------------------


def test_an_accepted_payment_is_sent_only_once_stored() -> None:
    bench = Bench()
    admit = bench.admit(stk())
    assert isinstance(admit, Admit) and admit.entries == []
    assert admit.payment.state == State.SUBMITTING
    assert admit.payment.id not in bench.machine.payments  # nothing known before the insert
    effects = bench.machine.stored(admit)
    assert kinds(effects) == ["StatusChanged", "Send"]  # the insert came first: the shell's
    assert effects[1].order.payment_id == admit.payment.id  # type: ignore[attr-defined]
    assert bench.machine.idem[admit.key] == "h"
    assert admit.payment.id in bench.machine.in_flight


def test_a_key_names_one_payment_per_merchant_and_a_replay_conflicts_on_another_body() -> None:
    bench = Bench()
    key, pid = bench.machine.key_and_id(MERCHANT, "k")
    assert bench.machine.key_and_id(MERCHANT, "k") == (key, pid)
    assert bench.machine.key_and_id("mch_2", "k")[1] != pid
    payment = bench.stored(stk("k", body="h1"))
    stored_hash = bench.machine.idem[payment.idem_key]
    assert admission.replay_conflict(stored_hash, "h1", conflict_ok=False) is None  # replayed
    conflict = admission.replay_conflict(stored_hash, "h2", conflict_ok=False)
    assert conflict is not None and conflict.status == 409
    assert admission.replay_conflict(stored_hash, "h2", conflict_ok=True) is None  # reversals


def test_an_open_circuit_or_a_full_writer_refuses_and_routing_avoids_the_provider() -> None:
    bench = Bench(shard_max_backlog=10)
    assert bench.machine.refusal("mpesa_stk", 0, bench.t) is None
    full = bench.machine.refusal("mpesa_stk", 10, bench.t)
    assert full is not None and full.body["error"]["code"] == "overloaded"
    answer = ProviderOutcome(Event.REJECTED, failure=Failure("x", "busy"), retry_after=30)
    bench.answer(bench.stored(stk()), answer)
    shut = bench.machine.refusal("mpesa_stk", 0, bench.t + 1)
    assert shut is not None and shut.body["error"]["code"] == "provider_unavailable"
    assert shut.body["error"]["message"].startswith("M-Pesa is failing")
    assert bench.machine.refusal("mpesa_b2c", 0, bench.t + 1) is not None  # same provider
    assert bench.machine.refusal("airtel_ussd", 0, bench.t + 1) is None  # not Airtel's
    assert bench.machine.down(bench.t + 1) == {"mpesa"}
    assert bench.machine.refusal("mpesa_stk", 0, bench.t + 31) is None
    assert bench.machine.down(bench.t + 31) == set()


def test_a_payment_screening_holds_is_stored_but_never_sent() -> None:
    bench = Bench()
    held = bench.stored(replace(stk(), maker="alice"), HOLD)
    assert held.state == State.HELD
    assert kinds(bench.effects) == ["StatusChanged"]
    assert [v["id"] for v in bench.machine.held(MERCHANT, 10)] == [held.id]
    assert bench.machine.held("mch_2", 10) == []


def test_a_payout_reserves_its_total_and_reservations_being_committed_count() -> None:
    bench = Bench()
    bench.machine.balances.accounts[AVAILABLE] = 60_000
    admit = bench.admit(b2c("p1", amount=50_000))
    assert isinstance(admit, Admit)
    [reserve] = admit.entries
    fee = admit.payment.fee_minor
    assert reserve.lines[1].amount == 50_000 + fee
    bench.machine.reserve(admit, 1)  # its insert is in flight
    short = bench.admit(b2c("p2", amount=9_000))
    assert isinstance(short, Reply) and short.status == 422
    assert short.body["error"]["code"] == "insufficient_balance"
    bench.machine.reserve(admit, -1)  # the insert failed: the money is free again
    assert isinstance(bench.admit(b2c("p2", amount=9_000)), Admit)


def test_a_collection_needs_no_balance() -> None:
    assert isinstance(Bench().admit(stk(amount=10_000_000)), Admit)


# --- provider answers: not sent vs outcome unknown -------------------------------------------


def test_a_refusal_means_not_sent_and_a_lost_answer_means_unknown_never_resent() -> None:
    bench = Bench()
    refused = bench.stored(stk("a"))
    effects = bench.answer(refused, ProviderOutcome(Event.REJECTED, failure=Failure("x", "no")))
    assert bench.machine.payments[refused.id].state == State.REJECTED
    assert kinds(effects) == ["StatusChanged", "Touch"]
    assert effects[0].released  # type: ignore[attr-defined]  # no money moved: AML gives back
    lost = bench.stored(stk("b"))
    [send] = [e for e in bench.effects if type(e).__name__ == "Send"]
    results = bench.machine.answers_lost([send.order])  # type: ignore[attr-defined]
    effects = bench.machine.submitted(results, bench.t)
    assert bench.machine.payments[lost.id].state == State.UNKNOWN
    assert "Send" not in kinds(effects)
    assert lost.id in bench.machine.in_flight


def test_an_answer_for_a_payment_already_final_is_refused_loudly() -> None:
    bench = Bench()
    payment = bench.sent(stk())
    bench.machine.callback(payment, paid(payment.id), bench.t)
    late = bench.answer(payment, ProviderOutcome(Event.ACCEPTED))
    assert kinds(late) == ["Illegal"]
    assert isinstance(late[0], Illegal) and late[0].event == "accepted"


# --- callbacks -------------------------------------------------------------------------------


def test_a_matching_callback_settles_then_waits_for_the_commit() -> None:
    bench = Bench()
    payment = bench.sent(stk())
    verdict, effects = bench.machine.callback(payment, paid(payment.id), bench.t)
    assert verdict == "applied"
    assert kinds(effects) == ["StatusChanged", "Touch", "Durable"]
    touch = effects[1]
    assert isinstance(touch, Touch) and touch.entries  # the collection's journal entries
    durable = effects[2]
    assert isinstance(durable, Durable) and durable.payment.state == State.SUCCEEDED
    again, more = bench.machine.callback(durable.payment, paid(payment.id), bench.t)
    assert (again, more) == ("duplicate", [])


def test_a_callback_that_does_not_match_or_is_of_another_rail_changes_nothing() -> None:
    bench = Bench()
    payment = bench.sent(stk())
    wrong = bench.machine.callback(payment, paid(payment.id, amount=1), bench.t)
    other = bench.machine.callback(payment, paid(payment.id, methods=B2C), bench.t)
    assert wrong == other == ("mismatch", [])
    assert bench.machine.payments[payment.id].state == State.AWAITING_CUSTOMER


def test_a_late_success_after_expiry_is_still_recorded() -> None:
    bench = Bench()
    payment = bench.sent(stk())
    bench.t += bench.settings.stk_expire_after + 1
    bench.machine.sweep(bench.t)  # asks once more
    bench.t += bench.settings.sweep_max_gap
    expired = bench.machine.sweep(bench.t)
    assert bench.machine.payments[payment.id].state == State.EXPIRED, kinds(expired)
    verdict, effects = bench.machine.callback(
        bench.machine.payments[payment.id], paid(payment.id), bench.t
    )
    assert verdict == "applied" and bench.machine.payments[payment.id].state == State.SUCCEEDED
    assert isinstance(effects[0], StatusChanged)


def test_recovered_payments_are_asked_about_at_once_unless_caught_mid_send() -> None:
    """What a restored backup holds (the restore drill): a payment M-Pesa acknowledged is asked
    about by STK query at the first sweep; one stored but not yet acknowledged has no
    CheckoutRequestID to ask by, so it becomes unknown, is never sent again (the prompt may
    have reached the customer) and expires as ``outcome_unknown`` at the deadline."""
    source = Bench()
    acknowledged = source.sent(stk("a"))
    mid_send = source.stored(stk("b"))
    assert mid_send.state == State.SUBMITTING and not mid_send.provider.checkout_request_id
    restored = Bench()
    restored.t = source.t + restored.settings.stk_query_after + 20  # restoring took a while
    effects = restored.machine.resume(acknowledged) + restored.machine.resume(mid_send)
    assert "Send" not in kinds(effects)
    assert restored.machine.payments[mid_send.id].state == State.UNKNOWN
    [query] = [e for e in restored.machine.sweep(restored.t) if isinstance(e, Query)]
    assert [r.payment_id for r in query.requests] == [acknowledged.id]
    restored.t = source.t + restored.settings.stk_expire_after
    effects = restored.machine.sweep(restored.t)
    assert "Send" not in kinds(effects)
    expired = restored.machine.payments[mid_send.id]
    assert expired.state == State.EXPIRED and expired.failure is not None
    assert expired.failure.code == "outcome_unknown"


def test_a_payout_with_no_record_waits_then_declines() -> None:
    bench = Bench()
    bench.machine.balances.accounts[AVAILABLE] = 100_000
    payout = bench.sent(b2c())
    nothing = CallbackIn(payout.id, ProviderOutcome(None), None, not_found=True, methods=B2C)
    assert bench.machine.callback(payout, nothing, bench.t) == ("pending", [])
    bench.t += bench.settings.payout_not_found_after
    verdict, _ = bench.machine.callback(payout, nothing, bench.t)
    assert verdict == "applied"
    assert bench.machine.payments[payout.id].state == State.DECLINED


# --- C2B confirmations and member postings ---------------------------------------------------


def _confirmation(member: dict[str, str] | None = None) -> C2bIn:
    return C2bIn(
        MERCHANT, "SGR7C2B001", "20261127100000", 100_000, "600100", "ACC1", "Pay Bill", {}, member
    )


def _record(pid: str, party: str = "600100 - Shop") -> CallbackIn:
    outcome = ProviderOutcome(
        Event.SUCCEED, ProviderRefs(receipt="SGR7C2B001"), amount_minor=100_000
    )
    return CallbackIn(pid, outcome, None, methods=C2B, credit_party=party)


def _received(bench: Bench, item: C2bIn) -> str:
    key, pid, duplicate = bench.machine.c2b_known(item)
    assert duplicate is None
    received = bench.machine.c2b_received(item, key, pid)
    assert received.state == State.AWAITING_RESULT  # credits nobody yet
    effects = bench.machine.c2b_stored(received, bench.t)
    assert kinds(effects) == ["StatusChanged", "AskStatus"]
    [ask] = effects[1].requests  # type: ignore[attr-defined]
    assert ask.transaction_id == "SGR7C2B001" and ask.party_a == "600100"
    bench.commit(received)
    return pid


def test_a_c2b_confirmation_is_settled_only_by_a_matching_record() -> None:
    bench = Bench()
    pid = _received(bench, _confirmation())
    assert bench.machine.c2b_known(_confirmation())[2] == []  # a duplicate: nothing to do
    differs = bench.machine.callback(bench.machine.payments[pid], _record(pid, "600999 - X"), 0)
    assert differs[0] == "mismatch"  # declined: nobody is credited
    assert bench.machine.payments[pid].state == State.DECLINED


def test_a_settled_members_payment_is_posted_on_the_posting_rail() -> None:
    bench = Bench()
    member = {"sacco_code": "S001", "member_number": "M42", "product": "loan_repayment"}
    pid = _received(bench, _confirmation(member))
    verdict, effects = bench.machine.callback(bench.machine.payments[pid], _record(pid), bench.t)
    assert verdict == "applied"
    assert kinds(effects)[-2:] == ["Durable", "Post"]  # posted once the success is stored
    post = effects[-1]
    assert isinstance(post, Post) and post.command.method == POSTING_METHOD
    assert post.command.destination == {
        "sacco_code": "S001",
        "member_number": "M42",
        "purpose": "loan_repayment",
    }
    assert post.command.idem_key == "SGR7C2B001:posting"  # a repeat posts nothing more
    [again] = bench.machine.c2b_known(_confirmation(member))[2] or []
    assert isinstance(again, Post) and again.command == post.command


def test_an_open_circuit_names_its_own_provider() -> None:
    bench = Bench()
    answer = ProviderOutcome(Event.REJECTED, failure=Failure("x", "busy"), retry_after=30)
    bench.answer(bench.stored(replace(stk("k1"), method="airtel_ussd")), answer)
    shut = bench.machine.refusal("airtel_ussd", 0, bench.t + 1)
    assert shut is not None
    assert shut.body["error"]["message"].startswith("Airtel Money is failing")
    assert bench.machine.refusal("mpesa_stk", 0, bench.t + 1) is None


# --- B2B Express Checkout: a success callback is a claim, M-Pesa's record settles -------------

EXPRESS = frozenset({"mpesa_b2b_express"})


def express(key: str = "exp-1", till: str = "500100") -> CreatePayment:
    return CreatePayment(
        MERCHANT, key, "h", "mpesa_b2b_express", 100_000, "", "SUP1", "Vendor", {},
        destination={"till_number": till},
    )  # fmt: skip


def _express_record(pid: str, till: str) -> CallbackIn:
    outcome = ProviderOutcome(Event.SUCCEED, ProviderRefs(receipt="UL6X1"), amount_minor=100_000)
    return CallbackIn(pid, outcome, None, methods=EXPRESS, debit_party=f"{till} - Till")


def test_an_express_checkout_success_is_a_claim_until_mpesa_s_record_agrees() -> None:
    bench = Bench()
    payment = bench.stored(express())
    bench.answer(payment, ProviderOutcome(Event.QUEUED))
    payment = bench.machine.payments[payment.id]
    assert payment.state == State.AWAITING_RESULT
    claim = CallbackIn(payment.id, ProviderOutcome(None), None, payment.id, methods=EXPRESS,
                       verify=True)  # fmt: skip
    verdict, effects = bench.machine.callback(payment, claim, bench.t)
    assert (verdict, kinds(effects)) == ("pending", ["AskStatus"])
    [request] = effects[0].requests  # type: ignore[attr-defined]
    assert request.transaction_id is None and "/callbacks/c2b/status/" in request.result_url
    # A claim naming another request is refused, and neither asks nor declines anything.
    other = replace(claim, originator_conversation_id="pay_s0_OTHER")
    assert bench.machine.callback(payment, other, bench.t) == ("mismatch", [])
    assert bench.machine.payments[payment.id].state == State.AWAITING_RESULT
    # A record debiting another till declines it; the till's own record credits.
    wrong = bench.stored(express("exp-2"))
    bench.answer(wrong, ProviderOutcome(Event.QUEUED))
    verdict, _ = bench.machine.callback(wrong, _express_record(wrong.id, "500999"), bench.t)
    assert (verdict, bench.machine.payments[wrong.id].state) == ("mismatch", State.DECLINED)
    verdict, _ = bench.machine.callback(payment, _express_record(payment.id, "500100"), bench.t)
    assert (verdict, bench.machine.payments[payment.id].state) == ("applied", State.SUCCEEDED)
