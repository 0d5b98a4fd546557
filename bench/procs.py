"""Child processes of the runner: started in their own session with output to a log file, waited
for with a deadline, and stopped with SIGTERM, then SIGKILL for the whole tree."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]


class ProcessFailed(RuntimeError):
    """A child process exited early or did not become ready in time."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_block(count: int, tries: int = 50) -> int:
    """The first of ``count`` consecutive free ports: the sandbox puts its simulators on
    SWITCH_SIM_PORT and the next ones (Daraja, Airtel, PesaLink, SACCO)."""
    for _ in range(tries):
        base = free_port()
        if base + count > 65535:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise ProcessFailed(f"no {count} consecutive free ports found")


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Child:
    """One child process, its log file, and everything it starts."""

    def __init__(
        self, name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self._known: dict[int, psutil.Process] = {}

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} has not started"
        return self.proc.pid

    def start(self) -> Child:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own, fixed command lines
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def remember_tree(self) -> None:
        """Note every descendant now, so they can be killed even after their parent is gone."""
        if not self.running():
            return
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(self.pid)
            for p in [root, *root.children(recursive=True)]:
                self._known.setdefault(p.pid, p)

    async def wait_ready(
        self, ready: Callable[[], Awaitable[bool]], within: float, what: str
    ) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.running():
                raise ProcessFailed(
                    f"{self.name} exited with code {self.returncode()} before {what}; "
                    f"last lines of {self.log}:\n{log_tail(self.log)}"
                )
            with contextlib.suppress(OSError):
                if await ready():
                    return
            await asyncio.sleep(0.2)
        raise ProcessFailed(
            f"{self.name}: no {what} within {within:.0f} s; last lines of {self.log}:\n"
            f"{log_tail(self.log)}"
        )

    def log_contains(self, text: str) -> bool:
        try:
            return text in self.log.read_text(errors="replace")
        except OSError:
            return False

    async def wait_exit(self, within: float) -> int | None:
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.proc.wait, within)
        return self.returncode()

    async def stop(self, grace: float = 30.0) -> None:
        """SIGTERM the child (it stops its own children), wait ``grace`` seconds, then SIGKILL
        its process group and every descendant seen."""
        if self.proc is None:
            return
        self.remember_tree()
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            await self.wait_exit(grace)
        if self.running():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
        self._kill_leftovers()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def _kill_leftovers(self) -> None:
        for p in self._known.values():
            with contextlib.suppress(psutil.Error):
                if p.is_running():
                    p.kill()
