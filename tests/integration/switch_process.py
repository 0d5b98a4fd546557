"""A sandbox switch in a process of its own, started as the README says
(``python -m switch serve --sandbox``), on free ports, with its data in a temporary folder."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from .conftest import TIMINGS, free_port

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def sandbox_switch(
    tmp_path: Path, name: str, **extra: str
) -> AsyncIterator[tuple[int, dict[str, str]]]:
    """(api port, environment) of a ready switch; REDIS_URL unset (the default stack)."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SWITCH_") and k not in ("REDIS_URL", "MONGODB_URI", "RAY_ADDRESS")
    }
    env.update(
        SWITCH_DATA_DIR=str(tmp_path / "var"),
        SWITCH_PORT=str(port),
        SWITCH_SIM_PORT="0",  # every simulator on a free port
        SWITCH_RAY_NAMESPACE=f"{name}-{port}",
        SWITCH_SIM_CALLBACK_DELAY=TIMINGS["SWITCH_SIM_CALLBACK_DELAY"],
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **extra,
    )
    log = (tmp_path / "switch.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "switch", "serve", "--sandbox"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, (tmp_path / "switch.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the switch did not become ready"
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.3)
        yield port, env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
