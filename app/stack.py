"""The composition root: starts everything a command needs, in order, and stops it in reverse.

database (embedded SecantusDB unless MONGODB_URI) -> indexes and signing key -> simulators (with
--sandbox) -> Ray and the actors -> the aiohttp api.
"""

from __future__ import annotations

import base64
import logging
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pymongo import AsyncMongoClient

from actors.runtime import RaySwitch, init_ray, ray_address, shutdown_ray
from api.app import create_app
from api.hardening import server_args
from api.state import AppState
from connectors.sacco.registry import registry_from
from infra import cost
from infra.listen import bind_listeners, free_to_bind, port_of
from infra.live import Hub, resolve_redis_url
from infra.storage.embedded import EmbeddedMongo
from infra.storage.mongo import Collections, collections, connect, ensure_indexes
from infra.tls import context_for
from infra.tls import enabled as tls_enabled
from switch.config import Settings
from switch.providers import ProviderSpec, RunningSandbox, SandboxPlace, providers, resolve

log = logging.getLogger(__name__)
# The switch's own bank code in sandbox mode (collection accounts): no bank of the sandbox's
# tables uses it (connectors/pesalink/banks.py); a real one is the operator's to configure.
SANDBOX_SWITCH_BANK_CODE = "99"


def _sandboxed() -> list[ProviderSpec]:
    """The providers that bring a simulator for sandbox mode, in registry order."""
    return [spec for spec in providers() if spec.sandbox]


async def load_secret_key(cols: Collections, settings: Settings) -> bytes:
    """The key that signs access tokens and callback URLs. Configured, or made once and kept in
    the database so every api process and every restart agrees on it."""
    if settings.secret_key:
        return settings.secret_key.encode()
    fresh = base64.b64encode(secrets.token_bytes(32)).decode()
    await cols.settings.update_one(
        {"_id": "secret_key"}, {"$setOnInsert": {"value": fresh}}, upsert=True
    )
    doc = await cols.settings.find_one({"_id": "secret_key"})
    assert doc is not None
    return base64.b64decode(doc["value"])


async def load_master_keys(cols: Collections) -> dict[str, str]:
    """No master key configured: make one and keep it in the database. Sealing then protects
    against a leaked collection dump but not a leaked database: production sets
    SWITCH_MASTER_KEYS (and SWITCH_MASTER_KEY_ID) from a secrets manager."""
    log.warning("no SWITCH_MASTER_KEYS configured: using a master key kept in the database")
    fresh = base64.b64encode(secrets.token_bytes(32)).decode()
    await cols.settings.update_one(
        {"_id": "master_key"}, {"$setOnInsert": {"value": fresh}}, upsert=True
    )
    doc = await cols.settings.find_one({"_id": "master_key"})
    assert doc is not None
    return {"db": str(doc["value"])}


