"""Shared by the SACCO tests: the API simulator on a real local port, and small builders."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiohttp import web

from connectors.sacco.files import Batch, BatchLine
from connectors.sacco.registry import Registry, sandbox_registry
from connectors.sacco.simulator import SIMULATOR, SimConfig, Simulator, create_app
from connectors.sacco.simulator.app import BASE_PATH

CREATED = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)


@asynccontextmanager
async def api_simulator(config: SimConfig | None = None) -> AsyncIterator[tuple[Simulator, str]]:
    """The simulator on 127.0.0.1 (a free port); yields it and the API base URL."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    port = int(sockets[0].getsockname()[1])
    try:
        yield app[SIMULATOR], f"http://127.0.0.1:{port}{BASE_PATH}"
    finally:
        await runner.cleanup()


def free_port() -> int:
    """A port nothing listens on (connections to it are refused: NotSent)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def registry_at(base_url: str) -> Registry:
    return sandbox_registry(base_url)


def line(
    n: int, member: str = "10001", amount: int = 150_000, purpose: str = "deposit"
) -> BatchLine:
    return BatchLine(n, f"pay_s0_{n}", member, amount, purpose, f"INV-{n}")  # type: ignore[arg-type]


def batch(*lines: BatchLine, batch_id: str = "WAUMINI-1", code: str = "WAUMINI") -> Batch:
    return Batch(batch_id, code, CREATED, lines)
