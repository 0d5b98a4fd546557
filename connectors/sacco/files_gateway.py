"""The SACCOs reached by batch files (:mod:`connectors.sacco.files`): every purpose but
``withdrawal``, which needs an answer before money leaves the member.

Submit: a line joins the SACCO's pending batch and the caller waits for the next flush tick
(``flush_interval``): the batch file, with its checksum, is written to the local journal
(fsynced) and only then is every line of it answered QUEUED (conversation_id = the batch id),
so a QUEUED line cannot vanish in a crash. The journal is published to the outbox in the same
tick, and again at start if a crash came in between. A payment is never written twice: the
first line stands. A line whose submit never got its answer was never written: :meth:`status`
then says ``not_found`` (provably unsent).

Ingest: result files are read, their valid lines delivered as :class:`CallbackIn` items
through ``deliver``, and a file is archived only after ``deliver`` returned for all of them.
Lines the parser or the tracker rejects are logged one by one and stay awaiting a result
(:meth:`awaiting_results`), never guessed; an unreadable file is set aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connectors.sacco import files
from connectors.sacco import outcomes as out
from connectors.sacco.files import Batch, BatchLine, ResultLine
from connectors.sacco.journal import Journal
from connectors.sacco.orders import SaccoOrder
from connectors.sacco.outbox import FolderOutbox, Outbox
from connectors.sacco.registry import Sacco
from connectors.sacco.tracker import FileTracker, Written
from switch.messages import CallbackIn, ProviderOutcome
from switch.payments import ProviderRefs
from switch.rails import RAILS

log = logging.getLogger(__name__)
# A result file speaks only of the SACCO payments the switch put in its batch files.
_FILE_METHODS = frozenset(m for m, r in RAILS.items() if r.provider == "sacco")

Deliver = Callable[[list[CallbackIn]], Awaitable[list[str]]]
"""Hands result lines to the payments' shards; one verdict per item (applied, duplicate, ...)."""


@dataclass(slots=True)
class FileSide:
    """One file SACCO: where its files go, its journal, and what it was sent and answered."""

    sacco: Sacco
    outbox: Outbox
    journal: Journal
    tracker: FileTracker = field(default_factory=FileTracker)
    pending: dict[str, tuple[BatchLine, asyncio.Future[ProviderOutcome]]] = field(
        default_factory=dict
    )


