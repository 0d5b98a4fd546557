"""The shard refuses new payments before storing anything when it cannot take them."""

from __future__ import annotations

from tests.unit.actors.shard_rig import MERCHANT, Rig, b2c, stk


async def test_an_overloaded_shard_answers_503_with_retry_after() -> None:
    rig = Rig(shard_max_backlog=10)
    rig.store.backlog = lambda: 10  # type: ignore[method-assign]
    reply = await rig.create(stk())
    assert reply.status == 503
    assert reply.body["error"]["code"] == "overloaded"
    assert reply.retry_after == 1.0
    assert rig.core.machine.idem == {}
    assert rig.store.payments == {}


async def test_an_open_circuit_refuses_before_storing() -> None:
    rig = Rig()
    rig.core.machine.circuit_open_until["mpesa"] = rig.clock.monotonic() + 5
    reply = await rig.create(stk())
    assert reply.status == 503
    assert reply.body["error"]["code"] == "provider_unavailable"
    assert 4 < (reply.retry_after or 0) <= 5
    assert rig.store.payments == {}


async def test_a_payout_beyond_the_committed_balance_is_refused() -> None:
    rig = Rig()
    rig.core.machine.balances.accounts[f"merchant:{MERCHANT}:available"] = 51_500
    # another payout of this merchant is being committed
    rig.core.machine.reserving[MERCHANT] = 1_000
    reply = await rig.create(b2c(amount=50_000))
    assert reply.status == 422
    assert reply.body["error"]["code"] == "insufficient_balance"
    assert "515" in reply.body["error"]["message"]
    assert rig.store.payments == {}
    assert rig.core.machine.idem == {}
