"""A switch in a process of its own: a sandbox one started as the README says
(``python -m switch serve --sandbox``), on free ports, with its data in a temporary folder; or a
plain ``serve`` on the session's Ray cluster and Daraja simulator (:func:`serve_environment`).
:func:`wait_ready` waits for either."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from app.stack import Stack

from .conftest import TIMINGS, free_port, stack_environment

ROOT = Path(__file__).resolve().parents[2]


def serve_environment(stack: Stack, data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """For ``python -m switch serve`` (not sandbox) on ``port``: its embedded database in
    ``data_dir``, the session's Ray cluster (a namespace of its own) and Daraja simulator."""
    assert stack.settings.ray_address
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCH_", "RAY_"))}
    env |= stack_environment(
        str(data_dir),
        SWITCH_MPESA_BASE_URL=stack.sim_url,
        SWITCH_PORT=str(port),
        SWITCH_RAY_NAMESPACE=f"serve-{uuid.uuid4().hex[:8]}",
        RAY_ADDRESS=stack.settings.ray_address,
        RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "token"),
        **extra,
    )
    env.pop("MONGODB_URI", None)  # the embedded server
    return env


async def wait_ready(
    proc: subprocess.Popen[bytes], base: str, *, log: Path | None = None, within: float = 120
) -> float:
    """Seconds until the switch process at ``base`` answers ``/readyz`` with 200; fails if it
    exits first (with the tail of its ``log``) or is not ready ``within`` seconds."""
    began = time.monotonic()
    async with aiohttp.ClientSession() as http:
        while True:
            assert proc.poll() is None, log.read_text()[-3000:] if log else "the switch exited"
            assert time.monotonic() - began < within, "the switch did not become ready"
            try:
                async with http.get(f"{base}/readyz") as resp:
                    if resp.status == 200:
                        return time.monotonic() - began
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


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
        await wait_ready(proc, f"http://127.0.0.1:{port}", log=tmp_path / "switch.log")
        yield port, env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
