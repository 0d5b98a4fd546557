"""Loops an api process runs beside its requests (the settlement scheduler, the bills worker,
the scheduled reconciliation pull): how one is stopped when the app shuts down."""

from __future__ import annotations

import asyncio
import contextlib


async def stop_task(task: asyncio.Task[None] | None) -> None:
    """Cancel ``task`` (None: it never started) and wait until it has finished."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
