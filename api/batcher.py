"""Micro-batching to actors: requests for the same actor that arrive within ``max_delay`` (or up
to ``max_items``) travel in one Ray call, which costs about as much as a call with one item.

Its queue depth (``switch_queue_depth{queue=<name>, shard}``: items waiting for a batch or for
the actor's answer) is read when /metrics is collected."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from infra.metrics import BATCH_SIZE, QUEUE_DEPTH

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    def __init__(
        self,
        send: Callable[[list[Item]], Awaitable[list[Result]]],
        name: str,
        max_items: int = 128,
        max_delay: float = 0.002,
        shard: int | None = None,
    ) -> None:
        self._send = send
        self._name = name
        self._max_items = max_items
        self._max_delay = max_delay
        self._items: list[Item] = []
        self._futures: list[asyncio.Future[Result]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._waiting = 0  # items called and not answered yet
        if shard is not None:
            QUEUE_DEPTH.labels(name, str(shard)).set_function(lambda: self._waiting)

    async def call(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Result] = loop.create_future()
        self._items.append(item)
        self._futures.append(fut)
        if len(self._items) >= self._max_items:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._max_delay, self._flush)
        self._waiting += 1
        try:
            return await fut
        finally:
            self._waiting -= 1

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        if items:
            task = asyncio.create_task(self._deliver(items, futures))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _deliver(self, items: list[Item], futures: list[asyncio.Future[Result]]) -> None:
        BATCH_SIZE.labels(self._name).observe(len(items))
        try:
            results = await self._send(items)
            if len(results) != len(items):
                raise RuntimeError(f"{self._name}: {len(results)} answers for {len(items)} items")
        except Exception as exc:
            for fut in futures:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for fut, res in zip(futures, results, strict=True):
            if not fut.done():
                fut.set_result(res)
