"""The hub position actor's core over its shell, and its in-process port (:class:`LocalHub`),
which the Ray actor of :mod:`actors.runtime` runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from actors.hub.machine import CloseWindow, Fulfil, Funds, Prepare, Settle
from actors.hub.port import HubPort
from actors.hub.shell import HubShell
from actors.local import Started
from switch.hub.positions import amount_text
from switch.messages import Reply


class HubCore:
    """The port over a started :class:`HubShell`."""

    def __init__(self, shell: HubShell) -> None:
        self.shell = shell

    async def stats(self) -> dict[str, Any]:
        m = self.shell.machine
        return {
            "participants": len(m.participants),
            "open": len(m.open),
            "batches": self.shell.batches,
            "window_id": m.window_id,
        }

    async def prepare(self, commands: list[Prepare]) -> list[Reply]:
        return await self.shell.submit(list(commands))

    async def fulfil(self, commands: list[Fulfil]) -> list[Reply]:
        return await self.shell.submit(list(commands))

    async def record_funds(self, command: Funds) -> Reply:
        [answer] = await self.shell.submit([command])
        return answer

    async def close_window(self, command: CloseWindow) -> Reply:
        [answer] = await self.shell.submit([command])
        return answer

    async def settle(self, command: Settle) -> Reply:
        [answer] = await self.shell.submit([command])
        return answer

    async def participant_changed(self, participant_id: str) -> None:
        await self.shell.participant_changed(participant_id)

    async def position(self, participant_id: str) -> dict[str, Any] | None:
        view = self.shell.machine.position_of(participant_id)
        if view is not None:
            view["peak"] = _peak(self.shell.machine.peaks.get(participant_id, 0))
        return view

    async def sweep(self) -> None:
        await self.shell.expire_now()


def _peak(minor: int) -> str:
    return amount_text(minor)


class LocalHub:
    """A :class:`HubPort` in this event loop; ``make`` builds and starts the core on first use
    (in an actor: again after a restart, rebuilding from MongoDB)."""

    def __init__(self, make: Callable[[], Awaitable[HubCore]]) -> None:
        self._ready = Started(make)

    async def stats(self) -> dict[str, Any]:
        return await (await self._ready()).stats()

    async def prepare(self, commands: list[Prepare]) -> list[Reply]:
        return await (await self._ready()).prepare(commands)

    async def fulfil(self, commands: list[Fulfil]) -> list[Reply]:
        return await (await self._ready()).fulfil(commands)

    async def record_funds(self, command: Funds) -> Reply:
        return await (await self._ready()).record_funds(command)

    async def close_window(self, command: CloseWindow) -> Reply:
        return await (await self._ready()).close_window(command)

    async def settle(self, command: Settle) -> Reply:
        return await (await self._ready()).settle(command)

    async def participant_changed(self, participant_id: str) -> None:
        await (await self._ready()).participant_changed(participant_id)

    async def position(self, participant_id: str) -> dict[str, Any] | None:
        return await (await self._ready()).position(participant_id)

    async def sweep(self) -> None:
        await (await self._ready()).sweep()


if TYPE_CHECKING:
    _core: type[HubPort] = HubCore
    _local: type[HubPort] = LocalHub
