"""Reads for finding payments (the rules are switch/search.py's): a merchant's payments window by
window of creation time through the ``(merchant_id, created_at)`` index, or all of one phone's
through the phone index, as compact projections; then the page's whole documents by id.

Reads only, from MongoDB directly (never through the shard actor, so a search cannot slow the
hot path's writer); a payment written in the shard's last group commit (milliseconds ago) may
not be seen yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.read_concern import ReadConcern

from infra.storage.mongo import Doc
from switch.search import (
    FIRST_WINDOW,
    PROJECTION,
    SCAN_BUDGET,
    Filters,
    Position,
    after,
    floor,
    matches,
    next_width,
    next_window,
    of,
    order_key,
    page_end,
    start,
)


@dataclass(frozen=True)
class Found:
    docs: list[Doc]  # the page's projections, in order
    next: Position | None  # where the next page starts; None: nothing left
    scanned: int  # documents read (for the bench and the logs)


async def find(
    payments: AsyncCollection[Doc],
    merchant_id: str | Sequence[str],
    f: Filters,
    pos: Position | None,
    merchant_since: datetime,
    now: datetime,
) -> Found:
    if f.phone_bidx is not None:
        by_phone = {"merchant_id": of(merchant_id), "phone_bidx": f.phone_bidx}
        return await _by_index(payments, by_phone, f, pos)
    cur = start(f, pos, now)
    bottom = floor(f, merchant_since)
    width, scanned = FIRST_WINDOW, 0
    hits: list[Doc] = []
    while (window := next_window(cur.at, bottom, width)) is not None:
        docs = [d async for d in payments.find(window.query(merchant_id), PROJECTION)]
        scanned += len(docs)
        hits += sorted(
            (d for d in docs if after(d, cur) and matches(d, f)), key=order_key, reverse=True
        )
        if len(hits) >= f.limit:
            end = page_end(hits, f.limit)
            last = hits[f.limit - 1]
            done = end is None and window.since <= bottom
            return Found(hits[: f.limit], None if done else end or _at(last), scanned)
        cur = Position(window.since, "")
        if window.since <= bottom:
            break
        if scanned >= SCAN_BUDGET:
            return Found(hits, cur, scanned)
        width = next_width(width, len(docs))
    return Found(hits, None, scanned)


def _at(doc: Mapping[str, Any]) -> Position:
    return Position(doc["created_at"], str(doc["_id"]))


async def _by_index(
    payments: AsyncCollection[Doc], query: dict[str, Any], f: Filters, pos: Position | None
) -> Found:
    """One phone's payments: few, so all of them through the phone index, then the page."""
    docs = [d async for d in payments.find(query, PROJECTION)]
    hits = sorted((d for d in docs if after(d, pos) and matches(d, f)), key=order_key, reverse=True)
    return Found(hits[: f.limit], page_end(hits, f.limit), len(docs))


async def whole(payments: AsyncCollection[Doc], ids: list[str]) -> list[Doc]:
    """The whole documents of ``ids``, in that order."""
    if not ids:
        return []
    found = {d["_id"]: d async for d in payments.find({"_id": {"$in": ids}})}
    return [found[i] for i in ids if i in found]


async def merchant_since(merchants: AsyncCollection[Doc], merchant_id: str) -> datetime | None:
    doc = await merchants.find_one({"_id": merchant_id}, {"created_at": 1})
    return None if doc is None else doc.get("created_at")


async def created_between(
    payments: AsyncCollection[Doc],
    merchant_id: str,
    since: datetime,
    until: datetime,
    fields: Mapping[str, int],
) -> AsyncIterator[list[Doc]]:
    """A merchant's payments created in ``[since, until)``, a day's window at a time (what the
    index serves; memory stays one day's projections)."""
    low = since
    while low < until:
        high = min(until, low + timedelta(days=1))
        query = {"merchant_id": merchant_id, "created_at": {"$gte": low, "$lt": high}}
        yield [d async for d in payments.find(query, dict(fields))]
        low = high


async def journal_since(
    journal: AsyncCollection[Doc],
    balances: AsyncCollection[Doc],
    merchant_id: str,
    account: str,
    since: datetime,
) -> tuple[int, list[Doc]]:
    """The account's balance now and the merchant's journal entries from ``since``, read in one
    snapshot (a transaction), so the one is exactly the other's sum: the shard writes an entry
    and its balance change in one transaction too."""
    client = journal.database.client
    snapshot = ReadConcern("snapshot")
    async with client.start_session() as session, await session.start_transaction(snapshot):
        doc = await balances.find_one({"_id": account}, session=session)
        mine = [{"merchant_id": merchant_id}, {"counterparty": merchant_id}]  # platform fees
        query = {"$or": mine, "at": {"$gte": since}}
        entries = [d async for d in journal.find(query, session=session)]
    return (int(doc["balance"]) if doc else 0), entries
