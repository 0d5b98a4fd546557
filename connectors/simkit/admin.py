"""The control surface every simulator shares, and the app wiring around it.

``GET``/``PATCH /__sim/config``, ``GET /__sim/stats`` and ``POST /__sim/reset`` answer the same
way in all of them: :class:`SimBase` serves them, with the outage clock and the latency behind
them; a simulator names its public (non-secret) config values, its counters and what a reset
forgets. :class:`CallbackSim` adds what the token-issuing, callback-posting providers (M-Pesa,
Airtel, PesaLink) share: one ClientSession, the pending timers and callback tasks, and
``POST /__sim/expire_tokens``. :func:`sim_app` wires an app; :func:`wire_errors` is the
middleware that answers an outage and unknown paths in the provider's own envelope.

Nothing here touches a provider's wire routes: each simulator keeps those, and their answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import aiohttp
import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from connectors.simkit import take_actions
from connectors.simkit.breaks import Breaks

ADMIN_PREFIX = "/__sim"
"""Control routes live under it; an outage never refuses them (tests must reach the knobs)."""


class Knobs(Protocol):
    """What the base needs of a simulator's ``SimConfig`` (a :class:`~connectors.simkit.KnobConfig`
    dataclass with ``latency`` and ``outage`` knobs)."""

    latency: float
    outage: float

    def copy(self) -> Self: ...
    def restore(self, other: Self) -> None: ...
    def knobs(self) -> dict[str, Any]: ...
    def apply(self, patch: Any) -> None: ...


class _Counters(Protocol):
    def to_json(self) -> dict[str, Any]: ...


class Books(Protocol):
    """What :class:`CallbackSim` needs of a simulator's ``SimState``."""

    tokens: dict[str, float]  # token -> loop time it expires

    @property
    def stats(self) -> _Counters: ...

    def clear(self) -> None: ...


class Record(Protocol):
    def to_json(self) -> dict[str, Any]: ...


C = TypeVar("C", bound=Knobs)
B = TypeVar("B", bound=Books)
R = TypeVar("R")


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


