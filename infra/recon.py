"""Reconciliation's MongoDB store: the providers' records as ingested (``recon_records``), the
runs (``recon_runs``) and the breaks queue (``recon_breaks``), and the switch's payments read
for matching. A break is ``open``, ``resolving`` (a payment was put through the switch's C2B path
and waits for M-Pesa's record), ``resolved`` or ``cleared`` (no run finds it any more). The
matching and the queue's rules are pure (switch/recon/).

Records are keyed by source, identity and copy number within one ingestion, so ingesting the
same answer or file again changes nothing (a later copy of a record replaces the earlier one: a
corrected statement wins), while a record a provider lists twice stays twice. Breaks are keyed by
the finding's deterministic id: a later run finds the same break again instead of a new one, a
resolved break stays resolved, a resolving one becomes resolved once its payment matches (or
open again if the switch failed it), and an open one no run finds any more is ``cleared``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from switch.ledger import Entry
from switch.recon import suspense
from switch.recon.matching import Finding
from switch.recon.records import SOURCES, ProviderRecord, SwitchTxn
from switch.recon.transfers import SOURCE as TRANSFERS
from switch.recon.transfers import FailedRefund

Doc = dict[str, Any]
DAY = timedelta(days=1)
FAILED = frozenset({"failed", "expired"})


class ReconStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.db = db
        self.records: AsyncCollection[Doc] = db["recon_records"]
        self.runs: AsyncCollection[Doc] = db["recon_runs"]
        self.breaks: AsyncCollection[Doc] = db["recon_breaks"]

    async def ensure_indexes(self) -> None:
        await self.records.create_index([("source", ASCENDING), ("at", ASCENDING)], name="by_at")
        await self.breaks.create_index([("status", ASCENDING)], name="by_status")

    # --- records --------------------------------------------------------------------------------

    async def ingest(self, records: Iterable[ProviderRecord], batch: str) -> int:
        copies: Counter[tuple[str, str]] = Counter()
        ops = []
        for r in records:
            n = copies[(r.source, r.key)]
            copies[(r.source, r.key)] += 1
            _id = f"{r.source}:{r.key}:{n}"
            ops.append(ReplaceOne({"_id": _id}, {**r.to_doc(), "batch": batch}, upsert=True))
        if ops:
            await self.records.bulk_write(ops, ordered=False)
        return len(ops)

    async def records_of(
        self, sources: list[str], since: datetime, until: datetime
    ) -> list[ProviderRecord]:
        """Records dated in the window; a date-only record when its day overlaps it."""
        query = {
            "source": {"$in": sources},
            "$or": [
                {"at": {"$gte": since, "$lte": until}},
                {"day_only": True, "at": {"$gt": since - DAY, "$lte": until}},
            ],
        }
        return [ProviderRecord.from_doc(d) async for d in self.records.find(query)]

    # --- the switch's payments ------------------------------------------------------------------

    async def payments(
        self,
        payments: AsyncCollection[Doc],
        sources: list[str],
        since: datetime,
        until: datetime,
        records: list[ProviderRecord],
    ) -> list[SwitchTxn]:
        """Payments of the rails the sources cover made in the window, and any payment a record
        names (one confirmed after the window, say). No index serves this: reconciliation runs
        a few times a day, off the hot path, so it scans rather than cost every payment write."""
        methods = sorted(set().union(*(SOURCES[s].methods for s in sources)))
        query = {
            "method": {"$in": methods},
            "$or": [
                {"created_at": {"$gte": since, "$lte": until}},
                {"provider.receipt": {"$in": sorted({r.receipt for r in records if r.receipt})}},
                {"_id": {"$in": sorted({r.reference for r in records if r.reference})}},
            ],
        }
        fields = {
            "merchant_id": 1,
            "method": 1,
            "status": 1,
            "amount_minor": 1,
            "created_at": 1,
            "provider.receipt": 1,
        }
        return [
            SwitchTxn(
                payment_id=d["_id"],
                merchant_id=d["merchant_id"],
                method=d["method"],
                status=d["status"],
                amount=int(d["amount_minor"]),
                at=d["created_at"],
                receipt=str((d.get("provider") or {}).get("receipt") or ""),
            )
            async for d in payments.find(query, fields)
        ]

    async def failed_refunds(
        self, payments: AsyncCollection[Doc], since: datetime, until: datetime
    ) -> list[FailedRefund]:
        """Refund legs that failed in the window, each with its latest retry's status (the
        retry's payout id is in the break's resolution). Off the hot path: a scan, no index."""
        query = {"transfer.leg": "refund", "status": "failed"}
        fields = {
            "merchant_id": 1,
            "method": 1,
            "amount_minor": 1,
            "created_at": 1,
            "transfer.id": 1,
        }
        legs = [
            d
            async for d in payments.find(
                {**query, "created_at": {"$gte": since, "$lte": until}}, fields
            )
        ]
        tried = {
            b["key"]: b["resolution"]["payout_id"]
            async for b in self.breaks.find(
                {"kind": "refund_failed", "resolution.payout_id": {"$exists": True}},
                {"key": 1, "resolution.payout_id": 1},
            )
        }
        status = {
            d["_id"]: d["status"]
            async for d in payments.find({"_id": {"$in": sorted(tried.values())}}, {"status": 1})
        }
        return [
            FailedRefund(
                transfer_id=d["transfer"]["id"],
                payment_id=d["_id"],
                merchant_id=d["merchant_id"],
                method=d["method"],
                amount=int(d["amount_minor"]),
                at=d["created_at"],
                retry_status=status.get(tried.get(d["transfer"]["id"], ""), ""),
            )
            for d in legs
        ]

    # --- runs and breaks ------------------------------------------------------------------------

    async def save_run(self, run: Doc, findings: list[Finding], now: datetime) -> Doc:
        breaks = [f for f in findings if f.is_break]
        ops: list[UpdateOne] = []
        for f in breaks:
            ops.append(
                UpdateOne(
                    {"_id": f.id},
                    {
                        "$setOnInsert": {"status": "open", "found_at": now, "found_by": run["_id"]},
                        "$set": {**finding_doc(f), "last_run": run["_id"], "seen_at": now},
                        # Every source that ever showed it: a run over one source never
                        # narrows what the others said.
                        "$addToSet": {"sources": {"$each": sources_of(f)}},
                    },
                    upsert=True,
                )
            )
        if ops:
            await self.breaks.bulk_write(ops, ordered=False)
        # A confirmed or allocated payment the switch has since failed (M-Pesa's record did not
        # agree): the break is open again.
        failed = [f.id for f in breaks if f.switch_status in FAILED]
        if failed:
            await self.breaks.update_many(
                {"_id": {"$in": failed}, "status": "resolving"},
                {"$set": {"status": "open", "reopened_by": run["_id"], "reopened_at": now}},
            )
        # Breaks of these sources in the window that this run no longer finds: a confirmed
        # payment now matches (resolved), or the records now agree (cleared).
        gone = {
            "sources": {"$in": run["sources"]},
            "last_run": {"$ne": run["_id"]},
            "at": {"$gte": run["since"], "$lte": run["until"]},
        }
        await self._book_suspense([f.id for f in breaks], now)
        # Money leaving suspense is posted before the break's status says so: a crash between
        # leaves the entry posted (its id refuses a second) and the next run finishes the job.
        await self._unbook({**gone, "status": "resolving"}, suspense.release, now)
        await self._unbook({**gone, "status": "open"}, suspense.unbook, now)
        settled = await self.breaks.update_many(
            {**gone, "status": "resolving"},
            {"$set": {"status": "resolved", "settled_by": run["_id"], "settled_at": now}},
        )
        cleared = await self.breaks.update_many(
            {**gone, "status": "open"},
            {"$set": {"status": "cleared", "cleared_by": run["_id"], "cleared_at": now}},
        )
        run["cleared"] = cleared.modified_count
        run["settled"] = settled.modified_count
        await self.runs.insert_one(run)
        return run

    # --- suspense (switch/recon/suspense.py) -----------------------------------------------------

    async def _book_suspense(self, ids: list[str], now: datetime) -> None:
        """Money the run found that belongs to nobody goes to suspense, once per break."""
        query = {"_id": {"$in": ids}, "status": {"$in": ["open", "resolving"]}, "suspense": None}
        todo = [(b, suspense.unowned(b)) async for b in self.breaks.find(query)]
        todo = [(b, cents) for b, cents in todo if cents > 0]
        await self.post_entries([suspense.book(b, cents) for b, cents in todo], now)
        for b, cents in todo:
            held = {"amount": cents, "entry": f"{b['_id']}:suspense", "booked_at": now}
            await self.breaks.update_one({"_id": b["_id"]}, {"$set": {"suspense": held}})

    async def _unbook(self, query: Doc, how: Any, now: datetime) -> None:
        """Breaks whose suspense is still held and that ``query`` matches: ``how`` (release or
        unbook) posts the money out of suspense."""
        held = {**query, "suspense.amount": {"$gt": 0}, "suspense.closed_by": None}
        found = [b async for b in self.breaks.find(held)]
        entries = [how(b, int(b["suspense"]["amount"])) for b in found]
        await self.post_entries(entries, now)
        for b, entry in zip(found, entries, strict=True):
            await self.breaks.update_one(
                {"_id": b["_id"]}, {"$set": {"suspense.closed_by": entry.id}}
            )

    async def post_entries(self, entries: list[Entry], at: datetime) -> list[str]:
        """Entries on switch-owned accounts only (no shard holds them in memory), with their
        balance changes, in one transaction; those posted before are skipped (ids from the
        break). Answers the ids posted now."""
        if not entries:
            return []
        journal, balances = self.db["journal"], self.db["balances"]
        client = self.db.client
        async with client.start_session() as session, await session.start_transaction():
            ids = [e.id for e in entries]
            done = {d["_id"] async for d in journal.find({"_id": {"$in": ids}}, session=session)}
            new = [e for e in entries if e.id not in done]
            if not new:
                return []
            await journal.insert_many([e.to_doc(at) for e in new], session=session)
            moved: Counter[str] = Counter()
            for e in new:
                for line in e.lines:
                    moved[line.account] += line.amount
            ops = [
                UpdateOne({"_id": account}, {"$inc": {"balance": cents}}, upsert=True)
                for account, cents in sorted(moved.items())
            ]
            await balances.bulk_write(ops, ordered=True, session=session)
        return [e.id for e in new]

    async def get_break(self, break_id: str) -> Doc | None:
        return await self.breaks.find_one({"_id": break_id})

    async def list_breaks(self, filters: dict[str, str], limit: int) -> list[Doc]:
        cursor = self.breaks.find(filters).sort([("found_at", ASCENDING), ("_id", ASCENDING)])
        return [d async for d in cursor.limit(limit)]

    async def set_if(self, break_id: str, expect: Doc, changes: Doc) -> bool:
        """Change a break only if it still reads as ``expect`` (two operators at once: one wins)."""
        done = await self.breaks.update_one({"_id": break_id, **expect}, {"$set": changes})
        return done.modified_count == 1

    async def post_entry(self, entry: Entry, balances: AsyncCollection[Doc], at: datetime) -> bool:
        """The entry and its balance changes in one transaction; False if it was posted before
        (its id is the break's: a second approval cannot post twice)."""
        client = self.db.client
        async with client.start_session() as session, await session.start_transaction():
            if await self.db["journal"].find_one({"_id": entry.id}, session=session):
                return False
            await self.db["journal"].insert_one(entry.to_doc(at), session=session)
            for line in entry.lines:
                await balances.update_one(
                    {"_id": line.account},
                    {"$inc": {"balance": line.amount}},
                    upsert=True,
                    session=session,
                )
        return True


def sources_of(f: Finding) -> list[str]:
    if f.kind == "refund_failed":
        return [TRANSFERS]
    found = sorted({r.source for r in f.records})
    return found or sorted(s for s, src in SOURCES.items() if f.method in src.methods)


def finding_doc(f: Finding) -> Doc:
    return {
        "kind": f.kind,
        "provider": f.provider,
        "key": f.key,
        "detail": f.detail,
        "payment_id": f.payment_id,
        "merchant_id": f.merchant_id,
        "method": f.method,
        "switch_amount": f.switch_amount,
        "provider_amount": f.provider_amount,
        "direction": f.direction,
        "switch_status": f.switch_status,
        "records": [r.to_doc() for r in f.records],
        "at": f.at,
    }
