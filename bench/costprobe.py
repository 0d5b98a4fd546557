"""``--cost``: a Redis server of the run's own (so its ``INFO commandstats`` counts the switch
alone, not whatever else on the machine uses the shared one), ``SWITCH_COST_DIR`` for the
switch's processes (infra/cost.py), and the readings when the CPU window opens and closes:
the processes' count files, Redis' commandstats, the newest oplog timestamp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from pymongo import AsyncMongoClient

from bench.cost import (
    CostReadings,
    calls_delta,
    commandstats_calls,
    oplog_counts,
    window_counts,
)
from bench.procs import Child, ProcessFailed, free_port
from infra.cost import ENV

REDIS_START_TIMEOUT = 20.0
OPLOG = ("local", "oplog.rs")
FRESH_WAIT_S = 2.0  # > infra/cost.py DUMP_EVERY_S


async def start_redis(workdir: Path) -> tuple[Child, str]:
    """``redis-server`` on a free port, no persistence; its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise ProcessFailed("--cost needs redis-server on PATH (or REDIS_URL set)")
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    child = Child("redis", argv, workdir / "redis.log").start()
    url = f"redis://127.0.0.1:{port}/0"
    try:
        await child.wait_ready(_pings(url), REDIS_START_TIMEOUT, "an answer to PING")
    except BaseException:
        await child.stop(grace=2)
        raise
    return child, url


def _pings(url: str) -> Callable[[], Awaitable[bool]]:

    async def ready() -> bool:
        client = aioredis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(await client.ping())
        except (aioredis.RedisError, OSError):
            return False
        finally:
            await client.aclose()

    return ready


def cost_env(folder: Path) -> dict[str, str]:
    return {ENV: str(folder)}


def read_dumps(folder: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            out[path.name] = json.loads(path.read_text())
    return out


async def fresh_dumps(folder: Path, since: float) -> dict[str, dict[str, Any]]:
    """The count files once each was rewritten after ``since`` (a process that has ended never
    is: at most FRESH_WAIT_S)."""
    deadline = time.monotonic() + FRESH_WAIT_S
    dumps = read_dumps(folder)
    while time.monotonic() < deadline and any(d.get("at", 0) < since for d in dumps.values()):
        await asyncio.sleep(0.1)
        dumps = read_dumps(folder)
    return dumps


class CostProbe:
    """The readings at the window's two ends, and the ``cost`` block of the result."""

    def __init__(self, folder: Path, redis_url: str | None, mongo_uri: str | None) -> None:
        self.folder = folder
        self.redis_url = redis_url
        self.mongo_uri = mongo_uri
        self._before: dict[str, dict[str, Any]] = {}
        self._after: dict[str, dict[str, Any]] = {}
        self._redis: list[dict[str, int]] = []
        self._oplog_from: Any = None
        self.oplog: dict[str, int] | None = None

    async def open(self) -> None:
        self._before = read_dumps(self.folder)
        self._redis = [await self._commandstats()]
        self._oplog_from = await self._newest_oplog_ts()

    async def close(self) -> None:
        """At the window's end; the files are rewritten every half second, so the drain's
        settling second has them up to date."""
        self._after = await fresh_dumps(self.folder, time.time())
        self._redis.append(await self._commandstats())
        self.oplog = await self._oplog_since(self._oplog_from)

    def readings(self) -> CostReadings:
        redis = None
        if len(self._redis) == 2 and self._redis[0] and self._redis[1]:
            redis = calls_delta(self._redis[0], self._redis[1])
        return CostReadings(window_counts(self._before, self._after), redis, self.oplog)

    async def _commandstats(self) -> dict[str, int]:
        if not self.redis_url:
            return {}
        client = aioredis.from_url(self.redis_url, socket_connect_timeout=2)
        try:
            return commandstats_calls(await client.info("commandstats"))
        except (aioredis.RedisError, OSError):
            return {}
        finally:
            await client.aclose()

    def _client(self) -> AsyncMongoClient[dict[str, Any]] | None:
        if not self.mongo_uri:
            return None
        return AsyncMongoClient(self.mongo_uri, serverSelectionTimeoutMS=10_000)

    async def _newest_oplog_ts(self) -> Any:
        client = self._client()
        if client is None:
            return None
        try:
            rows = client[OPLOG[0]][OPLOG[1]].find({}, {"ts": 1}).sort("ts", -1).limit(1)
            newest = await rows.to_list(1)
            return newest[0]["ts"] if newest else None
        except Exception:  # a server without an oplog: no oplog figures
            return None
        finally:
            await client.close()

    async def _oplog_since(self, ts: Any) -> dict[str, int] | None:
        client = self._client()
        if client is None or ts is None:
            if client is not None:
                await client.close()
            return None
        try:
            cursor = client[OPLOG[0]][OPLOG[1]].find({"ts": {"$gt": ts}}, {"op": 1, "ns": 1})
            return oplog_counts(await cursor.to_list(None))
        except Exception:
            return None
        finally:
            await client.close()
