"""MicroBatcher: grouping, early flush, result routing and error fan-out."""

from __future__ import annotations

import asyncio

import pytest

from api.batcher import MicroBatcher
from infra.metrics import REGISTRY


class Recorder:
    """A ``send`` that records each batch and answers item * 10."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0)
        if self.fail is not None:
            raise self.fail
        return [i * 10 for i in items]


async def test_items_arriving_together_travel_in_one_call() -> None:
    send = Recorder()
    batcher: MicroBatcher[int, int] = MicroBatcher(send, "test", max_items=100, max_delay=0.01)
    results = await asyncio.gather(*(batcher.call(i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert send.batches == [[0, 1, 2, 3, 4]]


async def test_results_go_to_the_right_caller() -> None:
    send = Recorder()
    batcher: MicroBatcher[int, int] = MicroBatcher(send, "test", max_items=100, max_delay=0.01)
    tasks = {i: asyncio.create_task(batcher.call(i)) for i in (7, 3, 9, 1)}
    await asyncio.gather(*tasks.values())
    assert {i: t.result() for i, t in tasks.items()} == {7: 70, 3: 30, 9: 90, 1: 10}
    assert send.batches == [[7, 3, 9, 1]]


async def test_max_items_flushes_at_once() -> None:
    send = Recorder()
    # A delay far longer than the test timeout: only the size limit can flush.
    batcher: MicroBatcher[int, int] = MicroBatcher(send, "test", max_items=3, max_delay=60.0)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.call(i) for i in range(6))), 1.0)
    assert results == [0, 10, 20, 30, 40, 50]
    assert send.batches == [[0, 1, 2], [3, 4, 5]]


async def test_remainder_waits_for_the_delay() -> None:
    send = Recorder()
    batcher: MicroBatcher[int, int] = MicroBatcher(send, "test", max_items=2, max_delay=0.01)
    results = await asyncio.gather(*(batcher.call(i) for i in range(3)))
    assert results == [0, 10, 20]
    assert send.batches == [[0, 1], [2]]


async def test_later_items_form_a_new_batch() -> None:
    send = Recorder()
    batcher: MicroBatcher[int, int] = MicroBatcher(send, "test", max_items=100, max_delay=0.005)
    assert await batcher.call(1) == 10
    assert await batcher.call(2) == 20
    assert send.batches == [[1], [2]]


async def test_exception_reaches_every_caller_of_the_batch() -> None:
    boom = RuntimeError("shard down")
    send = Recorder(fail=boom)
    batcher: MicroBatcher[int, int] = MicroBatcher(send, "test", max_items=100, max_delay=0.01)
    results = await asyncio.gather(*(batcher.call(i) for i in range(3)), return_exceptions=True)
    assert results == [boom, boom, boom]
    assert send.batches == [[0, 1, 2]]


async def test_failure_of_one_batch_spares_the_next() -> None:
    send = Recorder(fail=RuntimeError("once"))
    batcher: MicroBatcher[int, int] = MicroBatcher(send, "test", max_items=100, max_delay=0.005)
    with pytest.raises(RuntimeError, match="once"):
        await batcher.call(1)
    send.fail = None
    assert await batcher.call(2) == 20


async def test_wrong_number_of_results_fails_the_callers() -> None:
    async def short(items: list[int]) -> list[int]:
        return [i * 10 for i in items][:-1]

    batcher: MicroBatcher[int, int] = MicroBatcher(short, "test", max_items=100, max_delay=0.005)
    results = await asyncio.wait_for(
        asyncio.gather(*(batcher.call(i) for i in range(3)), return_exceptions=True), 0.2
    )
    assert all(isinstance(r, Exception) for r in results)


async def test_its_queue_depth_counts_items_until_they_are_answered_or_fail() -> None:
    def depth() -> float | None:
        labels = {"queue": "depth_test", "shard": "3"}
        return REGISTRY.get_sample_value("switch_queue_depth", labels)

    gate = asyncio.Event()

    async def slow(items: list[int]) -> list[int]:
        await gate.wait()
        if 0 in items:
            raise RuntimeError("shard gone")
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(slow, "depth_test", max_delay=0.001, shard=3)
    assert depth() == 0.0
    calls = [asyncio.create_task(batcher.call(i)) for i in range(4)]
    await asyncio.sleep(0.02)  # sent as one batch, waiting for the answer
    assert depth() == 4.0
    gate.set()
    await asyncio.gather(*calls, return_exceptions=True)
    assert depth() == 0.0
