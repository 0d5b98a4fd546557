"""A simulator served for the switch's sandbox mode (a provider's ``sandbox`` entry, see
switch/providers.py): its runner, its address and the switch settings that point at it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Served:
    runner: web.AppRunner
    base_url: str
    overrides: dict[str, Any] = field(default_factory=dict)  # the switch's settings for it
    app: web.Application | None = None

    def settings(self) -> dict[str, Any]:
        return self.overrides

    async def stop(self) -> None:
        await self.runner.cleanup()


async def serve(app: web.Application, host: str, port: int) -> Served:
    """``app`` on its own port (0: any free one; no SO_REUSEPORT: nothing else may share it)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    return Served(runner, f"http://{host}:{bound}", app=app)
