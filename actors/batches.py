"""Bulk payouts: :class:`BatchCore` stores a batch and runs it to completion. A plain asyncio
class, built directly by tests; a Ray actor shell only forwards to it.

Storage, in the ``batches`` collection: a header document per batch (``_id`` the batch id;
merchant, key, request hash, state ``created | running | completed``, counts, totals) and the
items in chunk documents of :data:`CHUNK_ITEMS` (``_id`` ``<batch id>/<n>``). Chunks rather than
one document holding 10,000 items: each progress write rewrites only the chunks that changed
(measured on SecantusDB: rewriting 40 chunks of 250 items takes 0.37 s, setting a third of
their items' fields by dotted path 1.4 s), and a page of items reads one or two chunks. The
header is written last, so a batch exists only once all its items are stored.

Execution: items go to the merchant's shard through the injected ``create`` in calls of up to
``send_chunk`` items. Each rail has a window shared by every batch (its ``batch_window`` in its
provider's description, unless ``limits`` says otherwise): at most ``limits[rail]`` items of
that rail are sent and not yet final at any time, so one big batch cannot flood a provider's
queue ahead of everybody's single payouts. An item takes a slot when it is sent and
gives it back when it is refused, must be resent, or its payment is final. "auto" items are
routed by the shard; they count against the "auto" window.

Status: read directly from the ``payments`` collection by ``_id $in`` (every ``poll_interval``
for the items created and not final). That shows only stored states (what a client may see),
costs no actor call and does not churn the shards' caches with thousands of reads.

Restarts: :meth:`BatchCore.start` resumes every batch not completed. An item's payment id comes
from its key (``batch:<batch_id>:<item_id>``), so resending an item whose answer was lost is a
replay, never a second payout.

Personal data (switch/pii.py): each item's request is stored with its phone, account and member
numbers and names sealed with the merchant's key, bound to the item's key; a run opens them to
send exactly what was asked. The recipient's name is the payment's ciphertext, copied. Reads for
the merchant open the names they show; the requests are never shown, so they stay sealed there.
Erasing a person's payment erases the copy in its item (:meth:`BatchCore.erase_items`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from pymongo import ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from actors.batch_runs import Run, Window, chunk_id, erasure_ops
from actors.replies import conflict, error_reply
from switch.batch_items import (
    AUTO,
    PAYMENT_FIELDS,
    WINDOWS,
    ItemRecord,
    answered,
    batch_view,
    erased_item,
    is_complete,
    item_view,
    new_record,
    observed,
    rail_of,
    record_doc,
    record_from_doc,
    results_csv,
    retry_delay,
    status_counts,
    totals,
)
from switch.batches import MAX_ITEMS, BatchItem, batch_id_for, is_batch_id
from switch.idempotency import scoped_key
from switch.messages import CreatePayment, Reply
from switch.payments import now_utc
from switch.pii import Sealer

log = logging.getLogger(__name__)

Doc = dict[str, Any]
CreateFn = Callable[[int, list[CreatePayment]], Awaitable[list[Reply]]]
ShardOf = Callable[[str], int]

CHUNK_ITEMS = 250
READ_GROUP = 500  # payment ids per ``$in`` read
MAX_PAGE = 1000


class BatchCore:
    def __init__(
        self,
        batches: AsyncCollection[Doc],
        payments: AsyncCollection[Doc],
        secret_key: bytes,
        create: CreateFn,
        shard_of_merchant: ShardOf,
        *,
        limits: Mapping[str, int] | None = None,
        send_chunk: int = 100,
        poll_interval: float = 1.0,
        retry_base: float = 0.5,
        retry_max: float = 30.0,
        chunk_items: int = CHUNK_ITEMS,
        sealer: Sealer | None = None,
    ) -> None:
        # Items' requests are sealed in the batch's chunks, recipient names copied sealed from
        # the payments (switch/pii.py); answers to the merchant open the names (None: unit
        # tests, no sealing).
        self.sealer = sealer
        # Items erased while this process runs: batch id -> {item id: payment id}. A run
        # prepared from chunks read just before an erasure applies them too.
        self.erased: dict[str, dict[str, str]] = {}
        self.batches = batches
        self.payments = payments
        self.secret_key = secret_key
        self.create_payments = create
        self.shard_of_merchant = shard_of_merchant
        self.limits = {**WINDOWS, **(limits or {})}  # from the providers' rails
        self.windows: dict[str, Window] = {}
        self.send_chunk = max(1, send_chunk)
        self.poll_interval = poll_interval
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.chunk_items = chunk_items
        self.runs: dict[str, Run] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._creating: dict[str, asyncio.Lock] = {}

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Resume every batch that is not completed (creates are idempotent: resending is safe)."""
        resumed = 0
        async for header in self.batches.find({"state": {"$in": ["created", "running"]}}):
            records = await self._records(header, 0, int(header["item_count"]), requests=True)
            self._launch(header, records)
            resumed += 1
        log.info("resumed %d payout batches", resumed)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def stats(self) -> dict[str, Any]:
        return {
            "running": len(self.runs),
            "with_provider": {rail: w.used for rail, w in self.windows.items()},
        }

    def window(self, rail: str) -> Window:
        if rail not in self.windows:
            self.windows[rail] = Window(self.limits.get(rail, self.limits[AUTO]))
        return self.windows[rail]

    # --- creating ----------------------------------------------------------------------------

    async def create(
        self, merchant_id: str, key: str, request_hash: str, items: list[BatchItem]
    ) -> Reply:
        """Store a batch and start it; the same key and items again answer the same batch, the
        same key with other items is a 409."""
        scoped = scoped_key(merchant_id, key)
        batch_id = batch_id_for(self.secret_key, scoped)
        lock = self._creating.setdefault(batch_id, asyncio.Lock())
        async with lock:
            stored = await self.batches.find_one({"_id": batch_id})
            if stored is not None:
                return self._replay(stored, request_hash)
            if not items or len(items) > MAX_ITEMS:
                return error_reply(422, "validation_failed", f"1 to {MAX_ITEMS} items")
            records = [new_record(i, item, batch_id) for i, item in enumerate(items)]
            header = self._header(batch_id, merchant_id, scoped, request_hash, records)
            if self.sealer is not None:
                await self.sealer.ready(merchant_id)
            try:
                await self._store(header, records)
            except DuplicateKeyError:  # another process stored it first
                stored = await self.batches.find_one({"_id": batch_id})
                if stored is None:
                    raise
                return self._replay(stored, request_hash)
            self._launch(header, records)
        self._creating.pop(batch_id, None)
        return Reply(202, batch_view(header))

    def _replay(self, header: Doc, request_hash: str) -> Reply:
        if header["request_hash"] != request_hash:
            return conflict()
        run = self.runs.get(header["_id"])
        return Reply(202, batch_view(run.header if run else header), replayed=True)

    def _header(
        self,
        batch_id: str,
        merchant_id: str,
        scoped: str,
        request_hash: str,
        records: list[ItemRecord],
    ) -> Doc:
        now = now_utc()
        return {
            "_id": batch_id,
            "merchant_id": merchant_id,
            "idem_key": scoped,
            "request_hash": request_hash,
            "state": "created",
            "created_at": now,
            "updated_at": now,
            "completed_at": None,
            "item_count": len(records),
            "chunk_items": self.chunk_items,
            "counts": status_counts(r.status for r in records),
            "totals": totals(records),
        }

    async def _store(self, header: Doc, records: list[ItemRecord]) -> None:
        """Items first (replacing any left by an attempt that died before its header), then the
        header: the batch exists once the header does."""
        size = self.chunk_items
        chunks = [
            ReplaceOne(
                {"_id": chunk_id(header["_id"], n)},
                {
                    "batch_id": header["_id"],
                    "n": n,
                    "items": [
                        self._stored(r, header["merchant_id"])
                        for r in records[start : start + size]
                    ],
                },
                upsert=True,
            )
            for n, start in enumerate(range(0, len(records), size))
        ]
        await self.batches.bulk_write(chunks, ordered=False)
        await self.batches.insert_one(header)

    def _stored(self, r: ItemRecord, merchant_id: str, run: Run | None = None) -> Doc:
        """An item as its chunk holds it: the request's personal fields sealed, bound to the
        item's key (stable: the item exists before its payment). A run keeps each sealed request
        (it never changes), so rewriting a chunk encrypts nothing again."""
        doc = record_doc(r)
        if self.sealer is None:
            return doc
        sealed = run.sealed.get(r.index) if run is not None else None
        if sealed is None:
            sealed = self.sealer.seal(doc["command"], r.command.idem_key, merchant_id)
            if run is not None:
                run.sealed[r.index] = sealed
        doc["command"] = sealed
        return doc

    async def _opened_request(self, doc: Doc) -> Doc:
        """A stored item with its request opened (the run sends exactly what was asked)."""
        if self.sealer is not None:
            command = doc["command"]
            await self.sealer.ready_for(command)
            self.sealer.open(command, bound_to=command["idem_key"])
        return doc

    # --- reading -----------------------------------------------------------------------------

    async def get(self, merchant_id: str, batch_id: str, offset: int, limit: int) -> Reply:
        """The batch with its counts and totals, and items ``offset`` to ``offset + limit``."""
        offset, limit = max(0, offset), min(max(1, limit), MAX_PAGE)
        found = await self._find(merchant_id, batch_id)
        if found is None:
            return error_reply(404, "not_found", f"no payout batch {batch_id}")
        header, run = found
        end = min(offset + limit, int(header["item_count"]))
        if run is not None:
            page = run.records[offset:end]
        else:
            page = await self._records(header, offset, end)
        body = batch_view(header)
        body.update(
            items=[item_view(r) for r in await self._opened(page)],
            offset=offset,
            limit=limit,
            has_more=end < int(header["item_count"]),
        )
        return Reply(200, body)

    async def results_csv(self, merchant_id: str, batch_id: str) -> bytes | None:
        found = await self._find(merchant_id, batch_id)
        if found is None:
            return None
        header, run = found
        if run is not None:
            return results_csv(await self._opened(list(run.records)))
        return results_csv(
            await self._opened(await self._records(header, 0, int(header["item_count"])))
        )

    async def _opened(self, records: list[ItemRecord]) -> list[ItemRecord]:
        """The records with their recipients' names opened, for the merchant's eyes."""
        if self.sealer is None:
            return records
        shown = []
        for r in records:
            if r.recipient_name and r.payment_id:
                name = await self.sealer.reveal(r.recipient_name, r.payment_id)
                r = replace(r, recipient_name=name)
            shown.append(r)
        return shown

    async def _find(self, merchant_id: str, batch_id: str) -> tuple[Doc, Run | None] | None:
        if not is_batch_id(batch_id):
            return None
        run = self.runs.get(batch_id)
        header = run.header if run else await self.batches.find_one({"_id": batch_id})
        if header is None or header["merchant_id"] != merchant_id:
            return None
        return header, run

    async def _records(
        self, header: Doc, start: int, end: int, *, requests: bool = False
    ) -> list[ItemRecord]:
        """Items ``start`` to ``end`` as stored; ``requests``: with their requests opened (to
        run them). Without, the requests stay sealed: views never show them, and a results file
        of 10,000 items need not decrypt 20,000 fields."""
        size = int(header["chunk_items"])
        if end <= start:
            return []
        ids = [chunk_id(header["_id"], n) for n in range(start // size, (end - 1) // size + 1)]
        chunks = {d["_id"]: d async for d in self.batches.find({"_id": {"$in": ids}})}
        docs = [item for i in ids for item in chunks[i]["items"]]
        first = (start // size) * size
        wanted = docs[start - first : end - first]
        if requests:
            wanted = [await self._opened_request(d) for d in wanted]
        return [record_from_doc(d) for d in wanted]

    # --- running -----------------------------------------------------------------------------

    def _launch(self, header: Doc, records: list[ItemRecord]) -> None:
        batch_id = header["_id"]
        if batch_id in self._tasks:
            return
        task = asyncio.create_task(self._supervise(header, records))
        self._tasks[batch_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(batch_id, None))

    async def _supervise(self, header: Doc, records: list[ItemRecord]) -> None:
        """Run the batch; after an unexpected error (a database outage), reload it from MongoDB
        and go on: everything already sent is a replay."""
        while True:
            try:
                await self._run(self._prepare(header, records))
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("payout batch %s stopped; resuming it", header["_id"])
            await asyncio.sleep(self.retry_max)
            reloaded = await self._reload(header["_id"])
            if reloaded is None:
                continue
            header, records = reloaded

    async def _reload(self, batch_id: str) -> tuple[Doc, list[ItemRecord]] | None:
        try:
            header = await self.batches.find_one({"_id": batch_id})
            if header is None:
                return None
            count = int(header["item_count"])
            return header, await self._records(header, 0, count, requests=True)
        except Exception:
            log.warning("could not reload payout batch %s yet", batch_id)
            return None

    def _prepare(self, header: Doc, records: list[ItemRecord]) -> Run:
        run = Run(
            header,
            list(records),
            self.shard_of_merchant(header["merchant_id"]),
            int(header["chunk_items"]),
        )
        erased = self.erased.get(run.id, {})
        for r in list(run.records):
            if r.item_id in erased:
                run.set(erased_item(r, erased[r.item_id]))
        for r in run.records:
            rail = rail_of(r.method)
            run.held.setdefault(rail, 0)
            if r.status == "queued":
                run.enqueue(rail, r.index)
                run.unsent[rail] = run.unsent.get(rail, 0) + 1
            elif r.at_provider:  # already with the provider: it counts, it does not wait
                self.window(rail).hold(1)
                run.held[rail] += 1
        return run

    async def _run(self, run: Run) -> None:
        self.runs[run.id] = run
        try:
            if self.sealer is not None:  # the chunks it rewrites are sealed with it
                await self.sealer.ready(run.header["merchant_id"])
            if run.header["state"] == "created":
                await self._flush(run, state="running")
            # A task group: if one part fails, the others stop too before the batch is reloaded.
            async with asyncio.TaskGroup() as group:
                for rail in list(run.queues):
                    group.create_task(self._send_rail(run, rail))
                group.create_task(self._follow(run))
            await self._flush(run, state="completed", completed_at=now_utc())
            self.erased.pop(run.id, None)  # never prepared again
            log.info("payout batch %s completed: %s", run.id, run.header["counts"])
        finally:
            self.runs.pop(run.id, None)
            for rail, count in run.held.items():
                await self.window(rail).give(count)

    async def _send_rail(self, run: Run, rail: str) -> None:
        queue, wake, window = run.queues[rail], run.wake[rail], self.window(rail)
        while run.unsent.get(rail, 0) > 0:
            if not queue:
                wake.clear()
                await wake.wait()
                continue
            taken = await window.take(min(self.send_chunk, len(queue)))
            run.held[rail] += taken
            # Only this task takes from the queue, so it holds at least ``taken`` items.
            await self._send(run, rail, [queue.popleft() for _ in range(taken)])

    async def _send(self, run: Run, rail: str, picked: list[int]) -> None:
        # An item erased while queued knows its payment already (erased_item): never resent.
        skipped = [i for i in picked if run.records[i].status != "queued"]
        if skipped:
            run.unsent[rail] -= len(skipped)
            await self._release(run, rail, len(skipped))
            picked = [i for i in picked if run.records[i].status == "queued"]
            if not picked:
                return
        commands = [run.records[i].command for i in picked]
        replies: list[Reply | None]
        try:
            answers = await self.create_payments(run.shard, commands)
            if len(answers) != len(commands):
                raise RuntimeError(f"{len(answers)} answers for {len(commands)} payouts")
            replies = list(answers)
        except Exception as exc:
            log.warning("batch %s: shard %d did not answer a create: %s", run.id, run.shard, exc)
            replies = [None] * len(commands)
        freed = 0
        for index, reply in zip(picked, replies, strict=True):
            record, verdict = answered(run.records[index], reply)
            run.set(record)
            if not record.at_provider:  # refused, to be resent, held for review, or final
                freed += 1
            if verdict != "retry":
                run.unsent[rail] -= 1
                continue
            hint = reply.retry_after if reply is not None else None
            delay = retry_delay(record.attempts, self.retry_base, self.retry_max, hint)
            asyncio.get_running_loop().call_later(delay, run.enqueue, rail, index)
        await self._release(run, rail, freed)
        await self._flush(run)

    async def _release(self, run: Run, rail: str, count: int) -> None:
        run.held[rail] -= count
        await self.window(rail).give(count)

    async def _follow(self, run: Run) -> None:
        """Read the created payments until every item is final."""
        while True:
            await self._refresh(run)
            await self._flush(run)
            if run.done():
                return
            await asyncio.sleep(self.poll_interval)

    async def _refresh(self, run: Run) -> None:
        waiting = [r for r in run.records if r.awaiting]
        freed: dict[str, int] = {}
        for start in range(0, len(waiting), READ_GROUP):
            group = {r.payment_id: r for r in waiting[start : start + READ_GROUP]}
            query = {"_id": {"$in": list(group)}}
            async for doc in self.payments.find(query, PAYMENT_FIELDS):
                # The record as it is now, not as it was before the read: an erasure may have
                # changed it meanwhile, and setting the earlier copy would undo it.
                index = run.index_of(group[doc["_id"]].item_id)
                if index is None:
                    continue
                old = run.records[index]
                new = observed(old, doc)
                if new is None:
                    continue
                run.set(new)
                rail = rail_of(new.method)
                if old.at_provider and not new.at_provider:  # final, or held for review
                    freed[rail] = freed.get(rail, 0) + 1
                elif new.at_provider and not old.at_provider:  # released by its reviewers
                    self.window(rail).hold(1)
                    run.held[rail] = run.held.get(rail, 0) + 1
        for rail, count in freed.items():
            await self._release(run, rail, count)

    async def _flush(self, run: Run, **changes: Any) -> None:
        """Write the chunks that changed and the header's counts, totals and ``changes`` (state)
        in one ``bulk_write``, one write at a time per batch. The header in memory (what reads
        show) changes only once the write is acknowledged."""
        async with run.writing:
            if not run.dirty and not changes:
                return
            chunks, run.dirty = sorted(run.dirty), set()
            counts = status_counts(r.status for r in run.records)
            header = {**run.header, **changes, "counts": counts, "totals": totals(run.records)}
            header["updated_at"] = now_utc()
            if header["state"] == "completed" and not is_complete(counts):
                header["state"] = "running"  # cannot happen; never claim what is not so
            merchant_id = run.header["merchant_id"]

            def stored(r: ItemRecord) -> Doc:
                return self._stored(r, merchant_id, run)

            ops = [
                UpdateOne({"_id": chunk_id(run.id, n)}, {"$set": {"items": run.chunk(n, stored)}})
                for n in chunks
            ]
            fields = ("state", "counts", "totals", "updated_at", "completed_at")
            ops.append(UpdateOne({"_id": run.id}, {"$set": {f: header[f] for f in fields}}))
            try:
                await self.batches.bulk_write(ops, ordered=True)
            except Exception:
                run.dirty.update(chunks)
                raise
            run.header = header

    # --- erasure (switch/pii.py) -----------------------------------------------------------

    async def erase_items(self, merchant_id: str, items: list[tuple[str, str, str]]) -> int:
        """Erase the copies of a person's request in batch items: ``items`` are (batch id, item
        id, payment id) of payments about to be erased (actors/shard ``erase`` asks first, so
        a failure here leaves the payments findable for a repeat). How many items were erased;
        an item of another merchant, or whose payment is another, is left alone."""
        wanted: dict[str, dict[str, str]] = {}
        for batch_id, item_id, payment_id in items:
            wanted.setdefault(batch_id, {})[item_id] = payment_id
        erased = 0
        for batch_id, of_batch in wanted.items():
            found = await self._find(merchant_id, batch_id)
            if found is not None:
                erased += await self._erase_in(found[0], of_batch)
        return erased

    async def _erase_in(self, header: Doc, wanted: dict[str, str]) -> int:
        batch_id = str(header["_id"])
        run = self.runs.get(batch_id)
        if run is not None:
            records = run.records
        else:
            records = await self._records(header, 0, int(header["item_count"]))
        mine = {
            r.item_id: wanted[r.item_id]
            for r in records
            if r.item_id in wanted and r.payment_id in (None, wanted[r.item_id])
        }
        # Noted before any await: a run prepared from chunks read earlier applies it too.
        if header["state"] != "completed":
            self.erased.setdefault(batch_id, {}).update(mine)
        run = self.runs.get(batch_id)
        if run is not None:  # it owns the chunks: change it and let it write them
            for item_id, payment_id in mine.items():
                index = run.index_of(item_id)
                if index is None:
                    continue
                old = run.records[index]
                new = erased_item(old, payment_id)
                run.sealed.pop(index, None)
                run.set(new)
                if new.at_provider and not old.at_provider:  # queued -> its payment: it counts
                    rail = rail_of(new.method)
                    self.window(rail).hold(1)
                    run.held[rail] = run.held.get(rail, 0) + 1
            await self._flush(run)
            return len(mine)
        # Not running: only the erased fields are set (a run starting meanwhile has its own
        # items erased already, see _prepare).
        ops = erasure_ops(batch_id, int(header["chunk_items"]), records, mine)
        if ops:
            await self.batches.bulk_write(ops, ordered=True)
        return len(mine)
