"""Rate limits: the generic cell rate algorithm (GCRA), in Redis or in process.

GCRA keeps one number per key, the theoretical arrival time (TAT): when the key's bucket would be
full again. A request of ``cost`` units pushes the TAT forward by ``cost / rate`` seconds and is
allowed while the TAT stays within ``burst / rate`` seconds of now. So a key may spend ``burst``
units at once, then ``rate`` units per second, and a refused request changes nothing.

Both limiters run the same arithmetic, in integer microseconds: ``gcra`` below, and the Lua script
that Redis runs atomically with its own clock (``TIME``), so several api processes on machines
with skewed clocks share one exact budget. When Redis fails, ``RedisLimiter`` fails *open* to its
in-process fallback (logged, at most every 30 s): traffic is still limited per process, and an
outage of a cache never stops payments. The price is that with N api processes a client may get
up to N times its limit while Redis is down.

Headers follow draft-ietf-httpapi-ratelimit-headers-10 (the shape used since draft 08): one
policy item, its name a quoted string, ``RateLimit-Policy: "client";q=100;w=2`` and
``RateLimit: "client";r=42;t=1``; ``Retry-After`` (delay-seconds) on refusals.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from infra.redis_batch import TurnPipeline

log = logging.getLogger(__name__)

_US = 1_000_000
_EPS = 1e-6  # absorbs float error in "how many whole units fit", identical in Lua


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` units per second on average, ``burst`` units at once; ``name`` labels the policy
    in the response headers."""

    rate: float
    burst: int
    name: str = "default"

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError("rate must be a positive number of units per second")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")


@dataclass(frozen=True, slots=True)
class Decision:
    """``retry_after``: seconds until this request would be allowed (0 when it was);
    ``reset_after``: seconds until the bucket is full again."""

    allowed: bool
    remaining: int
    retry_after: float
    reset_after: float


def gcra(
    tat_us: int | None, now_us: int, limit: RateLimit, cost: int
) -> tuple[int | None, Decision]:
    """One GCRA step: the new TAT to store (None when refused: nothing changes) and the decision.
    Mirrors ``_LUA`` line for line; keep them together."""
    interval = _US / limit.rate
    tolerance = interval * limit.burst
    tat = now_us if tat_us is None or tat_us < now_us else tat_us
    new_tat = math.floor(tat + cost * interval + 0.5)
    allow_at = new_tat - tolerance
    if now_us < allow_at:
        remaining = math.floor((tolerance - (tat - now_us)) / interval + _EPS)
        retry_us = math.ceil(allow_at - now_us)
        return None, Decision(False, max(remaining, 0), retry_us / _US, (tat - now_us) / _US)
    remaining = math.floor((tolerance - (new_tat - now_us)) / interval + _EPS)
    return new_tat, Decision(True, max(remaining, 0), 0.0, (new_tat - now_us) / _US)


def _check_cost(limit: RateLimit, cost: int) -> None:
    if cost < 1 or cost > limit.burst:
        # A cost above the burst could never pass: that is a configuration error, not a refusal.
        raise ValueError(f"cost {cost} must be between 1 and the burst ({limit.burst})")


class InProcessLimiter:
    """GCRA in a dict, for a single api process (no Redis configured) and as Redis's fallback.
    Keys whose bucket is full again are dropped now and then, so memory follows active keys."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sweep_every: int = 10_000):
        self._clock = clock
        self._tats: dict[str, int] = {}
        self._sweep_every = sweep_every
        self._calls = 0

    async def check(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        return self.check_now(key, limit, cost)

    def check_now(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        _check_cost(limit, cost)
        now_us = int(self._clock() * _US)
        new_tat, decision = gcra(self._tats.get(key), now_us, limit, cost)
        if new_tat is not None:
            self._tats[key] = new_tat
        self._calls += 1
        if self._calls % self._sweep_every == 0:
            self._sweep(now_us)
        return decision

    def _sweep(self, now_us: int) -> None:
        for key in [k for k, tat in self._tats.items() if tat <= now_us]:
            del self._tats[key]

    def __len__(self) -> int:
        return len(self._tats)


# KEYS[1] = key; ARGV = rate (units/s), burst, cost. Returns {allowed, remaining, retry_us,
# reset_us}. Numbers go back to Redis as strings with "%.0f": Lua 5.1 would print a 16-digit
# microsecond time as 1.7e+15 and lose it. TIME before a write is fine: Redis 7 replicates
# script effects, not the script.
_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = 1000000 / rate
local tolerance = interval * burst
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = math.floor(tat + cost * interval + 0.5)
local allow_at = new_tat - tolerance
if now < allow_at then
  local remaining = math.floor((tolerance - (tat - now)) / interval + 1e-6)
  return {0, remaining, math.ceil(allow_at - now), tat - now}
end
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, math.floor((tolerance - (new_tat - now)) / interval + 1e-6), 0, new_tat - now}
"""


