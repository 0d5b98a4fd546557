"""Shared by the SACCO tests: the API simulator on a real local port, and small builders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from connectors.sacco.files import Batch, BatchLine
from connectors.sacco.registry import Registry, sandbox_registry
from connectors.sacco.simulator import SIMULATOR, SimConfig, Simulator, create_app
from connectors.sacco.simulator.app import BASE_PATH
from tests.simharness import free_port as free_port  # connections to it are refused: NotSent
from tests.simharness import serving

CREATED = datetime(2026, 11, 27, 8, 0, 0, tzinfo=UTC)


@asynccontextmanager
async def api_simulator(config: SimConfig | None = None) -> AsyncIterator[tuple[Simulator, str]]:
    """The simulator on 127.0.0.1 (a free port); yields it and the API base URL."""
    app = create_app(config)
    async with serving(app) as url:
        yield app[SIMULATOR], url + BASE_PATH


def registry_at(base_url: str) -> Registry:
    return sandbox_registry(base_url)


def line(
    n: int, member: str = "10001", amount: int = 150_000, purpose: str = "deposit"
) -> BatchLine:
    return BatchLine(n, f"pay_s0_{n}", member, amount, purpose, f"INV-{n}")  # type: ignore[arg-type]


def batch(*lines: BatchLine, batch_id: str = "WAUMINI-1", code: str = "WAUMINI") -> Batch:
    return Batch(batch_id, code, CREATED, lines)
