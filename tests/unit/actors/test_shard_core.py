"""The shard on the in-memory store: creating and replaying payments, payouts against the
balance, failed commits, webhooks only after the commit, and restart recovery."""

from __future__ import annotations

import asyncio

from actors.shard import MemoryPaymentStore
from switch.fees import fee_for
from switch.messages import CallbackIn, ProviderOutcome, SubmitResult
from switch.payments import ProviderRefs
from switch.states import Event, State
from tests.unit.actors.shard_rig import MERCHANT, Rig, b2c, stk


async def test_a_payment_is_stored_before_its_order_is_sent() -> None:
    rig = Rig()
    await rig.start()
    reply = await rig.create(stk())
    assert reply.status == 202
    pid = reply.body["id"]
    assert rig.stored(pid)["state"] == "submitting"  # in "MongoDB" with its inflight row
    assert pid in rig.store.inflight_ids
    assert rig.provider.submitted == []  # nothing sent before the answer
    await rig.send()
    assert [o.payment_id for o in rig.provider.submitted] == [pid]
    assert rig.payment(pid).state == State.AWAITING_CUSTOMER
    assert rig.stored(pid)["state"] == "awaiting_customer"
    await rig.stop()


async def test_a_replay_with_the_same_body_gets_the_same_answer_and_another_body_409() -> None:
    rig = Rig()
    await rig.start()
    first = await rig.create(stk(body="h1"))
    again = await rig.create(stk(body="h1"))
    assert again.status == 202 and again.replayed
    assert again.body["id"] == first.body["id"]
    other = await rig.create(stk(body="h2"))
    assert other.status == 409
    assert other.body["error"]["code"] == "idempotency_key_reused"
    assert len(rig.store.payments) == 1
    await rig.send()
    assert len(rig.provider.submitted) == 1  # sent once
    await rig.stop()


async def test_concurrent_copies_of_one_request_store_and_send_one_payment() -> None:
    rig = Rig()
    await rig.start()
    replies = await rig.core.create_payments([stk() for _ in range(5)])
    assert [r.status for r in replies] == [202] * 5
    assert len({r.body["id"] for r in replies}) == 1
    assert sum(not r.replayed for r in replies) == 1
    assert len(rig.store.payments) == 1
    await rig.send()
    assert len(rig.provider.submitted) == 1
    await rig.stop()


async def test_a_payout_reserves_its_amount_and_fee_and_the_next_is_refused() -> None:
    rig = Rig()
    rig.store.accounts[f"merchant:{MERCHANT}:available"] = 60_000
    await rig.start()
    first = await rig.create(b2c("p1", 50_000))
    assert first.status == 202
    fee = fee_for(rig.settings.fees, "mpesa_b2c", 50_000)
    assert fee > 0
    assert rig.core.machine.balances.of(f"merchant:{MERCHANT}:reserved") == 50_000 + fee
    assert rig.core.machine.balances.of(f"merchant:{MERCHANT}:available") == 10_000 - fee
    assert rig.store.accounts[f"merchant:{MERCHANT}:reserved"] == 50_000 + fee  # committed
    second = await rig.create(b2c("p2", 50_000))
    assert second.status == 422
    assert second.body["error"]["code"] == "insufficient_balance"
    assert len(rig.store.payments) == 1
    await rig.stop()


async def test_payouts_being_committed_count_against_the_balance() -> None:
    """Two payouts that each fit, but not together, arriving in one tick: the second is refused
    although the first is not committed yet (never below zero)."""
    store = MemoryPaymentStore(0, auto=False)
    store.accounts[f"merchant:{MERCHANT}:available"] = 60_000
    rig = Rig(store)
    await rig.start()
    first = asyncio.ensure_future(rig.create(b2c("p1", 40_000)))
    await rig.settle()
    second = asyncio.ensure_future(rig.create(b2c("p2", 40_000)))
    await rig.settle()
    store.commit()
    assert (await first).status == 202
    assert (await second).status == 422
    assert len(store.payments) == 1
    await rig.stop()


async def test_a_forgotten_payout_replayed_after_a_restart_is_not_refused_for_balance() -> None:
    store = MemoryPaymentStore(0)
    store.accounts[f"merchant:{MERCHANT}:available"] = 60_000
    rig = Rig(store)
    await rig.start()
    first = await rig.create(b2c("p1", 50_000))
    await rig.stop()
    again = Rig(store, rig.clock)  # the money is reserved now: a new payout would not fit
    await again.start()
    replay = await again.create(b2c("p1", 50_000))
    assert replay.status == 202 and replay.replayed
    assert replay.body["id"] == first.body["id"]
    await again.stop()


async def test_a_failed_commit_answers_nothing_as_stored_and_the_key_can_be_retried() -> None:
    rig = Rig()
    await rig.start()
    rig.store.fail_next()
    reply = await rig.create(stk())
    assert reply.status == 503
    assert reply.body["error"]["code"] == "storage_unavailable"
    assert rig.store.payments == {}
    await rig.send()
    assert rig.provider.submitted == []  # nothing sent that is not stored
    retry = await rig.create(stk())
    assert retry.status == 202 and not retry.replayed
    await rig.stop()


