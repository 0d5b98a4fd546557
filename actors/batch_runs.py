"""The parts :class:`actors.batches.BatchCore` drives: a payout batch being executed
(:class:`Run`), the per-rail windows every batch shares (:class:`Window`), and the chunk
documents a batch's items are stored in (:func:`chunk_id`, :func:`erasure_ops`)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne

from switch.batch_items import ItemRecord, erased_item, record_doc

Doc = dict[str, Any]


class Window:
    """A counting limit whose slots can also be held past the limit (items resumed after a
    restart are already with the provider: they count, they do not wait)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.used = 0
        self.peak = 0  # most slots ever in use (stats, tests)
        self._changed = asyncio.Condition()

    async def take(self, wanted: int) -> int:
        """Wait for a free slot, then take up to ``wanted``; how many were taken."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.used < self.limit)
            taken = min(wanted, self.limit - self.used)
            self._use(taken)
            return taken

    def hold(self, count: int) -> None:
        self._use(count)

    def _use(self, count: int) -> None:
        self.used += count
        self.peak = max(self.peak, self.used)

    async def give(self, count: int) -> None:
        if count <= 0:
            return
        async with self._changed:
            self.used -= count
            self._changed.notify_all()


def chunk_id(batch_id: str, n: int) -> str:
    return f"{batch_id}/{n:04d}"


@dataclass
class Run:
    """A batch being executed: its records in memory, the queues of items to send per rail."""

    header: Doc
    records: list[ItemRecord]
    shard: int
    chunk_items: int
    queues: dict[str, deque[int]] = field(default_factory=dict)
    unsent: dict[str, int] = field(default_factory=dict)  # queued, incl. waiting for a retry
    wake: dict[str, asyncio.Event] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)  # window slots this run holds
    dirty: set[int] = field(default_factory=set)  # chunk numbers to write
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)
    sealed: dict[int, Doc] = field(default_factory=dict)  # item index -> its request, sealed

    @property
    def id(self) -> str:
        return str(self.header["_id"])

    def set(self, record: ItemRecord) -> None:
        self.records[record.index] = record
        self.dirty.add(record.index // self.chunk_items)

    def chunk(self, n: int, doc_of: Callable[[ItemRecord], Doc] = record_doc) -> list[Doc]:
        size = self.chunk_items
        return [doc_of(r) for r in self.records[n * size : (n + 1) * size]]

    def index_of(self, item_id: str) -> int | None:
        return next((r.index for r in self.records if r.item_id == item_id), None)

    def enqueue(self, rail: str, index: int) -> None:
        self.queues.setdefault(rail, deque()).append(index)
        self.wake.setdefault(rail, asyncio.Event()).set()

    def done(self) -> bool:
        return all(r.final for r in self.records)


def erasure_ops(
    batch_id: str, size: int, records: list[ItemRecord], erased: dict[str, str]
) -> list[UpdateOne]:
    """The writes that erase items (item id -> its payment id) of a batch that is not running:
    only the erased fields are set, by dotted path in their chunk (of ``size`` items), so a run
    starting meanwhile and these writes cannot undo each other."""
    ops = []
    for r in records:
        if r.item_id not in erased:
            continue
        done = record_doc(erased_item(r, erased[r.item_id]))
        path = f"items.{r.index % size}"
        fields = {
            f"{path}.command": done["command"],
            f"{path}.recipient_name": done["recipient_name"],
        }
        if r.status == "queued":  # it learns its payment instead of being sent again
            fields.update({f"{path}.{f}": done[f] for f in ("payment_id", "status", "last_error")})
        ops.append(UpdateOne({"_id": chunk_id(batch_id, r.index // size)}, {"$set": fields}))
    return ops
