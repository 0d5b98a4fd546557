"""The real stack for integration tests: embedded SecantusDB server (or MONGODB_URI), real Redis,
real local Ray, the Daraja simulator and the api, started once per session in the test loop."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from app.stack import Stack
from connectors.mpesa.simulator import SimConfig
from connectors.mpesa.simulator.config import KNOBS
from infra.merchants import create_merchant
from switch.config import from_env
from switch.signing import verify_webhook
from tests.simharness import free_port, serving

from .helpers import Api, books_balance

TIMINGS = {
    "SWITCH_SIM_CALLBACK_DELAY": "0.3",
    "SWITCH_STK_QUERY_AFTER": "1.5",
    "SWITCH_STK_EXPIRE_AFTER": "6",
    "SWITCH_SWEEP_INTERVAL": "0.5",
    "SWITCH_BATCH_POLL_INTERVAL": "0.25",
    "SWITCH_WEBHOOK_RETRY_BASE": "0.1",
    "SWITCH_WEBHOOK_TIMEOUT": "2",
    # Webhook endpoints: shards re-read them at once; one failing for 3 s is disabled (3 days).
    "SWITCH_WEBHOOK_ENDPOINT_CACHE": "0.2",
    "SWITCH_WEBHOOK_DISABLE_AFTER": "3",
    "SWITCH_PROVIDER_TIMEOUT": "2",
    "SWITCH_SHARDS": "2",
    "SWITCH_BREAKER_THRESHOLD": "3",
    "SWITCH_BREAKER_COOL_DOWN": "2",
    "SWITCH_PAYOUT_NOT_FOUND_AFTER": "3",
    "SWITCH_SACCO_FLUSH_INTERVAL": "0.3",
    # A confirmed settlement account is paid after 2 s (24 h by default), looked at every 0.5 s.
    "SWITCH_SETTLEMENT_COOLING_OFF": "2",
    "SWITCH_SETTLEMENT_INTERVAL": "0.5",
    # The hub's position actor expires unanswered reservations every 0.3 s (1 s by default).
    "SWITCH_HUB_SWEEP_INTERVAL": "0.3",
    # The tests' webhook receivers listen on 127.0.0.1, which the SSRF guard refuses outside
    # sandbox mode (switch processes started by tests run plain ``serve``).
    "SWITCH_WEBHOOK_ALLOW_PRIVATE": "true",
    # Outside sandbox mode M-Pesa callbacks are taken only from Safaricom's addresses; the
    # tests' simulator calls from loopback.
    "SWITCH_CALLBACK_ALLOWLIST_MPESA": "127.0.0.0/8,::1/128",
    # Every test signs its people up from 127.0.0.1; test_rate_limits checks the sign-up limit
    # on an app of its own with the default budget.
    "SWITCH_RATE_SIGNUP_PER_HOUR": "3600000",
    "SWITCH_RATE_SIGNUP_BURST": "100000",
}


def _redis_per_worker() -> None:
    """Under ``pytest -n`` each worker runs a whole stack of its own; shared keys (fee totals per
    shard, AML velocity per phone, token generations) must not be seen by the other's, so each
    worker takes its own Redis database unless REDIS_URL says otherwise."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    if worker.startswith("gw") and "REDIS_URL" not in os.environ:
        os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{1 + int(worker[2:])}"


_redis_per_worker()


# The longest files (about a minute each, on the 2-core machine) run first, so that under
# ``pytest -n 2 --dist loadfile`` neither process is left with one of them at the end while the
# other idles.
LONGEST_FIRST = (
    "test_benefits.py",  # a cycle of 2,000 beneficiaries paid through the batch window
    "test_schemathesis.py",
    "test_backup_drill.py",
    "test_bench_smoke.py",
    "test_restart.py",
    "test_log_masking.py",
    "test_chaos.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


def stack_environment(tmp: str, **extra: str) -> dict[str, str]:
    env = {**TIMINGS, "SWITCH_DATA_DIR": tmp, "SWITCH_MONGODB_DB": f"t_{uuid.uuid4().hex[:10]}"}
    if os.environ.get("MONGODB_URI"):
        env["MONGODB_URI"] = os.environ["MONGODB_URI"]
    env["REDIS_URL"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    # Switch processes started by tests run plain ``serve`` against the simulators, with their
    # credentials and keys, which ``serve`` refuses outside sandbox mode unless told.
    env["SWITCH_ALLOW_SANDBOX_SETTINGS"] = "true"
    return {**env, **extra}


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    env = stack_environment(str(tmp_path_factory.mktemp("var")))
    settings = from_env(env, port=free_port(), sim_port=0)
    running = await Stack(settings, sandbox=True, sim_configs={"mpesa": SimConfig()}).start()
    yield running
    # Whatever the tests did, the books of the whole session must balance.
    assert running.state is not None
    cols = running.state.cols
    report = await books_balance(cols)  # the last ticks may commit between its reads
    await running.stop()
    assert report.ok, report.problems


@dataclass
class Receiver:
    """Merchant webhook endpoints at /hooks/{name}; each can be told to fail its next N calls."""

    url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail_next: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    bad: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.fail_next.get(name, 0) > 0:
            self.fail_next[name] -= 1
            return web.Response(status=500)
        body = await request.read()
        if not verify_webhook(self.secrets.get(name, ""), request.headers, body):
            self.bad += 1
            return web.Response(status=400)
        event = orjson.loads(body)
        event["_webhook_id"] = request.headers["webhook-id"]
        self.events.setdefault(name, []).append(event)
        return web.Response(status=204)

    def types_for(self, name: str, payment_id: str) -> list[str]:
        return [e["type"] for e in self.events.get(name, []) if e["data"]["id"] == payment_id]


@pytest.fixture(scope="session")
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{name}", rec.handle)
    async with serving(app) as base:
        rec.url = f"{base}/hooks"
        yield rec


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def merchant(stack: Stack, receiver: Receiver, http: aiohttp.ClientSession) -> Api:
    """A fresh merchant with its own webhook endpoint and a bearer token."""
    assert stack.state is not None
    name = uuid.uuid4().hex[:12]
    created = await create_merchant(stack.state.cols, f"Shop {name}", f"{receiver.url}/{name}")
    receiver.secrets[name] = created.webhook_secret
    api = Api(http, stack.api_url, created, name)
    await api.login()
    return api


@pytest.fixture
async def sim(stack: Stack, http: aiohttp.ClientSession) -> AsyncIterator[str]:
    """The Daraja simulator's URL; knobs changed by a test are put back afterwards."""
    async with http.get(f"{stack.sim_url}/__sim/config") as resp:
        before = await resp.json()
    yield stack.sim_url
    restore = {k: before[k] for k in KNOBS}
    restore["error_burst"] = {"status": 500, "count": 0}
    async with http.patch(f"{stack.sim_url}/__sim/config", json=restore) as resp:
        assert resp.status == 200, await resp.text()
    await asyncio.sleep(0)
