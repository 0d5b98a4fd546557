"""The shard's sweeper against a provider whose status queries always fail (issue 10, finding 5):
the collection still expires by the clock, and the queries back off instead of every sweep."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from actors.shard import ShardCore
from connectors.transport import MockTransport
from switch.config import from_env
from switch.messages import QueryRequest
from switch.payments import ProviderRefs, new_payment
from switch.states import State

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC).timestamp()


class _FailingProvider:
    def __init__(self) -> None:
        self.asked_at: list[float] = []
        self.clock = T0

    async def query(self, requests: list[QueryRequest]) -> list[Any]:
        self.asked_at.extend(self.clock for _ in requests)
        raise ConnectionError("Daraja is down")


async def test_a_collection_whose_queries_always_fail_expires_and_queries_back_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    provider = _FailingProvider()
    monkeypatch.setattr(
        "actors.shard.time", SimpleNamespace(time=lambda: provider.clock, monotonic=lambda: 0.0)
    )
    core = ShardCore(
        0,
        from_env({}),
        None,
        None,
        provider,
        MockTransport(None),
        b"k" * 32,  # type: ignore[arg-type]
    )
    touched: list[str] = []
    core.writer.touch = lambda pid, entries: touched.append(pid)  # type: ignore[method-assign,assignment]
    p = new_payment(
        payment_id="pay_s0_X",
        merchant_id="m",
        method="mpesa_stk",
        amount_minor=15000,
        phone="254712345678",
        reference="INV1",
        description="d",
        metadata={},
        idem_key="m:k",
        request_hash="h",
        at=datetime.fromtimestamp(T0, UTC),
    )
    p = replace(
        p, state=State.AWAITING_CUSTOMER, provider=ProviderRefs(checkout_request_id="ws_CO_1")
    )
    core._remember(p)
    for tick in range(0, 3600, 5):  # an hour of sweeps, every 5 s
        provider.clock = T0 + tick
        await core.sweep()
    final = core.payments[p.id]
    assert final.state == State.EXPIRED
    assert final.failure is not None and final.failure.code == "outcome_unknown"  # never learnt
    assert p.id not in core.in_flight
    assert touched == [p.id]
    gaps = [b - a for a, b in zip(provider.asked_at, provider.asked_at[1:], strict=False)]
    assert gaps[:4] == [15, 30, 60, 120]  # doubling from the query gap
    assert provider.asked_at[-1] - T0 <= 300  # the last ask, just past the deadline
    assert len(provider.asked_at) == 6  # at 60, 75, 105, 165, 285, 300 s
