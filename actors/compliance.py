"""The shard's compliance desk: screens each new payment (KYC, AML limits and velocity, sanctions)
and keeps the day counters, the KYC cache and the ``compliance_events`` log. The decisions are
pure (switch/compliance.py); this class does the I/O around them.

- Day counters: :class:`~infra.aml.DailyCounters` in Redis when ``REDIS_URL`` is set
  (several shards see one customer's phone), else :class:`MemoryCounters`. A screened payment
  adds its amount to its phone's and its merchant's day totals *before* the limits are checked
  (two concurrent payments cannot both slip under a cap), and gives it back when it is refused
  or ends failed (:meth:`Compliance.release`), but only on the same Nairobi day: yesterday's
  counter is gone anyway. Phones are counted by a keyed blind index, never in clear. If Redis
  fails, screening falls back to the in-memory counters for :data:`REDIS_COOL_DOWN` seconds
  (exact for the merchant, whose payments all pass this shard; a phone's total then misses other
  shards) rather than refuse all traffic.
- KYC state: read from the merchant's document, cached for :data:`KYC_TTL` seconds. An operator's
  change reaches the one shard that owns the merchant directly (``ShardCore.kyc_changed``, a Ray
  call the api awaits), so it applies at once; no pub/sub is needed while a merchant's payments
  have a single writer. A restarted shard starts with an empty cache.
- Sanctions list: ``SWITCH_SANCTIONS_LIST_FILE``, or in sandbox mode the sample list of invented
  names. Without either, names are not screened (logged once at start).
- Events: holds, refusals and review decisions are appended to ``compliance_events`` (batched,
  best effort: the payment's own history is the record of truth), read by the suspicious-
  activity report. Phones are masked there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

import redis.asyncio as aioredis
from pymongo.asynchronous.collection import AsyncCollection
from redis.exceptions import RedisError

from infra.aml import DailyCounters, Velocity
from infra.group_commit import GroupCommit
from infra.storage.mongo import Collections
from switch.compliance import (
    ALLOW,
    Screening,
    Stage,
    approvals_needed,
    combine,
    hit_record,
    kyc_state,
    merchant_limits,
    recipient_names,
)
from switch.config import Settings
from switch.ids import new_id
from switch.payments import Payment, is_payout, now_utc
from switch.phone import mask_msisdn
from switch.platform import effective
from switch.security.aml import Counters, Limits, evaluate, nairobi_day
from switch.security.crypto import blind_index, derive_key
from switch.security.sanctions import SAMPLE_LIST, SanctionsList

log = logging.getLogger(__name__)

KYC_TTL = 30.0
REDIS_COOL_DOWN = 5.0
KES = 100
Doc = dict[str, Any]


class CounterStore(Protocol):
    async def add(self, subject: str, amount: int) -> int: ...

    async def release(self, subject: str, amount: int) -> int: ...

    async def hit(self, subject: str, event_id: str, window_s: int) -> int: ...

    async def count(
        self, days: Sequence[str], amount: int, velocity: Velocity | None = None
    ) -> tuple[list[int], int]:
        """``add`` to each of ``days`` and ``hit`` the velocity window: (the new totals, the
        events in the window)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class MemoryCounters:
    """The in-process equivalent of DailyCounters (one shard; no Redis configured)."""

    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self._now = clock
        self._day = ""
        self._days: dict[str, int] = {}  # today's totals by subject
        self._events: dict[str, dict[str, float]] = {}
        self._hits = 0

    async def add(self, subject: str, amount: int) -> int:
        day = nairobi_day(self._now()).isoformat()
        if day != self._day:  # a new day: yesterday's totals are done (O(1) per payment)
            self._day, self._days = day, {}
        self._days[subject] = self._days.get(subject, 0) + amount
        return self._days[subject]

    async def release(self, subject: str, amount: int) -> int:
        return await self.add(subject, -amount)

    async def hit(self, subject: str, event_id: str, window_s: int) -> int:
        now = self._now().timestamp()
        self._hits += 1
        if self._hits % 10_000 == 0:  # forget subjects whose events are all out of the window
            self._events = {
                k: v for k, v in self._events.items() if max(v.values(), default=0) > now - window_s
            }
        seen = self._events.setdefault(subject, {})
        for old in [e for e, t in seen.items() if t <= now - window_s]:
            del seen[old]
        seen[event_id] = now
        return len(seen)

    async def count(
        self, days: Sequence[str], amount: int, velocity: Velocity | None = None
    ) -> tuple[list[int], int]:
        totals = [await self.add(s, amount) for s in days]
        if velocity is None:
            return totals, 0
        return totals, await self.hit(velocity.subject, velocity.event_id, velocity.window_s)


def limits_from(settings: Settings) -> Limits:
    return Limits(
        per_transaction_max=settings.aml_transaction_max * KES,
        phone_daily_max=settings.aml_phone_daily_max * KES,
        merchant_daily_max=_cents(settings.aml_merchant_daily_max),
        velocity_count=settings.aml_velocity_count,
        velocity_window_s=settings.aml_velocity_window,
        hold_above=_cents(settings.aml_hold_above),
    )


