"""``--ray-nodes N`` (N >= 2): a Ray cluster of N nodes on this machine for the switch to join
(``RAY_ADDRESS``), started and stopped by the run: a head node and N-1 worker nodes, each a
``ray start --block`` child of the runner (SIGTERM stops it with everything it started), all in
a temporary folder of the run and on free ports, so nothing else on the machine finds it or
collides with it. The worker nodes offer :data:`SHARD_RESOURCE` and the switch is told to give
each shard actor one unit of it (``SWITCH_SHARD_RESOURCE``): the shards, the writers, run on the
worker nodes; the other actors spread over every node (ACTOR_OPTIONS' SPREAD).

The argv builders and the placement summary are pure; :func:`start_cluster` runs processes."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.procs import REPO_ROOT, Child, free_port

SHARD_RESOURCE = "bench_shards"
SHARD_UNITS = 256  # >= the most shards the switch allows (SWITCH_SHARDS <= 256)
READY_LINE = "will now block forever"  # `ray start --block`, once its node is up and joined
START_TIMEOUT = 120.0
OBJECT_STORE_BYTES = 256 * 1024 * 1024  # the switch passes small objects; the default is 30 % RAM
RAY = str(Path(sys.executable).with_name("ray"))


def head_argv(port: int, temp_dir: Path, ports: Mapping[str, int]) -> list[str]:
    """The head node: the GCS on ``port``; no CPUs to schedule on (the actors ask for none), the
    dashboard off, every port that defaults to a fixed number on a free one. Pure."""
    return [
        RAY, "start", "--head", "--block", "--port", str(port), "--temp-dir", str(temp_dir),
        "--num-cpus", "1", "--include-dashboard", "false", "--disable-usage-stats",
        "--object-store-memory", str(OBJECT_STORE_BYTES),
        "--ray-client-server-port", str(ports["client"]),
        "--dashboard-port", str(ports["dashboard"]),
        "--dashboard-agent-listen-port", str(ports["agent"]),
    ]  # fmt: skip


def worker_argv(address: str, agent_port: int) -> list[str]:
    """A worker node joining ``address``, offering the shard resource. Pure."""
    return [
        RAY, "start", "--block", "--address", address, "--num-cpus", "1",
        "--resources", f'{{"{SHARD_RESOURCE}": {SHARD_UNITS}}}', "--disable-usage-stats",
        "--object-store-memory", str(OBJECT_STORE_BYTES),
        "--dashboard-agent-listen-port", str(agent_port),
    ]  # fmt: skip


def auth_env() -> dict[str, str]:
    """Ray's token authentication, for every node and the switch joining them: a head started
    by ``ray start`` turns it on, a joining node or driver must say so too (the token is the
    machine's ``~/.ray/auth_token``)."""
    return {"RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token")}


def node_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The nodes' environment, which their workers (the actors) inherit: the repository on the
    path, so the actors' classes import, and ``extra`` (the --cost probe's folder)."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, **auth_env(), **extra}


@dataclass
class RayCluster:
    address: str  # the GCS, for RAY_ADDRESS
    temp_dir: Path
    nodes: list[Child] = field(default_factory=list)  # the head first

    def head_node_id(self) -> str | None:
        """The head's node id: the GCS writes its port to ``gcs_server_port_<node id>``."""
        for path in sorted((self.temp_dir / "session_latest").glob("gcs_server_port_*")):
            return path.name.removeprefix("gcs_server_port_")
        return None

    async def stop(self) -> None:
        for node in reversed(self.nodes):  # the workers, then the head
            await node.stop(grace=20)


async def start_cluster(count: int, workdir: Path, extra_env: Mapping[str, str]) -> RayCluster:
    """A head and ``count - 1`` worker nodes, each ready (joined) before the next starts."""
    if count < 2:
        raise ValueError("a cluster has at least two nodes")
    temp_dir = workdir / "rc"  # short: Ray's unix sockets live under it (at most 107 bytes)
    temp_dir.mkdir(exist_ok=True)
    env = node_env(extra_env)
    port = free_port()
    ports = {"client": free_port(), "dashboard": free_port(), "agent": free_port()}
    head = Child("ray-head", head_argv(port, temp_dir, ports), workdir / "ray-head.log", env)
    cluster = RayCluster("", temp_dir, [head.start()])
    try:
        await _ready(head, lambda: (temp_dir / "ray_current_cluster").exists())
        cluster.address = (temp_dir / "ray_current_cluster").read_text().strip()
        for i in range(1, count):
            argv = worker_argv(cluster.address, free_port())
            node = Child(f"ray-node-{i}", argv, workdir / f"ray-node-{i}.log", env)
            cluster.nodes.append(node.start())
            await _ready(node, lambda: True)
    except BaseException:
        await cluster.stop()
        raise
    return cluster


async def _ready(node: Child, also: Any) -> None:
    async def ready() -> bool:
        return node.log_contains(READY_LINE) and bool(also())

    await node.wait_ready(ready, START_TIMEOUT, f"'{READY_LINE}'")


def placement_by_node(placement: Mapping[str, str], head_id: str | None) -> dict[str, Any]:
    """``/readyz``'s actor -> node id, turned into each node's actors, the head first. Pure."""
    nodes: dict[str, list[str]] = {}
    for actor, node in sorted(placement.items()):
        nodes.setdefault(node, []).append(actor)
    order = sorted(nodes, key=lambda n: (n != head_id, n))
    return {
        "nodes": [
            {"node": "head" if n == head_id else "worker", "node_id": n, "actors": nodes[n]}
            for n in order
        ],
        "distinct_nodes": len(nodes),
    }


def render_placement(ray: Mapping[str, Any]) -> list[str]:
    """The summary's "Ray cluster" section. Pure."""
    placement = ray["placement"]
    lines = [
        "",
        "## Ray cluster",
        "",
        f"{ray['node_count']} Ray nodes on this machine (`--ray-nodes`), the shards on the worker "
        f"nodes (`SWITCH_SHARD_RESOURCE={SHARD_RESOURCE}`); the actors ran on "
        f"{placement['distinct_nodes']} distinct nodes (`/readyz`).",
        "",
        "| node | node id | actors |",
        "|---|---|---|",
    ]
    for n in placement["nodes"]:
        lines.append(f"| {n['node']} | `{n['node_id'][:16]}` | {', '.join(n['actors'])} |")
    cpu = ray.get("cpu_s_by_node") or {}
    if cpu:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
        lines += ["", f"CPU seconds of each node's processes (its raylet, the actors on it) in the "
                  f"window: {shown}."]  # fmt: skip
    return lines


def ray_headline(ray: Mapping[str, Any]) -> str:
    """One console line: which actors ran on which node. Pure."""
    nodes = ray["placement"]["nodes"]
    return f"ray: {ray['node_count']} nodes, actors on {len(nodes)}: " + "; ".join(
        f"{n['node']} {', '.join(n['actors'])}" for n in nodes
    )
