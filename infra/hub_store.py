"""MongoDB storage of the interoperability hub.

Collections (documents addressed by ``_id``, as everywhere in the switch):

- ``hub_participants``: _id = participant id; its name, kind, codes, endpoint, webhook secret,
  status, currency and net debit cap. Written by the operator's routes, read by the position
  actor (told of each change);
- ``hub_transfers``: _id = transfer id (derived from the payer and its Idempotency-Key, so the
  primary key is the duplicate guard); its state, history, window and position changes;
  ``seq`` guards each update. Index: ``(state, expires_at)`` for the position actor's start
  (the open transfers) and ``(window_id, state)`` for a window's net positions (a ``gross``
  transfer names its window but is left out of its nets: :func:`netted`);
- ``hub_funds``: _id = funds record id; liquidity recorded in or out, with its answer;
- ``hub_windows``: settlement windows, ``hwin_<n>`` (:mod:`switch.hub.windows`); exactly one is
  ``OPEN``; the position actor closes it and opens the next in one of its batch transactions;
- ``hub_settlements``: _id = ``hset_...``; deferred net settlements over closed windows
  (:mod:`switch.hub.settlement`, :mod:`infra.hub_settlement_store`); the position actor marks
  one SETTLED in the transaction that posts its settlement entries;
- ``hub_directory``: _id = ``<TYPE>:<id>`` (``MSISDN:254712345678``, ``ACCOUNT:01:0012345678``)
  -> the participant that holds that party;
- ``hub_quotes``: _id = quote id; what a payer was quoted, for its transfer to name.

Positions are balances in the switch's journal (``balances``: ``hub:<participant>:...``), moved
only by the position actor, in the same transaction as the transfer change that moves them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, IndexModel, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from switch.hub import ledger
from switch.hub.settlement import SettlementState
from switch.hub.transfers import GROSS, HubTransfer, from_doc, to_doc, update_of
from switch.hub.windows import WindowState, WindowSwitch
from switch.ledger import Entry
from switch.payments import now_utc

Doc = dict[str, Any]
FIRST_WINDOW = "hwin_1"


class HubStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.participants: AsyncCollection[Doc] = db["hub_participants"]
        self.transfers: AsyncCollection[Doc] = db["hub_transfers"]
        self.funds: AsyncCollection[Doc] = db["hub_funds"]
        self.windows: AsyncCollection[Doc] = db["hub_windows"]
        self.directory: AsyncCollection[Doc] = db["hub_directory"]
        self.quotes: AsyncCollection[Doc] = db["hub_quotes"]
        self.settlements: AsyncCollection[Doc] = db["hub_settlements"]
        self.journal: AsyncCollection[Doc] = db["journal"]
        self.balances: AsyncCollection[Doc] = db["balances"]

    async def ensure_indexes(self) -> None:
        await self.transfers.create_indexes(
            [
                IndexModel([("state", ASCENDING), ("expires_at", ASCENDING)], name="open"),
                IndexModel([("window_id", ASCENDING), ("state", ASCENDING)], name="window"),
            ]
        )
        await self.participants.create_indexes(
            # One participant per bank code: accounts are registered and found by it.
            [IndexModel([("bank_code", ASCENDING)], name="bank_code_1", sparse=True, unique=True)]
        )

    # --- settlement windows ---------------------------------------------------------------

    async def open_window(self) -> str:
        """The id of the one OPEN window, creating the first if there is none. Two callers
        creating the first at once meet on its fixed id: one window, whoever wins."""
        doc = await self.windows.find_one({"state": "OPEN"})
        if doc is not None:
            return str(doc["_id"])
        with contextlib.suppress(DuplicateKeyError):
            await self.windows.insert_one(
                {"_id": FIRST_WINDOW, "state": "OPEN", "opened_at": now_utc()}
            )
        again = await self.windows.find_one({"state": "OPEN"})
        if again is None:
            raise RuntimeError("no OPEN settlement window and the first exists: settlement's bug")
        return str(again["_id"])

    async def window_commits(self, window_id: str) -> int:
        """How many net-settled transfers committed in a window (the position actor's start: an
        empty window is not closed; gross ones have nothing to net)."""
        return await self.transfers.count_documents(netted(window_id))

    async def window_net(self, window_id: str) -> dict[str, int]:
        """Each participant's net position change over a window's committed transfers (the sum
        over participants is zero)."""
        net: dict[str, int] = {}
        cursor = self.transfers.find(netted(window_id), {"changes": 1})
        async for doc in cursor:
            for pid, change in (doc.get("changes") or {}).items():
                net[pid] = net.get(pid, 0) + int(change)
        return net

    # --- what the position actor reads at start -------------------------------------------

    async def all_participants(self) -> list[Doc]:
        return [d async for d in self.participants.find({})]

    async def open_transfers(self) -> list[HubTransfer]:
        return [from_doc(d) async for d in self.transfers.find({"state": "reserved"})]

    async def transfers_by_id(self, ids: Iterable[str]) -> list[HubTransfer]:
        return [from_doc(d) async for d in self.transfers.find({"_id": {"$in": list(ids)}})]

    async def balances_of(self, accounts: Iterable[str]) -> dict[str, int]:
        cursor = self.balances.find({"_id": {"$in": list(accounts)}})
        return {d["_id"]: int(d["balance"]) async for d in cursor}

    async def funds_records(self) -> list[Doc]:
        return [d async for d in self.funds.find({})]

    # --- the position actor's one write per batch ------------------------------------------

    async def write(
        self,
        session: Any,
        inserts: list[HubTransfer],
        updates: Iterable[tuple[int, HubTransfer]],
        entries: list[Entry],
        funds: list[Doc],
        window: WindowSwitch | None = None,
        settled: Doc | None = None,
    ) -> None:
        """Everything one batch changed, in ONE transaction: transfers, funds records, a window
        switch or an acknowledged settlement, journal entries and the balances they move. Raises
        DuplicateKeyError (nothing written) when a new transfer's id exists already; an update
        whose guard fails aborts it all."""
        changes = [UpdateOne({"_id": t.id, "seq": seq}, update_of(seq, t)) for seq, t in updates]
        async with await session.start_transaction():
            if window is not None:
                await self._switch_window(window, session)
            if settled is not None:
                await self._settled(settled, session)
            if inserts:
                await self.transfers.insert_many([to_doc(t) for t in inserts], session=session)
            if changes:
                result = await self.transfers.bulk_write(changes, ordered=False, session=session)
                if result.matched_count != len(changes):
                    raise StaleTransfer(f"{len(changes) - result.matched_count} changed meanwhile")
            if funds:
                await self.funds.bulk_write([InsertOne(d) for d in funds], session=session)
            if entries:
                await self._post(entries, session)

    async def _switch_window(self, w: WindowSwitch, session: Any) -> None:
        closed = await self.windows.update_one(
            {"_id": w.closed, "state": WindowState.OPEN.value},
            {
                "$set": {
                    "state": WindowState.CLOSED.value,
                    "closed_at": w.at,
                    "closed_by": w.by,
                    "reason": w.reason,
                    "transfers": w.commits,
                }
            },
            session=session,
        )
        if closed.matched_count != 1:
            raise StaleTransfer(f"window {w.closed} is not OPEN (a second position actor?)")
        opened = {"_id": w.opened, "state": WindowState.OPEN.value, "opened_at": w.at}
        await self.windows.insert_one(opened, session=session)

    async def _settled(self, s: Doc, session: Any) -> None:
        pending = SettlementState.PENDING_SETTLEMENT.value
        done = await self.settlements.update_one(
            {"_id": s["id"], "state": pending},
            {
                "$set": {
                    "state": SettlementState.SETTLED.value,
                    "references": s["references"],
                    "acknowledged_by": s["by"],
                    "settled_at": s["at"],
                },
                "$push": {"history": {"state": "SETTLED", "by": s["by"], "at": s["at"]}},
            },
            session=session,
        )
        if done.matched_count != 1:
            raise SettlementNotPending(f"settlement {s['id']} is no longer {pending}")
        await self.windows.update_many(
            {"settlement_id": s["id"], "state": WindowState.PENDING_SETTLEMENT.value},
            {"$set": {"state": WindowState.SETTLED.value, "settled_at": s["at"]}},
            session=session,
        )

    async def _post(self, entries: list[Entry], session: Any) -> None:
        at = now_utc()
        await self.journal.insert_many([e.to_doc(at) for e in entries], session=session)
        deltas: dict[str, int] = {}
        for entry in entries:
            for line in entry.lines:
                deltas[line.account] = deltas.get(line.account, 0) + line.amount
        ops = [
            UpdateOne({"_id": a}, {"$inc": {"balance": d}, "$set": {"shard": "hub"}}, upsert=True)
            for a, d in deltas.items()
        ]
        await self.balances.bulk_write(ops, ordered=False, session=session)


class StaleTransfer(RuntimeError):
    """A transfer changed in the database behind the position actor's back (a second actor?)."""


class SettlementNotPending(RuntimeError):
    """The settlement was acknowledged or aborted meanwhile: nothing of its batch was written."""


def netted(window_ids: str | list[str]) -> Doc:
    """The query of the committed transfers a window's net counts: gross ones settled alone."""
    window = window_ids if isinstance(window_ids, str) else {"$in": window_ids}
    return {"window_id": window, "state": "committed", "settlement": {"$ne": GROSS}}


def position_accounts(participant: str, currency: str) -> tuple[str, str]:
    return ledger.position(participant, currency), ledger.settlement(participant, currency)
