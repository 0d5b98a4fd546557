"""The rate-limit middleware and the per-phone prompt check, on a small app with the in-process
limiter and a clock the tests move; plus the pure parts (which checks, which headers)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.auth import CLAIMS
from api.errors import Handler, error_middleware
from api.ratelimit import (
    RATE,
    Leases,
    Policies,
    RateRuntime,
    SeenKeys,
    _add_headers,
    check_prompt_limit,
    checks_for,
    combined_headers,
    install,
    policies_from,
    ratelimit_middleware,
)
from infra.ratelimit import Decision, InProcessLimiter, RateLimit
from switch.config import from_env
from switch.netguard import AllowList
from switch.tokens import Claims


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _policies(api_burst: int = 4) -> Policies:
    return Policies(
        client=RateLimit(10, api_burst, "client"),
        merchant=RateLimit(10, api_burst + 2, "merchant"),
        preauth=RateLimit(1, 2, "preauth"),
        prompts=RateLimit(3 / 60, 3, "stk-phone"),
        signup=RateLimit(2 / 3600, 2, "signup"),
        costs={"POST /v1/payments": 2, "GET /v1/audit": 50},
    )


@web.middleware
async def fake_bearer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Claims from test headers: X-Sub (client) and X-Mch (merchant)."""
    if "X-Sub" in request.headers:
        request[CLAIMS] = Claims(request.headers["X-Mch"], request.headers["X-Sub"], "", 2**40, "t")
    return await handler(request)


