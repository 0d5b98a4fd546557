"""Held payments and reversals on the shard (in-memory store)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from actors.shard import reviews
from switch.compliance import Screening
from switch.messages import CallbackIn, CreateReversal, ProviderOutcome
from switch.payments import ProviderRefs
from switch.states import Event, State
from tests.unit.actors.shard_rig import MERCHANT, Rig, stk


class HoldingCompliance:
    """Screening that holds every payment for two approvals; records what happens."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def screen(self, **_: Any) -> Screening:
        return Screening("hold", "velocity", rules=("velocity",), message="many payments")

    def needed(self, _amount: int) -> int:
        return 2

    def record(self, kind: str, **fields: Any) -> None:
        self.records.append((kind, fields))

    async def give_back(self, *_: Any) -> None:
        return None

    async def release(self, _payment: Any) -> None:
        return None

    def forget(self, _merchant_id: str) -> None:
        return None


async def _held(rig: Rig) -> str:
    rig.core.screener.compliance = HoldingCompliance()  # type: ignore[assignment]
    await rig.start()
    reply = await rig.create(replace(stk(), maker="alice"))
    assert reply.status == 202 and reply.body["status"] == "held"
    await rig.send()
    assert rig.provider.submitted == []  # a held payment waits for its reviewers
    return str(reply.body["id"])


async def test_a_held_payment_is_sent_once_two_others_approve_it() -> None:
    rig = Rig()
    pid = await _held(rig)
    assert [v["id"] for v in rig.core.held(MERCHANT, 10)] == [pid]
    own = await rig.core.review(MERCHANT, pid, "approve", "alice", None)
    assert own.status == 403  # four eyes
    first = await rig.core.review(MERCHANT, pid, "approve", "bob", None)
    assert first.status == 200 and rig.payment(pid).state == State.HELD
    again = await rig.core.review(MERCHANT, pid, "approve", "bob", None)
    assert again.status == 409
    last = await rig.core.review(None, pid, "approve", "carol", "ok")
    assert last.status == 200
    assert rig.stored(pid)["state"] == "submitting"  # stored before the order is queued
    await rig.send()
    assert [o.payment_id for o in rig.provider.submitted] == [pid]
    kinds = [k for k, _ in rig.core.screener.compliance.records]  # type: ignore[union-attr]
    assert kinds == ["self_approval_refused", "endorsed", "approved"]
    assert rig.core.held(None, 10) == []
    await rig.stop()


async def test_a_rejected_held_payment_is_never_sent() -> None:
    rig = Rig()
    pid = await _held(rig)
    assert (await rig.core.review(MERCHANT, pid, "reject", "bob", "")).status == 422
    assert (await rig.core.review("mch_2", pid, "reject", "bob", "no")).status == 404
    rejected = await rig.core.review(MERCHANT, pid, "reject", "bob", "looks wrong")
    assert rejected.status == 200
    assert rig.stored(pid)["state"] == "rejected"
    await rig.send()
    assert rig.provider.submitted == []
    await rig.stop()


async def test_held_views_are_oldest_first_and_limited() -> None:
    assert reviews.held_views([], None, 5) == []
    assert reviews.recorded_as(Event.REJECT) == "rejected"
    assert reviews.recorded_as(Event.APPROVE) == "approved"


async def test_a_collection_is_reversed_once_and_the_balance_pays_for_it() -> None:
    rig = Rig()
    available = f"merchant:{MERCHANT}:available"
    rig.store.accounts[available] = 10_000
    await rig.start()
    pid = (await rig.create(stk())).body["id"]
    await rig.send()
    outcome = ProviderOutcome(Event.SUCCEED, ProviderRefs(receipt="R1"), amount_minor=15000)
    item = CallbackIn(pid, outcome, f"ws_CO_{pid}", methods=frozenset({"mpesa_stk"}))
    assert (await rig.core.apply_callbacks([item])) == ["applied"]
    await rig.settle()
    before = rig.store.accounts[available]
    [reply] = await rig.core.create_reversals([CreateReversal(MERCHANT, pid, "r1", "h1", "x")])
    assert reply.status == 202
    assert rig.store.accounts[available] == before - 15000  # reserved in the same commit
    # Another key, another body: still the one reversal (unique by nature).
    [again] = await rig.core.create_reversals([CreateReversal(MERCHANT, pid, "r2", "h2", "y")])
    assert again.replayed and again.body["id"] == reply.body["id"]
    [other] = await rig.core.create_reversals([CreateReversal("mch_2", pid, "r", "h", "z")])
    assert other.status == 404
    await rig.send()
    [order] = rig.provider.submitted[1:]
    assert order.payment_id == reply.body["id"]
    await rig.stop()


async def test_a_collection_not_paid_cannot_be_reversed() -> None:
    rig = Rig()
    await rig.start()
    pid = (await rig.create(stk())).body["id"]
    [reply] = await rig.core.create_reversals([CreateReversal(MERCHANT, pid, "r1", "h1", "x")])
    assert reply.status == 422 and reply.body["error"]["code"] == "not_reversible"
    await rig.stop()
