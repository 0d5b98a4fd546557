"""MongoDB storage of settlement: each merchant's settlement settings (nominated account, its
pending change, schedule, reserve), the runs (``_id`` = the run id, so a second run of a merchant's
settlement date cannot be stored) and the scheduler's lease (:mod:`infra.leases`).

Collections of its own, beside the switch's: ``settlement_accounts`` (``_id`` = merchant id) and
``settlement_runs``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from infra.leases import Leases
from switch import ledger

Doc = dict[str, Any]

SCHEDULER_LEASE = "settlement_scheduler"


class SettlementStore:
    def __init__(self, db: AsyncDatabase[Doc], journal: AsyncCollection[Doc]) -> None:
        self.accounts: AsyncCollection[Doc] = db["settlement_accounts"]
        self.runs: AsyncCollection[Doc] = db["settlement_runs"]
        self.leases = Leases(db["leases"])
        self.journal = journal

    async def ensure_indexes(self) -> None:
        # A merchant's runs newest first (the list route); the runs not yet final (few: the
        # scheduler resumes and follows them); the schedules that are due.
        await self.runs.create_indexes(
            [
                IndexModel(
                    [("merchant_id", ASCENDING), ("settlement_date", DESCENDING)], name="stl_m"
                ),
                IndexModel([("open", ASCENDING)], name="stl_open"),
            ]
        )
        await self.accounts.create_indexes(
            [IndexModel([("next_due", ASCENDING)], name="stl_due", sparse=True)]
        )

    # --- the scheduler's lease --------------------------------------------------------------

    async def take_lease(self, holder: str, now: datetime, ttl_s: float) -> bool:
        """True when ``holder`` holds the scheduler's lease until ``now + ttl_s``."""
        return await self.leases.take(SCHEDULER_LEASE, holder, now, ttl_s)

    async def drop_lease(self, holder: str) -> None:
        await self.leases.drop(SCHEDULER_LEASE, holder)

    # --- runs ----------------------------------------------------------------------------------

    async def insert_run(self, run: Doc) -> Doc | None:
        """Store a new run; None when a run of that id already exists (another process or a
        retry got there first)."""
        try:
            await self.runs.insert_one(run)
        except DuplicateKeyError:
            return None
        return run

    async def run(self, run_id: str, merchant_id: str | None = None) -> Doc | None:
        query: Doc = {"_id": run_id}
        if merchant_id is not None:
            query["merchant_id"] = merchant_id
        return await self.runs.find_one(query)

    async def update_run(self, run_id: str, expect: Doc, changes: Doc) -> Doc | None:
        """Apply ``changes`` when the run still matches ``expect`` (compare and set); the run
        after, or None when another process changed it first."""
        return await self.runs.find_one_and_update(
            {"_id": run_id, **expect},
            {"$set": changes},
            return_document=ReturnDocument.AFTER,
        )

    async def runs_of(self, merchant_id: str, limit: int, before: str | None) -> list[Doc]:
        query: Doc = {"merchant_id": merchant_id}
        if before:
            query["settlement_date"] = {"$lt": before}
        found = self.runs.find(query).sort("settlement_date", DESCENDING).limit(limit)
        return [doc async for doc in found]

    async def open_runs(self, limit: int = 200) -> list[Doc]:
        return [doc async for doc in self.runs.find({"open": True}).limit(limit)]

    # --- collections credited, from the journal --------------------------------------------

    async def collections_since(self, merchant_id: str, since: datetime) -> int:
        """Cents credited to the merchant's available balance by collections since ``since``
        (net of fees). Read once per run from the journal (no index of its own: a journal index
        would be paid on every payment, and this runs once a day per merchant)."""
        pipeline: list[Doc] = [
            {"$match": {"merchant_id": merchant_id, "kind": "collection", "at": {"$gte": since}}},
            {"$unwind": "$lines"},
            {"$match": {"lines.account": ledger.available(merchant_id)}},
            {"$group": {"_id": None, "total": {"$sum": "$lines.amount"}}},
        ]
        cursor = await self.journal.aggregate(pipeline)
        found = [doc async for doc in cursor]
        return int(found[0]["total"]) if found else 0

    # --- settlement settings ---------------------------------------------------------------

    async def account(self, merchant_id: str) -> Doc | None:
        return await self.accounts.find_one({"_id": merchant_id})

    async def set_fields(
        self, merchant_id: str, changes: Doc, expect: Doc | None = None
    ) -> Doc | None:
        """Set fields of a merchant's settlement settings (made on first use); with ``expect``,
        only while the document still matches it (None otherwise)."""
        query: Doc = {"_id": merchant_id, **(expect or {})}
        try:
            return await self.accounts.find_one_and_update(
                query,
                {"$set": changes},
                upsert=expect is None,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return None

    async def due(self, now: datetime, limit: int = 500) -> list[Doc]:
        found = self.accounts.find({"next_due": {"$lte": now}}).limit(limit)
        return [doc async for doc in found]
