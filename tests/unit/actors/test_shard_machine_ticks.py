"""The shard's state machine driven directly, continued: sweeps (ticks), reversals, reviews,
commits and webhooks, recovery and the cache."""

from __future__ import annotations

from dataclasses import replace

from actors.shard import machine as machine_module
from actors.shard.effects import AskStatus, Durable, Query, Record, Send, Settled
from actors.shard.machine import Admit
from actors.writer import Committed
from switch.compliance import Screening
from switch.messages import CallbackIn, CreateReversal, ProviderOutcome, QueryResult, Reply
from switch.payments import Failure, ProviderRefs
from switch.states import Event, State
from tests.unit.actors.shard_rig import MERCHANT, Bench, b2c, stk
from tests.unit.actors.test_shard_machine import AVAILABLE, kinds, paid

HOLD = Screening("hold", "velocity", rules=("velocity",), message="many payments")
REV = frozenset({"mpesa_reversal"})


# --- sweeping --------------------------------------------------------------------------------


def test_a_quiet_collection_is_queried_then_expires_as_a_timeout() -> None:
    bench = Bench()
    payment = bench.sent(stk())
    assert bench.machine.sweep(bench.t) == []  # too young to ask about
    bench.t += bench.settings.stk_query_after
    [query] = bench.machine.sweep(bench.t)
    assert isinstance(query, Query) and query.requests[0].payment_id == payment.id
    assert bench.machine.sweep(bench.t) == []  # backing off: asked just now
    bench.t += bench.settings.stk_expire_after
    pending = [QueryResult(payment.id, ProviderOutcome(None))]
    effects = bench.machine.queried(pending, bench.t)  # still pending, past the deadline
    assert kinds(effects) == ["StatusChanged", "Touch"]
    expired = bench.machine.payments[payment.id]
    assert expired.state == State.EXPIRED and expired.failure is not None
    assert expired.failure.code == "timeout"
    assert payment.id not in bench.machine.in_flight


def test_a_query_that_finds_the_payment_paid_settles_it() -> None:
    bench = Bench()
    payment = bench.sent(stk())
    outcome = ProviderOutcome(Event.SUCCEED, ProviderRefs(receipt="R1"), amount_minor=15000)
    effects = bench.machine.queried([QueryResult(payment.id, outcome)], bench.t)
    assert kinds(effects) == ["StatusChanged", "Touch"]
    assert bench.machine.payments[payment.id].state == State.SUCCEEDED


def test_a_lost_answer_expires_as_outcome_unknown_once_past_the_deadline() -> None:
    bench = Bench()
    payment = bench.stored(stk())
    bench.answer(payment, ProviderOutcome(Event.ANSWER_LOST))
    bench.t += bench.settings.stk_expire_after + bench.settings.sweep_max_gap
    bench.machine.sweep(bench.t)
    bench.t += bench.settings.sweep_max_gap
    bench.machine.sweep(bench.t)
    expired = bench.machine.payments[payment.id]
    assert expired.state == State.EXPIRED
    assert expired.failure is not None and expired.failure.code == "outcome_unknown"


def test_a_payout_is_asked_about_and_never_expires() -> None:
    bench = Bench()
    bench.machine.balances.accounts[AVAILABLE] = 100_000
    payout = bench.sent(b2c())
    asks = 0
    for _ in range(40):
        bench.t += bench.settings.sweep_max_gap
        for effect in bench.machine.sweep(bench.t):
            assert isinstance(effect, AskStatus), effect
            asks += 1
    assert asks >= 20
    assert bench.machine.payments[payout.id].state == State.AWAITING_RESULT


def test_a_held_payment_is_neither_asked_about_nor_expired() -> None:
    bench = Bench()
    bench.stored(replace(stk(), maker="alice"), HOLD)
    bench.t += 10 * bench.settings.stk_expire_after
    assert bench.machine.sweep(bench.t) == []


# --- reversals -------------------------------------------------------------------------------


