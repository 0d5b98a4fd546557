"""The shard's single writer: everything one shard changes in a tick goes to MongoDB in ONE
transaction, and nobody is answered before it commits.

A tick holds new payments (with their ``inflight`` rows), changed payments (coalesced: the latest
version of each, guarded by the version last written), journal entries with the balance changes
they imply, and ``inflight`` rows to drop. Because the payment change and its journal entry
commit together, a succeeded collection always has its credit and a payout its reservation,
whatever crashes when. One writer per shard also means no two transactions ever touch the same
balance document, so there are no write conflicts to retry.

On a failed commit the changes stay queued and are tried again (new payments are refused
instead, so their callers can retry with the same key). A duplicate key on insert (a payment that
exists although the cache did not know it) is sorted out by reading which ids exist and
committing the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo import AsyncMongoClient, DeleteOne, InsertOne, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

from infra.storage.mongo import Collections, Doc
from switch.ledger import Entry
from switch.payments import Payment, changes_since, now_utc, to_doc

log = logging.getLogger(__name__)

RETRY_PAUSE = 0.5
TRANSIENT_RETRIES = 5


@dataclass
class NewPayment:
    payment: Payment
    entries: list[Entry]
    done: asyncio.Future[str]  # "ok" | "duplicate" | "error"


@dataclass
class Posting:
    """A journal entry of no payment (a sandbox funding), answered like a new payment."""

    entry: Entry
    done: asyncio.Future[str]  # "ok" | "duplicate" (its id is in the journal) | "error"


@dataclass
class Tick:
    inserts: list[NewPayment] = field(default_factory=list)
    updates: set[str] = field(default_factory=set)
    entries: list[Entry] = field(default_factory=list)
    drops: set[str] = field(default_factory=set)
    postings: list[Posting] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.inserts or self.updates or self.entries or self.drops or self.postings)


@dataclass
class Committed:
    """What one transaction made durable, for the shard's after-commit work."""

    inserted: list[Payment]
    updated: list[Payment]
    entries: list[Entry]


