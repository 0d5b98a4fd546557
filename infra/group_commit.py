"""Group commit: gather the writes that arrive within a short window into one bulk operation and
answer every caller only after that one write is acknowledged.

``per_turn``: no window and no loop of its own; what is submitted in one turn of the event loop
(the requests or payments being handled side by side) goes in one operation, sent at the end of
that turn, so batching adds no wait. A failure is not logged here: each caller gets the exception
and decides (the Redis users fall back, infra/aml.py and infra/redis_batch.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Op = TypeVar("Op")
Res = TypeVar("Res")

log = logging.getLogger(__name__)


class GroupCommit(Generic[Op, Res]):
    """``write`` receives a list of ops and returns one result per op, in order."""

    def __init__(
        self,
        write: Callable[[list[Op]], Awaitable[list[Res]]],
        max_batch: int = 2000,
        window: float = 0.001,
        *,
        per_turn: bool = False,
    ) -> None:
        self._write = write
        self._max = max_batch
        self._window = window
        self._per_turn = per_turn
        self._queue: list[tuple[Op, asyncio.Future[Res]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()  # per turn: the operations under way

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def submit(self, op: Op) -> Res:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Res] = loop.create_future()
        self._queue.append((op, fut))
        if not self._per_turn:
            self._wakeup.set()
        elif len(self._queue) == 1:  # the turn's first: send them all once the turn is over
            loop.call_soon(self._end_of_turn)
        return await fut

    def _end_of_turn(self) -> None:
        batch, self._queue = self._queue, []
        task = asyncio.ensure_future(self._commit(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def submit_many(self, ops: list[Op]) -> list[Res]:
        loop = asyncio.get_running_loop()
        futs: list[asyncio.Future[Res]] = [loop.create_future() for _ in ops]
        self._queue.extend(zip(ops, futs, strict=True))
        self._wakeup.set()
        return list(await asyncio.gather(*futs))

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if self._window:
                await asyncio.sleep(self._window)
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            if not self._queue:
                self._wakeup.clear()
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Op, asyncio.Future[Res]]]) -> None:
        try:
            results = await self._write([op for op, _ in batch])
        except Exception as exc:
            if not self._per_turn:
                log.exception("group commit of %d ops failed", len(batch))
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        for (_, fut), res in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(res)
