"""What one tick of the shard's writer (actors/writer.py) sends to MongoDB: changes to a payment
within a tick are one update (processing and succeeded together), a payment leaving the
recovery list in the tick of its last change is that same update, and otherwise a small update
of its own. A fake collection records the operations; nothing runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pymongo import UpdateOne

from actors.writer import ShardWriter
from infra.storage.mongo import Collections
from switch.payments import Payment, ProviderRefs, apply, new_payment
from switch.states import Event

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class FakeCollection:
    def __init__(self, log: list[tuple[str, str, Any]], name: str) -> None:
        self.log, self.name = log, name

    async def insert_many(self, docs: list[dict[str, Any]], **_: Any) -> None:
        self.log.append((self.name, "insert", docs))

    async def bulk_write(self, ops: list[Any], **_: Any) -> None:
        self.log.append((self.name, "bulk", ops))


class FakeSession:
    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[None]:
        yield

    async def start_transaction(self) -> Any:
        return self._tx()


def writer(payments: dict[str, Payment]) -> tuple[ShardWriter, list[tuple[str, str, Any]]]:
    log: list[tuple[str, str, Any]] = []
    cols = cast(Collections, type("Cols", (), {n: FakeCollection(log, n) for n in (
        "payments", "journal", "balances")}))  # fmt: skip
    w = ShardWriter(1, cast(Any, None), cols, payments.__getitem__, {}, {}, lambda _c: None)
    w.session = FakeSession()
    return w, log


def created() -> Payment:
    return new_payment(
        payment_id="pay_s1_A",
        merchant_id="mch_1",
        method="mpesa_stk",
        amount_minor=15_000,
        phone="254712345678",
        reference="INV1",
        description="x",
        metadata={},
        idem_key="mch_1:k",
        request_hash="h",
        at=T0,
    )


def step(p: Payment, event: Event, **kw: Any) -> Payment:
    moved = apply(p, event, source="test", at=T0 + timedelta(seconds=p.version), **kw)
    assert moved is not None
    return moved


def ops_of(log: list[tuple[str, str, Any]]) -> list[UpdateOne]:
    return [op for name, kind, ops in log if (name, kind) == ("payments", "bulk") for op in ops]


def test_changes_in_one_tick_are_one_update_and_the_insert_carries_the_marker() -> None:
    payments = {"pay_s1_A": created()}
    w, log = writer(payments)

    async def run() -> None:
        inserted = asyncio.ensure_future(w.insert(payments["pay_s1_A"]))
        await asyncio.sleep(0)
        tick, w.tick = w.tick, type(w.tick)()
        await w._transaction(tick)
        assert await inserted == "ok"
        [(_, _, [doc])] = [e for e in log if e[1] == "insert"]
        assert doc["inflight"] == 1  # the recovery list: no row of its own
        log.clear()
        refs = ProviderRefs(checkout_request_id="ws_CO_1")
        payments["pay_s1_A"] = step(payments["pay_s1_A"], Event.ACCEPTED, provider=refs)
        w.touch("pay_s1_A")
        payments["pay_s1_A"] = step(payments["pay_s1_A"], Event.SUCCEED)
        w.touch("pay_s1_A")
        tick, w.tick = w.tick, type(w.tick)()
        await w._transaction(tick)

    asyncio.run(run())
    [op] = ops_of(log)
    change = op._doc
    assert change["$set"]["status"] == "succeeded"
    assert [h["to_state"] for h in change["$push"]["history"]["$each"]] == [
        "awaiting_customer",
        "succeeded",
    ]
    assert "$unset" not in change


def test_leaving_the_recovery_list_rides_with_a_change_of_the_same_tick() -> None:
    payments = {"pay_s1_A": step(created(), Event.ACCEPTED)}
    w, log = writer(payments)

    async def run() -> None:
        payments["pay_s1_A"] = step(payments["pay_s1_A"], Event.SUCCEED)
        w.touch("pay_s1_A")
        w.drop_inflight("pay_s1_A", 3)
        w.drop_inflight("pay_s1_B", None)  # settled on its own: a small update
        tick, w.tick = w.tick, type(w.tick)()
        await w._transaction(tick)

    asyncio.run(run())
    changes = {op._filter["_id"]: op._doc for op in ops_of(log)}
    assert changes["pay_s1_A"]["$unset"] == {"inflight": ""}
    assert changes["pay_s1_A"]["$set"]["status"] == "succeeded"
    assert changes["pay_s1_B"] == {"$unset": {"inflight": ""}}
    assert len(ops_of(log)) == 2
