"""Leases in MongoDB: one holder at a time, across every api process, for work a single process
should do (the settlement scheduler, the scheduled reconciliation pull). A holder renews its lease
on each pass; one that dies loses it when it expires. A lease only saves work: what moves money
is still guarded by its own ids, so two holders at once (a lease that expired mid-pass) cannot pay
twice.

Collection ``leases``: ``_id`` = the lease's name, ``holder``, ``until``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

Doc = dict[str, Any]


class Leases:
    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection

    async def take(self, name: str, holder: str, now: datetime, ttl_s: float) -> bool:
        """True when ``holder`` holds the lease ``name`` until ``now + ttl_s`` (taken, or
        renewed); False while another holds it."""
        until = now + timedelta(seconds=ttl_s)
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": name, "$or": [{"holder": holder}, {"until": {"$lte": now}}]},
                {"$set": {"holder": holder, "until": until}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:  # held by another: the upsert tried to insert a second one
            return False
        return doc is not None and doc.get("holder") == holder

    async def drop(self, name: str, holder: str) -> None:
        """Give the lease up (a holder stopping), so the next one need not wait for it to
        expire."""
        await self.collection.delete_one({"_id": name, "holder": holder})
