"""Where batch files go to a file-integration SACCO and result files come back from it.

:class:`Outbox` is the seam: the gateway only calls these methods, so an SFTP implementation
(the usual channel with a SACCO: its server, our key, one folder each way) can be dropped in
later with the same names: ``put_batch`` = upload to a temporary name then rename on the
server, ``list_results``/``read_result`` = list and download, ``archive_result`` = rename into
the server's archive folder. Not implemented here (no SFTP dependency yet).

:class:`FolderOutbox` is the local-folder implementation (a shared or mounted folder, and the
simulator's channel), per SACCO under ``<settings.sacco_outbox_dir>/<CODE>/``::

    outgoing/   batch files for the SACCO to pick up (it removes them when taken)
    incoming/   result files the SACCO writes (we read them)
    archive/    result files read in full (every valid line delivered)
    rejected/   result files that could not be read at all (bad header): for a person to see

Every write is atomic: a hidden temporary file in the same folder, fsync, then rename, so a
reader never sees half a file; readers skip names starting with a dot.
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Protocol

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.csv$")


class Outbox(Protocol):
    async def put_batch(self, name: str, data: bytes) -> None:
        """Publish a batch file atomically (the SACCO never sees it half written)."""
        ...

    async def list_results(self) -> list[str]:
        """Names of the result files waiting to be read, oldest name first."""
        ...

    async def read_result(self, name: str) -> bytes: ...

    async def archive_result(self, name: str) -> None:
        """Move a result file that was read in full out of the way."""
        ...

    async def reject_result(self, name: str) -> None:
        """Move a result file that could not be read at all aside, for a person to look at."""
        ...


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"file name {name!r} must be letters, digits, _ . - and end in .csv")
    return name


def write_atomic(folder: Path, name: str, data: bytes) -> Path:
    """Write ``folder/name`` so that it appears whole or not at all (also after a crash)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / check_name(name)
    temp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        with temp.open("wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    _sync_dir(folder)
    return target


def move(source: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    os.replace(source, target)
    _sync_dir(folder)
    return target


def listed(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and _NAME.fullmatch(p.name))


def _sync_dir(folder: Path) -> None:
    """The rename itself is durable only once the folder is synced (POSIX)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FolderOutbox:
    """The :class:`Outbox` on a local (or mounted) folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.outgoing = self.root / "outgoing"
        self.incoming = self.root / "incoming"
        self.archive = self.root / "archive"
        self.rejected = self.root / "rejected"

    async def put_batch(self, name: str, data: bytes) -> None:
        await asyncio.to_thread(write_atomic, self.outgoing, name, data)

    async def list_results(self) -> list[str]:
        return await asyncio.to_thread(listed, self.incoming)

    async def read_result(self, name: str) -> bytes:
        return await asyncio.to_thread((self.incoming / check_name(name)).read_bytes)

    async def archive_result(self, name: str) -> None:
        await asyncio.to_thread(move, self.incoming / check_name(name), self.archive)

    async def reject_result(self, name: str) -> None:
        await asyncio.to_thread(move, self.incoming / check_name(name), self.rejected)