def _paid_collection(bench: Bench) -> str:
    payment = bench.sent(stk(amount=20_000))
    _, effects = bench.machine.callback(payment, paid(payment.id, amount=20_000), bench.t)
    [durable] = [e for e in effects if isinstance(e, Durable)]
    bench.commit(durable.payment)
    return payment.id


def _reversal(bench: Bench, pid: str) -> Admit | Reply:
    req = CreateReversal(MERCHANT, pid, "r1", "hr", "customer asked")
    original = bench.machine.payments.get(pid)
    refused = bench.machine.reversal_refused(original, req)
    if refused is not None or original is None:
        assert refused is not None
        return refused
    key, rid = bench.machine.key_and_id(MERCHANT, f"reversal:{pid}")
    return bench.machine.reversal(original, req, key, rid)


def test_only_a_paid_collection_of_ones_own_can_be_reversed_and_the_balance_pays() -> None:
    bench = Bench()
    unpaid = bench.sent(stk("u"))
    refused = _reversal(bench, unpaid.id)
    assert isinstance(refused, Reply) and refused.status == 422
    missing = _reversal(bench, "pay_s0_nope")
    assert isinstance(missing, Reply) and missing.status == 404
    pid = _paid_collection(bench)
    short = _reversal(bench, pid)  # the credit is not committed in these balances yet
    assert isinstance(short, Reply) and short.body["error"]["code"] == "insufficient_balance"
    bench.machine.balances.accounts[AVAILABLE] = 20_000
    admit = _reversal(bench, pid)
    assert isinstance(admit, Admit)
    reversal = admit.payment
    assert reversal.method == "mpesa_reversal" and reversal.amount_minor == 20_000
    assert reversal.metadata == {"receipt": "SGR7ABC1", "shortcode": "600000"}
    assert admit.entries[0].lines[1].amount == 20_000  # reserved; the fee is not refunded


def _sent_reversal(bench: Bench) -> str:
    pid = _paid_collection(bench)
    bench.machine.balances.accounts[AVAILABLE] = 20_000
    admit = _reversal(bench, pid)
    assert isinstance(admit, Admit)
    assert "Send" in kinds(bench.machine.stored(admit))
    bench.commit(admit.payment)
    bench.answer(admit.payment, ProviderOutcome(Event.QUEUED))
    return admit.payment.id


def test_a_reversal_that_fails_releases_and_one_unanswered_is_resent() -> None:
    bench = Bench()
    rid = _sent_reversal(bench)
    bench.t += bench.settings.stk_query_after + bench.settings.sweep_max_gap
    [resend] = bench.machine.sweep(bench.t)
    assert isinstance(resend, Send) and resend.order.payment_id == rid
    assert rid in bench.machine.resent
    failed = ProviderOutcome(Event.DECLINE, failure=Failure("declined", "R000002"))
    verdict, effects = bench.machine.callback(
        bench.machine.payments[rid], CallbackIn(rid, failed, None, methods=REV), bench.t
    )
    assert verdict == "applied" and bench.machine.payments[rid].state == State.DECLINED
    assert kinds(effects)[:2] == ["StatusChanged", "Touch"]
    assert effects[0].released  # type: ignore[attr-defined]


def test_already_reversed_after_a_resend_means_the_first_one_went_through() -> None:
    bench = Bench()
    rid = _sent_reversal(bench)
    bench.machine.resent.add(rid)
    done = ProviderOutcome(Event.DECLINE, failure=Failure("declined", "x", provider_code="R000001"))
    verdict, _ = bench.machine.callback(
        bench.machine.payments[rid], CallbackIn(rid, done, None, methods=REV), bench.t
    )
    assert verdict == "applied" and bench.machine.payments[rid].state == State.SUCCEEDED


# --- reviews ---------------------------------------------------------------------------------