async def _ok(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _pay(request: web.Request) -> web.Response:
    body = await request.json()
    limited = await check_prompt_limit(request, body["phone"])
    return limited or web.json_response({"created": True}, status=202)


async def _stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    await response.write(b"data: hi\n\n")
    return response


Client = TestClient[web.Request, web.Application]
Rig = tuple[Client, Clock]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    async with _started(_policies()) as started:
        yield started


@pytest.fixture
async def prompt_rig() -> AsyncIterator[Rig]:
    """API budgets too large to matter: only the phone's limit is under test."""
    async with _started(_policies(api_burst=1000)) as started:
        yield started


@contextlib.asynccontextmanager
async def _started(policies: Policies) -> AsyncIterator[Rig]:
    clock = Clock()
    app = web.Application(middlewares=[error_middleware, fake_bearer, ratelimit_middleware])
    app[RATE] = RateRuntime(
        enabled=True,
        policies=policies,
        limiter=InProcessLimiter(clock=clock),
        seen=SeenKeys(None),
        phone_key=b"p" * 32,
        proxies=AllowList.parse("10.0.0.0/8"),
    )

    app.on_response_prepare.append(_add_headers)
    app.router.add_get("/v1/balance", _ok)
    app.router.add_get("/v1/audit", _ok)
    app.router.add_get("/v1/events", _stream)
    app.router.add_post("/v1/payments", _pay)
    app.router.add_post("/v1/oauth/token", _ok)
    app.router.add_post("/v1/users", _ok)
    app.router.add_get("/healthz", _ok)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, clock
    await client.close()


def _as(sub: str, mch: str = "mch_1") -> dict[str, str]:
    return {"X-Sub": sub, "X-Mch": mch}


async def test_answers_carry_both_policies_and_the_burst_ends_in_429(rig: Rig) -> None:
    client, _ = rig
    statuses = []
    for _ in range(5):
        async with client.get("/v1/balance", headers=_as("cli_a")) as resp:
            statuses.append(resp.status)
            last = resp
            body = await resp.json()
    assert statuses == [200, 200, 200, 200, 429]
    assert last.headers["RateLimit-Policy"] == '"client";q=10;w=1'
    assert last.headers["RateLimit"] == '"client";r=0;t=1'
    assert last.headers["Retry-After"] == "1"
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["details"] == [{"field": "policy", "reason": "client limit reached"}]
    async with client.get("/v1/balance", headers=_as("cli_b")) as ok:
        assert ok.status == 200
        assert ok.headers["RateLimit-Policy"] == '"client";q=10;w=1, "merchant";q=10;w=1'
        assert ok.headers["RateLimit"].startswith('"client";r=3;t=1, "merchant";r=1;')
        assert "Retry-After" not in ok.headers


async def test_the_merchant_budget_binds_across_its_clients(rig: Rig) -> None:
    client, clock = rig
    seen = []
    for sub in ("c1", "c2", "c3", "c4", "c5", "c6", "c7"):
        async with client.get("/v1/balance", headers=_as(sub, "mch_9")) as resp:
            seen.append(resp.status)
    assert seen == [200] * 6 + [429]
    async with client.get("/v1/balance", headers=_as("c1", "mch_other")) as resp:
        assert resp.status == 200  # another merchant is not affected
    clock.now += 0.1  # one unit back at 10/s
    async with client.get("/v1/balance", headers=_as("c8", "mch_9")) as resp:
        assert resp.status == 200


async def test_endpoint_costs_are_charged(rig: Rig) -> None:
    client, _ = rig
    async with client.post(
        "/v1/payments", json={"phone": "0712000001"}, headers=_as("cli_c")
    ) as resp:
        assert resp.status == 202
        assert resp.headers["RateLimit"].startswith('"client";r=2;')  # 4 - cost 2
    async with client.get("/v1/audit", headers=_as("cli_d", "mch_d")) as resp:
        # A cost above the burst (50 > 4) is capped at the burst: possible, once.
        assert resp.status == 200
        assert resp.headers["RateLimit"].startswith('"client";r=0;')


async def test_streamed_answers_carry_the_headers(rig: Rig) -> None:
    client, _ = rig
    async with client.get("/v1/events", headers=_as("cli_s")) as resp:
        assert resp.status == 200
        assert "RateLimit" in resp.headers


async def test_public_routes_are_not_limited_but_sign_in_is_per_address(rig: Rig) -> None:
    client, clock = rig
    for _ in range(5):
        async with client.get("/healthz") as resp:
            assert resp.status == 200
            assert "RateLimit" not in resp.headers
    statuses = []
    for _ in range(3):
        async with client.post("/v1/oauth/token") as resp:
            statuses.append(resp.status)
    assert statuses == [200, 200, 429]
    # A forged X-Forwarded-For from an untrusted peer does not buy a fresh budget.
    async with client.post("/v1/oauth/token", headers={"X-Forwarded-For": "41.1.1.1"}) as resp:
        assert resp.status == 429
    clock.now += 1.0
    async with client.post("/v1/oauth/token") as resp:
        assert resp.status == 200


async def test_sign_up_is_limited_per_address(rig: Rig) -> None:
    """Issue 10, finding 8: sign-ups (a scrypt hash and maybe a merchant each) have a small
    budget per address, apart from the sign-in one."""
    client, clock = rig
    statuses = []
    for _ in range(3):
        async with client.post("/v1/users") as resp:
            statuses.append(resp.status)
            refused = dict(resp.headers)
    assert statuses == [200, 200, 429]
    assert refused["RateLimit-Policy"].startswith('"signup";q=2')
    async with client.post("/v1/oauth/token") as resp:  # the sign-in budget is another one
        assert resp.status == 200
    clock.now += 1800.0  # 2 an hour: one more after half an hour
    async with client.post("/v1/users") as resp:
        assert resp.status == 200


async def _pay_as(
    client: Client, phone: str, key: str, merchant: str = "mch_1"
) -> tuple[int, dict[str, str]]:
    headers = {**_as("cli_1", merchant), "Idempotency-Key": key}
    async with client.post("/v1/payments", json={"phone": phone}, headers=headers) as resp:
        return resp.status, dict(resp.headers)


async def test_prompts_per_phone_across_merchants_and_spellings(prompt_rig: Rig) -> None:
    client, clock = prompt_rig
    spellings = ["0712345678", "254712345678", "+254712345678", "0712 345 678"]
    results = [
        await _pay_as(client, phone, f"k{i}", merchant=f"mch_{i}")
        for i, phone in enumerate(spellings)
    ]
    assert [status for status, _ in results] == [202, 202, 202, 429]
    refused = results[-1][1]
    assert refused["RateLimit-Policy"] == '"stk-phone";q=3;w=60'
    assert int(refused["Retry-After"]) == 20  # one prompt comes back every 20 s
    assert (await _pay_as(client, "0712999999", "k9"))[0] == 202  # another phone is fine
    clock.now += 20
    assert (await _pay_as(client, "0712345678", "k10"))[0] == 202


async def test_a_retry_of_a_counted_prompt_is_not_charged_again(prompt_rig: Rig) -> None:
    client, clock = prompt_rig
    phone = "0722000111"
    assert (await _pay_as(client, phone, "same"))[0] == 202
    for _ in range(5):  # idempotent retries: the shard replays, no new prompt
        assert (await _pay_as(client, phone, "same"))[0] == 202
    assert (await _pay_as(client, phone, "b"))[0] == 202
    assert (await _pay_as(client, phone, "c"))[0] == 202
    assert (await _pay_as(client, phone, "d"))[0] == 429
    # The refused key was not remembered: its retry is charged (and refused) again.
    assert (await _pay_as(client, phone, "d"))[0] == 429
    clock.now += 20
    assert (await _pay_as(client, phone, "d"))[0] == 202


async def test_disabled_limits_change_nothing() -> None:
    settings = from_env({"SWITCH_RATE_LIMITS": "false"})
    app = web.Application(middlewares=[fake_bearer, ratelimit_middleware])

    class _State:
        pass

    state = _State()
    state.settings = settings  # type: ignore[attr-defined]
    state.secret_key = b"k" * 32  # type: ignore[attr-defined]
    state.limiter = None  # type: ignore[attr-defined]
    install(app, state)  # type: ignore[arg-type]
    assert isinstance(state.limiter, InProcessLimiter)  # type: ignore[attr-defined]
    app.router.add_get("/v1/balance", _ok)
    async with TestClient(TestServer(app)) as client:
        for _ in range(50):
            async with client.get("/v1/balance", headers=_as("x")) as resp:
                assert resp.status == 200
                assert "RateLimit" not in resp.headers


def test_checks_for_each_kind_of_caller() -> None:
    p = _policies()
    assert checks_for("POST", "/v1/payments", "cli", "mch", None, p) == [
        ("sub:cli", p.client, 2),
        ("mch:mch", p.merchant, 2),
    ]
    assert checks_for("POST", "/v1/auth/login", None, None, "1.2.3.4", p) == [
        ("ip:1.2.3.4", p.preauth, 1)
    ]
    assert checks_for("POST", "/callbacks/stk/{payment_id}/{token}", None, None, "x", p) == []
    assert checks_for("POST", "/v1/users", None, None, "1.2.3.4", p) == [
        ("signup:1.2.3.4", p.signup, 1)
    ]


def test_combined_headers_keep_the_longest_wait() -> None:
    a, b = RateLimit(1, 1, "a"), RateLimit(1, 1, "b")
    out = combined_headers([(Decision(False, 0, 1.2, 1.0), a), (Decision(False, 0, 3.5, 1), b)])
    assert out["Retry-After"] == "4"
    assert out["RateLimit"] == '"a";r=0;t=2, "b";r=0;t=4'


def test_default_policies_do_not_throttle_the_bench() -> None:
    p = policies_from(from_env({}))
    # ~500 payments/s per merchant from one client, at 2 units each, with room to spare.
    assert p.client.rate >= 2 * 500 * 1.5 and p.merchant.rate >= p.client.rate
    assert p.prompts.rate == pytest.approx(3 / 60) and p.prompts.burst == 3


class CountingLimiter(InProcessLimiter):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.calls = 0

    async def check(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        self.calls += 1
        return await super().check(key, limit, cost)


async def test_leases_spare_the_limiter_and_never_over_admit() -> None:
    clock = Clock()
    inner = CountingLimiter(clock)
    leases = Leases(inner, clock=clock)
    limit = RateLimit(100, 1005, "client")  # leases of 10 units
    allowed = [(await leases.check("k", limit, 1)) for _ in range(1010)]
    admitted = [d for d in allowed if d.allowed]
    assert len(admitted) == 1005  # exactly the burst: leased, then unit by unit at the edge
    assert inner.calls < 1010 // 5  # ~one call per lease, not one per request
    assert [d.remaining for d in admitted[:3]] == [1004, 1003, 1002]
    clock.now += 0.1  # 10 units come back
    assert (await leases.check("k", limit, 1)).allowed


async def test_small_budgets_are_charged_exactly() -> None:
    clock = Clock()
    inner = CountingLimiter(clock)
    leases = Leases(inner, clock=clock)
    limit = RateLimit(1, 150, "preauth")  # 150 // 100 = 1: no lease
    for _ in range(3):
        await leases.check("ip", limit, 1)
    assert inner.calls == 3


async def test_unspent_leases_lapse() -> None:
    clock = Clock()
    inner = CountingLimiter(clock)
    leases = Leases(inner, clock=clock)
    limit = RateLimit(1000, 2000, "client")  # leases of 20
    await leases.check("k", limit, 1)
    await leases.check("k", limit, 1)
    assert inner.calls == 1
    clock.now += 1.5
    await leases.check("k", limit, 1)
    assert inner.calls == 2  # a fresh lease after the old one lapsed
