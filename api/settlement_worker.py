"""The settlement scheduler: a loop in every api process (``serve --workers N`` makes several).
Each pass it tries to take the scheduler's lease in MongoDB; only the holder starts the daily runs
that are due and resumes and follows open runs. A holder that dies loses the lease after three
intervals. Two holders at once (a lease that expired mid-pass) cannot pay twice either: a run's id
is its merchant's settlement date, and its payout's key is derived from the run."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from api.background import stop_task
from api.settlement import SETTLER
from api.settlement_runs import Settler
from api.state import STATE
from switch.ids import random_token
from switch.payments import now_utc

log = logging.getLogger(__name__)
TASK = web.AppKey("settlement_task", asyncio.Task[None])


class Scheduler:
    def __init__(self, settler: Settler, interval: float, holder: str = "") -> None:
        self.settler = settler
        self.interval = interval
        self.holder = holder or f"sched_{random_token(9)}"

    async def once(self) -> int | None:
        """One pass if this scheduler holds the lease: the runs started; None when another
        holds it."""
        held = await self.settler.store.take_lease(self.holder, now_utc(), self.interval * 3)
        if not held:
            return None
        return await self.settler.tick()

    async def run(self) -> None:
        ready = False
        while True:
            try:
                if not ready:
                    await self.settler.store.ensure_indexes()
                    ready = True
                await self.once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("settlement scheduler pass failed; next pass in %ss", self.interval)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.settler.store.drop_lease(self.holder)


async def _start(app: web.Application) -> None:
    state = app[STATE]
    if not state.settings.settlement_scheduler:
        return
    scheduler = Scheduler(app[SETTLER], state.settings.settlement_interval)
    app[SCHEDULER] = scheduler
    app[TASK] = asyncio.create_task(scheduler.run(), name="settlement-scheduler")


async def _stop(app: web.Application) -> None:
    if app.get(TASK) is None:
        return
    await stop_task(app[TASK])
    await app[SCHEDULER].stop()


SCHEDULER = web.AppKey("settlement_scheduler", Scheduler)


def install(app: web.Application) -> None:
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
