"""The systems under load, each started as child processes on free ports:

- ``switch``: ``python -m switch serve --sandbox`` (embedded SecantusDB, local Ray, the Daraja
  simulator, the api), plus ``--merchants`` merchants, merchant ``i`` with its webhooks going to
  the sink's ``/hooks/<i>``, and a bearer token for each;
- ``ceiling``: ``python -m bench.ceiling`` (bare aiohttp);
- ``daraja``: ``python -m connectors.mpesa.simulator`` alone, its callbacks going to the sink.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.config import RunConfig
from bench.costprobe import cost_env, start_redis
from bench.procs import Child, ProcessFailed, free_port, free_port_block
from bench.raycluster import SHARD_RESOURCE, RayCluster, auth_env, start_cluster
from switch.providers import providers
from switch.rails import provider_of, recovered_by

READY_LINE = "switch listening on"
# The simulator's public sandbox credentials.
SIM_KEY, SIM_SECRET = "sandbox-key", "sandbox-secret"
START_TIMEOUT = 120.0
CLI_TIMEOUT = 60.0
CLI_PARALLEL = 8  # merchant create processes at once (each starts a Python and imports the switch)
# The sandbox's simulators, in the order of their ports from SWITCH_SIM_PORT (app/stack.py).
SIM_ORDER = tuple(spec.name for spec in providers() if spec.sandbox)
# The bare Daraja target: the STK Push rail's provider's simulator, run on its own.
STK_SIMULATOR = f"connectors.{provider_of(recovered_by('stk_query'))}.simulator"


@dataclass
class Target:
    kind: str  # switch | ceiling | daraja
    url: str  # where the load goes
    tokens: list[str] = field(default_factory=list)  # one bearer token per merchant (or target)
    sim_url: str = ""  # the Daraja simulator (switch sandbox or standalone)
    sim_urls: dict[str, str] = field(default_factory=dict)  # switch: every simulator by provider
    merchants: list[dict[str, Any]] = field(default_factory=list)  # as ``merchant create`` says
    data_dir: Path | None = None
    children: list[Child] = field(default_factory=list)
    db_name: str = "switch"
    cost_dir: Path | None = None  # --cost: where the switch's processes write their counts
    redis_url: str | None = None  # --cost: the run's own Redis
    cluster: RayCluster | None = None  # --ray-nodes N > 1: the Ray cluster the switch joined

    def mongo_uri(self) -> str | None:
        """Where the switch keeps its payments: MONGODB_URI, or the embedded server's port."""
        if os.environ.get("MONGODB_URI"):
            return os.environ["MONGODB_URI"]
        if self.data_dir is None:
            return None
        try:
            info = json.loads((self.data_dir / "secantusdb.json").read_text())
        except (OSError, ValueError):
            return None
        return f"mongodb://127.0.0.1:{int(info['port'])}/?directConnection=true"

    async def stop(self) -> None:
        for child in reversed(self.children):
            await child.stop()


