"""The harness for tests against a provider simulator: serve an aiohttp app on a free local port,
stand in for the switch's callback endpoint with a :class:`Receiver`, and stage both with a
transport (:func:`staged`). :class:`SimClient` gives a rig raw HTTP and the ``/__sim`` admin routes.

Everything listens on 127.0.0.1 inside the test's own event loop: nothing else needs to run.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from aiohttp import web

from connectors.http import HttpRequest, HttpResponse, NotSent, OutcomeUnknown
from connectors.transport import AiohttpTransport, Transport

Key = Callable[[web.Request, bytes], str]
"""Names a callback: the part of its path or body a test waits on."""


def by_path(name: str) -> Key:
    """The callback's key is the route's ``{name}`` part (``/hooks/{name}``)."""
    return lambda request, _body: request.match_info[name]


def by_json(*path: str) -> Key:
    """The callback's key is the text at ``path`` in its JSON body (``"transaction", "id"``);
    '' when the body has none, so an odd callback is still kept."""

    def key(_request: web.Request, body: bytes) -> str:
        try:
            value: Any = orjson.loads(body)
            for part in path:
                value = value[part]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return ""
        return str(value)

    return key


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on 127.0.0.1 at a free port; yields its base URL, stops it on the way out."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def free_port() -> int:
    """A port nothing listens on now (connections to it are refused until something does)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def command_line(
    module: str, *args: str, wait: float = 15.0
) -> AsyncIterator[tuple[str, Any]]:
    """``python -m module --port <free> *args`` in a child process; once ``GET /__sim/config``
    answers, yields the base URL and that answer's JSON; stops the process on the way out."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "--port",
        str(port),
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    transport = AiohttpTransport()
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                config = HttpRequest("GET", base_url + "/__sim/config", {}, None, 1.0)
                resp = await transport.send(config)
                break
            except (NotSent, OutcomeUnknown):  # not listening yet
                assert proc.returncode is None, f"{module} exited with {proc.returncode}"
                assert time.monotonic() < deadline, f"{module} did not start in {wait}s"
                await asyncio.sleep(0.05)
        yield base_url, resp.json()
    finally:
        await transport.close()
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


@dataclass
class Receiver:
    """The switch's callback endpoint: keeps every POST body, in order and under its ``key``,
    and answers ``status``/``answer`` (or the scripted ``answers[key]``, after ``delays[key]``)."""

    answer: bytes = b"{}"
    status: int = 200
    key: Key | None = None
    bodies: list[bytes] = field(default_factory=list)
    by_key: dict[str, list[bytes]] = field(default_factory=dict)
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self, route: str) -> web.Application:
        """An app that takes POSTs on ``route`` (a pattern such as ``/hooks/{name}``)."""
        app = web.Application()
        app.router.add_post(route, self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        name = self.key(request, body) if self.key else ""
        self.bodies.append(body)
        self.by_key.setdefault(name, []).append(body)
        self.arrived.set()
        await asyncio.sleep(self.delays.get(name, 0.0))
        status, answer = self.answers.get(name, (self.status, self.answer))
        return web.Response(status=status, body=answer, content_type="application/json")

    def of(self, key: str | None = None) -> list[bytes]:
        """The bodies kept under ``key``; every body without one."""
        return self.bodies if key is None else self.by_key.get(key, [])

    def count(self, key: str | None = None) -> int:
        return len(self.of(key))

    async def wait_for(
        self, key: str | None = None, count: int = 1, timeout: float = 30.0
    ) -> list[bytes]:
        """The bodies under ``key`` once there are at least ``count``; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while len(self.of(key)) < count:
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                what = f" for {key}" if key is not None else ""
                raise TimeoutError(f"{len(self.of(key))} of {count} callbacks{what} in {timeout}s")
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                continue  # the loop reports it with the count
        return self.of(key)


@dataclass(frozen=True)
class Stage:
    """A simulator app and a receiver, both served, and a transport to reach them."""

    app: web.Application  # the simulator's app: its state sits under its SIMULATOR key
    base_url: str  # the simulator's
    hooks_url: str  # the receiver's, without a path
    transport: AiohttpTransport


@asynccontextmanager
async def staged(
    receiver: Receiver, route: str, simulator: Callable[[str], web.Application]
) -> AsyncIterator[Stage]:
    """Serve ``receiver`` on ``route``, then ``simulator(hooks_url)`` (the simulator may need to
    know where callbacks go), and a transport; all stopped on the way out."""
    async with serving(receiver.app(route)) as hooks_url:
        app = simulator(hooks_url)
        async with serving(app) as base_url:
            transport = AiohttpTransport()
            try:
                yield Stage(app, base_url, hooks_url, transport)
            finally:
                await transport.close()


class SimClient:
    """Raw HTTP to a simulator and its ``/__sim`` admin routes, for a rig that has ``base_url``
    and ``transport``."""

    base_url: str
    transport: Transport
    http_timeout: ClassVar[float] = 5.0

    async def http(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        """``body``: bytes as they are, anything else as JSON; None for no body."""
        raw = body if isinstance(body, bytes) else (None if body is None else orjson.dumps(body))
        request = HttpRequest(method, self.base_url + path, headers or {}, raw, self.http_timeout)
        return await self.transport.send(request)

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        """An admin route's JSON answer; it must succeed."""
        resp = await self.http(method, "/__sim" + path, body)
        assert resp.status == 200, (resp.status, resp.body)
        return resp.json()
