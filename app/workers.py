"""Extra api processes for ``serve --workers N``. The first process binds the api's port, then
starts the database, the simulators, Ray and the actors; each extra worker joins that Ray instance
(RAY_ADDRESS), finds the actors by name and serves the api on the first process's own listening
sockets, inherited by file descriptor, so the kernel spreads connections over all of them. No
socket uses SO_REUSEPORT: another server cannot join the port (infra/listen.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import orjson

from switch.config import Settings, env_name


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that rebuilds exactly these settings in another process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    for field, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        env[env_name(field)] = (
            orjson.dumps(value).decode() if isinstance(value, dict) else str(value)
        )
    return env


def spawn_workers(
    settings: Settings, count: int, listeners: list[socket.socket]
) -> list[subprocess.Popen[bytes]]:
    env = settings_env(settings)
    fds = [s.fileno() for s in listeners]
    cmd = [sys.executable, "-m", "switch", "serve", "--listen-fds", ",".join(map(str, fds))]
    return [
        subprocess.Popen(cmd, env=env, pass_fds=fds)  # noqa: S603 - our own command
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for proc in workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
