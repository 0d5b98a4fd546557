"""The settlement window schedule: a loop in every api process; only the holder of the
``hub_windows`` lease (:mod:`infra.leases`) closes the open window when a scheduled close
(:func:`switch.hub.windows.due`) has come. The close itself is the position actor's, so two
holders at once (a lease that expired mid-pass) close at most one window each scheduled time:
the second finds the window it asked about already replaced, or empty."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from aiohttp import web

from actors.hub.machine import CloseWindow
from actors.hub.port import HubPort
from api.background import stop_task
from api.state import STATE
from infra.hub_settlement_store import HubSettlementStore
from infra.leases import Leases
from switch.hub.windows import Schedule, due, parse_schedule
from switch.ids import random_token
from switch.payments import now_utc
from switch.reports import NAIROBI

log = logging.getLogger(__name__)
LEASE = "hub_windows"
BY = "schedule"


class WindowScheduler:
    def __init__(
        self,
        hub: HubPort,
        store: HubSettlementStore,
        leases: Leases,
        schedule: Schedule,
        interval: float,
    ) -> None:
        self.hub = hub
        self.store = store
        self.leases = leases
        self.schedule = schedule
        self.interval = interval
        self.holder = f"hubwin_{random_token(9)}"

    async def once(self, now: datetime) -> str | None:
        """Close the open window if a scheduled close has come since it opened (and since the
        last scheduled close): the id of the window closed, None when nothing was due, this
        process does not hold the lease, or the window was empty (then it rolls on)."""
        if not await self.leases.take(LEASE, self.holder, now, self.interval * 3):
            return None
        window = await self.store.open_window()
        if window is None:
            return None
        opened: datetime = window["opened_at"]
        since = opened if opened.tzinfo else opened.replace(tzinfo=now.tzinfo)
        last = await self.store.last_scheduled()
        if last is not None:
            since = max(since, last)
        at = due(self.schedule, since, now)
        if at is None:
            return None
        label = at.astimezone(NAIROBI).strftime("%H:%M")
        reply = await self.hub.close_window(CloseWindow(BY, f"scheduled close at {label}"))
        await self.store.scheduled(at)
        return str(reply.body["closed"]) if reply.status == 200 else None

    async def run(self) -> None:
        while True:
            try:
                await self.once(now_utc())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub window schedule pass failed; next in %ss", self.interval)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.leases.drop(LEASE, self.holder)


SCHEDULER = web.AppKey("hub_window_scheduler", WindowScheduler)
TASK = web.AppKey("hub_window_task", asyncio.Task[None])


async def _start(app: web.Application) -> None:
    state = app[STATE]
    settings = state.settings
    schedule = parse_schedule(settings.hub_window_times, settings.hub_window_every_minutes)
    if state.actors.hub is None or not schedule.times:
        return
    db = state.cols.payments.database
    scheduler = WindowScheduler(
        state.actors.hub,
        HubSettlementStore(db),
        Leases(db["leases"]),
        schedule,
        settings.hub_window_check_interval,
    )
    app[SCHEDULER] = scheduler
    app[TASK] = asyncio.create_task(scheduler.run(), name="hub-window-scheduler")


async def _stop(app: web.Application) -> None:
    if app.get(TASK) is None:
        return
    await stop_task(app[TASK])
    await app[SCHEDULER].stop()


def install(app: web.Application) -> None:
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
