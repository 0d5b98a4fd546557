"""Stopping and restarting the switch while payments are in flight loses none and completes them.

The switch runs as its own process (``python -m switch serve``) on the session's database and
Daraja simulator; the simulator keeps its customers while the switch is down, so callbacks
that arrive then fail and the restarted switch must learn the outcomes by STK query.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from app.stack import Stack
from infra.merchants import create_merchant
from infra.storage.mongo import collections, connect

from .conftest import Receiver, free_port, stack_environment
from .helpers import Api, for_up_to, unique_phone
from .switch_process import wait_ready

pytestmark = pytest.mark.integration


def _events(receiver: Receiver, hook: str, payment_id: str) -> list[str]:
    """The types of the distinct events (by webhook-id) the merchant was told of a payment."""
    seen = {
        e["_webhook_id"]: e["type"]
        for e in receiver.events.get(hook, [])
        if e["data"]["id"] == payment_id
    }
    return list(seen.values())


async def _pushes(http: aiohttp.ClientSession, sim: str, phone: str) -> list[dict[str, object]]:
    async with http.get(f"{sim}/__sim/stk", params={"phone": "254" + phone[1:]}) as r:
        return list(await r.json())


@pytest.fixture
async def switch_process(
    stack: Stack, tmp_path: object
) -> AsyncIterator[tuple[Callable[[], subprocess.Popen[bytes]], dict[str, str]]]:
    assert stack.settings.ray_address
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCH_", "RAY_"))}
    env |= stack_environment(
        str(tmp_path),
        MONGODB_URI=stack.settings.mongodb_uri or "",
        SWITCH_MPESA_BASE_URL=stack.sim_url,
        SWITCH_PORT=str(port),
        # The session's Ray cluster (starting a Ray of its own took each start 10 to 40 s),
        # each start in a namespace of its own: new actors, as a Ray of its own would have,
        # whatever the stopped one's (which end with it) are still doing.
        RAY_ADDRESS=stack.settings.ray_address,
        RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "token"),
    )
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env["SWITCH_RAY_NAMESPACE"] = f"restart-{uuid.uuid4().hex[:8]}"
        proc = subprocess.Popen([sys.executable, "-m", "switch", "serve"], env=env)
        procs.append(proc)
        return proc

    yield start, env
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


async def test_restart_with_payments_in_flight_loses_none(
    switch_process: tuple[Callable[[], subprocess.Popen[bytes]], dict[str, str]],
    http: aiohttp.ClientSession,
    receiver: Receiver,
    sim: str,
) -> None:
    start, env = switch_process
    base = f"http://127.0.0.1:{env['SWITCH_PORT']}"
    client = connect(env["MONGODB_URI"])
    cols = collections(client, env["SWITCH_MONGODB_DB"])
    hook = uuid.uuid4().hex[:12]
    merchant = await create_merchant(cols, "Restart shop", f"{receiver.url}/{hook}")
    receiver.secrets[hook] = merchant.webhook_secret
    api = Api(http, base, merchant, hook)

    proc = start()
    await wait_ready(proc, base)
    await api.login()
    async with http.patch(f"{sim}/__sim/config", json={"callback_delay": 3.0}) as resp:
        assert resp.status == 200
    phones = [unique_phone() for _ in range(6)] + [unique_phone("1032"), unique_phone("0404")]
    pushed = {p: len(await _pushes(http, sim, p)) for p in phones}  # none, unless reused
    created = [await api.pay(p) for p in phones]
    for payment in created:
        await api.wait_for(payment["id"], ("processing",))

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 30) == 0
    await asyncio.sleep(3.5)  # the customers act while the switch is down; callbacks fail

    proc = start()
    await wait_ready(proc, base)
    finals = [await api.wait_for(p["id"], within=30) for p in created]
    assert [f["status"] for f in finals] == ["succeeded"] * 6 + ["failed", "succeeded"]
    for phone in phones:  # one push each: nothing sent again
        assert len(await _pushes(http, sim, phone)) == pushed[phone] + 1, phone
    # Webhooks are delivered at least once: one the stopped switch sent may come again, with
    # its webhook-id, which is how a merchant knows it. Each payment tells its outcome once.
    for _ in for_up_to():
        told = [_events(receiver, hook, p["id"]) for p in created]
        if all(len(t) == 2 for t in told):
            break
        await asyncio.sleep(0.1)
    outcomes = ["succeeded"] * 6 + ["failed", "succeeded"]
    assert told == [["payment.processing", f"payment.{o}"] for o in outcomes], told
    assert await cols.payments.count_documents({"merchant_id": merchant.merchant_id}) == 8
    for _ in for_up_to():  # the last webhooks were just delivered: settling follows
        if await cols.inflight.count_documents({}) == 0:
            break
        await asyncio.sleep(0.1)
    assert await cols.inflight.count_documents({}) == 0
    await client.close()
