"""The locust process: its command line and environment, and its own final statistics.

Locust is never imported here (it patches the standard library through gevent); it runs as
``locust --headless -f bench/locustfile.py`` in its own process.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.config import RunConfig
from bench.procs import REPO_ROOT, Child

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STOP_TIMEOUT = 35.0  # > the locustfile's network + connection timeouts: answers in flight land
READY_LINE = "Ramping to"


def locust_executable() -> str:
    beside = Path(sys.executable).with_name("locust")
    found = str(beside) if beside.exists() else shutil.which("locust")
    if not found:
        raise RuntimeError("locust is not installed (make install)")
    return found


def locust_argv(cfg: RunConfig, host: str) -> list[str]:
    spawn = cfg.spawn_rate or max(1.0, float(cfg.users))
    return [
        locust_executable(),
        "--headless",
        "-f",
        str(LOCUSTFILE),
        "--host",
        host,
        "--users",
        str(cfg.users),
        "--spawn-rate",
        f"{spawn:g}",
        "--run-time",
        f"{math.ceil(cfg.duration)}s",
        "--stop-timeout",
        f"{STOP_TIMEOUT:g}",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "INFO",
    ]


def locust_env(
    cfg: RunConfig, tokens: Sequence[str], records_dir: Path, callback_url: str
) -> dict[str, str]:
    """The locust process's environment: ``BENCH_TOKENS`` holds one bearer token per merchant
    (comma-separated); user ``n`` uses merchant ``n % len(tokens)``."""
    if not tokens or any("," in t for t in tokens):
        raise ValueError("need at least one token, without commas")
    env = {
        "BENCH_SCENARIO": cfg.locust_scenario,
        "BENCH_TOKENS": ",".join(tokens),
        "BENCH_RECORDS_DIR": str(records_dir),
        "BENCH_USERS": str(cfg.users),
        "BENCH_RATE": str(cfg.rate or 0),
        "BENCH_MAX_INFLIGHT": str(cfg.max_inflight),
        "BENCH_STORM_COPIES": str(cfg.storm_copies),
        "BENCH_MAX_SECONDS": str(math.ceil(cfg.duration + 2 * STOP_TIMEOUT)),
        "BENCH_CALLBACK_URL": callback_url,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
        ),
        "PYTHONUNBUFFERED": "1",
    }
    return env


def start_locust(
    cfg: RunConfig,
    workdir: Path,
    host: str,
    tokens: Sequence[str],
    callback_url: str,
    extra_env: dict[str, str] | None = None,
) -> tuple[Child, Path]:
    records_dir = workdir / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    argv = locust_argv(cfg, host)
    env = {**locust_env(cfg, tokens, records_dir, callback_url), **(extra_env or {})}
    return Child("locust", argv, workdir / "locust.log", env).start(), records_dir


def locust_totals(log_text: str) -> dict[str, Any]:
    """Locust's own count of requests and failures, from the ``Aggregated`` line of the summary
    it prints on exit: a cross-check of the records. Pure."""
    for line in log_text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "Aggregated" and parts[1].isdigit():
            failures = parts[2].split("(")[0]
            return {
                "requests": int(parts[1]),
                "failures": int(failures) if failures.isdigit() else None,
            }
    return {}
