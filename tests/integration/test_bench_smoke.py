"""Smoke run of the bench suite: the real runner starts the whole stack on free ports with two
merchants, drives it with locust for a few seconds, and proves that nothing was lost or
duplicated and that each merchant got its own payments' webhooks. It must leave no process
behind, also when it fails."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 180.0  # start (~10 s), 5 s of load, drain, checks and stop, on a busy machine


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def _kill_all(proc: subprocess.Popen[bytes], seen: dict[int, psutil.Process]) -> None:
    """SIGTERM the runner (it stops what it started), then SIGKILL its group and every
    descendant ever seen."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    for p in seen.values():
        with contextlib.suppress(psutil.Error):
            p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@pytest.mark.integration
def test_bench_smoke_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "results"
    argv = [sys.executable, "-m", "bench", "run", "--scenario", "stk", "--users", "4"]
    argv += ["--merchants", "2"]  # users round-robin: two each
    argv += ["--duration", "5", "--callback-delay", "0.3", "--drain-timeout", "30"]
    argv += ["--out", str(out)]
    log = tmp_path / "bench.log"
    seen: dict[int, psutil.Process] = {}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            argv, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            for p in _descendants(proc.pid):
                seen.setdefault(p.pid, p)
            time.sleep(0.5)
        assert proc.poll() is not None, f"the bench run took over {RUN_TIMEOUT} s"
        assert proc.returncode == 0, log.read_text()
    finally:
        _kill_all(proc, seen)

    left = [p for p in seen.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}"

    results = list(out.glob("*-stk.json"))
    assert len(results) == 1, log.read_text()
    result = json.loads(results[0].read_text())
    assert result["accepted"] > 0
    assert result["lost"] == 0, result["checks"]
    assert result["duplicated"] == 0, result["checks"]
    assert result["completed"] == result["accepted"]
    assert result["checks"]["db_checked"] and result["checks"]["sim_checked"]
    assert result["api_latency_ms"]["p99"] is not None
    assert result["cpu"]["by_role_s"].get("api", 0) > 0
    merchants = result["merchants"]
    assert merchants["merchants"] == 2
    assert all(n > 0 for n in merchants["payments_per_merchant"]), merchants
    assert merchants["merchants_on_several_shards"] == 0, merchants
    assert result["checks"]["lost_detail"]["wrong_merchant"] == 0
    assert result["sink"]["bad_signatures"] == 0 and result["sink"]["unknown_hooks"] == 0
    assert (out / results[0].name.replace(".json", ".md")).exists()
    assert (out / results[0].name.replace(".json", ".png")).exists()
