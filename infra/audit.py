"""The audit trail's store in MongoDB: appends from several processes at once, verification and
pages. The chaining and verification rules themselves are pure (:mod:`switch.security.audit`)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from switch.security.audit import (
    FILTERABLE,
    GENESIS,
    MAX_PAGE,
    AuditError,
    Record,
    Verifier,
    VerifyResult,
    chain,
    new_record,
)


def _now() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """The trail in MongoDB, ``_id`` = seq. Several api processes may append at once: each
    insert claims the next seq, and the unique ``_id`` lets exactly one win; a loser re-reads
    the last record and tries the next seq. Within a process appends are serialised and the
    last (seq, hash) is cached, so the usual append is one insert."""

    def __init__(
        self,
        collection: AsyncCollection[Record],
        clock: Callable[[], datetime] = _now,
        max_attempts: int = 100,
    ) -> None:
        self._col = collection
        self._clock = clock
        self._max_attempts = max_attempts
        self._lock = asyncio.Lock()
        self._last: tuple[int, str] | None = None

    async def head(self) -> tuple[int, str]:
        """The newest (seq, hash); (0, GENESIS) for an empty log."""
        doc = await self._col.find_one({}, {"hash": 1}, sort=[("_id", -1)])
        return (0, GENESIS) if doc is None else (int(doc["_id"]), str(doc["hash"]))

    async def append(
        self,
        actor: str,
        action: str,
        target: str,
        before: Any = None,
        after: Any = None,
        request_id: str | None = None,
    ) -> Record:
        async with self._lock:
            last = self._last or await self.head()
            for attempt in range(self._max_attempts):
                seq, prev = last[0] + 1, last[1]
                fields = new_record(seq, self._clock(), actor, action, target, before, after)
                record = chain(prev, {**fields, "request_id": request_id})
                try:
                    await self._col.insert_one({"_id": seq, **record})
                except DuplicateKeyError:
                    # Another process took this seq: follow the chain from its record.
                    await asyncio.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
                    last = await self.head()
                    continue
                self._last = (seq, record["hash"])
                return record
        raise AuditError(f"audit append gave up after {self._max_attempts} contended attempts")

    async def verify(self, anchor: tuple[int, str] | None = None) -> VerifyResult:
        verifier = Verifier()
        async for doc in self._col.find({}, batch_size=1000).sort("_id", 1):
            if not verifier.feed(doc):
                break
        return verifier.result(anchor)

    async def list(
        self, after_seq: int = 0, limit: int = 100, filters: Mapping[str, str] | None = None
    ) -> list[Record]:
        """Records after ``after_seq`` in seq order (page on with the last seq). Filters are
        exact matches on a fixed set of fields and plain strings only, so no client value can
        become a query operator."""
        query: dict[str, Any] = {"_id": {"$gt": int(after_seq)}}
        for name, value in (filters or {}).items():
            if name not in FILTERABLE:
                raise ValueError(f"cannot filter on {name!r}; use one of {', '.join(FILTERABLE)}")
            if not isinstance(value, str):
                raise ValueError(f"filter {name!r} must be a string")
            query[name] = value
        page = max(1, min(int(limit), MAX_PAGE))
        cursor = self._col.find(query).sort("_id", 1).limit(page)
        return [{k: v for k, v in doc.items() if k != "_id"} async for doc in cursor]
