"""Our own durable record of what went to a file SACCO and what came back: always a local
folder, whatever the :class:`~connectors.sacco.outbox.Outbox` is (an SFTP server is the SACCO's,
not ours). Under ``<settings.sacco_outbox_dir>/<CODE>/journal/``::

    staged/    batch files written, not yet published to the outbox
    sent/      batch files published to the outbox
    results/   copies of the result files we read

A line is "written" once its batch is in ``staged/`` (fsynced): from then on it reaches the
SACCO even if the process dies, because :meth:`Journal.staged` is published again at start.
So the gateway answers QUEUED only after staging, and after a restart it rebuilds from here
which payments were written and which have a result. A SACCO must therefore accept the same
batch file (same name and batch id) twice and act on it once (the simulator does).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.sacco.outbox import check_name, listed, move, write_atomic


class Journal:
    def __init__(self, root: str | Path) -> None:
        base = Path(root) / "journal"
        self.staged_dir = base / "staged"
        self.sent_dir = base / "sent"
        self.results_dir = base / "results"

    async def stage(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(write_atomic, self.staged_dir, name, data)

    async def mark_sent(self, name: str) -> None:
        await asyncio.to_thread(move, self.staged_dir / check_name(name), self.sent_dir)

    async def staged(self) -> list[str]:
        return await asyncio.to_thread(listed, self.staged_dir)

    async def batches(self) -> list[tuple[str, bytes]]:
        """Every batch written (staged or sent), oldest name first."""
        return await asyncio.to_thread(self._batches)

    def _batches(self) -> list[tuple[str, bytes]]:
        found = {n: self.sent_dir / n for n in listed(self.sent_dir)}
        found |= {n: self.staged_dir / n for n in listed(self.staged_dir)}
        return [(n, found[n].read_bytes()) for n in sorted(found)]

    async def read_staged(self, name: str) -> bytes:
        return await asyncio.to_thread((self.staged_dir / check_name(name)).read_bytes)

    async def keep_result(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(write_atomic, self.results_dir, name, data)

    async def results(self) -> list[tuple[str, bytes]]:
        return await asyncio.to_thread(self._results)

    def _results(self) -> list[tuple[str, bytes]]:
        return [(n, (self.results_dir / n).read_bytes()) for n in listed(self.results_dir)]
