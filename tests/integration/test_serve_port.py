"""``python -m switch serve`` on a port another process listens on (issue 10, finding 6): it
exits at once with one clear line, before starting the database, Ray or the simulators, whether
or not the other listener allows port sharing (SO_REUSEPORT)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import stack_environment


@pytest.mark.parametrize("reuse_port", [False, True])
def test_serve_on_a_busy_port_exits_with_one_clear_line(tmp_path: Path, reuse_port: bool) -> None:
    with socket.socket() as held:
        if reuse_port:  # as the switch itself used to listen: a second serve would join it
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        data = tmp_path / "var"
        data.mkdir()
        env = {**os.environ, **stack_environment(str(data)), "SWITCH_HOST": "127.0.0.1"}
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "switch", "serve", "--sandbox", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _, stderr = proc.communicate(timeout=60)  # a loaded machine imports slowly
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM: serve stops what it started
            proc.communicate(timeout=60)
            pytest.fail("serve started on a port another process listens on")
        took = time.monotonic() - started
    assert proc.returncode != 0
    lines = stderr.strip().splitlines()
    assert lines == [
        f"error: port {port} on 127.0.0.1 is already in use (another server is listening "
        "there); stop it or choose another port (--port or SWITCH_PORT)"
    ]
    # No database, Ray or simulators were started (and none left behind): an error at once, in
    # the time it takes to import (seconds; up to tens of them when other processes take the
    # cores), before the data folder is touched.
    assert took < 30
    assert list(data.iterdir()) == []  # the embedded database never created its files