def test_no_one_approves_what_they_made_and_the_last_approval_is_stored_before_sending() -> None:
    bench = Bench()
    held = bench.stored(replace(stk(), maker="alice"), HOLD)
    refused, effects = bench.machine.review(held, held.id, MERCHANT, "approve", "alice", None)
    assert refused is not None and refused.body["error"]["code"] == "maker_cannot_approve"
    assert [e.kind for e in effects if isinstance(e, Record)] == ["self_approval_refused"]
    assert bench.machine.payments[held.id].state == State.HELD
    refused, effects = bench.machine.review(held, held.id, MERCHANT, "approve", "bob", None)
    assert refused is None and "Send" not in kinds(effects)  # one of two approvals
    bench.commit(held)
    endorsed = bench.machine.payments[held.id]
    _, effects = bench.machine.review(endorsed, held.id, None, "approve", "carol", "ok")
    assert kinds(effects)[-3:] == ["Durable", "Send", "Record"]  # stored, then sent
    assert bench.machine.payments[held.id].state == State.SUBMITTING


def test_a_rejected_payment_is_never_sent_and_another_merchants_is_not_found() -> None:
    bench = Bench()
    held = bench.stored(replace(stk(), maker="alice"), HOLD)
    other, _ = bench.machine.review(held, held.id, "mch_2", "reject", "bob", "no")
    assert other is not None and other.status == 404
    refused, effects = bench.machine.review(held, held.id, MERCHANT, "reject", "bob", "wrong")
    assert refused is None and "Send" not in kinds(effects)
    assert bench.machine.payments[held.id].state == State.REJECTED
    assert [e.kind for e in effects if isinstance(e, Record)] == ["rejected"]


# --- commits, webhooks, recovery and the cache -----------------------------------------------


def test_a_commit_posts_the_journal_and_asks_for_webhooks_and_live_events() -> None:
    bench = Bench()
    payment = bench.sent(stk())
    _, effects = bench.machine.callback(payment, paid(payment.id), bench.t)
    settled = bench.machine.payments[payment.id]
    [entries] = [e.entries for e in effects if type(e).__name__ == "Touch"]
    out = bench.machine.committed(Committed([], [settled], entries))
    assert kinds(out) == ["Notify", "Publish"]
    assert bench.machine.balances.of(AVAILABLE) > 0
    # Every event delivered: nothing is left to resume.
    last = settled.history[-1].seq
    assert bench.machine.notified(payment.id, last, holding=True) == []  # a transfer holds it
    bench.machine.payments[payment.id] = replace(settled, notified_seq=0)
    assert bench.machine.notified(payment.id, last, holding=False) == [Settled(payment.id)]


def test_recovery_makes_a_payment_caught_mid_send_unknown_and_never_resends_it() -> None:
    bench = Bench()
    payment = bench.stored(stk())
    fresh = Bench()
    effects = fresh.machine.resume(payment)
    assert "Send" not in kinds(effects)
    assert fresh.machine.payments[payment.id].state == State.UNKNOWN
    assert fresh.machine.idem[payment.idem_key] == payment.request_hash


def test_the_cache_keeps_what_is_in_flight_unwritten_or_pinned_and_forgets_the_rest() -> None:
    bench = Bench()
    limit = machine_module.CACHE_LIMIT
    machine_module.CACHE_LIMIT = 2
    try:
        a = bench.sent(stk("a"))
        bench.machine.callback(a, paid(a.id), bench.t)
        bench.machine.pinned = lambda pid: pid == a.id  # a live event still to publish
        b = bench.stored(stk("b"))
        c = bench.stored(stk("c"))
        assert {a.id, b.id, c.id} <= set(bench.machine.payments)  # a pinned, b c in flight
        bench.machine.pinned = lambda _pid: False
        bench.commit(bench.machine.payments[a.id])
        bench.stored(stk("d"))
        assert a.id not in bench.machine.payments  # final, written, unpinned: forgotten
        assert a.id not in bench.machine.durable
    finally:
        machine_module.CACHE_LIMIT = limit
