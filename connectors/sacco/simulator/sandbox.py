"""Both SACCO simulators in-process, for the switch's sandbox mode, the demo and tests.

    sandbox = await start_sandbox(host, port, settings.sacco_outbox_dir, registry_path)
    settings = settings.model_copy(update=sandbox.settings())
    ...
    await sandbox.stop()

The API simulator serves the ``STIMA`` tenant on ``host:port`` (0: any free port); the file
SACCO ``WAUMINI`` polls ``outbox_dir`` as an asyncio task of the calling process; the sandbox
registry, pointing at the simulator's real URL, is written to ``registry_file`` (0600: it holds
the sandbox credentials). Paths are made absolute, so gateway actors started elsewhere (Ray
workers need not share the caller's working directory) find the same folders.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from connectors.sacco.registry import Registry, sandbox_registry
from connectors.sacco.simulator.app import BASE_PATH, SIMULATOR, Simulator, create_app
from connectors.sacco.simulator.config import SimConfig
from connectors.sacco.simulator.files import FileSacco, FileSimConfig
from switch.providers import SandboxPlace


@dataclass
class SaccoSandbox:
    runner: web.AppRunner
    api: Simulator
    files: FileSacco
    registry: Registry
    registry_file: Path
    outbox_dir: Path
    api_base_url: str

    @property
    def base_url(self) -> str:
        return self.api_base_url

    def settings(self) -> dict[str, str]:
        """The Settings values the switch needs to use these simulators."""
        return {
            "sacco_registry_file": str(self.registry_file),
            "sacco_outbox_dir": str(self.outbox_dir),
        }

    async def stop(self) -> None:
        await self.files.stop()
        await self.runner.cleanup()


async def start_sandbox(
    host: str,
    port: int,
    outbox_dir: str | Path,
    registry_file: str | Path,
    config: SimConfig | None = None,
    file_config: FileSimConfig | None = None,
) -> SaccoSandbox:
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    base = f"http://{host}:{bound}{BASE_PATH}"
    registry = sandbox_registry(base)
    path, outbox = await asyncio.to_thread(_write_registry, registry, registry_file, outbox_dir)
    codes = tuple(s.code for s in registry.of("file"))
    file_sacco = FileSacco(outbox, codes, file_config)
    file_sacco.start()
    return SaccoSandbox(runner, app[SIMULATOR], file_sacco, registry, path, outbox, base)


def _write_registry(
    registry: Registry, registry_file: str | Path, outbox_dir: str | Path
) -> tuple[Path, Path]:
    path = Path(registry_file).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(registry.to_json())
    return path, Path(outbox_dir).resolve()


async def start(place: SandboxPlace) -> SaccoSandbox:
    """Both SACCO simulators for the switch's sandbox mode (the SACCOs' ``sandbox`` entry): the
    outbox and the registry file in the switch's data folder."""
    data = Path(place.data_dir)
    return await start_sandbox(
        place.host, place.port, data / "sacco", data / "sacco-registry.json", place.config
    )
