"""The shard's shell carrying the machine's effects out through its ports (in-memory store, a
scripted provider): in order, the store before the provider, and every fault path."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import Any

from actors.shard import MemoryPaymentStore
from switch.compliance import Screening
from switch.messages import CallbackIn, ProviderOutcome
from switch.pii import Sealer
from switch.security.crypto import KeyRing, MemoryKeyStore
from switch.states import Event, State
from tests.unit.actors.shard_rig import MERCHANT, PHONE, Rig, stk
from tests.unit.actors.test_shard_machine import paid
from tests.unit.actors.test_shard_reviews import HoldingCompliance


class RefusingCompliance(HoldingCompliance):
    async def screen(self, **_: Any) -> Screening:
        return Screening("refuse", "sanctions", "phone", status=422, message="listed")


async def test_a_screening_refusal_stores_nothing_and_frees_the_key() -> None:
    rig = Rig()
    rig.core.screener.compliance = RefusingCompliance()  # type: ignore[assignment]
    await rig.start()
    reply = await rig.create(stk())
    assert reply.status == 422 and reply.body["error"]["code"] == "sanctions"
    await rig.settle()
    assert rig.store.payments == {} and rig.core.machine.idem == {}
    assert rig.core.claims.pending == {}
    await rig.stop()


async def test_the_last_approval_is_committed_before_the_order_is_sent() -> None:
    store = MemoryPaymentStore(0, auto=False)
    rig = Rig(store)
    rig.core.screener.compliance = HoldingCompliance()  # type: ignore[assignment]
    await rig.start()
    create = asyncio.ensure_future(rig.create(replace(stk(), maker="alice")))
    await rig.settle()
    store.commit()
    pid = str((await create).body["id"])
    first = asyncio.ensure_future(rig.core.review(MERCHANT, pid, "approve", "bob", None))
    await rig.settle()
    store.commit()
    assert (await first).status == 200
    review = asyncio.ensure_future(rig.core.review(None, pid, "approve", "carol", None))
    await rig.settle()
    await rig.send()
    assert rig.provider.submitted == []  # the approval is not stored yet: nothing is sent
    assert not review.done()
    store.commit()
    assert (await review).status == 200
    assert rig.stored(pid)["state"] == "submitting"
    await rig.send()
    assert [o.payment_id for o in rig.provider.submitted] == [pid]
    await rig.stop()


async def test_a_provider_timeout_leaves_the_payment_unknown_never_resent() -> None:
    rig = Rig()
    await rig.start()
    rig.provider.submit_error = TimeoutError()
    pid = str((await rig.create(stk())).body["id"])
    await rig.send()
    assert rig.payment(pid).state == State.UNKNOWN
    rig.provider.submit_error = None
    for _ in range(4):
        rig.clock.advance(rig.settings.stk_expire_after)
        await rig.core.sweep()
        await rig.send()
    assert len(rig.provider.submitted) == 1  # never sent again
    failure = rig.stored(pid)["failure"]
    assert rig.stored(pid)["state"] == "expired" and failure["code"] == "outcome_unknown"
    await rig.stop()


async def test_a_store_failure_during_a_callback_is_retried_and_nothing_is_told_early() -> None:
    store = MemoryPaymentStore(0, auto=False)
    rig = Rig(store)
    await rig.start()
    create = asyncio.ensure_future(rig.create(stk()))
    await rig.settle()
    store.commit()
    pid = str((await create).body["id"])
    await rig.send()
    store.commit()
    store.fail_next()
    callback = asyncio.ensure_future(rig.core.apply_callbacks([paid(pid)]))
    await rig.settle()
    store.commit()  # refused by the database: the change stays queued
    await rig.settle(60)
    assert not callback.done() and rig.endpoint.types(pid) == ["payment.processing"]
    store.commit()
    assert await callback == ["applied"]
    assert rig.stored(pid)["state"] == "succeeded"
    await rig.stop()


async def test_erasure_overwrites_final_payments_personal_data_and_keeps_those_in_flight() -> None:
    ring = KeyRing({"m1": secrets.token_bytes(32)}, "m1", MemoryKeyStore())
    rig = Rig()
    rig.core.sealer = rig.core.personal.sealer = Sealer(ring, b"i" * 32)
    rig.store.bind(rig.core.current, rig.core.after_commit, rig.core.seal)
    await rig.start()
    done = str((await rig.create(stk("a"))).body["id"])
    busy = str((await rig.create(stk("b"))).body["id"])
    await rig.send()
    outcome = ProviderOutcome(Event.DECLINE)
    assert await rig.callback(CallbackIn(done, outcome, f"ws_CO_{done}")) == "applied"
    await rig.settle()
    assert PHONE not in str(rig.stored(done))  # sealed at rest
    found = await rig.core.by_phone(MERCHANT, PHONE, 10)
    assert {p["id"] for p in found.body["data"]} == {done, busy}
    erased = await rig.core.erase(MERCHANT, PHONE)
    assert erased.body["erased"] == 1 and erased.body["in_flight"] == 1
    assert done not in rig.core.payments  # read back erased from now on
    again = await rig.core.by_phone(MERCHANT, PHONE, 10)
    assert [p["id"] for p in again.body["data"]] == [busy]
    await rig.stop()
