"""What one tick of the shard's writer (actors/writer.py) sends to MongoDB: changes to a payment
within a tick are one update (processing and succeeded together), and a payment leaving the
recovery list is a small row deleted, not an update of the payment (which the embedded server
pays far more for: bench/results/2026-12-06-cost-cuts/). A fake collection records the
operations; nothing runs."""

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
        "payments", "journal", "balances", "inflight")}))  # fmt: skip
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


def test_changes_in_one_tick_are_one_update() -> None:
    payments = {"pay_s1_A": created()}
    w, log = writer(payments)

    async def run() -> None:
        inserted = asyncio.ensure_future(w.insert(payments["pay_s1_A"]))
        await asyncio.sleep(0)
        tick, w.tick = w.tick, type(w.tick)()
        await w._transaction(tick)
        assert await inserted == "ok"
        assert [e[0] for e in log] == ["inflight", "payments"]  # its row, then the payment
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
    assert [e[0] for e in log] == ["payments"]


def test_leaving_the_recovery_list_is_its_row_deleted() -> None:
    payments = {"pay_s1_A": step(created(), Event.ACCEPTED)}
    w, log = writer(payments)

    async def run() -> None:
        payments["pay_s1_A"] = step(payments["pay_s1_A"], Event.SUCCEED)
        w.touch("pay_s1_A")
        w.drop_inflight("pay_s1_A")
        w.drop_inflight("pay_s1_B")  # settled on its own: no update of the payment
        tick, w.tick = w.tick, type(w.tick)()
        await w._transaction(tick)

    asyncio.run(run())
    [op] = ops_of(log)
    assert op._filter["_id"] == "pay_s1_A" and "$unset" not in op._doc
    [deleted] = [ops for name, _, ops in log if name == "inflight"]
    assert sorted(d._filter["_id"] for d in deleted) == ["pay_s1_A", "pay_s1_B"]
