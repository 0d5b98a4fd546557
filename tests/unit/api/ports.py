"""The api's actors, in process: the real port implementations of actors/local.py over core
doubles that record each call and answer what the test says. Handlers are tested through these
instead of mocks of the Ray facade."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from actors.batches import BatchCore
from actors.local import Gateways, LocalBatches, LocalGateway, LocalShard, LocalSwitch
from actors.ports import SwitchPorts
from actors.shard import ShardCore
from api.state import AppState
from connectors.airtel.gateway import AirtelGatewayCore
from connectors.mpesa.gateway import MpesaGatewayCore
from connectors.pesalink.gateway import PesaLinkGatewayCore
from switch.config import from_env


class CoreDouble:
    """Stands for a plain core of class ``real``: only the methods ``real`` has, each sync or
    async as there; a call records ``(name, args)`` and answers ``answers[name]`` (called with
    the arguments when callable). A method with no answer fails the test."""

    def __init__(self, real: type, **answers: Any) -> None:
        self.real = real
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.real, name) if not name.startswith("_") else None
        if method is None or not callable(method):
            raise AttributeError(name)
        if name not in self.answers:
            raise AssertionError(f"{self.real.__name__}.{name} was not expected")

        def answer(*args: Any) -> Any:
            self.calls.append((name, args))
            given = self.answers[name]
            return given(*args) if callable(given) else given

        async def answer_later(*args: Any) -> Any:
            return answer(*args)

        return answer_later if inspect.iscoroutinefunction(method) else answer


async def _ready(core: Any) -> Any:
    return core


class InProcess:
    """``shards`` ShardCore doubles, one gateway double per provider and a BatchCore double,
    behind the in-process ports; ``ports`` is what AppState takes."""

    def __init__(self, shards: int = 2) -> None:
        self.shards = [CoreDouble(ShardCore) for _ in range(shards)]
        self.gateways = {
            "mpesa": CoreDouble(MpesaGatewayCore),
            "airtel": CoreDouble(AirtelGatewayCore),
            "pesalink": CoreDouble(PesaLinkGatewayCore),
        }
        self.batches = CoreDouble(BatchCore)
        gateways = {p: LocalGateway(lambda c=c: _ready(c)) for p, c in self.gateways.items()}
        self.ports: SwitchPorts = LocalSwitch(
            [LocalShard(lambda c=c: _ready(c)) for c in self.shards],
            Gateways(gateways, gateways.__getitem__),
            LocalBatches(lambda: _ready(self.batches)),
        )

    def calls(self) -> list[tuple[str, str, tuple[Any, ...]]]:
        """Every call made, as (which core, operation, arguments)."""
        named = {f"shard-{i}": c for i, c in enumerate(self.shards)} | self.gateways
        named["batches"] = self.batches
        return [(who, op, args) for who, core in named.items() for op, args in core.calls]


class Unused:
    """Stands for the database: its collections may be named (the app keeps handles to some)
    but any call fails the test."""

    def __init__(self, path: str = "db") -> None:
        self.path = path

    def __getattr__(self, name: str) -> Unused:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unused(f"{self.path}.{name}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the database was used ({self.path})")


def in_process_state(switch: InProcess | None = None, **settings: str) -> AppState:
    """The api's state over in-process ports and no database (``settings``: SWITCH_* values)."""
    env = {f"SWITCH_{k.upper()}": v for k, v in settings.items()}
    cols: Any = Unused()
    return AppState(from_env(env), b"k" * 32, cols, (switch or InProcess()).ports)
