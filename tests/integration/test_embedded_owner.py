"""The embedded database never outlives the switch that started it (infra/storage/embedded.py):
``serve`` killed with SIGKILL takes its SecantusDB server with it (the kernel's parent-death
signal); a start that finds a server left by a dead owner stops it and starts; a second owner
on a data folder whose owner is alive is refused."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.stack import Stack
from infra.storage.embedded import EmbeddedMongo, _alive, _executable
from switch.errors import ConfigError

from .conftest import free_port
from .switch_process import ROOT, serve_environment, wait_ready

pytestmark = pytest.mark.integration


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "switch", "serve"],
            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _listening(port: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            assert time.monotonic() < deadline, "the leftover server did not start"
            await asyncio.sleep(0.1)


async def test_the_database_dies_with_its_owner_and_a_leftover_is_stopped(
    stack: Stack, tmp_path: Path
) -> None:
    data, log = tmp_path / "var", tmp_path / "switch.log"
    port = free_port()
    owner = _serve(serve_environment(stack, data, port), log)
    try:
        await wait_ready(owner, f"http://127.0.0.1:{port}", log=log)
        marker = json.loads((data / "secantusdb.json").read_text())
        assert marker["owner"] == owner.pid and _alive(marker["pid"]), marker

        # A second owner on the same folder is refused while the first lives.
        with pytest.raises(ConfigError, match=rf"another switch process \(pid {owner.pid}\)"):
            EmbeddedMongo(str(data)).start()
        assert _alive(marker["pid"]), "the refused start touched the running server"
    finally:
        owner.kill()  # SIGKILL: no clean-up code of the switch runs
        await asyncio.to_thread(owner.wait, 30)
    assert await _gone(marker["pid"], 20), "the database outlived its owner (SIGKILL)"

    # A leftover as an older version or another OS leaves it: a server with no parent-death
    # signal whose owner, named in the marker, is gone.
    db_port = free_port()
    cmd = [_executable(), "--host", "127.0.0.1", "--port", str(db_port)]
    leftover = subprocess.Popen(
        [*cmd, "--storage-path", str(data / "db"), "--log-level", "WARNING"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await _listening(db_port)
        dead = subprocess.Popen(["true"])  # a process id that no longer runs
        await asyncio.to_thread(dead.wait, 10)
        marker = {"pid": leftover.pid, "port": db_port, "owner": dead.pid, "path": str(data / "db")}
        (data / "secantusdb.json").write_text(json.dumps(marker))
        assert EmbeddedMongo(str(data)).running_uri() is None, "a dead owner's server is shared"

        port = free_port()
        again = _serve(serve_environment(stack, data, port), log)
        try:
            await wait_ready(again, f"http://127.0.0.1:{port}", log=log)
            assert leftover.poll() is not None, "the leftover server still runs"
            assert f"stopping a leftover database server (pid {leftover.pid})" in log.read_text()
            now = json.loads((data / "secantusdb.json").read_text())
            assert now["owner"] == again.pid and now["pid"] != leftover.pid, now
        finally:
            again.terminate()
            await asyncio.to_thread(again.wait, 30)
        assert await _gone(now["pid"], 20), "a clean stop left the database running"
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait(10)
