"""The systems under load, each started as child processes on free ports:

- ``switch``: ``python -m switch serve --sandbox`` (embedded SecantusDB, local Ray, the Daraja
  simulator, the api), plus a merchant whose webhooks go to the sink, and its bearer token;
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
from bench.procs import Child, ProcessFailed, free_port

READY_LINE = "switch listening on"
# The simulator's public sandbox credentials.
SIM_KEY, SIM_SECRET = "sandbox-key", "sandbox-secret"
START_TIMEOUT = 120.0
CLI_TIMEOUT = 60.0


@dataclass
class Target:
    kind: str  # switch | ceiling | daraja
    url: str  # where the load goes
    token: str = ""
    sim_url: str = ""  # the Daraja simulator (switch sandbox or standalone)
    merchant: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None
    children: list[Child] = field(default_factory=list)
    db_name: str = "switch"

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
    port, sim_port = free_port(), free_port()
    env = {
        "SWITCH_DATA_DIR": str(data_dir),
        "SWITCH_PORT": str(port),
        "SWITCH_SIM_PORT": str(sim_port),
        "SWITCH_SIM_CALLBACK_DELAY": str(cfg.callback_delay),
        "PYTHONUNBUFFERED": "1",
    }
    if cfg.shards is not None:
        env["SWITCH_SHARDS"] = str(cfg.shards)
    argv = [sys.executable, "-m", "switch", "serve", "--sandbox"]
    if cfg.workers is not None:
        argv += ["--workers", str(cfg.workers)]
    switch = Child("switch", argv, workdir / "switch.log", env).start()
    target = Target(
        "switch",
        f"http://127.0.0.1:{port}",
        sim_url=f"http://127.0.0.1:{sim_port}",
        data_dir=data_dir,
        children=[switch],
        db_name=os.environ.get("SWITCH_MONGODB_DB") or "switch",
    )
    try:

        async def ready() -> bool:
            return switch.log_contains(READY_LINE) and await _http_ok(http, f"{target.url}/healthz")

        await switch.wait_ready(ready, START_TIMEOUT, "'switch listening on'")
        if cfg.sim_latency:
            await _patch_sim(http, target.sim_url, {"latency": cfg.sim_latency})
        target.merchant = await _create_merchant(data_dir, f"{sink_url}/hooks")
        target.token = await _switch_token(http, target.url, target.merchant)
    except BaseException:
        await target.stop()
        raise
    return target


async def _patch_sim(http: aiohttp.ClientSession, sim_url: str, knobs: dict[str, Any]) -> None:
    async with http.patch(f"{sim_url}/__sim/config", json=knobs) as resp:
        if resp.status != 200:
            raise ProcessFailed(f"the simulator refused {knobs}: {await resp.text()}")


async def _create_merchant(data_dir: Path, webhook_url: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "switch", "merchant", "create", "--name", "Bench shop"]
    argv += ["--webhook-url", webhook_url, "--json"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SWITCH_DATA_DIR": str(data_dir)},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CLI_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ProcessFailed(f"merchant create took more than {CLI_TIMEOUT:.0f} s") from None
    text = out.decode(errors="replace")
    if proc.returncode != 0 or "{" not in text:
        raise ProcessFailed(f"merchant create failed ({proc.returncode}): {err.decode()[-2000:]}")
    created: dict[str, Any] = json.loads(text[text.index("{") :])
    return created


async def _switch_token(http: aiohttp.ClientSession, url: str, merchant: dict[str, Any]) -> str:
    auth = aiohttp.BasicAuth(merchant["client_id"], merchant["client_secret"])
    async with http.post(
        f"{url}/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=auth
    ) as resp:
        body = await resp.json()
        if resp.status != 200:
            raise ProcessFailed(f"no token from the switch: {resp.status} {body}")
        return str(body["access_token"])


async def _start_ceiling(workdir: Path, http: aiohttp.ClientSession) -> Target:
    port = free_port()
    argv = [sys.executable, "-m", "bench.ceiling", "--port", str(port)]
    child = Child("ceiling", argv, workdir / "ceiling.log").start()
    target = Target("ceiling", f"http://127.0.0.1:{port}", token="ceiling", children=[child])  # noqa: S106
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
    argv = [sys.executable, "-m", "connectors.mpesa.simulator", "--port", str(port)]
    argv += ["--callback-delay", str(cfg.callback_delay), "--latency", str(cfg.sim_latency)]
    child = Child("simulator", argv, workdir / "simulator.log").start()
    url = f"http://127.0.0.1:{port}"
    target = Target("daraja", url, sim_url=url, children=[child])
    try:
        await child.wait_ready(
            lambda: _http_ok(http, f"{url}/__sim/stats"), START_TIMEOUT, "answer on /__sim/stats"
        )
        basic = base64.b64encode(f"{SIM_KEY}:{SIM_SECRET}".encode()).decode()
        async with http.get(
            f"{url}/oauth/v1/generate?grant_type=client_credentials",
            headers={"Authorization": f"Basic {basic}"},
        ) as resp:
            if resp.status != 200:
                raise ProcessFailed(f"no token from the simulator: {resp.status}")
            target.token = str((await resp.json())["access_token"])
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
