"""Live payment events (Server-Sent Events), fanned out through real Redis, and Redis restarts."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from app.stack import Stack
from infra.live import Hub, Publisher

from .conftest import free_port
from .helpers import Api, for_up_to, unique_phone

pytestmark = pytest.mark.integration


async def read_events(resp: aiohttp.ClientResponse, limit: int = 10) -> list[dict]:
    """Parse SSE frames until the server closes the stream (or ``limit`` frames)."""
    events: list[dict] = []
    frame: dict[str, str] = {}
    async with asyncio.timeout(20):
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in frame:
                    events.append({"event": frame["event"], **orjson.loads(frame["data"])})
                    if len(events) >= limit:
                        break
                frame = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                frame[key] = value
    return events


async def _follow(merchant: Api, payment_id: str) -> list[dict]:
    url = f"{merchant.base}/v1/payments/{payment_id}/events"
    async with merchant.http.get(url, headers=merchant.auth) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        return await read_events(resp)


async def test_a_payment_stream_shows_each_status_then_ends(merchant: Api) -> None:
    created = await merchant.pay(unique_phone())
    events = await _follow(merchant, created["id"])
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "payment.succeeded"
    assert "payment.processing" in kinds or kinds[0] == "payment.succeeded"
    assert all(e["data"]["id"] == created["id"] for e in events)
    assert events[-1]["data"]["provider"]["receipt"]


async def test_the_stream_works_without_redis_by_reading(merchant: Api, stack: Stack) -> None:
    assert stack.state is not None
    hub, stack.state.hub = stack.state.hub, None
    try:
        created = await merchant.pay(unique_phone("1032"))
        events = await _follow(merchant, created["id"])
    finally:
        stack.state.hub = hub
    assert events[-1]["event"] == "payment.failed"
    assert events[-1]["data"]["failure"]["provider_code"] == "1032"


async def test_the_merchant_stream_carries_every_payment(merchant: Api) -> None:
    async with merchant.http.get(f"{merchant.base}/v1/events", headers=merchant.auth) as resp:
        assert resp.status == 200
        await asyncio.sleep(0.3)  # let the hub subscribe
        first = await merchant.pay(unique_phone())
        second = await merchant.pay(unique_phone("2001"))
        events = await read_events(resp, limit=4)
    seen = {(e["data"]["id"], e["type"]) for e in events}
    assert seen == {
        (first["id"], "payment.processing"),
        (first["id"], "payment.succeeded"),
        (second["id"], "payment.processing"),
        (second["id"], "payment.failed"),
    }
    assert all(e["id"].startswith("evt_") for e in events)


async def test_another_merchants_payment_stream_is_404(merchant: Api) -> None:
    async with merchant.http.get(
        f"{merchant.base}/v1/payments/pay_s0_01JDX4Q8Z5V6W7X8Y9Z0A1B2C3/events",
        headers=merchant.auth,
    ) as resp:
        assert resp.status == 404


@pytest.fixture
async def private_redis(
    tmp_path: object,
) -> AsyncIterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A Redis of our own, so the test can stop and restart it."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for this test"
    port = free_port()
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL)]
    await asyncio.sleep(0.3)
    yield f"redis://127.0.0.1:{port}/0", procs
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
            proc.wait()


async def test_events_survive_a_redis_restart(private_redis: tuple) -> None:
    url, procs = private_redis
    hub, publisher = Hub(url, retry_delay=0.1), Publisher(url)
    hub.start()
    queue = hub.follow("mch_1")
    await asyncio.wait_for(hub.connected.wait(), 5)
    await asyncio.sleep(0.3)
    assert await publisher.publish([("mch_1", b"one"), ("mch_2", b"other")]) == 2
    assert await asyncio.wait_for(queue.get(), 2) == b"one"

    procs[0].kill()
    procs[0].wait()
    assert await publisher.publish([("mch_1", b"lost")]) == 0  # dropped, never raised
    assert await asyncio.wait_for(queue.get(), 5) is None  # "re-read": something may be missed

    procs.append(subprocess.Popen(procs[0].args, stdout=subprocess.DEVNULL))
    await asyncio.sleep(0.3)
    await asyncio.wait_for(hub.connected.wait(), 10)
    await asyncio.sleep(0.3)
    for _ in for_up_to():
        if await publisher.publish([("mch_1", b"two")]) == 1:
            break
        await asyncio.sleep(0.2)
    assert await asyncio.wait_for(queue.get(), 5) == b"two"
    await hub.stop()
    await publisher.close()