class RedisLimiter:
    """GCRA shared by every api process: one atomic script per check (EVALSHA, and EVAL when a
    restarted or flushed Redis answers NOSCRIPT, which also caches it again).

    After a Redis failure the limiter stays on its fallback for ``cool_down`` seconds before it
    tries Redis again, so an outage costs one connect timeout per cool-down, not per request."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str = "switch:rl:",
        fallback: InProcessLimiter | None = None,
        cool_down: float = 5.0,
        warn_every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._turn = TurnPipeline(redis)  # the checks of one turn of the loop: one round trip
        self._prefix = prefix
        self.fallback = fallback if fallback is not None else InProcessLimiter()
        self._sha = hashlib.sha1(_LUA.encode(), usedforsecurity=False).hexdigest()
        self._cool_down = cool_down
        self._warn_every = warn_every
        self._clock = clock
        self._down_until = -math.inf
        self._warned_at = -math.inf

    @property
    def degraded(self) -> bool:
        """True while checks go to the in-process fallback (for /readyz or a metric)."""
        return self._clock() < self._down_until

    async def check(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        _check_cost(limit, cost)
        if self.degraded:
            return self.fallback.check_now(key, limit, cost)
        args = (repr(limit.rate), limit.burst, cost)
        try:
            reply = await self._run(self._prefix + key, args)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return self.fallback.check_now(key, limit, cost)
        allowed, remaining, retry_us, reset_us = (int(x) for x in reply)
        return Decision(bool(allowed), max(remaining, 0), retry_us / _US, reset_us / _US)

    async def _run(self, key: str, args: tuple[str, int, int]) -> list[int]:
        try:
            return await self._turn.call("evalsha", self._sha, 1, key, *args)  # type: ignore[no-any-return]
        except NoScriptError:
            # EVAL runs it and caches it again, so the next EVALSHA finds it.
            return await self._redis.eval(_LUA, 1, key, *args)  # type: ignore[no-any-return]

    def _failed(self, exc: BaseException) -> None:
        now = self._clock()
        self._down_until = now + self._cool_down
        if now - self._warned_at >= self._warn_every:
            self._warned_at = now
            log.warning(
                "rate limits fall back to this process for %.0f s (Redis failed: %s)",
                self._cool_down,
                exc,
            )


def headers(decision: Decision, limit: RateLimit) -> dict[str, str]:
    """Response headers for a decision. The policy's window ``w`` is the time a full burst takes
    to refill (at least 1 s); ``q`` is what the rate admits over that window. On a refusal ``t``
    names the same moment as ``Retry-After``, as the draft asks."""
    window = max(1, math.ceil(limit.burst / limit.rate))
    quota = max(limit.burst, math.floor(limit.rate * window))
    name = limit.name.replace("\\", "").replace('"', "")
    out = {"RateLimit-Policy": f'"{name}";q={quota};w={window}'}
    if decision.allowed:
        out["RateLimit"] = f'"{name}";r={decision.remaining};t={math.ceil(decision.reset_after)}'
    else:
        wait = max(1, math.ceil(decision.retry_after))
        out["RateLimit"] = f'"{name}";r={decision.remaining};t={wait}'
        out["Retry-After"] = str(wait)
    return out


# Per-endpoint costs (route pattern as aiohttp names it). Reads of one object are cheap, anything
# that moves money, prompts a phone or scans many documents costs more. Unlisted routes cost 1.
ENDPOINT_COSTS: Mapping[str, int] = {
    "POST /v1/oauth/token": 5,
    "POST /v1/auth/login": 1,  # bounded by the "login" policy, keyed by account and address
    "POST /v1/payments": 2,
    "POST /v1/payouts": 2,
    "POST /v1/payments/{payment_id}/reversal": 2,
    "GET /v1/payments/{payment_id}": 1,
    "GET /v1/payouts/{payment_id}": 1,
    "GET /v1/reversals/{payment_id}": 1,
    "GET /v1/payments/{payment_id}/events": 1,
    "GET /v1/events": 1,
    "GET /v1/balance": 1,
    "PUT /v1/c2b/registration": 5,
    "POST /v1/operator/provider-balance": 5,
    "GET /v1/audit": 5,
    "GET /v1/reports/suspicious-activity": 20,
}


def cost_of(method: str, route: str, table: Mapping[str, int] = ENDPOINT_COSTS) -> int:
    return table.get(f"{method.upper()} {route}", 1)


# Default policies (override from configuration). Per client and per merchant bound API use;
# per phone bounds STK prompts, so nobody can spam a customer's handset (3 a minute, 3 at once):
# key it by the phone's blind index, so no number is written to Redis in clear.
DEFAULT_LIMITS: Mapping[str, RateLimit] = {
    "client": RateLimit(rate=100.0, burst=200, name="client"),
    "merchant": RateLimit(rate=300.0, burst=600, name="merchant"),
    "stk_phone": RateLimit(rate=3 / 60, burst=3, name="stk-phone"),
    "login": RateLimit(rate=5 / 60, burst=10, name="login"),
}
