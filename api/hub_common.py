"""What the hub's api modules share: the hub store of this process, the position actor, and
who the caller is (a participant calls the hub as itself: its API client's token names it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

from aiohttp import web
from pydantic import AfterValidator, StringConstraints

from actors.hub.port import HubPort
from api.auth import CLAIMS
from api.state import STATE
from infra.hub_store import HubStore
from switch.errors import NotFound, Unavailable
from switch.hub.ids import PARTICIPANT
from switch.hub.transfers import parse_amount

log = logging.getLogger(__name__)

_SHILLINGS = StringConstraints(pattern=r"^[0-9]{1,13}(\.[0-9]{1,2})?$")


def _positive(text: str) -> str:
    parse_amount(text)  # ValueError ("must be more than zero"): a 422 naming the field
    return text


# Shillings as a decimal string; an amount moved is more than zero, a net debit cap may be 0.
Amount = Annotated[str, _SHILLINGS, AfterValidator(_positive)]
Cap = Annotated[str, _SHILLINGS]


class _Stores:
    """This process's one :class:`HubStore`, made on first use."""

    def __init__(self) -> None:
        self.made: HubStore | None = None

    def of(self, app: web.Application) -> HubStore:
        if self.made is None:
            self.made = HubStore(app[STATE].cols.payments.database)
        return self.made


HUB_STORE = web.AppKey("hub_store", _Stores)


def store(request: web.Request) -> HubStore:
    return request.app[HUB_STORE].of(request.app)


def hub(request: web.Request) -> HubPort:
    port = request.app[STATE].actors.hub
    if port is None:
        raise Unavailable("the interoperability hub does not run in this switch")
    return cast(HubPort, _Answered(port))


class _Answered:
    """The port, with a call the position actor did not answer (it died or is restarting:
    Ray's ActorUnavailableError, ActorDiedError) made a 503 to retry with the same
    Idempotency-Key, as the payment routes do for a shard, rather than a 500. Whether a prepare
    cut off this way was recorded is unknown; the retry's duplicate check answers it."""

    def __init__(self, port: HubPort) -> None:
        self._port = port

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._port, name)

        async def call(*args: Any) -> Any:
            try:
                return await method(*args)
            except Exception as exc:
                log.warning("the hub position actor did not answer %s: %s", name, exc)
                raise Unavailable("the hub did not answer; retry with the same key") from exc

        return call


def caller(request: web.Request) -> str:
    """The participant whose client made this request (its scope was checked already)."""
    participant = request[CLAIMS].merchant_id
    if not participant.startswith(f"{PARTICIPANT}_"):
        raise NotFound("this client is not a hub participant's")
    return participant


async def _start(app: web.Application) -> None:
    if app[STATE].actors.hub is not None:  # a switch that runs the hub
        await app[HUB_STORE].of(app).ensure_indexes()


def install(app: web.Application) -> None:
    app[HUB_STORE] = _Stores()
    app.on_startup.append(_start)
