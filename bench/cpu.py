"""CPU seconds by process over a window of the run, with psutil over the process trees of the
runner's children (the switch and everything it starts: Ray's gcs, raylet and workers, the
SecantusDB server; the locust process; the ceiling or the standalone simulator) and the runner
itself (which hosts the webhook sink).

The tree is sampled about once a second, so a process that ends inside the window still counts
(up to its last sample). Each process counts from its value when the window opened, or from zero
when it started later."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil


def classify(name: str, cmdline: Sequence[str]) -> str:
    """A short role for a process, from its name and command line. Pure."""
    line = " ".join(cmdline)
    first = cmdline[0] if cmdline else ""
    if first.startswith("ray::"):
        return "ray:" + first.removeprefix("ray::").split()[0]
    rules = (
        ("secantusd", "secantusdb"),
        ("gcs_server", "ray:gcs"),
        ("raylet", "ray:raylet"),
        ("dashboard/agent.py", "ray:agent"),
        ("dashboard", "ray:dashboard"),
        ("log_monitor", "ray:log_monitor"),
        ("monitor.py", "ray:monitor"),
        ("runtime_env", "ray:runtime_env"),
        ("ray.util.client.server", "ray:client_server"),
        ("bin/ray start", "ray:start"),  # a node of the run's own cluster (--ray-nodes)
        ("-m switch serve", "api"),
        ("locust", "locust"),
        ("bench.ceiling", "ceiling"),
        ("simulator --port", "simulator"),  # a provider's simulator run on its own
        ("-m bench", "runner+sink"),
    )
    for needle, role in rules:
        if needle in line or needle == name:
            return role
    return name or "?"


@dataclass(frozen=True, slots=True)
class ProcCpu:
    pid: int
    role: str
    cpu_s: float


def by_role(procs: Sequence[ProcCpu]) -> dict[str, float]:
    """CPU seconds summed per role, largest first. Pure."""
    totals: dict[str, float] = {}
    for p in procs:
        totals[p.role] = totals.get(p.role, 0.0) + p.cpu_s
    return dict(sorted(((k, round(v, 3)) for k, v in totals.items()), key=lambda kv: -kv[1]))


class CpuMeter:
    def __init__(self) -> None:
        self.roots: dict[int, str] = {os.getpid(): "runner+sink"}  # pid -> role if unknown
        self._role: dict[int, str] = {}
        self._root: dict[int, int] = {}  # pid -> the root whose tree it was seen in
        self._last: dict[int, float] = {}
        self._base: dict[int, float] | None = None
        self._end: dict[int, float] | None = None
        self._opened: float | None = None
        self._closed: float | None = None
        self._machine: list[float] = []  # busy CPU seconds of the whole machine at start, stop

    def add_root(self, pid: int, role: str) -> None:
        self.roots[pid] = role

    def sample(self) -> None:
        if self._end is not None:
            return
        for pid, role in list(self.roots.items()):
            try:
                root = psutil.Process(pid)
                tree = [root, *root.children(recursive=True)] if pid != os.getpid() else [root]
            except psutil.Error:
                continue
            for p in tree:
                self._root.setdefault(p.pid, pid)
                self._read(p, role if p.pid == pid else "")

    def _read(self, p: psutil.Process, role: str) -> None:
        # Re-classified at every sample: a prestarted Ray worker ("ray::IDLE") becomes an actor.
        with contextlib.suppress(psutil.Error):
            self._role[p.pid] = role or classify(p.name(), p.cmdline())
            t = p.cpu_times()
            self._last[p.pid] = t.user + t.system

    def start(self) -> None:
        """Open the window: what every process used so far does not count."""
        self.sample()
        self._base = dict(self._last)
        self._opened = time.monotonic()
        self._machine = [_machine_busy()]

    def stop(self) -> None:
        self.sample()
        self._end = dict(self._last)
        self._closed = time.monotonic()
        self._machine.append(_machine_busy())

    @property
    def machine_busy_s(self) -> float | None:
        """CPU seconds the whole machine spent in the window, ours or not: the difference with
        the sum over our processes is other work that shared the machine with the run."""
        if len(self._machine) != 2:
            return None
        return round(self._machine[1] - self._machine[0], 3)

    @property
    def window_s(self) -> float:
        if self._opened is None:
            return 0.0
        return (self._closed or time.monotonic()) - self._opened

    def results(self) -> list[ProcCpu]:
        base = self._base or {}
        end = self._end if self._end is not None else self._last
        out = [
            ProcCpu(pid, self._role.get(pid, "?"), round(max(0.0, cpu - base.get(pid, 0.0)), 3))
            for pid, cpu in end.items()
        ]
        return sorted(out, key=lambda p: (p.role, p.pid))

    def by_root(self, roots: Sequence[int]) -> dict[int, float]:
        """CPU seconds in the window of each of ``roots``' trees (a Ray node's processes)."""
        totals = dict.fromkeys(roots, 0.0)
        for p in self.results():
            root = self._root.get(p.pid)
            if root in totals:
                totals[root] += p.cpu_s
        return {root: round(s, 3) for root, s in totals.items()}


def _machine_busy() -> float:
    t = psutil.cpu_times()
    return float(sum(t)) - float(t.idle) - float(getattr(t, "iowait", 0.0))