def _cents(shillings: int | None) -> int | None:
    return None if shillings is None else shillings * KES


def sanctions_from(settings: Settings) -> SanctionsList | None:
    path = settings.sanctions_list_file or (str(SAMPLE_LIST) if settings.sandbox else None)
    if path is None:
        log.warning("no sanctions list configured (SWITCH_SANCTIONS_LIST_FILE): names unscreened")
        return None
    screened = SanctionsList.load(path)
    log.info("sanctions list %s: %d entries", path, len(screened))
    return screened


class Compliance:
    def __init__(
        self,
        merchants: AsyncCollection[Doc],
        events: AsyncCollection[Doc] | None,
        counters: CounterStore,
        sanctions: SanctionsList | None,
        limits: Limits,
        *,
        sandbox: bool,
        index_key: bytes,
        threshold: float = 0.85,
        two_approvers_from: int = 100_000 * KES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._merchants = merchants
        self._counters = counters
        self._memory = MemoryCounters()
        self.sanctions = sanctions
        self.limits = limits
        self.sandbox = sandbox
        self._index_key = index_key
        self._threshold = threshold
        self._two_from = two_approvers_from
        self._clock = clock
        self._kyc: dict[str, tuple[float, Doc]] = {}
        self._redis_back_at = 0.0
        self._events = GroupCommit(self._write_events, window=0.05) if events is not None else None
        self._events_col = events
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, cols: Collections, secret_key: bytes) -> Compliance:
        counters: CounterStore = MemoryCounters()
        if settings.redis_url:
            # A bounded, blocking pool: a burst of payments waits for one of 64 connections
            # (redis-py refuses past 100, and the counts would fall back to this shard alone).
            pool = aioredis.BlockingConnectionPool.from_url(
                settings.redis_url,
                max_connections=64,
                timeout=1.0,
                socket_timeout=1,
                socket_connect_timeout=1,
            )
            redis = aioredis.Redis.from_pool(pool)
            counters = DailyCounters(redis, prefix=f"switch:aml:{settings.mongodb_db}:")
        events = getattr(cols, "compliance_events", None)
        if events is None:
            events = cols.merchants.database["compliance_events"]
        return cls(
            cols.merchants,
            events,
            counters,
            sanctions_from(settings),
            limits_from(settings),
            sandbox=settings.sandbox,
            index_key=derive_key(secret_key, "aml-phone-counter"),
            threshold=settings.sanctions_threshold,
            two_approvers_from=settings.review_two_approvers_from * KES,
        )

    def start(self) -> None:
        if self._events is not None:
            self._events.start()

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._events is not None:
            await self._events.stop()

    # --- screening -----------------------------------------------------------------------

    async def screen(
        self,
        *,
        payment_id: str,
        merchant_id: str,
        method: str,
        amount: int,
        phone: str,
        destination: dict[str, Any],
        metadata: dict[str, Any],
        stage: Stage = "new",
    ) -> Screening:
        """Screen a new payment. When the answer is not a refusal, the amount stays counted
        for today (``Screening.day``); release it with :meth:`release` if the payment fails."""
        if stage == "transfer_onward":
            return ALLOW
        merchant = await self._merchant(merchant_id)
        limits = merchant_limits(self.limits, merchant)
        subjects = self._subjects(merchant_id, phone)
        totals, recent = await self._count(subjects, payment_id, amount, limits)
        before = Counters(
            phone_today=totals.get("phone", amount) - amount,
            merchant_today=totals["merchant"] - amount,
            phone_recent=max(recent - 1, 0),
        )
        verdict = evaluate(amount, before, limits)
        hits = self._hits(destination, metadata) if is_payout(method) else []
        screening = combine(kyc_state(merchant), self.sandbox, verdict, hits, amount, limits, stage)
        day = nairobi_day(_utc_now()).isoformat()
        if screening.action == "refuse":
            await self._give_back(subjects, amount)
            self._record(screening, payment_id, merchant_id, method, amount, phone, destination)
            return screening
        if screening.action == "hold":
            self._record(screening, payment_id, merchant_id, method, amount, phone, destination)
        return replace(screening, day=day)

    def needed(self, amount: int) -> int:
        return approvals_needed(amount, self._two_from)

    def _subjects(self, merchant_id: str, phone: str) -> dict[str, str]:
        subjects = {"merchant": f"merchant:{merchant_id}"}
        if phone:
            subjects["phone"] = f"phone:{blind_index(phone, self._index_key)}"
        return subjects

    async def _count(
        self, subjects: dict[str, str], payment_id: str, amount: int, limits: Limits
    ) -> tuple[dict[str, int], int]:
        """Add the amount to each subject's day and record the phone's velocity event."""
        if self._clock() >= self._redis_back_at:
            try:
                return await self._count_in(self._counters, subjects, payment_id, amount, limits)
            except (RedisError, OSError) as exc:
                # One timeout per cool-down, not one per payment, while Redis is away.
                self._redis_back_at = self._clock() + REDIS_COOL_DOWN
                log.warning("AML counters unavailable (%s); counting in this shard only", exc)
        return await self._count_in(self._memory, subjects, payment_id, amount, limits)

    @staticmethod
    async def _count_in(
        store: CounterStore, subjects: dict[str, str], payment_id: str, amount: int, limits: Limits
    ) -> tuple[dict[str, int], int]:
        names = list(subjects)
        velocity = None
        if "phone" in subjects and limits.velocity_count is not None:
            velocity = Velocity(subjects["phone"], payment_id, limits.velocity_window_s)
        # One round trip for this payment and every other screened meanwhile (infra/aml.py).
        totals, recent = await store.count([subjects[n] for n in names], amount, velocity)
        return dict(zip(names, totals, strict=True)), recent

    async def _give_back(self, subjects: dict[str, str], amount: int) -> None:
        """Uncount from the store in use: Redis, or this shard's counters while it is away (an
        amount counted in the other one makes that total a little high, never low)."""
        store = self._counters if self._clock() >= self._redis_back_at else self._memory
        try:
            await asyncio.gather(*(store.release(s, amount) for s in subjects.values()))
        except (RedisError, OSError) as exc:
            log.warning("AML counters not released (%s); today's totals stay high", exc)

    def _hits(self, destination: dict[str, Any], metadata: dict[str, Any]) -> list[Doc]:
        if self.sanctions is None:
            return []
        found: list[Doc] = []
        for name in recipient_names(destination, metadata):
            found.extend(hit_record(name, h) for h in self.sanctions.screen(name, self._threshold))
        return found

    async def release(self, payment: Payment) -> None:
        """Give a failed payment's amount back to the day it was counted for (see
        :func:`switch.reviews.screened`)."""
        aml = payment.history[0].detail.get("aml") if payment.history else None
        if isinstance(aml, dict) and isinstance(aml.get("day"), str):
            await self.give_back(
                payment.merchant_id, payment.phone, payment.amount_minor, aml["day"]
            )

    async def give_back(self, merchant_id: str, phone: str, amount: int, day: str) -> None:
        """Uncount an amount counted on ``day``; a past day's totals are left as they were."""
        if day == nairobi_day(_utc_now()).isoformat():
            await self._give_back(self._subjects(merchant_id, phone), amount)

    # --- KYC -----------------------------------------------------------------------------

    async def _merchant(self, merchant_id: str) -> Doc:
        cached = self._kyc.get(merchant_id)
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        fields = {"kyc_status": 1, "limits": 1, "status": 1, "parent_id": 1}
        doc = await self._merchants.find_one({"_id": merchant_id}, fields) or {"_id": merchant_id}
        if doc.get("parent_id"):  # a sub-merchant: its parent's limits and suspension apply
            parent = await self._merchants.find_one({"_id": doc["parent_id"]}, fields)
            doc = effective(doc, parent)
        self._kyc[merchant_id] = (now + KYC_TTL, doc)
        return doc

    def forget(self, merchant_id: str) -> None:
        """The merchant's KYC state or limits changed: read them again on its next payment."""
        self._kyc.pop(merchant_id, None)

    # --- events --------------------------------------------------------------------------

    def _record(
        self,
        screening: Screening,
        payment_id: str,
        merchant_id: str,
        method: str,
        amount: int,
        phone: str,
        destination: dict[str, Any],
    ) -> None:
        kind = "held" if screening.action == "hold" else "refused"
        self.record(
            kind,
            payment_id=payment_id,
            merchant_id=merchant_id,
            method=method,
            amount=amount,
            phone=phone,
            reason=screening.reason,
            field=screening.field,
            rules=list(screening.rules),
            names=sorted({str(h["name"]) for h in screening.hits}),
        )

    def record(
        self,
        kind: str,
        *,
        payment_id: str,
        merchant_id: str,
        method: str,
        amount: int,
        phone: str,
        reason: str = "",
        field: str | None = None,
        rules: Sequence[str] = (),
        names: Sequence[str] = (),
        reviewer: str | None = None,
        note: str | None = None,
    ) -> None:
        """Append one event (held, refused, endorsed, approved, rejected); never raises."""
        if self._events is None:
            return
        doc: Doc = {
            "_id": new_id("cev"),
            "at": now_utc(),
            "kind": kind,
            "merchant_id": merchant_id,
            "payment_id": payment_id,
            "method": method,
            "amount_minor": amount,
            "phone": mask_msisdn(phone) if phone else None,
            "reason": reason,
            "field": field,
            "rules": list(rules),
            "names": list(names),
            "reviewer": reviewer,
            "note": note,
        }
        task = asyncio.ensure_future(self._events.submit(doc))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("compliance event not recorded: %s", task.exception())

    async def _write_events(self, docs: list[Doc]) -> list[None]:
        assert self._events_col is not None
        await self._events_col.insert_many(docs, ordered=False)
        return [None] * len(docs)
