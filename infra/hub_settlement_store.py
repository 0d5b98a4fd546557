"""MongoDB storage of hub settlements (``hub_settlements``) and what the operator reads of the
settlement windows (``hub_windows``). Creating a settlement and aborting one each change the
settlement and its windows in one transaction, guarded on the windows' states, so a window is in
at most one pending settlement. The acknowledgement is the position actor's write
(:meth:`infra.hub_store.HubStore.write`): it also moves positions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from infra.hub_store import netted
from switch.hub.settlement import Flow, SettlementState
from switch.hub.transfers import GROSS
from switch.hub.windows import WindowState

Doc = dict[str, Any]
PENDING = SettlementState.PENDING_SETTLEMENT.value


class WindowsNotClosed(RuntimeError):
    """A window named is not CLOSED (open, or in another settlement, or settled)."""


class NotPending(RuntimeError):
    """The settlement is no longer PENDING_SETTLEMENT."""


class HubSettlementStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.db = db
        self.windows: AsyncCollection[Doc] = db["hub_windows"]
        self.settlements: AsyncCollection[Doc] = db["hub_settlements"]
        self.transfers: AsyncCollection[Doc] = db["hub_transfers"]
        self.schedule: AsyncCollection[Doc] = db["hub_schedule"]

    # --- windows ----------------------------------------------------------------------------

    async def windows_page(self, state: str | None, limit: int) -> list[Doc]:
        query = {"state": state} if state else {}
        cursor = self.windows.find(query).sort("opened_at", DESCENDING).limit(limit)
        return [d async for d in cursor]

    async def window(self, window_id: str) -> Doc | None:
        return await self.windows.find_one({"_id": window_id})

    async def open_window(self) -> Doc | None:
        return await self.windows.find_one({"state": WindowState.OPEN.value})

    async def contents(self, window_ids: list[str]) -> tuple[dict[str, int], list[Flow]]:
        """The windows' committed transfers: each participant's net (sum of the transfers'
        position ``changes``) and the flows per payer and payee (from payer, payee and amount),
        two countings that :func:`switch.hub.settlement.check_nets` compares."""
        nets: dict[str, int] = {}
        pairs: dict[tuple[str, str], list[int]] = {}
        fields = {"payer": 1, "payee": 1, "amount": 1, "changes": 1}
        async for doc in self.transfers.find(netted(window_ids), fields):
            for pid, change in (doc.get("changes") or {}).items():
                nets[pid] = nets.get(pid, 0) + int(change)
            pair = pairs.setdefault((doc["payer"], doc["payee"]), [0, 0])
            pair[0] += 1
            pair[1] += int(doc["amount"])
        flows = [Flow(payer, payee, n, amount) for (payer, payee), (n, amount) in pairs.items()]
        return nets, flows

    async def gross(self, window_ids: list[str]) -> list[Doc]:
        """The windows' committed transfers that were settled gross at commit (left out of
        their nets), by window and id, for the report to list."""
        query = {"window_id": {"$in": window_ids}, "state": "committed", "settlement": GROSS}
        fields = {"window_id": 1, "payer": 1, "payee": 1, "amount": 1}
        docs = [d async for d in self.transfers.find(query, fields)]
        return sorted(docs, key=lambda d: (d["window_id"], d["_id"]))

    # --- settlements ------------------------------------------------------------------------

    async def create(self, doc: Doc) -> None:
        """Store a new settlement and take its windows from CLOSED to PENDING_SETTLEMENT, in one
        transaction; raises :class:`WindowsNotClosed` (nothing written) if one is not CLOSED."""
        ids = doc["windows"]
        async with self.db.client.start_session() as session, await session.start_transaction():
            moved = await self.windows.update_many(
                {"_id": {"$in": ids}, "state": WindowState.CLOSED.value},
                {
                    "$set": {
                        "state": WindowState.PENDING_SETTLEMENT.value,
                        "settlement_id": doc["_id"],
                    }
                },
                session=session,
            )
            if moved.modified_count != len(ids):
                raise WindowsNotClosed("a window is not CLOSED")
            await self.settlements.insert_one(doc, session=session)

    async def abort(self, settlement_id: str, by: str, reason: str, at: datetime) -> None:
        """PENDING_SETTLEMENT -> ABORTED, its windows back to CLOSED, in one transaction."""
        async with self.db.client.start_session() as session, await session.start_transaction():
            done = await self.settlements.update_one(
                {"_id": settlement_id, "state": PENDING},
                {
                    "$set": {"state": SettlementState.ABORTED.value, "abort_reason": reason},
                    "$push": {"history": {"state": "ABORTED", "by": by, "at": at}},
                },
                session=session,
            )
            if done.matched_count != 1:
                raise NotPending(f"settlement {settlement_id} is not {PENDING}")
            await self.windows.update_many(
                {"settlement_id": settlement_id, "state": WindowState.PENDING_SETTLEMENT.value},
                {"$set": {"state": WindowState.CLOSED.value}, "$unset": {"settlement_id": ""}},
                session=session,
            )

    async def get(self, settlement_id: str) -> Doc | None:
        return await self.settlements.find_one({"_id": settlement_id})

    async def page(self, limit: int) -> list[Doc]:
        cursor = self.settlements.find({}).sort("created_at", DESCENDING).limit(limit)
        return [d async for d in cursor]

    async def banks(self, ids: list[str]) -> dict[str, Mapping[str, Any]]:
        fields = {"name": 1, "bank_code": 1, "bic": 1}
        cursor = self.db["hub_participants"].find({"_id": {"$in": ids}}, fields)
        return {d["_id"]: d async for d in cursor}

    # --- the schedule's last close ----------------------------------------------------------

    async def last_scheduled(self) -> datetime | None:
        doc = await self.schedule.find_one({"_id": "windows"})
        if doc is None:
            return None
        last: datetime = doc["last"]
        return last if last.tzinfo else last.replace(tzinfo=UTC)

    async def scheduled(self, at: datetime) -> None:
        await self.schedule.update_one({"_id": "windows"}, {"$set": {"last": at}}, upsert=True)