@dataclass
class Stack:
    settings: Settings
    sandbox: bool = False
    # A simulator's own config by provider (tests supply one to tune it); others get defaults.
    sim_configs: dict[str, Any] = field(default_factory=dict)
    sim_urls: dict[str, str] = field(default_factory=dict)  # provider -> simulator base URL
    sandboxes: list[RunningSandbox] = field(default_factory=list)
    embedded: EmbeddedMongo | None = None
    client: AsyncMongoClient[dict[str, Any]] | None = None
    runners: list[web.AppRunner] = field(default_factory=list)
    state: AppState | None = None
    hub: Hub | None = None
    # The api's listening sockets: bound by start() before anything else, or inherited by an
    # extra worker of ``serve --workers N`` from its server (infra/listen.py).
    listeners: list[socket.socket] = field(default_factory=list)

    async def start(self) -> Stack:
        # Security platform (issue 6): TLS fails fast on bad files; sandbox webhooks may go to
        # 127.0.0.1 (the simulators and test receivers live there), so the SSRF rule is lifted.
        tls = context_for(self.settings)
        cost.install("api")  # the bench's cost probe: a no-op unless SWITCH_COST_DIR is set
        self._claim_ports()
        if self.sandbox:
            self._update(webhook_allow_private=True)
            if not self.settings.hub_switch_bank_code:
                # Merchants' collection accounts need the switch's own bank code.
                self._update(hub_switch_bank_code=SANDBOX_SWITCH_BANK_CODE)
        if not self.settings.mongodb_uri:
            self._update(mongodb_uri=self._embedded_uri())
        if self.sandbox:
            await self._start_simulators()
        assert self.settings.mongodb_uri
        self.client = connect(self.settings.mongodb_uri)
        await ensure_indexes(self.client, self.settings.mongodb_db)
        cols = collections(self.client, self.settings.mongodb_db)
        key = await load_secret_key(cols, self.settings)
        if not self.settings.master_keys:
            self._update(master_keys=await load_master_keys(cols), master_key_id="db")
        # Before the actors start: the shards publish live events to the same Redis.
        self._update(redis_url=await resolve_redis_url(self.settings.redis_url))
        init_ray(self.settings)
        if not self.settings.ray_address:
            self._update(ray_address=ray_address())
        actors = RaySwitch(self.settings, key)  # the one place the api gets Ray ports
        await actors.start()
        hub = None
        if self.settings.redis_url:
            hub = self.hub = Hub(self.settings.redis_url)
            hub.start()
        saccos = registry_from(self.settings.sacco_registry_file)
        self.state = AppState(self.settings, key, cols, actors, hub, saccos=saccos)
        runner = web.AppRunner(
            create_app(self.state), access_log=None, **server_args(self.settings)
        )
        await runner.setup()
        self.runners.append(runner)
        for sock in self.listeners:
            await web.SockSite(runner, sock, ssl_context=tls).start()
        return self

    def _claim_ports(self) -> None:
        """Bind the api's port (and check the sandbox simulators' fixed ports) before anything
        starts: a port in use is a one-line error, not a traceback after the database started."""
        if not self.listeners:
            self.listeners = bind_listeners(self.settings.host, self.settings.port)
            self._update(port=port_of(self.listeners))
        if self.sandbox and self.settings.sim_port:
            for offset, _spec in enumerate(_sandboxed()):  # _start_simulators' ports
                free_to_bind(self.settings.sim_host, self.settings.sim_port + offset)

    def _embedded_uri(self) -> str:
        """Share a server another command already runs on this data folder, or start one."""
        server = EmbeddedMongo(self.settings.data_dir)
        running = server.running_uri()
        if running:
            return running
        self.embedded = server
        return server.start()

    async def _start_simulators(self) -> None:
        """Each provider's simulator (its ``sandbox`` entry, switch/providers.py), in registry
        order on the ports after ``sim_port`` (any free ones when that is 0); the settings
        that reach each one replace the configured ones."""
        self._update(sandbox=True)  # KYC-pending merchants may move simulated money
        public = self.settings.public_url or f"http://{self.settings.host}:{self.settings.port}"
        urls = dict(self.settings.provider_urls)
        for offset, spec in enumerate(_sandboxed()):
            place = SandboxPlace(
                host=self.settings.sim_host,
                port=self.settings.sim_port + offset if self.settings.sim_port else 0,
                public_url=public,
                data_dir=self.settings.data_dir,
                callback_delay=self.settings.sim_callback_delay,
                config=self.sim_configs.get(spec.name),
            )
            made = resolve(spec.sandbox)(place)
            if isinstance(made, web.Application):  # a plain app: served here, found by its URL
                port = await self._serve(made, place.host, place.port)
                urls[spec.name] = self.sim_urls[spec.name] = f"http://{place.host}:{port}"
                continue
            running: RunningSandbox = await made
            self.sandboxes.append(running)
            self.sim_urls[spec.name] = running.base_url
            self._update(**running.settings())
        self._update(provider_urls=urls)

    async def _serve(
        self,
        app: web.Application,
        host: str,
        port: int,
    ) -> int:
        """A simulator on its own port (no SO_REUSEPORT: nothing else may share it)."""
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=2048)
        await site.start()
        self.runners.append(runner)
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    def _update(self, **changes: Any) -> None:
        self.settings = self.settings.model_copy(update=changes)

    @property
    def api_url(self) -> str:
        scheme = "https" if tls_enabled(self.settings) else "http"
        return f"{scheme}://{self.settings.host}:{self.settings.port}"

    @property
    def sim_url(self) -> str:
        """The first provider's simulator (M-Pesa's Daraja)."""
        return next(iter(self.sim_urls.values()), "")

    async def stop(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()
        self.runners.clear()
        for sock in self.listeners:
            sock.close()
        self.listeners.clear()
        for running in reversed(self.sandboxes):
            await running.stop()
        self.sandboxes.clear()
        if self.hub is not None:
            await self.hub.stop()
        shutdown_ray()
        if self.client is not None:
            await self.client.close()
        if self.embedded is not None:
            self.embedded.stop()
