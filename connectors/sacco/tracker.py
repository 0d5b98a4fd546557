"""What the switch knows about one file SACCO's lines (pure): which payment went out in which
batch, and which have a result. Rebuilt at start from the :class:`~connectors.sacco.journal.
Journal`; the first answer for a payment wins, a later different one is reported, never applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.sacco.files import Batch, BatchLine, ResultLine


@dataclass(frozen=True, slots=True)
class Written:
    batch_id: str
    line: BatchLine
    written_at: float  # epoch seconds (the batch's creation time)


@dataclass(frozen=True, slots=True)
class Settled:
    batch_id: str
    result: ResultLine


@dataclass(slots=True)
class FileTracker:
    batches: dict[str, Batch] = field(default_factory=dict)
    written: dict[str, Written] = field(default_factory=dict)  # by payment id
    settled: dict[str, Settled] = field(default_factory=dict)  # by payment id

    def add_batch(self, batch: Batch) -> list[str]:
        """Record a written batch; returns payment ids already written elsewhere (a bug or a
        tampered journal: those lines must be looked at by a person)."""
        self.batches[batch.batch_id] = batch
        at = batch.created_at.timestamp()
        clashes = []
        for line in batch.lines:
            if line.payment_id in self.written:
                clashes.append(line.payment_id)
                continue
            self.written[line.payment_id] = Written(batch.batch_id, line, at)
        return clashes

    def fresh(
        self, batch_id: str, lines: tuple[ResultLine, ...]
    ) -> tuple[list[ResultLine], list[str]]:
        """Of a result file's valid lines: those not settled yet, and messages about later
        answers that contradict a first one (kept: the first answer stands)."""
        new, conflicts = [], []
        for line in lines:
            first = self.settled.get(line.payment_id)
            if first is None:
                new.append(line)
            elif (first.result.status, first.result.sacco_reference) != (
                line.status,
                line.sacco_reference,
            ):
                conflicts.append(
                    f"{line.payment_id}: {line.status} in batch {batch_id} contradicts the first "
                    f"answer {first.result.status} (batch {first.batch_id}); the first stands"
                )
        return new, conflicts

    def settle(self, batch_id: str, lines: list[ResultLine]) -> None:
        for line in lines:
            self.settled.setdefault(line.payment_id, Settled(batch_id, line))

    def awaiting(self) -> list[Written]:
        """Lines written and still without a result, oldest first."""
        out = [w for pid, w in self.written.items() if pid not in self.settled]
        return sorted(out, key=lambda w: (w.written_at, w.batch_id, w.line.line_no))