class ShardWriter:
    def __init__(
        self,
        shard: int,
        client: AsyncMongoClient[Doc],
        cols: Collections,
        payment_of: Callable[[str], Payment],
        versions: dict[str, int],
        seqs: dict[str, int],
        on_commit: Callable[[Committed], None],
        window: float = 0.001,
        seal: Callable[[Doc, Payment], Doc] | None = None,
    ) -> None:
        self.seal = seal or (lambda doc, _payment: doc)  # personal data sealed (switch/pii.py)
        self.shard = shard
        self.client = client
        self.cols = cols
        self.payment_of = payment_of
        # Shared with the shard: per payment, the version and the last history seq durable in
        # MongoDB. The writer is the only one to advance them.
        self.versions = versions
        self.seqs = seqs
        self.on_commit = on_commit
        self.window = window
        self.tick = Tick()
        self.committing = 0  # new payments in the transaction under way
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # One session for every transaction of this writer: its id is recorded, so the next
        # incarnation of the shard can abort whatever transaction a crash left open.
        self.session: Any = None

    # --- what the shard asks for -----------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def reclaim(self) -> None:
        """Abort the transaction a dead predecessor may have left open, then record our own
        session. A shard killed in the middle of a commit leaves its transaction holding the
        documents it touched until the server's transaction lifetime ends (60 s), and every
        change to them meets WriteConflict until then; killing the dead session releases them
        at once (the transaction was never committed, so nothing of it was applied)."""
        key = {"_id": f"writer-session-{self.shard}"}
        previous = await self.cols.settings.find_one(key)
        if previous and previous.get("lsid"):
            try:
                await self.client.admin.command({"killSessions": [previous["lsid"]]})
                log.info("shard %d aborted its predecessor's open transaction", self.shard)
            except PyMongoError as exc:
                log.warning("shard %d could not kill its old session: %s", self.shard, exc)
        self.session = self.client.start_session()
        await self.cols.settings.update_one(
            key, {"$set": {"lsid": self.session.session_id}}, upsert=True
        )

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.session is not None:
            await self.session.end_session()
            self.session = None

    async def insert(self, payment: Payment, entries: list[Entry] | None = None) -> str:
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.tick.inserts.append(NewPayment(payment, entries or [], done))
        self._wakeup.set()
        return await done

    async def post(self, entry: Entry) -> str:
        """Commit an entry that belongs to no payment; ``duplicate`` if its id is taken."""
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.tick.postings.append(Posting(entry, done))
        self._wakeup.set()
        return await done

    def touch(self, payment_id: str, entries: list[Entry] | None = None) -> None:
        self.tick.updates.add(payment_id)
        self.tick.entries.extend(entries or [])
        self._wakeup.set()

    def drop_inflight(self, payment_id: str) -> None:
        self.tick.drops.add(payment_id)
        self._wakeup.set()

    # --- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(self.window)
            self._wakeup.clear()
            tick, self.tick = self.tick, Tick()
            if tick.empty():
                continue
            self.committing = len(tick.inserts)
            try:
                committed = await self._commit(tick)
            except Exception as exc:
                # A database refusal says all in its message; anything else needs its traceback.
                log.error(
                    "shard %d commit failed (%s: %s); retrying its changes",
                    self.shard,
                    type(exc).__name__,
                    str(exc)[:300],
                    exc_info=not isinstance(exc, PyMongoError),
                )
                await self._salvage_inserts(tick)
                self._requeue(tick)
                await asyncio.sleep(RETRY_PAUSE)
                continue
            finally:
                self.committing = 0
            self.on_commit(committed)

    def backlog(self) -> int:
        """New payments waiting for (or in) a commit."""
        return self.committing + len(self.tick.inserts)

    async def _salvage_inserts(self, tick: Tick) -> None:
        """New payments touch only new documents (and, for payouts, their merchant's balance),
        so when a tick fails because of a changed payment (say a dead shard's transaction still
        holds it, until the server's transaction lifetime ends) the new ones are committed on
        their own: taking new payments must not wait for that."""
        if not tick.inserts or not (tick.updates or tick.entries or tick.drops):
            return
        try:
            committed = await self._commit(Tick(inserts=tick.inserts))
        except Exception as exc:
            log.error("shard %d new payments failed alone too: %s", self.shard, exc)
            return
        tick.inserts = []
        self.on_commit(committed)

    def _requeue(self, tick: Tick) -> None:
        # Their callers retry with the same key.
        for done in [n.done for n in tick.inserts] + [p.done for p in tick.postings]:
            if not done.done():
                done.set_result("error")
        self.tick.updates |= tick.updates
        self.tick.entries = tick.entries + self.tick.entries
        self.tick.drops |= tick.drops
        self._wakeup.set()

    async def _commit(self, tick: Tick) -> Committed:
        try:
            return await self._retrying(tick)
        except (DuplicateKeyError, BulkWriteError, OperationFailure) as exc:
            if not _is_duplicate(exc) or not (tick.inserts or tick.postings):
                raise
        # Some new payment (or posting) already exists: answer those as duplicates, commit the
        # others.
        existing = await self._existing([n.payment.id for n in tick.inserts])
        for new in tick.inserts:
            if new.payment.id in existing:
                new.done.set_result("duplicate")
        tick.inserts = [n for n in tick.inserts if n.payment.id not in existing]
        ids = [p.entry.id for p in tick.postings]
        posted = {d["_id"] async for d in self.cols.journal.find({"_id": {"$in": ids}}, {"_id": 1})}
        for posting in tick.postings:
            if posting.entry.id in posted:
                posting.done.set_result("duplicate")
        tick.postings = [p for p in tick.postings if p.entry.id not in posted]
        return await self._retrying(tick)

    async def _retrying(self, tick: Tick) -> Committed:
        """A transaction the server aborted as transient (a write conflict inside the storage
        engine, which shards writing side by side can meet) is simply run again, as MongoDB's
        drivers recommend; nothing of it was applied."""
        for attempt in range(TRANSIENT_RETRIES):
            try:
                return await self._transaction(tick)
            except PyMongoError as exc:
                if not exc.has_error_label("TransientTransactionError"):
                    raise
                log.info("shard %d transaction conflict, retry %d", self.shard, attempt + 1)
                await asyncio.sleep(0.002 * (attempt + 1))
        return await self._transaction(tick)

    async def _existing(self, ids: list[str]) -> set[str]:
        cursor = self.cols.payments.find({"_id": {"$in": ids}}, {"_id": 1})
        return {d["_id"] async for d in cursor}

    async def _transaction(self, tick: Tick) -> Committed:
        inserted = [n.payment for n in tick.inserts]
        updated = [self.payment_of(pid) for pid in tick.updates]
        entries = tick.entries + [e for n in tick.inserts for e in n.entries]
        entries += [p.entry for p in tick.postings]
        if self.session is None:  # built directly (tests): a session of its own
            self.session = self.client.start_session()
        session = self.session
        async with await session.start_transaction():
            if inserted:
                await self.cols.inflight.bulk_write(
                    [InsertOne({"_id": p.id, "shard": self.shard}) for p in inserted],
                    session=session,
                )
                await self.cols.payments.insert_many(
                    [self.seal(to_doc(p, self.shard), p) for p in inserted], session=session
                )
            if updated:
                await self.cols.payments.bulk_write(
                    [self._update_op(p) for p in updated], ordered=False, session=session
                )
            if entries:
                await self._post(entries, session)
            if tick.drops:
                await self.cols.inflight.bulk_write(
                    [DeleteOne({"_id": i}) for i in tick.drops], ordered=False, session=session
                )
        for done in [n.done for n in tick.inserts] + [p.done for p in tick.postings]:
            if not done.done():
                done.set_result("ok")
        for p in (*inserted, *updated):
            self.versions[p.id] = p.version
            self.seqs[p.id] = p.history[-1].seq
        return Committed(inserted, updated, entries)

    def _update_op(self, payment: Payment) -> UpdateOne:
        """Only what changes after creation: the small mutable fields, and the history entries
        added since the last write (the embedded server updates about a third faster than with
        the whole document)."""
        fields, added = changes_since(payment, self.seqs.get(payment.id, 0))
        self.seal({"provider": fields["provider"], "history": added}, payment)  # in place
        change: dict[str, Any] = {"$set": fields}
        if added:
            change["$push"] = {"history": {"$each": added}}
        return UpdateOne({"_id": payment.id, "version": self.versions.get(payment.id, 0)}, change)

    async def _post(self, entries: list[Entry], session: Any) -> None:
        at = now_utc()
        await self.cols.journal.insert_many([e.to_doc(at) for e in entries], session=session)
        deltas: dict[str, int] = {}
        for entry in entries:
            for line in entry.lines:
                deltas[line.account] = deltas.get(line.account, 0) + line.amount
        ops = [
            UpdateOne(
                {"_id": account},
                {"$inc": {"balance": delta}, "$set": {"shard": self.shard}},
                upsert=True,
            )
            for account, delta in deltas.items()
        ]
        await self.cols.balances.bulk_write(ops, ordered=False, session=session)


def _is_duplicate(exc: Exception) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        return any(e.get("code") == 11000 for e in exc.details.get("writeErrors", []))
    return getattr(exc, "code", None) == 11000
