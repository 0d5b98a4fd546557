"""A file-integration SACCO: picks batch files up from the folder outbox, checks them, books
every line in its own ledger (:mod:`.book`, same member triggers as the API simulator) and
writes result files back (folders: :mod:`connectors.sacco.outbox`).

A batch that fails its checks (header, checksum, control totals, a bad line) is refused whole:
moved to ``<CODE>/sacco/refused/`` with no result file, its lines booked nowhere (a real SACCO
would phone; the switch sees the lines stay without result). A batch id seen before is ignored
(the switch may publish a batch twice after a crash); a payment id seen before is answered with
its first booking, never booked twice.

Knobs (:class:`FileSimConfig`, changeable while it runs):

* ``partial_results``: the next N result files leave out every second line; those lines come
  in a follow-up result file ``hold_for`` seconds later (``hold_for`` < 0: never).
* ``malformed_results``: the next N result files are damaged: line 1's amount is off by
  KES 1.00, line 2 loses two fields, an extra line names an unknown payment, line 3 is repeated
  with the opposite status, and the trailer's checksum is wrong; lines from 4 on are sound. The
  damaged payments come again, correct, in a follow-up file ``hold_for`` seconds later.
* ``refuse_overpayment``: a ``LOAN_REPAYMENT`` line above the member's loan balance FAILS
  instead of leaving the loan overpaid (:mod:`.book`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connectors.sacco import files
from connectors.sacco.files import Batch, BatchLine, FileFormatError, ResultFile, ResultLine
from connectors.sacco.outbox import listed, move, write_atomic
from connectors.sacco.simulator.book import Book, Kind, Refused

log = logging.getLogger(__name__)

_KINDS: dict[files.Purpose, Kind] = {
    "deposit": "deposit",
    "loan_disbursement": "disbursement",
    "loan_repayment": "repayment",
}


@dataclass(slots=True)
class FileSimConfig:
    poll_interval: float = 0.5
    partial_results: int = 0
    malformed_results: int = 0
    hold_for: float = 0.0
    refuse_overpayment: bool = False  # as the API simulator's knob (book.py)


@dataclass(slots=True)
class FileStats:
    batches_taken: int = 0
    batches_refused: int = 0
    batches_repeated: int = 0
    lines_paid: int = 0
    lines_failed: int = 0
    result_files: int = 0
    partial_files: int = 0
    malformed_files: int = 0
    follow_ups: int = 0


@dataclass(slots=True)
class _Held:
    batch_id: str
    due: float  # epoch seconds; inf: never
    lines: list[ResultLine]


@dataclass(slots=True)
class _Sacco:
    code: str
    root: Path
    book: Book
    done: set[str] = field(default_factory=set)  # batch ids acted on
    results: dict[str, ResultLine] = field(default_factory=dict)  # first answer per payment
    held: list[_Held] = field(default_factory=list)
    seq: int = 0

    @property
    def outgoing(self) -> Path:
        return self.root / "outgoing"

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"


class FileSacco:
    """One or more file SACCOs on one folder tree (``settings.sacco_outbox_dir``)."""

    def __init__(
        self,
        outbox_dir: str | Path,
        codes: tuple[str, ...] = ("WAUMINI",),
        config: FileSimConfig | None = None,
    ) -> None:
        root = Path(outbox_dir)
        self.saccos = {c: _Sacco(c, root / c, Book(c)) for c in codes}
        self.config = config or FileSimConfig()
        self.stats = FileStats()
        self.refused: list[tuple[str, str]] = []  # (file, why)
        self._task: asyncio.Task[None] | None = None

    def book(self, code: str) -> Book:
        return self.saccos[code].book

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.process_once()
            except OSError:
                log.exception("file SACCO simulator: folder error")
            await asyncio.sleep(self.config.poll_interval)

    async def process_once(self) -> list[str]:
        """One pass: take every waiting batch, answer it, release due follow-ups. Returns the
        names of the result files written."""
        return await asyncio.to_thread(self._pass, time.time())

    # --- one pass (blocking file work, run in a thread) ------------------------------------

    def _pass(self, now: float) -> list[str]:
        written: list[str] = []
        for sacco in self.saccos.values():
            for name in listed(sacco.outgoing):
                written.extend(self._take(sacco, name, now))
            written.extend(self._release(sacco, now))
        return written

    def _take(self, sacco: _Sacco, name: str, now: float) -> list[str]:
        path = move(sacco.outgoing / name, sacco.root / "sacco" / "taken")
        try:
            batch = files.parse_batch(path.read_bytes())
            if batch.sacco_code != sacco.code:
                raise ValueError(f"batch is for {batch.sacco_code}, not {sacco.code}")
        except (FileFormatError, ValueError) as exc:
            self.stats.batches_refused += 1
            self.refused.append((name, str(exc)))
            move(path, sacco.root / "sacco" / "refused")
            return []
        if batch.batch_id in sacco.done:
            self.stats.batches_repeated += 1
            return []
        sacco.done.add(batch.batch_id)
        self.stats.batches_taken += 1
        lines = [self._book_line(sacco, x, now) for x in batch.lines]
        return self._answer(sacco, batch, lines, now)

    def _book_line(self, sacco: _Sacco, line: BatchLine, now: float) -> ResultLine:
        first = sacco.results.get(line.payment_id)
        if first is not None:
            return first
        member = sacco.book.member(line.member_number)
        kind = _KINDS[line.purpose]
        status, reason = "FAILED", "unknown member"
        ref: str | None = None
        if member is not None:
            try:
                txn, _ = sacco.book.post(
                    kind, member, line.amount_minor, line.payment_id, "file", now,
                    refuse_overpayment=self.config.refuse_overpayment,
                )  # fmt: skip
                status, ref = "PAID", f"{sacco.code[:3]}{txn.transaction_id:010d}"
            except Refused as exc:
                reason = exc.message
        if status == "PAID":
            self.stats.lines_paid += 1
        else:
            self.stats.lines_failed += 1
        paid = status == "PAID"
        result = ResultLine(
            line.line_no, line.payment_id, line.member_number, line.amount_minor,
            "PAID" if paid else "FAILED", ref, None if paid else reason, line.purpose,
        )  # fmt: skip
        sacco.results[line.payment_id] = result
        return result

    def _answer(
        self, sacco: _Sacco, batch: Batch, lines: list[ResultLine], now: float
    ) -> list[str]:
        config = self.config
        due = now + config.hold_for if config.hold_for >= 0 else float("inf")
        if config.malformed_results > 0:
            config.malformed_results -= 1
            self.stats.malformed_files += 1
            name, data = self._damaged(sacco, batch, lines, now)
            sacco.held.append(_Held(batch.batch_id, due, lines[:3]))
            write_atomic(sacco.incoming, name, data)
            return [name]
        if config.partial_results > 0 and len(lines) > 1:
            config.partial_results -= 1
            self.stats.partial_files += 1
            sacco.held.append(_Held(batch.batch_id, due, lines[1::2]))
            lines = lines[::2]
        return [self._write(sacco, batch.batch_id, lines, now)]

    def _release(self, sacco: _Sacco, now: float) -> list[str]:
        due = [h for h in sacco.held if h.due <= now]
        sacco.held = [h for h in sacco.held if h.due > now]
        self.stats.follow_ups += len(due)
        return [self._write(sacco, h.batch_id, h.lines, now) for h in due]

    def _result(
        self, sacco: _Sacco, batch_id: str, lines: list[ResultLine], now: float
    ) -> ResultFile:
        sacco.seq += 1
        created = datetime.fromtimestamp(now, UTC)
        return ResultFile(f"R-{batch_id}-{sacco.seq}", sacco.code, batch_id, created, tuple(lines))

    def _write(self, sacco: _Sacco, batch_id: str, lines: list[ResultLine], now: float) -> str:
        result = self._result(sacco, batch_id, lines, now)
        write_atomic(sacco.incoming, result.file_name, files.write_result(result))
        self.stats.result_files += 1
        return result.file_name

    def _damaged(
        self, sacco: _Sacco, batch: Batch, lines: list[ResultLine], now: float
    ) -> tuple[str, bytes]:
        result = self._result(sacco, batch.batch_id, lines, now)
        raw = files.write_result(result).split(b"\n")
        head, body = raw[:2], raw[2 : 2 + len(lines)]
        if len(body) >= 1:
            first = lines[0]
            wrong = files.format_amount(first.amount_minor + 100).encode()
            body[0] = body[0].replace(
                b"," + files.format_amount(first.amount_minor).encode() + b",",
                b"," + wrong + b",",
                1,
            )
        if len(body) >= 2:
            body[1] = b",".join(body[1].split(b",")[:-2])
        extra = []
        if len(body) >= 3:
            third = lines[2]
            flipped = "FAILED,,flipped" if third.status == "PAID" else "PAID,SIM0000000000,"
            copy = [*body[2].split(b",")[:6], flipped.encode()]  # DTL .. purpose, new status
            extra.append(b",".join(copy))
            extra.append(body[2].replace(third.payment_id.encode(), b"pay_unknown_0", 1))
        body = body + extra
        trailer = f"TRL,{len(body)},{files.format_amount(0)},{'0' * 64}".encode()
        self.stats.result_files += 1
        return result.file_name, b"\n".join([*head, *body, trailer, b""])

    def stats_json(self) -> dict[str, int]:
        return asdict(self.stats)
