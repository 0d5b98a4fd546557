"""``python -m switch doctor``: is this configuration fit to serve, and does everything it needs
answer? One line per check (``ok``, ``warn`` or ``FAIL``), exit code 1 if any check failed.

Checked: the settings ``serve`` refuses outside sandbox mode (switch/failclosed.py); MongoDB
(reachable, and a replica set: the switch writes in transactions); Redis; Ray (a configured
cluster's address answers); every provider in the registry (its API base URL answers HTTP).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp

from switch.config import Settings, env_name
from switch.providers import providers

Verdict = Literal["ok", "warn", "FAIL"]
TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    verdict: Verdict
    name: str
    detail: str


def report(checks: list[Check]) -> tuple[str, int]:
    """The printed report and the exit code (1 when any check failed)."""
    width = max((len(c.name) for c in checks), default=0)
    lines = [f"{c.verdict:<4}  {c.name:<{width}}  {c.detail}" for c in checks]
    failed = sum(c.verdict == "FAIL" for c in checks)
    warned = sum(c.verdict == "warn" for c in checks)
    lines.append(f"{len(checks)} checks: {failed} failed, {warned} warnings")
    return "\n".join(lines), int(failed > 0)


def _host(url: str) -> str:
    """A URL without its credentials or query (never print a password)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}"


async def _timed(name: str, probe: Callable[[], Awaitable[str]]) -> Check:
    started = time.monotonic()
    try:
        detail = await asyncio.wait_for(probe(), TIMEOUT)
    except Exception as exc:  # any failure to answer is the finding itself
        return Check("FAIL", name, f"{type(exc).__name__}: {exc}"[:300])
    ms = (time.monotonic() - started) * 1000
    verdict: Verdict = "warn" if detail.startswith("warn:") else "ok"
    return Check(verdict, name, f"{detail.removeprefix('warn:').strip()} ({ms:.0f} ms)")


def configuration(settings: Settings) -> list[Check]:
    from app.cli import simulator_dirs
    from switch.failclosed import refusals

    models = [spec.settings for spec in providers() if spec.settings is not None]
    found = refusals(settings, models, simulator_dirs())
    if not found:
        return [Check("ok", "configuration", "no placeholder, simulator key or key in the db")]
    # Refused by ``serve`` without --sandbox: a failure unless this is a sandbox set-up.
    verdict: Verdict = "warn" if settings.sandbox else "FAIL"
    return [Check(verdict, "configuration", line) for line in found]


async def mongodb(settings: Settings) -> Check:
    from infra.storage.embedded import EmbeddedMongo
    from infra.storage.mongo import connect

    uri = settings.mongodb_uri or EmbeddedMongo(settings.data_dir).running_uri()
    if not uri:
        return Check(
            "warn",
            "mongodb",
            f"{env_name('mongodb_uri')} unset and no embedded server running in "
            f"{settings.data_dir}: serve starts one (single machine only, no replica set)",
        )

    async def probe() -> str:
        client = connect(uri)
        try:
            hello: dict[str, Any] = await client.admin.command("hello")
        finally:
            await client.close()
        members = len(hello.get("hosts", []))
        if not hello.get("setName") and hello.get("msg") != "isdbgrid":
            return f"warn: {_host(uri)} answers but is not a replica set (transactions need one)"
        kind = "sharded cluster" if hello.get("msg") == "isdbgrid" else "replica set"
        return f"{_host(uri)} {kind} {hello.get('setName', '')} ({members} members)".strip()

    return await _timed("mongodb", probe)


async def redis(settings: Settings) -> Check:
    from infra.live import DEFAULT_REDIS_URL, redis_answers

    url = settings.redis_url
    if not url:
        local = await redis_answers(DEFAULT_REDIS_URL)
        return Check(
            "warn",
            "redis",
            f"REDIS_URL unset: {'the local Redis answers' if local else 'no local Redis'}; "
            "set it when more than one api process serves",
        )

    async def probe() -> str:
        if not await redis_answers(url):
            raise ConnectionError(f"{_host(url)} does not answer PING")
        return f"{_host(url)} answers PING"

    return await _timed("redis", probe)


async def ray(settings: Settings) -> Check:
    address = settings.ray_address
    if not address or address == "local":
        return Check("warn", "ray", "RAY_ADDRESS unset: serve starts a local Ray (one machine)")
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379

    async def probe() -> str:
        _, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()
        return f"{host}:{port} accepts connections"

    return await _timed("ray", probe)


def _provider_url(settings: Settings, name: str) -> str | None:
    url = settings.provider_urls.get(name) or getattr(settings, f"{name}_base_url", None)
    return str(url) if url else None


async def provider(settings: Settings, http: aiohttp.ClientSession, name: str) -> Check:
    url = _provider_url(settings, name)
    if not url:
        return Check("ok", f"provider {name}", "no API base URL (accounts set in its registry)")

    async def probe() -> str:
        async with http.get(url, allow_redirects=False) as resp:
            return f"{_host(url)} answers HTTP {resp.status}"

    return await _timed(f"provider {name}", probe)


async def run_doctor(settings: Settings) -> int:
    checks = configuration(settings)
    checks += [await mongodb(settings), await redis(settings), await ray(settings)]
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        checks += [await provider(settings, http, spec.name) for spec in providers()]
    text, code = report(checks)
    print(text)
    return code
