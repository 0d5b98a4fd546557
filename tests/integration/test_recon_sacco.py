"""A file SACCO's result files re-matched by a reconciliation run, through the public API on the
real stack: the files its gateway ingested and kept (the journal) are read again at each run;
a loan disbursement the SACCO answered PAID matches, and the same answer in a second file (the
SACCO paying twice) is a duplicate break, found once however often the run is repeated."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from app.stack import Stack

from .helpers import Api
from .test_compliance import _operator
from .test_recon import _ledger_ok
from .test_saccos import file_sacco_loan

pytestmark = pytest.mark.integration


async def test_sacco_result_files_are_matched_and_a_line_paid_twice_is_a_break(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    assert stack.state is not None
    since = datetime.now(UTC) - timedelta(seconds=1)
    created = await file_sacco_loan(merchant)

    alice = await _operator(stack, http)
    run_body = {
        "sources": ["sacco_results"],
        "since": since.isoformat(),
        "until": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
    }
    status, run = await alice.call("POST", "/v1/operator/recon/runs", json=run_body)
    assert status == 201, run
    assert run["counts"].get("matched", 0) >= 1
    assert created["id"] not in {b["key"] for b in run["breaks"]}

    # The SACCO answers the same line PAID again, in a file of its own.
    results = Path(stack.state.settings.sacco_outbox_dir) / "WAUMINI" / "journal" / "results"
    [kept] = await asyncio.to_thread(
        lambda: [p for p in results.iterdir() if created["id"].encode() in p.read_bytes()]
    )
    await asyncio.to_thread(shutil.copy, kept, results / f"again_{kept.name}")
    breaks = []
    for _ in range(2):  # found once, however often the run is repeated
        status, run = await alice.call("POST", "/v1/operator/recon/runs", json=run_body)
        assert status == 201, run
        breaks.append([(b["kind"], b["id"]) for b in run["breaks"] if b["key"] == created["id"]])
    assert breaks[0] == breaks[1] and [kind for kind, _ in breaks[0]] == ["duplicate"]
    _, brk = await alice.call("GET", f"/v1/operator/recon/breaks/{breaks[0][0][1]}")
    assert brk["provider"] == "sacco" and brk["sources"] == ["sacco_results"]
    assert brk["suspense"] is None  # money out of the switch: nothing of nobody's to hold
    await _ledger_ok(stack)
