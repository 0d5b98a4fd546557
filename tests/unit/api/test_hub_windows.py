"""The settlement window schedule's pass (api/hub_windows.py) over in-memory stand-ins: it closes
only when a scheduled time has come since the window opened and since the last scheduled close,
only while it holds the lease, and an empty window's slot is spent (it rolls on)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from actors.hub.machine import CloseWindow
from api.hub_windows import WindowScheduler
from switch.hub.windows import parse_schedule
from switch.messages import Reply

OPENED = datetime(2026, 12, 7, 5, tzinfo=UTC)  # Monday 08:00 Nairobi


class _Hub:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.closes: list[CloseWindow] = []

    async def close_window(self, command: CloseWindow) -> Reply:
        self.closes.append(command)
        return Reply(self.status, {"closed": "hwin_1", "opened": "hwin_2"})


class _Store:
    def __init__(self) -> None:
        self.last: datetime | None = None

    async def open_window(self) -> dict[str, Any]:
        return {"_id": "hwin_1", "state": "OPEN", "opened_at": OPENED.replace(tzinfo=None)}

    async def last_scheduled(self) -> datetime | None:
        return self.last

    async def scheduled(self, at: datetime) -> None:
        self.last = at


class _Leases:
    def __init__(self, held: bool = True) -> None:
        self.held = held

    async def take(self, name: str, holder: str, now: datetime, ttl_s: float) -> bool:
        return self.held


def _scheduler(hub: _Hub, store: _Store, held: bool = True) -> WindowScheduler:
    return WindowScheduler(
        cast(Any, hub), cast(Any, store), cast(Any, _Leases(held)), parse_schedule("10:00"), 30
    )


async def test_it_closes_once_a_scheduled_time_has_come() -> None:
    hub, store = _Hub(), _Store()
    s = _scheduler(hub, store)
    assert await s.once(datetime(2026, 12, 7, 6, 59, tzinfo=UTC)) is None  # 09:59 Nairobi
    assert await s.once(datetime(2026, 12, 7, 7, 1, tzinfo=UTC)) == "hwin_1"
    assert [c.reason for c in hub.closes] == ["scheduled close at 10:00"]
    # The slot is spent: the same window (say it was empty) is not closed again for it.
    assert await s.once(datetime(2026, 12, 7, 7, 5, tzinfo=UTC)) is None
    assert len(hub.closes) == 1


async def test_without_the_lease_or_with_an_empty_window_nothing_closes() -> None:
    hub = _Hub()
    at = datetime(2026, 12, 7, 7, 1, tzinfo=UTC)
    assert await _scheduler(hub, _Store(), held=False).once(at) is None
    assert hub.closes == []
    empty, store = _Hub(status=409), _Store()
    assert await _scheduler(empty, store).once(at) is None
    assert store.last is not None  # spent: the empty window rolls on to the next close
