"""The folder outbox and our journal: atomic writes, listings that skip temporaries, moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sacco.journal import Journal
from connectors.sacco.outbox import FolderOutbox, Outbox, check_name, write_atomic


async def test_put_batch_is_atomic_and_listed(tmp_path: Path) -> None:
    outbox: Outbox = FolderOutbox(tmp_path)
    await outbox.put_batch("B1.csv", b"data")
    assert (tmp_path / "outgoing" / "B1.csv").read_bytes() == b"data"
    assert [p.name for p in (tmp_path / "outgoing").iterdir()] == ["B1.csv"]  # no temp left


async def test_results_listing_skips_temporaries_and_other_files(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    for name in ("R2.csv", "R1.csv", ".R3.csv.99.tmp", "notes.txt"):
        (incoming / name).write_bytes(b"x")
    outbox = FolderOutbox(tmp_path)
    assert await outbox.list_results() == ["R1.csv", "R2.csv"]
    assert await outbox.read_result("R1.csv") == b"x"
    await outbox.archive_result("R1.csv")
    await outbox.reject_result("R2.csv")
    assert await outbox.list_results() == []
    assert (tmp_path / "archive" / "R1.csv").exists()
    assert (tmp_path / "rejected" / "R2.csv").exists()


async def test_no_file_outside_its_folder(tmp_path: Path) -> None:
    outbox = FolderOutbox(tmp_path)
    for name in ("../evil.csv", "a/b.csv", "x.txt", ".hidden.csv"):
        with pytest.raises(ValueError, match="file name"):
            await outbox.put_batch(name, b"")
    assert check_name("WAUMINI-20261127-ab12.csv")


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "B1.csv").mkdir()  # the rename cannot replace a folder
    with pytest.raises(IsADirectoryError):
        write_atomic(target, "B1.csv", b"data")
    assert sorted(p.name for p in target.iterdir()) == ["B1.csv"]  # no temporary left


async def test_journal_stage_then_sent(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    await journal.stage("B2.csv", b"two")
    await journal.stage("B1.csv", b"one")
    assert await journal.staged() == ["B1.csv", "B2.csv"]
    await journal.mark_sent("B1.csv")
    assert await journal.staged() == ["B2.csv"]
    assert await journal.batches() == [("B1.csv", b"one"), ("B2.csv", b"two")]
    assert await journal.read_staged("B2.csv") == b"two"
    await journal.keep_result("R1.csv", b"r")
    assert await journal.results() == [("R1.csv", b"r")]
