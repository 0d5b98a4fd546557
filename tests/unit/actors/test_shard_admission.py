"""The shard refuses new payments before storing anything when it cannot take them."""

from __future__ import annotations

import time
from typing import Any

from actors.shard import ShardCore
from connectors.transport import MockTransport
from switch.config import from_env
from switch.messages import CreatePayment


class _Unused:
    """Stands for the database: these paths must answer before touching it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was used ({name})")


def _core(**settings: str) -> ShardCore:
    async def no_http(_: Any) -> Any:
        raise AssertionError("no HTTP expected")

    env = {f"SWITCH_{k.upper()}": v for k, v in settings.items()}
    return ShardCore(
        0, from_env(env), _Unused(), _Unused(), _Unused(), MockTransport(no_http), b"k" * 32
    )  # type: ignore[arg-type]


def _request(method: str = "mpesa_stk", amount: int = 15000) -> CreatePayment:
    return CreatePayment("mch_1", "key-1", "h", method, amount, "254712345678", "INV1", "d", {})


async def test_an_overloaded_shard_answers_503_with_retry_after() -> None:
    core = _core(shard_max_backlog="10")
    core.writer.committing = 10
    reply = await core.create_payments([_request()])
    assert reply[0].status == 503
    assert reply[0].body["error"]["code"] == "overloaded"
    assert reply[0].retry_after == 1.0
    assert core.idem == {}


async def test_an_open_circuit_refuses_before_storing() -> None:
    core = _core()
    core.circuit_open_until["mpesa"] = time.monotonic() + 5
    [reply] = await core.create_payments([_request()])
    assert reply.status == 503
    assert reply.body["error"]["code"] == "provider_unavailable"
    assert 4 < (reply.retry_after or 0) <= 5


async def test_a_payout_beyond_the_committed_balance_is_refused() -> None:
    core = _core()
    looked_up: list[str] = []

    async def not_stored(payment_id: str) -> None:
        looked_up.append(payment_id)  # a replay of a forgotten payout would be found here

    core._get = not_stored  # type: ignore[method-assign,assignment]
    core.balances.accounts["merchant:mch_1:available"] = 51_500
    core.reserving["mch_1"] = 1_000  # another payout of this merchant is being committed
    [reply] = await core.create_payments([_request("mpesa_b2c", 50_000)])
    assert reply.status == 422
    assert reply.body["error"]["code"] == "insufficient_balance"
    assert "515" in reply.body["error"]["message"]
    assert len(looked_up) == 1