async def _http_ok(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def start_target(
    cfg: RunConfig, workdir: Path, sink_url: str, http: aiohttp.ClientSession
) -> Target:
    if cfg.scenario == "ceiling":
        return await _start_ceiling(workdir, http)
    if cfg.scenario == "daraja":
        return await _start_daraja(cfg, workdir, http)
    return await _start_switch(cfg, workdir, sink_url, http)


async def _start_switch(
    cfg: RunConfig, workdir: Path, sink_url: str, http: aiohttp.ClientSession
) -> Target:
    data_dir = workdir / "var"
    data_dir.mkdir(parents=True, exist_ok=True)
    port, sim_port = free_port(), free_port_block(len(SIM_ORDER))
    env = {
        "SWITCH_DATA_DIR": str(data_dir),
        "SWITCH_PORT": str(port),
        "SWITCH_SIM_PORT": str(sim_port),
        "SWITCH_SIM_CALLBACK_DELAY": str(cfg.callback_delay),
        "PYTHONUNBUFFERED": "1",
    }
    if cfg.shards is not None:
        env["SWITCH_SHARDS"] = str(cfg.shards)
    early: list[Child] = []
    cost_dir = redis_url = None
    if cfg.cost:
        cost_dir = workdir / "cost"
        env.update(cost_env(cost_dir))
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis, redis_url = await start_redis(workdir)
            early.append(redis)
            env["REDIS_URL"] = redis_url
    cluster = None
    if cfg.ray_nodes > 1:
        # The actors run in the nodes' processes: they need the --cost folder too.
        node_env = cost_env(cost_dir) if cost_dir else {}
        try:
            cluster = await start_cluster(cfg.ray_nodes, workdir, node_env)
        except BaseException:
            for child in early:
                await child.stop()
            raise
        early += cluster.nodes
        env["RAY_ADDRESS"] = cluster.address
        env["SWITCH_SHARD_RESOURCE"] = SHARD_RESOURCE
        env.update(auth_env())
    elif not os.environ.get("RAY_TMPDIR"):
        # Ray's session folder (sockets, actor logs) inside the run's folder: kept with
        # --keep-logs, removed otherwise, and no cluster of the run is advertised in /tmp/ray
        # for anything else on the machine to join. A short path: Ray puts unix sockets under
        # it (at most 107 bytes).
        ray_tmp = workdir / "r"
        ray_tmp.mkdir(exist_ok=True)
        env["RAY_TMPDIR"] = str(ray_tmp)
    argv = [sys.executable, "-m", "switch", "serve", "--sandbox"]
    if cfg.workers is not None:
        argv += ["--workers", str(cfg.workers)]
    switch = Child("switch", argv, workdir / "switch.log", env).start()
    target = Target(
        "switch",
        f"http://127.0.0.1:{port}",
        sim_url=f"http://127.0.0.1:{sim_port}",
        sim_urls={name: f"http://127.0.0.1:{sim_port + i}" for i, name in enumerate(SIM_ORDER)},
        data_dir=data_dir,
        children=[*early, switch],
        db_name=os.environ.get("SWITCH_MONGODB_DB") or "switch",
        cost_dir=cost_dir,
        redis_url=redis_url,
        cluster=cluster,
    )
    try:

        async def ready() -> bool:
            return switch.log_contains(READY_LINE) and await _http_ok(http, f"{target.url}/healthz")

        await switch.wait_ready(ready, START_TIMEOUT, "'switch listening on'")
        if cfg.sim_latency:  # every simulator has the knob
            for base in target.sim_urls.values():
                await _patch_sim(http, base, {"latency": cfg.sim_latency})
        if cfg.scenario != "hub":  # the hub's participants are onboarded by bench/hub.py
            # mixed: each merchant is also an agency issuing payment references (bench/bills.py).
            kind = "government" if cfg.scenario == "mixed" else "standard"
            target.merchants = await create_merchants(data_dir, sink_url, cfg.merchants, kind)
        target.tokens = list(
            await asyncio.gather(*(_switch_token(http, target.url, m) for m in target.merchants))
        )
    except BaseException:
        await target.stop()
        raise
    return target


async def _patch_sim(http: aiohttp.ClientSession, sim_url: str, knobs: dict[str, Any]) -> None:
    async with http.patch(f"{sim_url}/__sim/config", json=knobs) as resp:
        if resp.status != 200:
            raise ProcessFailed(f"the simulator refused {knobs}: {await resp.text()}")


def hook_url(sink_url: str, index: int) -> str:
    """Where merchant ``index`` of the bench gets its webhooks."""
    return f"{sink_url}/hooks/{index}"


async def create_merchants(
    data_dir: Path, sink_url: str, count: int, kind: str = "standard"
) -> list[dict[str, Any]]:
    """``count`` merchants of ``kind``, created by up to CLI_PARALLEL ``merchant create``
    processes at once; merchant ``i`` has its webhooks at :func:`hook_url` ``i`` and a secret of
    its own."""
    gate = asyncio.Semaphore(CLI_PARALLEL)

    async def one(index: int) -> dict[str, Any]:
        async with gate:
            return await _create_merchant(
                data_dir, f"Bench shop {index}", hook_url(sink_url, index), kind
            )

    tasks = [asyncio.ensure_future(one(i)) for i in range(count)]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:  # one failed, or we were cancelled: stop (and kill) the others
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _create_merchant(
    data_dir: Path, name: str, webhook_url: str, kind: str
) -> dict[str, Any]:
    argv = [sys.executable, "-m", "switch", "merchant", "create", "--name", name]
    argv += ["--webhook-url", webhook_url, "--kind", kind, "--json"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SWITCH_DATA_DIR": str(data_dir)},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        raise ProcessFailed(f"merchant create took more than {CLI_TIMEOUT:.0f} s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: leave no process behind
            proc.kill()
            await proc.wait()
    text = out.decode(errors="replace")
    if proc.returncode != 0 or "{" not in text:
        raise ProcessFailed(f"merchant create failed ({proc.returncode}): {err.decode()[-2000:]}")
    created: dict[str, Any] = json.loads(text[text.index("{") :])
    return created


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization`` header value for HTTP Basic authentication."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _switch_token(http: aiohttp.ClientSession, url: str, merchant: dict[str, Any]) -> str:
    headers = {"Authorization": basic_auth(merchant["client_id"], merchant["client_secret"])}
    async with http.post(
        f"{url}/v1/oauth/token", data={"grant_type": "client_credentials"}, headers=headers
    ) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 200:
            raise ProcessFailed(f"no token from the switch: {resp.status} {body}")
        return str(body["access_token"])


async def _start_ceiling(workdir: Path, http: aiohttp.ClientSession) -> Target:
    port = free_port()
    argv = [sys.executable, "-m", "bench.ceiling", "--port", str(port)]
    child = Child("ceiling", argv, workdir / "ceiling.log").start()
    target = Target("ceiling", f"http://127.0.0.1:{port}", tokens=["ceiling"], children=[child])
    try:
        await child.wait_ready(
            lambda: _http_ok(http, f"{target.url}/healthz"), START_TIMEOUT, "answer on /healthz"
        )
    except BaseException:
        await target.stop()
        raise
    return target


async def _start_daraja(cfg: RunConfig, workdir: Path, http: aiohttp.ClientSession) -> Target:
    port = free_port()
    argv = [sys.executable, "-m", STK_SIMULATOR, "--port", str(port)]
    argv += ["--callback-delay", str(cfg.callback_delay), "--latency", str(cfg.sim_latency)]
    child = Child("simulator", argv, workdir / "simulator.log").start()
    url = f"http://127.0.0.1:{port}"
    target = Target("daraja", url, sim_url=url, children=[child])
    try:
        await child.wait_ready(
            lambda: _http_ok(http, f"{url}/__sim/stats"), START_TIMEOUT, "answer on /__sim/stats"
        )
        async with http.get(
            f"{url}/oauth/v1/generate?grant_type=client_credentials",
            headers={"Authorization": basic_auth(SIM_KEY, SIM_SECRET)},
        ) as resp:
            if resp.status != 200:
                raise ProcessFailed(f"no token from the simulator: {resp.status}")
            target.tokens = [str((await resp.json())["access_token"])]
    except BaseException:
        await target.stop()
        raise
    return target


async def fetch_sim_pushes(http: aiohttp.ClientSession, sim_url: str) -> list[dict[str, Any]]:
    """The simulator's own record of every STK push it accepted."""
    async with http.get(f"{sim_url}/__sim/stk", timeout=aiohttp.ClientTimeout(total=120)) as resp:
        resp.raise_for_status()
        pushes: list[dict[str, Any]] = await resp.json()
        return pushes


async def fetch_sim_stats(http: aiohttp.ClientSession, sim_url: str) -> dict[str, Any]:
    async with http.get(f"{sim_url}/__sim/stats", timeout=aiohttp.ClientTimeout(total=10)) as r:
        r.raise_for_status()
        stats: dict[str, Any] = await r.json()
        return stats