class SimBase(Generic[C]):
    """Knobs, outage clock, latency and the ``/__sim`` config, stats and reset routes."""

    ACTIONS: ClassVar[tuple[str, ...]] = ()
    """One-shot PATCH actions (each ``true``) the simulator's :meth:`act` carries out."""

    def __init__(self, config: C) -> None:
        self.config = config
        self._initial = config.copy()  # what POST /__sim/reset restores
        self._outage_until = 0.0  # loop time
        self.breaks = Breaks()  # injected into the simulator's records (simkit/breaks.py)

    # --- what each simulator says about itself ---------------------------------------------------

    def public_config(self) -> dict[str, Any]:
        """Config values shown before the knobs (ids, never secrets)."""
        return {}

    def stats_json(self) -> dict[str, Any]:
        raise NotImplementedError

    async def forget(self) -> None:
        """Drop records, counters and pending work (the knobs are restored after this)."""
        raise NotImplementedError

    def act(self, actions: frozenset[str]) -> None:
        """Carry out the one-shot actions of a valid PATCH (none by default)."""

    # --- lifecycle (aiohttp signals) ------------------------------------------------------------

    async def start(self, _app: web.Application) -> None:
        """Nothing to open by default."""

    async def stop(self, _app: web.Application) -> None:
        """Nothing to close by default."""

    # --- control routes -------------------------------------------------------------------------

    def add_admin_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(ADMIN_PREFIX + "/config", self.get_config)
        router.add_patch(ADMIN_PREFIX + "/config", self.patch_config)
        router.add_get(ADMIN_PREFIX + "/stats", self.get_stats)
        router.add_post(ADMIN_PREFIX + "/reset", self.reset)
        router.add_get(ADMIN_PREFIX + "/breaks", self.get_breaks)
        router.add_post(ADMIN_PREFIX + "/breaks", self.add_break)
        router.add_delete(ADMIN_PREFIX + "/breaks", self.clear_breaks)

    def config_json(self) -> dict[str, Any]:
        knobs = self.config.knobs()
        knobs["outage"] = round(max(self._outage_until - self._now(), 0.0), 3)  # seconds left
        return {**self.public_config(), **knobs}

    async def get_config(self, _request: web.Request) -> web.Response:
        return json_response(self.config_json())

    async def patch_config(self, request: web.Request) -> web.Response:
        """Every knob checked before any is set: a bad value is a 400 naming it, and no change."""
        try:
            patch, actions = take_actions(orjson.loads(await request.read()), self.ACTIONS)
            self.config.apply(patch)
        except (orjson.JSONDecodeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        if "outage" in patch:
            self._outage_until = self._now() + self.config.outage
        self.act(actions)
        return await self.get_config(request)

    async def get_stats(self, _request: web.Request) -> web.Response:
        return json_response(self.stats_json())

    async def reset(self, _request: web.Request) -> web.Response:
        """Forget records, counters and pending work; restore the startup knobs."""
        await self.forget()
        self.breaks.clear()
        self.config.restore(self._initial)
        self._outage_until = 0.0
        return json_response({"reset": True})

    async def get_breaks(self, _request: web.Request) -> web.Response:
        return json_response(self.breaks.to_json())

    async def add_break(self, request: web.Request) -> web.Response:
        """A break in the simulator's records (simkit/breaks.py); 400 naming the bad field."""
        try:
            brk = self.breaks.add(orjson.loads(await request.read()))
        except (orjson.JSONDecodeError, ValueError) as exc:
            return json_response({"error": str(exc)}, 400)
        await self.injected(brk.kind)
        return json_response(brk.to_json(), 201)

    async def injected(self, kind: str) -> None:
        """A break was added: a simulator that plays stranger payments at once does it here."""

    async def clear_breaks(self, _request: web.Request) -> web.Response:
        self.breaks.clear()
        return json_response({"cleared": True})

    # --- helpers for the wire handlers ----------------------------------------------------------

    def in_outage(self) -> bool:
        return self._outage_until > self._now()

    async def _lag(self) -> None:
        if self.config.latency > 0:
            await asyncio.sleep(self.config.latency)

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()


class CallbackSim(SimBase[C], Generic[C, B]):
    """A provider that issues tokens and posts callbacks: its session, timers and tasks."""

    ACTIONS: ClassVar[tuple[str, ...]] = ("expire_tokens",)
    CONNECTOR_LIMIT: ClassVar[int] = 512  # concurrent callback connections
    DNS_CACHE_TTL: ClassVar[int] = 300  # seconds

    def __init__(self, config: C, state: B) -> None:
        super().__init__(config)
        self.state = state
        self._session: aiohttp.ClientSession | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def live_stats(self) -> dict[str, Any]:
        """Counters of the moment, shown after the state's own."""
        return {}

    def stats_json(self) -> dict[str, Any]:
        return {**self.state.stats.to_json(), **self.live_stats()}

    async def forget(self) -> None:
        await self._cancel_pending()
        self.state.clear()

    def act(self, actions: frozenset[str]) -> None:
        if "expire_tokens" in actions:
            self.state.tokens.clear()

    async def start(self, _app: web.Application) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.CONNECTOR_LIMIT, ttl_dns_cache=self.DNS_CACHE_TTL
        )
        self._session = aiohttp.ClientSession(connector=connector)

    async def stop(self, _app: web.Application) -> None:
        await self._cancel_pending()
        if self._session is not None:
            await self._session.close()

    async def _cancel_pending(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # keep a reference: the loop only holds weak ones
        task.add_done_callback(self._tasks.discard)

    def add_admin_routes(self, router: web.UrlDispatcher) -> None:
        super().add_admin_routes(router)
        router.add_post(ADMIN_PREFIX + "/expire_tokens", self.expire_tokens)

    async def expire_tokens(self, _request: web.Request) -> web.Response:
        """Every issued token stops working now (a provider may revoke one before it expires)."""
        expired = len(self.state.tokens)
        self.state.tokens.clear()
        return json_response({"expired": expired})


S = TypeVar("S", bound=SimBase[Any])


def sim_app(sim: S, key: web.AppKey[S], middlewares: Sequence[Middleware]) -> web.Application:
    """An app holding ``sim`` under ``key``, started and stopped with it, with its control routes.

    The caller adds the wire routes. None of them is under ``/__sim``, so the order they are
    added in does not change which handler a request reaches.
    """
    app = web.Application(middlewares=middlewares)
    app[key] = sim
    app.on_startup.append(sim.start)
    app.on_cleanup.append(sim.stop)
    sim.add_admin_routes(app.router)
    return app


def wire_errors(
    key: web.AppKey[S],
    *,
    outage: Callable[[S], web.StreamResponse],
    not_found: Callable[[], web.StreamResponse],
    not_allowed: Callable[[], web.StreamResponse],
) -> Middleware:
    """Unknown paths and methods answer in the provider's envelope, not aiohttp's text; during an
    ``outage`` every wire path (not ``/__sim``) answers ``outage(sim)`` before anything else."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        sim = request.app[key]
        if not request.path.startswith(ADMIN_PREFIX) and sim.in_outage():
            return outage(sim)
        try:
            return await handler(request)
        except web.HTTPMethodNotAllowed:
            return not_allowed()
        except web.HTTPNotFound:
            return not_found()

    return errors


def tail(records: Sequence[R], limit: str) -> list[R]:
    """The last ``limit`` records when ``?limit=`` is a whole number (``0``: none), else all."""
    if limit.isdigit():
        return list(records[-int(limit) :]) if int(limit) else []
    return list(records)


def records_response(records: Iterable[Record]) -> web.Response:
    return json_response([r.to_json() for r in records])


def record_response(record: Record | None, unknown: str) -> web.Response:
    """The record as JSON, or 404 ``{"error": unknown}``."""
    if record is None:
        return json_response({"error": unknown}, 404)
    return json_response(record.to_json())


class Answer(Exception):
    """Raised by a simulator's gate to answer at once (a burst, a refusal before any work)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@web.middleware
async def early_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turns an :class:`Answer` raised by a handler into its response."""
    try:
        return await handler(request)
    except Answer as answer:
        return answer.response


def drop(request: web.Request) -> web.Response:
    """Close the connection without answering: the call was processed, the answer is lost."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=200)  # never written: the transport is closed
