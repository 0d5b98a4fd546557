"""Rate limits through the public API, with Redis: headers on every answer, 429 with Retry-After
after the burst (per client, per merchant, per address before sign-in), and the per-phone limit
on payment prompts, which idempotent retries do not spend."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from app.stack import Stack
from infra.ratelimit import RedisLimiter

from .helpers import Api, basic_auth, stk_body, unique_phone
from .test_hardening import variant

pytestmark = pytest.mark.integration


async def _balance(http: aiohttp.ClientSession, url: str, api: Api) -> tuple[int, dict[str, str]]:
    async with http.get(f"{url}/v1/balance", headers=api.auth) as resp:
        await resp.read()
        return resp.status, dict(resp.headers)


async def test_default_limits_answer_with_headers(merchant: Api) -> None:
    status, headers = await _balance(merchant.http, merchant.base, merchant)
    assert status == 200
    assert headers["RateLimit-Policy"] == '"client";q=4000;w=2, "merchant";q=8000;w=2'
    client, merchant_part = headers["RateLimit"].split(", ")
    assert client.startswith('"client";r=') and merchant_part.startswith('"merchant";r=')
    assert "Retry-After" not in headers


async def test_429_after_the_burst_then_allowed_again(stack: Stack, merchant: Api) -> None:
    # One unit every 2 s: the six requests must come within 2 s for the sixth to be refused,
    # which a loaded machine keeps (at 2 units a second, 0.5 s, it did not always).
    limits: dict[str, Any] = {"rate_client_per_s": 0.5, "rate_client_burst": 5}
    async with variant(stack, **limits) as (url, state):
        assert isinstance(state.limiter, RedisLimiter)  # REDIS_URL is set: shared budgets
        began = time.monotonic()
        answers = [await _balance(merchant.http, url, merchant) for _ in range(6)]
        took = time.monotonic() - began
        assert [status for status, _ in answers] == [200] * 5 + [429], f"in {took:.2f} s"
        remaining = [h["RateLimit"].split(", ")[0] for _, h in answers[:5]]
        assert [r.split(";")[1] for r in remaining] == ["r=4", "r=3", "r=2", "r=1", "r=0"]
        refused = answers[-1][1]
        assert refused["RateLimit-Policy"] == '"client";q=5;w=10'
        assert refused["RateLimit"] == '"client";r=0;t=2'
        assert refused["Retry-After"] == "2"
        async with merchant.http.get(f"{url}/v1/balance", headers=merchant.auth) as resp:
            assert resp.status == 429
            body = await resp.json()
        assert body["error"]["code"] == "rate_limited"
        assert body["error"]["details"] == [{"field": "policy", "reason": "client limit reached"}]
        await asyncio.sleep(float(refused["Retry-After"]) + 0.1)
        assert (await _balance(merchant.http, url, merchant))[0] == 200


async def test_the_merchant_budget_covers_all_its_clients(stack: Stack, merchant: Api) -> None:
    """Two tokens of one client are one subject; a second client of the same merchant shares
    the merchant's budget."""
    assert stack.state is not None
    from infra.clients import create_client

    _, secret = doc_secret = await create_client(
        stack.state.cols, merchant.merchant.merchant_id, "second", ["balance:read"], "test"
    )
    second_id = doc_secret[0]["_id"]
    async with merchant.http.post(
        f"{merchant.base}/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(second_id, secret),
    ) as resp:
        token = (await resp.json())["access_token"]
    # One unit every 5 s: the five requests fall within it even on a loaded machine.
    limits: dict[str, Any] = {"rate_merchant_per_s": 0.2, "rate_merchant_burst": 4}
    async with variant(stack, **limits) as (url, _):
        first = [(await _balance(merchant.http, url, merchant))[0] for _ in range(3)]
        async with merchant.http.get(
            f"{url}/v1/balance", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            fourth = resp.status
        async with merchant.http.get(
            f"{url}/v1/balance", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            fifth = resp.status
            assert "merchant limit" in (await resp.json())["error"]["details"][0]["reason"]
    assert first == [200, 200, 200] and fourth == 200 and fifth == 429


async def test_sign_in_is_limited_per_address(stack: Stack, merchant: Api) -> None:
    assert stack.state is not None and stack.state.settings.redis_url
    redis = aioredis.Redis.from_url(stack.state.settings.redis_url)
    # A key space of its own, so the session's other sign-ins from 127.0.0.1 do not count.
    limiter = RedisLimiter(redis, prefix=f"test:{uuid.uuid4().hex}:")
    # One unit every 10 s: the six attempts (each checks a secret) fall within it under load.
    limits: dict[str, Any] = {"rate_preauth_per_s": 0.1, "rate_preauth_burst": 3}
    wrong = basic_auth(merchant.merchant.client_id, "sec_wrong")
    form = {"grant_type": "client_credentials"}
    try:
        async with variant(stack, limiter=limiter, **limits) as (url, _):
            statuses = []
            for _ in range(5):
                async with merchant.http.post(
                    f"{url}/v1/oauth/token", data=form, headers=wrong
                ) as resp:
                    statuses.append(resp.status)
            # Logins are charged to the same address budget.
            async with merchant.http.post(
                f"{url}/v1/auth/login", json={"email": "a@b.co", "password": "x" * 12}
            ) as resp:
                login = resp.status
                retry_after = int(resp.headers["Retry-After"])
    finally:
        await redis.aclose()
    assert statuses == [401, 401, 401, 429, 429]
    assert login == 429 and 1 <= retry_after <= 10


async def test_prompts_per_phone_and_replays(merchant: Api) -> None:
    phone = unique_phone()
    first_key = uuid.uuid4().hex
    first = await merchant.create(stk_body(phone), key=first_key)
    assert first[0] == 202
    for _ in range(2):
        assert (await merchant.create(stk_body(phone), key=uuid.uuid4().hex))[0] == 202
    status, body, headers = await merchant.create(stk_body(phone), key=uuid.uuid4().hex)
    assert status == 429, body
    assert body["error"]["code"] == "rate_limited"
    assert "phone" in body["error"]["message"]
    assert headers["RateLimit-Policy"] == '"stk-phone";q=3;w=60'
    assert 1 <= int(headers["Retry-After"]) <= 20
    # An idempotent retry of the first request is still answered as a replay.
    replay = await merchant.create(stk_body(phone), key=first_key)
    assert replay[0] == 202 and replay[1]["id"] == first[1]["id"]
    assert replay[2].get("Idempotent-Replayed") == "true"
    # Another phone is not affected, whoever the merchant.
    assert (await merchant.create(stk_body(unique_phone()), key=uuid.uuid4().hex))[0] == 202
