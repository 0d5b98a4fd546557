"""Rate limits (and the AML day counters) against the real Redis: accuracy under overload with
two limiter clients sharing one budget, recovery after SCRIPT FLUSH, fail-open when Redis is
unreachable. Every test uses its own key prefix."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from infra.aml import DailyCounters, Velocity
from infra.ratelimit import InProcessLimiter, RateLimit, RedisLimiter, gcra
from switch.security.aml import next_midnight

pytestmark = pytest.mark.integration

URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(URL, socket_timeout=2, socket_connect_timeout=2)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"test:rl:{uuid.uuid4().hex[:12]}:"


async def _cleanup(redis: aioredis.Redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=prefix + "*")]
    if keys:
        await redis.delete(*keys)


async def _offer(limiter: RedisLimiter, limit: RateLimit, per_second: float, seconds: float,
                 start: float) -> list[tuple[float, bool]]:  # fmt: skip
    """Paced requests (late ones go at once); each one's time of arrival, taken half way
    through its call, and whether it was admitted."""
    arrivals: list[tuple[float, bool]] = []
    step = 1 / per_second
    while True:
        due = start + len(arrivals) * step
        if due - start >= seconds:
            return arrivals
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = time.monotonic()
        allowed = (await limiter.check("client", limit)).allowed
        arrivals.append(((sent + time.monotonic()) / 2, allowed))


def _ideal(arrivals: list[float], limit: RateLimit) -> int:
    """What one exact GCRA admits of these arrivals (the in-process arithmetic, no Redis)."""
    tat: int | None = None
    admitted = 0
    for at in sorted(arrivals):
        new_tat, decision = gcra(tat, int(at * 1_000_000), limit, 1)
        tat = new_tat if new_tat is not None else tat
        admitted += decision.allowed
    return admitted


async def test_accuracy_under_double_overload_across_two_processes(
    redis: aioredis.Redis, prefix: str
) -> None:
    """Two clients (as two api processes) each offer the full rate: 2x overload in total. What
    is admitted must be what one exact GCRA admits of the same arrivals, within 5%, and never
    more than burst + rate x elapsed. The reference is the arrivals as they came, not a steady
    2x: a client stalled by a loaded machine sends nothing for a while (a full bucket holds no
    more than the burst) and then its late requests at once (mostly refused)."""
    rate, seconds = 100.0, 4.0
    limit = RateLimit(rate=rate, burst=10)
    other = aioredis.from_url(URL, socket_timeout=2)
    try:
        limiters = [RedisLimiter(redis, prefix=prefix), RedisLimiter(other, prefix=prefix)]
        start = time.monotonic() + 0.05
        results = await asyncio.gather(
            *(_offer(lim, limit, rate, seconds, start) for lim in limiters)
        )
    finally:
        await other.aclose()
        await _cleanup(redis, prefix)
    arrivals = [a for client in results for a in client]
    admitted = sum(allowed for _, allowed in arrivals)
    sent = len(arrivals)
    elapsed = max(at for at, _ in arrivals) - start
    ideal = _ideal([at for at, _ in arrivals], limit)
    budget = limit.burst + rate * elapsed
    print(
        f"\nGCRA in Redis: offered {sent} in {elapsed:.2f} s (2x {rate:.0f}/s), admitted "
        f"{admitted}, exact GCRA {ideal} ({(admitted - ideal) / ideal:+.1%}), budget {budget:.0f}"
    )
    assert sent - ideal >= 0.3 * sent, "the overload was not offered"
    assert abs(admitted - ideal) <= 0.05 * ideal
    assert admitted <= 1.05 * budget


async def test_same_decisions_as_the_in_process_limiter(redis: aioredis.Redis, prefix: str) -> None:
    limit = RateLimit(rate=1 / 60, burst=5)
    in_process = InProcessLimiter()
    try:
        shared = [await RedisLimiter(redis, prefix=prefix).check("phone", limit) for _ in range(7)]
    finally:
        await _cleanup(redis, prefix)
    local = [in_process.check_now("phone", limit) for _ in range(7)]
    assert [(d.allowed, d.remaining) for d in shared] == [(d.allowed, d.remaining) for d in local]
    assert [d.allowed for d in shared] == [True] * 5 + [False] * 2
    assert shared[5].retry_after == pytest.approx(local[5].retry_after, abs=0.5)
    assert 59 < shared[5].retry_after <= 60


async def test_works_after_script_flush_and_keeps_its_state(
    redis: aioredis.Redis, prefix: str
) -> None:
    limiter = RedisLimiter(redis, prefix=prefix)
    limit = RateLimit(rate=1 / 60, burst=2)
    try:
        assert (await limiter.check("k", limit)).allowed
        await redis.script_flush()  # as a restarted Redis would be
        second = await limiter.check("k", limit)
        assert second.allowed and second.remaining == 0
        assert not (await limiter.check("k", limit)).allowed
        assert await redis.script_exists(limiter._sha) == [True]  # EVAL cached it again
        ttl_ms = await redis.pttl(prefix + "k")
        assert 0 < ttl_ms <= 120_001  # the key lives only until its bucket is full again
    finally:
        await _cleanup(redis, prefix)


async def test_fails_open_to_the_process_when_redis_is_unreachable() -> None:
    dead = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        limiter = RedisLimiter(dead)
        limit = RateLimit(rate=1, burst=2)
        got = [await limiter.check("k", limit) for _ in range(3)]
    finally:
        await dead.aclose()
    assert [d.allowed for d in got] == [True, True, False]
    assert len(limiter.fallback) == 1


async def test_daily_counters(redis: aioredis.Redis, prefix: str) -> None:
    # 23:59 in Nairobi tomorrow (in the future, or Redis would expire the keys at once).
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    now = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 20, 59, 0, tzinfo=UTC)
    counters = DailyCounters(redis, prefix=prefix, clock=lambda: now)
    try:
        assert await counters.add("phone_ix", 150_00) == 150_00
        assert await counters.add("phone_ix", 50_00) == 200_00
        assert await counters.release("phone_ix", 50_00) == 150_00
        assert await counters.get(["phone_ix", "other"]) == [150_00, 0]
        key = f"{prefix}day:{tomorrow.isoformat()}:phone_ix"
        assert await redis.expiretime(key) == int(next_midnight(now).timestamp()) + 60
        # A minute later it is tomorrow in Nairobi: a fresh total.
        now = now + timedelta(seconds=61)
        assert await counters.get(["phone_ix"]) == [0]
        # Velocity: a sliding window of events.
        now = datetime.now(UTC)
        assert [await counters.hit("phone_ix", f"tx{i}", 60) for i in range(3)] == [1, 2, 3]
        assert await counters.hit("phone_ix", "tx2", 60) == 3  # the same event counts once
    finally:
        await _cleanup(redis, prefix)


class CountingRedis:
    """The real client, counting the transactions (round trips) asked of it."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis, self.pipelines = redis, 0

    def pipeline(self, transaction: bool = True) -> Any:
        self.pipelines += 1
        return self.redis.pipeline(transaction=transaction)


