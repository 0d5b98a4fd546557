"""The AML day counters and velocity windows in Redis. The limits and rules that read them are pure
(:mod:`switch.security.aml`).

A payment's screening counts it once per subject (the merchant's day, the phone's day, the
phone's velocity window): :meth:`DailyCounters.count` does them all, and the counts of every
payment screened in the same turn of the event loop (a shard screens a batch of new payments
together) go in one transaction, one round trip for the batch instead of three per payment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis

from infra.group_commit import GroupCommit
from switch.security.aml import nairobi_day, next_midnight


@dataclass(frozen=True, slots=True)
class Velocity:
    """One event (a payment id) for a subject's sliding window of ``window_s`` seconds."""

    subject: str
    event_id: str
    window_s: int


_Asked = tuple[tuple[str, ...], int, Velocity | None]  # one payment's count


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
        self._batch = GroupCommit(self._count_all, per_turn=True)

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

    async def count(
        self, days: Sequence[str], amount: int, velocity: Velocity | None = None
    ) -> tuple[list[int], int]:
        """:meth:`add` for each of ``days`` and :meth:`hit` for ``velocity``, answered together
        with every other count asked for in the same turn of the event loop: one transaction
        (one round trip) for them all, each key's expiry set once in it. Counted in the order
        asked, so each answer is the total a count made alone in that order would have seen."""
        return await self._batch.submit((tuple(days), amount, velocity))

    async def _count_all(self, batch: list[_Asked]) -> list[tuple[list[int], int]]:
        at = self._now()
        now = at.timestamp()
        expire_day = int(next_midnight(at).timestamp()) + 60
        pipe = self._redis.pipeline(transaction=True)
        expire_at: dict[str, int] = {}  # each key's expiry, set once, after its counts
        expire_in: dict[str, int] = {}
        for days, amount, velocity in batch:
            for subject in days:
                key = self._key(subject, at)
                pipe.incrby(key, amount)
                expire_at[key] = expire_day
            if velocity is not None:
                key = f"{self._prefix}vel:{velocity.subject}"
                pipe.zremrangebyscore(key, 0, now - velocity.window_s)
                pipe.zadd(key, {velocity.event_id: now})
                pipe.zcard(key)
                expire_in[key] = velocity.window_s + 60
        for key, when in expire_at.items():
            pipe.expireat(key, when)
        for key, seconds in expire_in.items():
            pipe.expire(key, seconds)
        results = iter(await pipe.execute())
        answers = []
        for days, _amount, velocity in batch:
            totals = [int(next(results)) for _ in days]
            recent = 0
            if velocity is not None:
                for _trimmed_and_added in range(2):
                    next(results)
                recent = int(next(results))
            answers.append((totals, recent))
        return answers

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
