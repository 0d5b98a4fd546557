"""The shard's sweeper against a provider whose status queries always fail (issue 10, finding 5):
the collection still expires by the clock, and the queries back off instead of every sweep."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime

from actors.shard import sweeping
from switch.config import from_env
from switch.messages import ProviderOutcome, QueryResult
from switch.payments import Failure, ProviderRefs, new_payment
from switch.states import Event, State
from tests.unit.actors.shard_rig import MERCHANT, T0, Rig, b2c, stk


async def test_a_collection_whose_queries_always_fail_expires_and_queries_back_off() -> None:
    rig = Rig()
    await rig.start()
    pid = (await rig.create(stk())).body["id"]
    await rig.send()
    assert rig.payment(pid).state == State.AWAITING_CUSTOMER
    rig.provider.query_error = ConnectionError("Daraja is down")
    for tick in range(0, 3600, 5):  # an hour of sweeps, every 5 s
        rig.clock.t = T0 + tick
        await rig.core.sweep()
        await rig.settle()
    final = rig.payment(pid)
    assert final.state == State.EXPIRED
    assert final.failure is not None and final.failure.code == "outcome_unknown"  # never learnt
    assert pid not in rig.core.in_flight
    assert rig.stored(pid)["state"] == "expired"  # committed, not only decided
    asked_at = rig.provider.when("query")
    gaps = [b - a for a, b in itertools.pairwise(asked_at)]
    assert gaps[:4] == [15, 30, 60, 120]  # doubling from the query gap
    assert asked_at[-1] <= 300  # the last ask, just past the deadline
    assert asked_at == [60, 75, 105, 165, 285, 300]
    await rig.stop()


async def test_an_stk_query_that_finds_the_payment_paid_settles_it() -> None:
    rig = Rig()
    await rig.start()
    pid = (await rig.create(stk())).body["id"]
    await rig.send()
    rig.provider.query_answer = lambda r: QueryResult(
        r.payment_id, ProviderOutcome(Event.SUCCEED, ProviderRefs(receipt="R9"))
    )
    rig.clock.advance(30)
    await rig.core.sweep()
    assert rig.provider.queried == []  # too young to ask about
    rig.clock.advance(30)
    await rig.core.sweep()
    await rig.settle()
    assert [q.checkout_request_id for q in rig.provider.queried] == [f"ws_CO_{pid}"]
    assert rig.stored(pid)["state"] == "succeeded"
    await rig.stop()


async def test_a_collection_the_customer_ignores_expires_as_a_timeout() -> None:
    rig = Rig()
    await rig.start()
    pid = (await rig.create(stk())).body["id"]
    await rig.send()
    rig.clock.advance(rig.settings.stk_expire_after)
    await rig.core.sweep()  # one last ask past the deadline: still pending
    await rig.settle()
    assert rig.payment(pid).state == State.EXPIRED
    failure = rig.payment(pid).failure
    assert failure is not None and failure.code == "timeout"
    await rig.stop()


async def test_a_payout_is_asked_about_by_transaction_status_and_never_expires() -> None:
    rig = Rig()
    rig.store.accounts[f"merchant:{MERCHANT}:available"] = 100_000
    await rig.start()
    pid = (await rig.create(b2c())).body["id"]
    await rig.send()
    for _ in range(24 * 60):  # a day of sweeps, a minute apart
        rig.clock.advance(60)
        await rig.core.sweep()
    await rig.settle()
    assert rig.payment(pid).state == State.AWAITING_RESULT  # money may have moved
    asked = rig.provider.when("ask_status")
    assert asked[0] == 60 and len(asked) < 24 * 60 / 5  # backing off, up to the max gap
    gaps = [b - a for a, b in itertools.pairwise(asked)]
    assert max(gaps) <= rig.settings.sweep_max_gap + 60
    assert rig.provider.asked[0].result_url.startswith("http")
    await rig.stop()


async def test_a_wallet_collection_is_checked_by_enquiry_and_applied() -> None:
    rig = Rig()
    await rig.start()
    req = replace(stk(), method="airtel_ussd")
    pid = (await rig.create(req)).body["id"]
    await rig.send()
    rig.provider.check_answer = lambda r: QueryResult(
        r.payment_id, ProviderOutcome(Event.DECLINE, failure=Failure("declined", "no"))
    )
    rig.clock.advance(rig.settings.stk_query_after)
    await rig.core.sweep()
    await rig.settle()
    assert [c.payment_id for c in rig.provider.checked] == [pid]
    assert rig.stored(pid)["state"] == "declined"
    await rig.stop()


async def test_a_held_payment_is_never_asked_about_nor_expired() -> None:
    held = replace(
        new_payment(
            payment_id="pay_s0_H",
            merchant_id=MERCHANT,
            method="mpesa_stk",
            amount_minor=100,
            phone="254712345678",
            reference="r",
            description="d",
            metadata={},
            idem_key="k",
            request_hash="h",
            at=datetime.fromtimestamp(T0, UTC),
        ),
        state=State.HELD,
    )
    todo = sweeping.plan([held], {}, T0 + 10 * 86400, from_env({}), lambda k, p: "")
    assert todo == sweeping.SweepPlan()
