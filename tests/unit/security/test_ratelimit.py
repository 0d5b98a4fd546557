"""GCRA: the pure step, the in-process limiter, the headers, and RedisLimiter's fallbacks."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from infra.ratelimit import (
    DEFAULT_LIMITS,
    ENDPOINT_COSTS,
    Decision,
    InProcessLimiter,
    RateLimit,
    RedisLimiter,
    cost_of,
    gcra,
    headers,
)


class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_burst_then_refused_and_a_refusal_costs_nothing() -> None:
    clock = Clock()
    limiter = InProcessLimiter(clock)
    limit = RateLimit(rate=10, burst=3)
    got = [limiter.check_now("k", limit) for _ in range(5)]
    assert [d.allowed for d in got] == [True, True, True, False, False]
    assert [d.remaining for d in got[:3]] == [2, 1, 0]
    assert got[3].retry_after == pytest.approx(0.1)
    assert got[3].reset_after == pytest.approx(0.3)
    # Refusals did not push the bucket further: after exactly one interval one unit is back.
    clock.t += 0.1
    assert limiter.check_now("k", limit).allowed
    assert not limiter.check_now("k", limit).allowed


def test_keys_are_independent() -> None:
    limiter = InProcessLimiter(Clock())
    limit = RateLimit(rate=1, burst=1)
    assert limiter.check_now("a", limit).allowed
    assert not limiter.check_now("a", limit).allowed
    assert limiter.check_now("b", limit).allowed


def test_cost_spends_several_units() -> None:
    limiter = InProcessLimiter(Clock())
    limit = RateLimit(rate=10, burst=5)
    first = limiter.check_now("k", limit, cost=3)
    assert first.allowed and first.remaining == 2
    refused = limiter.check_now("k", limit, cost=3)
    assert not refused.allowed
    assert refused.remaining == 2  # two units are there, three were asked for
    assert refused.retry_after == pytest.approx(0.1)


def test_a_cost_above_the_burst_is_a_configuration_error() -> None:
    limiter = InProcessLimiter(Clock())
    with pytest.raises(ValueError, match="burst"):
        limiter.check_now("k", RateLimit(rate=1, burst=2), cost=3)
    with pytest.raises(ValueError, match="rate"):
        RateLimit(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(rate=1, burst=0)


def test_remaining_is_exact_with_a_rate_that_is_not_a_round_number() -> None:
    # 1/3 s intervals do not add up exactly in floating point; the count must still be right.
    limit = RateLimit(rate=3, burst=50)
    tat: int | None = None
    for i in range(50):
        tat, decision = gcra(tat, 0, limit, 1)
        assert decision.allowed and decision.remaining == 49 - i
    assert not gcra(tat, 0, limit, 1)[1].allowed


@pytest.mark.parametrize("rate", [7.0, 50.0, 333.0])
def test_accuracy_under_double_overload(rate: float) -> None:
    """Offered 2x the rate for 10 s: admitted = burst + rate * 10, within 5% (in fact 1 unit)."""
    clock = Clock()
    limiter = InProcessLimiter(clock)
    limit = RateLimit(rate=rate, burst=5)
    step = 1 / (2 * rate)
    seconds = 10.0
    admitted = 0
    for i in range(int(seconds / step)):
        clock.t = 1000.0 + i * step
        admitted += limiter.check_now("k", limit).allowed
    expected = limit.burst + rate * seconds
    assert abs(admitted - expected) <= max(1, 0.05 * expected), (admitted, expected)
    assert abs(admitted - expected) <= 1


def test_full_buckets_are_swept_away() -> None:
    clock = Clock()
    limiter = InProcessLimiter(clock, sweep_every=10)
    limit = RateLimit(rate=100, burst=1)
    for i in range(9):
        limiter.check_now(f"k{i}", limit)
    assert len(limiter) == 9
    clock.t += 1
    limiter.check_now("last", limit)  # the tenth call sweeps
    assert len(limiter) == 1


def test_headers_when_allowed() -> None:
    limit = RateLimit(rate=50, burst=100, name="client")
    got = headers(Decision(True, 42, 0.0, 1.16), limit)
    assert got == {"RateLimit-Policy": '"client";q=100;w=2', "RateLimit": '"client";r=42;t=2'}


def test_headers_when_refused_agree_with_retry_after() -> None:
    limit = RateLimit(rate=3 / 60, burst=3, name="stk-phone")
    got = headers(Decision(False, 0, 19.2, 59.2), limit)
    assert got["Retry-After"] == "20"
    assert got["RateLimit"] == '"stk-phone";r=0;t=20'
    assert got["RateLimit-Policy"] == '"stk-phone";q=3;w=60'


def test_headers_never_say_retry_after_zero() -> None:
    got = headers(Decision(False, 0, 0.0004, 0.5), RateLimit(rate=1000, burst=10))
    assert got["Retry-After"] == "1"


def test_cost_table() -> None:
    assert cost_of("post", "/v1/payments") == ENDPOINT_COSTS["POST /v1/payments"] == 2
    assert cost_of("GET", "/v1/unknown") == 1
    # Every cost must fit in the API-wide bursts, or that endpoint could never be called.
    for name in ("client", "merchant"):
        assert max(ENDPOINT_COSTS.values()) <= DEFAULT_LIMITS[name].burst


class FakePipeline:
    """The commands of one turn, run in order when executed (errors answered in place)."""

    def __init__(self, redis: FakeRedis) -> None:
        self.redis, self.queued = redis, []  # type: ignore[var-annotated]

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.queued.append((name, args, kwargs))

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.redis.pipelines += 1
        answers: list[Any] = []
        for name, args, kwargs in self.queued:
            try:
                answers.append(await getattr(self.redis, name)(*args, **kwargs))
            except Exception as exc:
                answers.append(exc)
        return answers


class FakeRedis:
    def __init__(self, fail: Exception | None = None, noscript_first: bool = False) -> None:
        self.fail = fail
        self.noscript = noscript_first
        self.calls: list[str] = []
        self.pipelines = 0

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)

    async def evalsha(self, sha: str, numkeys: int, *args: object) -> list[int]:
        self.calls.append("evalsha")
        if self.fail:
            raise self.fail
        if self.noscript:
            raise NoScriptError("NOSCRIPT No matching script")
        return [1, 4, 0, 200_000]

    async def eval(self, script: str, numkeys: int, *args: object) -> list[int]:
        self.calls.append("eval")
        assert "redis.call('TIME')" in script
        self.noscript = False
        return [0, 0, 1_500_000, 3_000_000]


async def test_redis_reply_is_decoded() -> None:
    limiter = RedisLimiter(FakeRedis())  # type: ignore[arg-type]
    assert await limiter.check("k", RateLimit(10, 5)) == Decision(True, 4, 0.0, 0.2)


async def test_checks_of_one_turn_are_one_round_trip() -> None:
    fake = FakeRedis()
    limiter = RedisLimiter(fake)  # type: ignore[arg-type]
    checks = [limiter.check(f"k{i}", RateLimit(10, 5)) for i in range(5)]
    assert all(d.allowed for d in await asyncio.gather(*checks))
    assert (fake.calls, fake.pipelines) == (["evalsha"] * 5, 1)
    await limiter.check("k", RateLimit(10, 5))  # another turn: another round trip
    assert fake.pipelines == 2


async def test_noscript_falls_back_to_eval_once() -> None:
    fake = FakeRedis(noscript_first=True)
    limiter = RedisLimiter(fake)  # type: ignore[arg-type]
    assert await limiter.check("k", RateLimit(10, 5)) == Decision(False, 0, 1.5, 3.0)
    await limiter.check("k", RateLimit(10, 5))
    assert fake.calls == ["evalsha", "eval", "evalsha"]


async def test_redis_down_fails_open_to_the_process_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    fake = FakeRedis(fail=RedisConnectionError("refused"))
    limiter = RedisLimiter(
        fake,  # type: ignore[arg-type]
        fallback=InProcessLimiter(clock),
        cool_down=5.0,
        clock=clock,
    )
    limit = RateLimit(rate=1, burst=2)
    with caplog.at_level(logging.WARNING):
        got = [await limiter.check("k", limit) for _ in range(3)]
    # Still limited, by the in-process fallback, with the same semantics.
    assert [d.allowed for d in got] == [True, True, False]
    assert math.isclose(got[2].retry_after, 1.0)
    # Redis was asked once; during the cool-down the fallback answers without waiting on it.
    assert fake.calls == ["evalsha"] and limiter.degraded
    clock.t += 5.0
    assert not limiter.degraded
    fake.fail = None
    assert await limiter.check("k", limit) == Decision(True, 4, 0.0, 0.2)  # Redis again
    warnings = [r for r in caplog.records if "fall back" in r.getMessage()]
    assert len(warnings) == 1  # once per 30 s, not per request