async def _sent_by_hand(store: MemoryPaymentStore) -> tuple[Rig, str]:
    """A payment stored (the test commits by hand) and sent; its acceptance not committed."""
    rig = Rig(store)
    await rig.start()
    pending = asyncio.ensure_future(rig.create(stk()))
    await rig.settle()
    store.commit()
    pid = str((await pending).body["id"])
    await rig.send()
    return rig, pid


async def test_a_failed_commit_of_a_change_is_retried_and_the_read_waits_for_it() -> None:
    store = MemoryPaymentStore(0, auto=False)
    rig, pid = await _sent_by_hand(store)
    store.fail_next()
    assert store.commit() is None
    assert rig.stored(pid)["state"] == "submitting"  # the refusal applied nothing
    read = asyncio.ensure_future(rig.core.get_payments([(MERCHANT, pid)]))
    await rig.settle()
    assert not read.done()  # not shown before it is stored
    store.commit()
    [shown] = await read
    assert shown.body["status"] == "processing"
    assert rig.stored(pid)["state"] == "awaiting_customer"
    await rig.stop()


async def test_webhooks_go_out_only_after_the_commit() -> None:
    store = MemoryPaymentStore(0, auto=False)
    rig, pid = await _sent_by_hand(store)
    store.commit()
    await rig.settle()
    assert rig.endpoint.types(pid) == ["payment.processing"]
    paid = CallbackIn(pid, ProviderOutcome(Event.SUCCEED, ProviderRefs(receipt="R1")), None)
    answer = asyncio.ensure_future(rig.callback(paid))
    await rig.settle()
    assert rig.payment(pid).state == State.SUCCEEDED
    assert rig.endpoint.types(pid) == ["payment.processing"]  # decided, not stored: untold
    assert not answer.done()  # nor is the provider answered
    store.commit()
    assert await answer == "applied"
    await rig.settle()
    assert rig.endpoint.types(pid) == ["payment.processing", "payment.succeeded"]
    await rig.stop()


async def test_a_lost_gateway_answer_makes_the_payment_unknown_never_resent() -> None:
    rig = Rig()
    await rig.start()
    pid = (await rig.create(stk())).body["id"]
    rig.provider.submit_error = ConnectionError("gateway died")
    await rig.send()
    assert rig.payment(pid).state == State.UNKNOWN
    await rig.send()
    assert len(rig.provider.submitted) == 1
    await rig.stop()


async def test_an_open_circuit_learnt_from_the_gateway_refuses_new_payments() -> None:
    rig = Rig()
    await rig.start()
    rig.provider.submit_answer = lambda o: SubmitResult(
        o.payment_id, ProviderOutcome(Event.REJECTED, retry_after=30.0)
    )
    pid = (await rig.create(stk("a"))).body["id"]
    await rig.send()
    assert rig.payment(pid).state == State.REJECTED
    refused = await rig.create(stk("b"))
    assert refused.status == 503 and refused.body["error"]["code"] == "provider_unavailable"
    rig.clock.advance(31)
    assert (await rig.create(stk("c"))).status == 202
    await rig.stop()


async def test_restart_recovery_resumes_in_flight_payments_submitting_becomes_unknown() -> None:
    store = MemoryPaymentStore(0)
    rig = Rig(store)
    await rig.start()
    sent = (await rig.create(stk("sent"))).body["id"]
    await rig.send()
    caught = (await rig.create(stk("caught"))).body["id"]  # stored, the shard died before send
    await rig.settle()
    await rig.stop()

    again = Rig(store, rig.clock)
    await again.start()
    assert again.payment(caught).state == State.UNKNOWN  # may have reached the provider
    assert again.payment(sent).state == State.AWAITING_CUSTOMER
    assert {sent, caught} <= again.core.in_flight
    await again.send()
    assert again.provider.submitted == []  # never resent
    await again.settle()
    assert store.payments[caught]["state"] == "unknown"
    replay = await again.create(stk("caught"))  # the key is known again
    assert replay.replayed and replay.body["id"] == caught
    await again.stop()


async def test_a_final_payment_whose_webhook_is_out_leaves_inflight() -> None:
    rig = Rig()
    await rig.start()
    pid = (await rig.create(stk())).body["id"]
    await rig.send()
    await rig.core._run(rig.core.machine.transition(rig.payment(pid), Event.SUCCEED, "callback"))
    await rig.settle(60)
    assert rig.endpoint.types(pid) == ["payment.processing", "payment.succeeded"]
    assert pid not in rig.store.inflight_ids
    assert rig.stored(pid)["state"] == "succeeded"
    await rig.stop()


async def test_reads_show_a_stored_payment_and_404_another_merchants() -> None:
    rig = Rig()
    await rig.start()
    pid = (await rig.create(stk())).body["id"]
    [mine, theirs] = await rig.core.get_payments([(MERCHANT, pid), ("mch_2", pid)])
    assert mine.status == 200 and mine.body["id"] == pid
    assert theirs.status == 404
    await rig.stop()
    again = Rig(rig.store, rig.clock)  # not in memory: read from the store
    [read] = await again.core.get_payments([(MERCHANT, pid)])
    assert read.status == 200 and read.body["status"] == "pending"
