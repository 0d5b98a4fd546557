"""The hub position actor's port: what the api asks of it, one name per operation in the core
(:class:`actors.hub.core.HubCore`), its in-process form
(:class:`actors.hub.core.LocalHub`) and the Ray actor
(:mod:`actors.runtime`). Reads may be retried across an actor restart; every operation that can
move a position runs at most once (the caller retries with the same Idempotency-Key, which the
duplicate check answers)."""

from __future__ import annotations

from typing import Any, Protocol

from actors.hub.machine import CloseWindow, Fulfil, Funds, Prepare, Settle
from switch.messages import Reply


class HubPort(Protocol):
    async def stats(self) -> dict[str, Any]: ...

    async def prepare(self, commands: list[Prepare]) -> list[Reply]: ...

    async def fulfil(self, commands: list[Fulfil]) -> list[Reply]: ...

    async def record_funds(self, command: Funds) -> Reply: ...

    async def close_window(self, command: CloseWindow) -> Reply: ...

    async def settle(self, command: Settle) -> Reply: ...

    async def participant_changed(self, participant_id: str) -> None: ...

    async def position(self, participant_id: str) -> dict[str, Any] | None: ...

    async def sweep(self) -> None: ...


HUB_RETRY_SAFE = frozenset({"stats", "participant_changed", "position", "sweep"})
