"""The shard's payment store in memory, for unit tests of the shard without MongoDB.

It keeps the writer's contract (actors/writer.py): changes wait in a tick; a commit makes the
whole tick durable at once (new payments with their ``inflight`` rows and journal entries,
changed payments at their current version, dropped ``inflight`` rows), then tells the shard. A
commit runs on the next turn of the event loop (``auto``) or when the test calls :meth:`commit`;
:meth:`fail_next` makes commits fail as a database refusal would: new payments are answered
``error``, everything else stays queued for the next commit. Documents are stored as MongoDB
would hold them (``to_doc``, sealed when the shard seals), so a new shard on the same store
recovers from them as from MongoDB.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.writer import Committed
from infra.storage.mongo import Doc
from switch.ledger import Entry
from switch.payments import Payment, now_utc, to_doc
from switch.platform import effective, endpoint_owners
from switch.webhooks import LogEntry, legacy_endpoint


class MemoryWebhooks:
    """The webhook port in memory: endpoints (a merchant's ``webhook_url`` is its first, as the
    MongoDB one migrates it), the delivery log as a list, the audit trail as a list."""

    def __init__(self, merchants: dict[str, Doc]) -> None:
        self.merchants = merchants
        self.endpoint_docs: dict[str, Doc] = {}
        self.log: list[LogEntry] = []
        self.audits: list[tuple[str, str, Any, Any]] = []

    async def endpoints(self, merchant_id: str) -> list[Doc]:
        for owner in endpoint_owners(merchant_id):
            merchant = {"_id": owner, **self.merchants.get(owner, {})}
            legacy = legacy_endpoint(merchant, now_utc())
            if legacy is not None:
                self.endpoint_docs.setdefault(legacy["_id"], legacy)
            found = [d for d in self.endpoint_docs.values() if d["merchant_id"] == owner]
            if found:
                return copy.deepcopy(found)
        return []

    async def record(self, entry: LogEntry) -> None:
        self.log.append(entry)

    async def mark_failing(self, endpoint_id: str, since: Any) -> None:
        doc = self.endpoint_docs[endpoint_id]
        if doc.get("failing_since") is None:
            doc["failing_since"] = since

    async def mark_healthy(self, endpoint_id: str) -> None:
        self.endpoint_docs[endpoint_id]["failing_since"] = None

    async def disable(self, endpoint_id: str, reason: str) -> Doc | None:
        doc = self.endpoint_docs[endpoint_id]
        if not doc.get("enabled") or doc.get("failing_since") is None:
            return None
        doc.update(enabled=False, disabled_at=now_utc(), disabled_reason=reason)
        return copy.deepcopy(doc)

    async def audit(self, action: str, target: str, before: Any, after: Any) -> None:
        self.audits.append((action, target, before, after))


@dataclass
class _Tick:
    inserts: list[tuple[Payment, list[Entry], asyncio.Future[str]]] = field(default_factory=list)
    updates: set[str] = field(default_factory=set)
    entries: list[Entry] = field(default_factory=list)
    drops: set[str] = field(default_factory=set)
    postings: list[tuple[Entry, asyncio.Future[str]]] = field(default_factory=list)


class MemoryPaymentStore:
    def __init__(self, shard: int = 0, *, auto: bool = True) -> None:
        self.shard = shard
        self.auto = auto
        self.versions: dict[str, int] = {}
        self.seqs: dict[str, int] = {}
        # What "MongoDB" holds; tests read and seed these directly.
        self.payments: dict[str, Doc] = {}
        self.inflight_ids: set[str] = set()
        self.accounts: dict[str, int] = {}
        self.journal: list[Entry] = []
        self.merchants: dict[str, Doc] = {}
        self.webhook_port = MemoryWebhooks(self.merchants)
        self.commits = 0  # transactions committed
        self._failures = 0
        self._tick = _Tick()
        self._scheduled = False
        self._payment_of: Callable[[str], Payment] | None = None
        self._on_commit: Callable[[Committed], None] = lambda _c: None
        self._seal: Callable[[Doc, Payment], Doc] = lambda doc, _p: doc

    def bind(
        self,
        payment_of: Callable[[str], Payment],
        on_commit: Callable[[Committed], None],
        seal: Callable[[Doc, Payment], Doc] | None,
    ) -> None:
        # A new shard on the same store (a restart) knows nothing durable yet: it reads back.
        self.versions.clear()
        self.seqs.clear()
        self._tick = _Tick()
        self._payment_of = payment_of
        self._on_commit = on_commit
        if seal is not None:
            self._seal = seal

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def fail_next(self, commits: int = 1) -> None:
        """The next ``commits`` commits fail (the database refused them)."""
        self._failures += commits

    def pending(self) -> bool:
        t = self._tick
        return bool(t.inserts or t.updates or t.entries or t.drops or t.postings)

    # --- the writer ----------------------------------------------------------------------------

    async def insert(self, payment: Payment, entries: list[Entry]) -> str:
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._tick.inserts.append((payment, list(entries), done))
        self._wake()
        return await done

    async def post(self, entry: Entry) -> str:
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._tick.postings.append((entry, done))
        self._wake()
        return await done

    def touch(self, payment_id: str, entries: list[Entry]) -> None:
        self._tick.updates.add(payment_id)
        self._tick.entries.extend(entries)
        self._wake()

    def drop_inflight(self, payment_id: str) -> None:
        self._tick.drops.add(payment_id)
        self._wake()

    def backlog(self) -> int:
        return len(self._tick.inserts)

    def _wake(self) -> None:
        if self.auto and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._auto_commit)

    def _auto_commit(self) -> None:
        self._scheduled = False
        self.commit()

    def commit(self) -> Committed | None:
        """Commit what is queued, as one transaction; None if it failed or nothing was queued."""
        tick, self._tick = self._tick, _Tick()
        if not (tick.inserts or tick.updates or tick.entries or tick.drops or tick.postings):
            return None
        if self._failures:
            self._failures -= 1
            for done in [i[2] for i in tick.inserts] + [p[1] for p in tick.postings]:
                done.set_result("error")
            self._tick.updates |= tick.updates
            self._tick.entries = tick.entries + self._tick.entries
            self._tick.drops |= tick.drops
            if self.pending():
                self._wake()
            return None
        assert self._payment_of is not None, "bind() first"
        inserted: list[Payment] = []
        entries = list(tick.entries)
        for payment, more, done in tick.inserts:
            if payment.id in self.payments:
                done.set_result("duplicate")
                continue
            self.payments[payment.id] = self._seal(to_doc(payment, self.shard), payment)
            self.inflight_ids.add(payment.id)
            inserted.append(payment)
            entries.extend(more)
        posted = {e.id for e in self.journal}
        for entry, done in tick.postings:
            done.set_result("duplicate" if entry.id in posted else "ok")
            if entry.id not in posted:
                entries.append(entry)
        updated = [self._payment_of(pid) for pid in tick.updates]
        for payment in updated:
            stored = self.payments[payment.id]
            # MongoDB's update is guarded by the version last written: a stale writer fails.
            assert stored["version"] == self.versions.get(payment.id, 0), payment.id
            self.payments[payment.id] = self._seal(to_doc(payment, self.shard), payment)
        for entry in entries:
            self.journal.append(entry)
            for line in entry.lines:
                self.accounts[line.account] = self.accounts.get(line.account, 0) + line.amount
        self.inflight_ids -= tick.drops
        for payment in (*inserted, *updated):
            self.versions[payment.id] = payment.version
            self.seqs[payment.id] = payment.history[-1].seq
        self.commits += 1
        for _payment, _entries, done in tick.inserts:
            if not done.done():
                done.set_result("ok")
        committed = Committed(inserted, updated, entries)
        self._on_commit(committed)
        return committed

    # --- reads -----------------------------------------------------------------------------

    async def read(self, payment_id: str) -> Doc | None:
        doc = self.payments.get(payment_id)
        return copy.deepcopy(doc) if doc is not None else None

    async def read_many(self, ids: list[str]) -> list[Doc]:
        return [copy.deepcopy(self.payments[i]) for i in ids if i in self.payments]

    async def balances(self) -> dict[str, int]:
        return dict(self.accounts)

    async def inflight(self) -> list[str]:
        return sorted(self.inflight_ids)

    async def merchant(self, merchant_id: str) -> Doc:
        doc = copy.deepcopy(self.merchants.get(merchant_id, {}))
        parent = self.merchants.get(doc.get("parent_id") or "")
        return effective(doc, copy.deepcopy(parent) if parent is not None else None)

    async def by_phone_index(self, merchant_id: str, bidx: str, limit: int | None) -> list[Doc]:
        found = [
            copy.deepcopy(d)
            for d in self.payments.values()
            if d["merchant_id"] == merchant_id and d.get("phone_bidx") == bidx
        ]
        found.sort(key=lambda d: d["created_at"], reverse=True)
        return found[:limit] if limit is not None else found

    # --- other writes ----------------------------------------------------------------------

    def webhooks(self) -> MemoryWebhooks:
        return self.webhook_port

    async def erase(self, payment_id: str, fields: Doc) -> None:
        self.payments[payment_id].update(copy.deepcopy(fields))
