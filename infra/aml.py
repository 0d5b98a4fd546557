"""The AML day counters and velocity windows in Redis. The limits and rules that read them are pure
(:mod:`switch.security.aml`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import redis.asyncio as aioredis

from switch.security.aml import nairobi_day, next_midnight


def _now() -> datetime:
    return datetime.now(UTC)


class DailyCounters:
    """Per-day sums in Redis (``INCRBY``), one key per subject and Nairobi day, expiring a minute
    after that day's midnight. The day is in the key, so a late expiry never carries a total
    over. The day comes from this host's clock: a few seconds of skew only move which day a
    payment at midnight counts for.

    Keys should not carry personal data: count phones by their blind index, not the number."""

    def __init__(
        self,
        redis: aioredis.Redis,
        prefix: str = "switch:aml:",
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._now = clock

    def _key(self, subject: str, at: datetime) -> str:
        return f"{self._prefix}day:{nairobi_day(at).isoformat()}:{subject}"

    async def add(self, subject: str, amount: int) -> int:
        """Adds to today's total and returns the new total."""
        at = self._now()
        key = self._key(subject, at)
        expire_at = int(next_midnight(at).timestamp()) + 60
        pipe = self._redis.pipeline(transaction=True)
        pipe.incrby(key, amount)
        pipe.expireat(key, expire_at)
        total, _ = await pipe.execute()
        return int(total)

    async def release(self, subject: str, amount: int) -> int:
        """Takes back a reservation (refused, held or failed payment)."""
        return await self.add(subject, -amount)

    async def get(self, subjects: Sequence[str]) -> list[int]:
        at = self._now()
        values = await self._redis.mget([self._key(s, at) for s in subjects])
        return [int(v) if v is not None else 0 for v in values]

    async def hit(self, subject: str, event_id: str, window_s: int) -> int:
        """Records one event (e.g. a transaction id) for a velocity rule and returns how many the
        subject had in the last ``window_s`` seconds, this one included. A sorted set per subject
        keeps it exact (a sliding window, not fixed buckets)."""
        now = self._now().timestamp()
        key = f"{self._prefix}vel:{subject}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.zremrangebyscore(key, 0, now - window_s)
        pipe.zadd(key, {event_id: now})
        pipe.zcard(key)
        pipe.expire(key, window_s + 60)
        results = await pipe.execute()
        return int(results[2])