async def test_counts_screened_together_are_one_transaction(
    redis: aioredis.Redis, prefix: str
) -> None:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    now = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 20, 59, 0, tzinfo=UTC)
    counting = CountingRedis(redis)
    counters = DailyCounters(cast(aioredis.Redis, counting), prefix=prefix, clock=lambda: now)
    try:
        asked = [
            counters.count(
                ["merchant:m", f"phone:{i % 2}"], 100, Velocity(f"phone:{i % 2}", f"tx{i}", 60)
            )
            for i in range(6)
        ]
        answers = await asyncio.gather(*asked)
        assert counting.pipelines == 1  # six payments, one round trip
        # In the order asked, as if counted one by one.
        assert [totals for totals, _ in answers] == [
            [100, 100], [200, 100], [300, 200], [400, 200], [500, 300], [600, 300]
        ]  # fmt: skip
        assert [recent for _, recent in answers] == [1, 1, 2, 2, 3, 3]
        day_key = f"{prefix}day:{tomorrow.isoformat()}:merchant:m"
        assert int(await redis.get(day_key)) == 600
        assert await redis.expiretime(day_key) == int(next_midnight(now).timestamp()) + 60
        assert 0 < await redis.ttl(f"{prefix}vel:phone:0") <= 120
        # Asked in another turn: a transaction of its own.
        assert await counters.count(["merchant:m"], 50) == ([650], 0)
        assert counting.pipelines == 2
    finally:
        await _cleanup(redis, prefix)
