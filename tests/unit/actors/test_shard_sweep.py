"""The shard's sweeper against a provider whose status queries always fail (issue 10, finding 5):
the collection still expires by the clock, and the queries back off instead of every sweep."""

from __future__ import annotations

import itertools

from switch.states import State
from tests.unit.actors.shard_rig import T0, Rig, stk


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