class SaccoFiles:
    """Every file SACCO, with the flush and ingest loops they share."""

    def __init__(
        self,
        saccos: Iterable[Sacco],
        root: Path,
        deliver: Deliver,
        flush_interval: float = 5.0,
        outboxes: Mapping[str, Outbox] | None = None,
    ) -> None:
        chosen = outboxes or {}
        self.sides = {
            s.code: FileSide(
                s, chosen.get(s.code) or FolderOutbox(root / s.code), Journal(root / s.code)
            )
            for s in saccos
        }
        self.deliver = deliver
        self.flush_interval = flush_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_lock = asyncio.Lock()
        self._ingest_lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild what was written and settled from the journals, publish anything staged
        but not yet published, then run the flush and ingest loops."""
        for side in self.sides.values():
            await self._rebuild(side)
        await self.flush()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(self.flush, "flush")),
            loop.create_task(self._every(self.ingest, "ingest")),
        ]

    async def stop(self) -> None:
        # A tick cancelled halfway could take pending lines without answering them, or deliver
        # a result file without recording it: let a running tick finish, then cancel the loops.
        async with self._flush_lock, self._ingest_lock:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = []
        await self.flush()  # whoever waits for a tick gets a written batch, not silence

    async def _every(self, tick: Callable[[], Awaitable[object]], name: str) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await tick()
            except Exception:  # a loop that dies silently would strand every pending line
                log.exception("SACCO gateway %s tick failed; next tick retries", name)

    async def _rebuild(self, side: FileSide) -> None:
        tracker = side.tracker = FileTracker()
        for name, data in await side.journal.batches():
            try:
                clashes = tracker.add_batch(files.parse_batch(data))
            except files.FileFormatError as exc:
                log.error("SACCO %s journal batch %s unreadable: %s", side.sacco.code, name, exc)
                continue
            if clashes:
                log.error("SACCO %s: payments in two batches: %s", side.sacco.code, clashes)
        for name, data in await side.journal.results():
            parsed = files.parse_result(data, side.sacco.code, tracker.batches)
            if parsed.batch_id is None:
                log.error("SACCO %s journal result %s unreadable", side.sacco.code, name)
                continue
            new, _ = tracker.fresh(parsed.batch_id, parsed.lines)
            tracker.settle(parsed.batch_id, new)

    # --- submit and flush ------------------------------------------------------------------

    async def submit_one(self, order: SaccoOrder) -> ProviderOutcome:
        """An order already checked against the registry (SACCO, member number, amount)."""
        side = self.sides[order.sacco_code]
        sacco = side.sacco
        if order.purpose == "withdrawal":
            return out.rejected(sacco, "unsupported", "withdrawals need a SACCO reached by API")
        settled = side.tracker.settled.get(order.payment_id)
        if settled is not None:
            return out.from_result_line(sacco, settled.batch_id, settled.result)
        written = side.tracker.written.get(order.payment_id)
        if written is not None:  # never written twice: the first line stands
            return out.queued_in(written.batch_id)
        waiting = side.pending.get(order.payment_id)
        if waiting is not None:
            return await asyncio.shield(waiting[1])
        try:
            line = BatchLine(
                1, order.payment_id, order.member_number, order.amount_minor, order.purpose,
                " ".join(order.reference.split())[: files.MAX_REFERENCE],
            )  # fmt: skip
        except ValueError as exc:
            return out.rejected(sacco, "invalid_line", str(exc))
        fut: asyncio.Future[ProviderOutcome] = asyncio.get_running_loop().create_future()
        side.pending[order.payment_id] = (line, fut)
        return await asyncio.shield(fut)

    async def flush(self) -> None:
        """One tick: write every pending line into batch files (answering QUEUED), then
        publish every staged batch to its outbox."""
        async with self._flush_lock:
            for side in self.sides.values():
                await self._write_pending(side)
                await self._publish(side)

    async def _write_pending(self, side: FileSide) -> None:
        taken, side.pending = list(side.pending.values()), {}
        for start in range(0, len(taken), files.MAX_LINES):
            chunk = taken[start : start + files.MAX_LINES]
            batch = _batch(side.sacco, [line for line, _ in chunk])
            try:
                await side.journal.stage(batch.file_name, files.write_batch(batch))
            except OSError as exc:
                log.error(
                    "SACCO %s: batch %s not written: %s", side.sacco.code, batch.batch_id, exc
                )
                outcome = out.unavailable(side.sacco, f"the batch file could not be written: {exc}")
            else:
                side.tracker.add_batch(batch)
                outcome = out.queued_in(batch.batch_id)
            for _, fut in chunk:
                if not fut.done():
                    fut.set_result(outcome)

    async def _publish(self, side: FileSide) -> None:
        for name in await side.journal.staged():
            try:
                await side.outbox.put_batch(name, await side.journal.read_staged(name))
                await side.journal.mark_sent(name)
            except OSError as exc:  # written and answered already: the next tick publishes
                log.warning("SACCO %s: batch %s not published yet: %s", side.sacco.code, name, exc)
                return

    # --- ingest ----------------------------------------------------------------------------

    async def ingest(self) -> int:
        """One tick: read every waiting result file; returns the number of lines delivered."""
        delivered = 0
        async with self._ingest_lock:
            for side in self.sides.values():
                for name in await side.outbox.list_results():
                    count = await self._ingest_one(side, name)
                    if count is None:
                        break  # deliver failed: keep the file, try again next tick
                    delivered += count
        return delivered

    async def _ingest_one(self, side: FileSide, name: str) -> int | None:
        code = side.sacco.code
        data = await side.outbox.read_result(name)
        parsed = files.parse_result(data, code, side.tracker.batches)
        for error in parsed.errors:
            log.warning("SACCO %s result file %s: %s", code, name, error)
        if parsed.batch_id is None:
            log.error(
                "SACCO %s result file %s unreadable; set aside, lines stay pending", code, name
            )
            await side.outbox.reject_result(name)
            return 0
        new, conflicts = side.tracker.fresh(parsed.batch_id, parsed.lines)
        for conflict in conflicts:
            log.error("SACCO %s result file %s: %s", code, name, conflict)
        if new and not await self._deliver(side, parsed.batch_id, new, name):
            return None
        side.tracker.settle(parsed.batch_id, new)
        digest = hashlib.sha256(data).hexdigest()[:16]
        await side.journal.keep_result(f"{digest}_{name}", data)
        await side.outbox.archive_result(name)
        return len(new)

    async def _deliver(
        self, side: FileSide, batch_id: str, lines: list[ResultLine], name: str
    ) -> bool:
        sacco = side.sacco
        items = [
            CallbackIn(
                x.payment_id, out.from_result_line(sacco, batch_id, x), None, methods=_FILE_METHODS
            )
            for x in lines
        ]
        try:
            verdicts = await self.deliver(items)
        except Exception:
            log.exception("SACCO %s result file %s: delivery failed", sacco.code, name)
            return False
        if len(verdicts) != len(items):
            log.error("SACCO %s: %d verdicts for %d items", sacco.code, len(verdicts), len(items))
            return False
        for item, verdict in zip(items, verdicts, strict=True):
            if verdict in ("mismatch", "unknown_payment"):
                log.error(
                    "SACCO %s result for %s refused: %s", sacco.code, item.payment_id, verdict
                )
        return True

    # --- what was written ------------------------------------------------------------------

    def awaiting_results(self, older_than: float = 0.0) -> dict[str, list[Written]]:
        """Lines written to a file SACCO that still have no result, per SACCO: for reports and
        for chasing the SACCO (never resent: the first line may still be paid)."""
        cutoff = time.time() - older_than
        return {
            code: [w for w in side.tracker.awaiting() if w.written_at <= cutoff]
            for code, side in self.sides.items()
        }

    def writer_of(self, payment_id: str) -> str | None:
        """The file SACCO that has (or is about to write) a line for this payment."""
        return next(
            (
                code
                for code, side in self.sides.items()
                if payment_id in side.tracker.written or payment_id in side.pending
            ),
            None,
        )

    def status(self, sacco_code: str, payment_id: str) -> ProviderOutcome:
        """Settled, written (pending: event None, the batch id), waiting for a tick, or
        ``not_found``: never written, so nothing was sent."""
        side = self.sides[sacco_code]
        settled = side.tracker.settled.get(payment_id)
        if settled is not None:
            return out.from_result_line(side.sacco, settled.batch_id, settled.result)
        written = side.tracker.written.get(payment_id)
        if written is not None:
            return ProviderOutcome(None, refs=ProviderRefs(conversation_id=written.batch_id))
        if payment_id in side.pending:
            return ProviderOutcome(None)
        return out.not_found(f"never written to a batch for {side.sacco.name}; nothing was sent")


def _batch(sacco: Sacco, lines: list[BatchLine]) -> Batch:
    now = datetime.now(UTC).replace(microsecond=0)
    batch_id = f"{sacco.code}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
    numbered = tuple(
        BatchLine(i, x.payment_id, x.member_number, x.amount_minor, x.purpose, x.reference)
        for i, x in enumerate(lines, start=1)
    )
    return Batch(batch_id, sacco.code, now, numbered)
