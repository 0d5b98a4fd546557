"""Provider faults and a dead actor: nothing lost, nothing sent twice."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import ray

from actors.runtime import shard_name
from app.stack import Stack
from routing.shards import shard_for

from .helpers import FINAL, Api, for_up_to, stk_body, unique_phone

pytestmark = pytest.mark.integration


async def _knobs(merchant: Api, sim: str, **knobs: object) -> None:
    async with merchant.http.patch(f"{sim}/__sim/config", json=knobs) as resp:
        assert resp.status == 200, await resp.text()


async def _stats(merchant: Api, sim: str) -> dict:
    async with merchant.http.get(f"{sim}/__sim/stats") as resp:
        return await resp.json()


async def _records(merchant: Api, sim: str, phone: str) -> list[dict]:
    async with merchant.http.get(f"{sim}/__sim/stk", params={"phone": "254" + phone[1:]}) as r:
        return await r.json()


@pytest.mark.parametrize("status", [503, 429])
async def test_throttling_before_acceptance_is_retried(
    merchant: Api, sim: str, status: int
) -> None:
    await _knobs(merchant, sim, error_burst={"status": status, "count": 2})
    phone = unique_phone()
    before = await _stats(merchant, sim)
    created = await merchant.pay(phone)
    final = await merchant.wait_for(created["id"])
    assert final["status"] == "succeeded"
    after = await _stats(merchant, sim)
    assert after["push_requests"] - before["push_requests"] == 3
    assert len(await _records(merchant, sim, phone)) == 1


async def test_an_ambiguous_500_is_never_resent_and_expires(merchant: Api, sim: str) -> None:
    await _knobs(merchant, sim, error_burst={"status": 500, "count": 1})
    phone = unique_phone()
    before = await _stats(merchant, sim)
    created = await merchant.pay(phone)
    final = await merchant.wait_for(created["id"], within=30)
    assert final["status"] == "expired"
    assert final["failure"]["code"] == "outcome_unknown"
    after = await _stats(merchant, sim)
    assert after["push_requests"] - before["push_requests"] == 1


async def test_a_provider_timeout_is_not_a_failure(merchant: Api, sim: str) -> None:
    await merchant.wait_for((await merchant.pay(unique_phone()))["id"])  # warm the token
    await _knobs(merchant, sim, latency=2.5, callback_delay=3.0)
    phone = unique_phone()
    before = await _stats(merchant, sim)
    created = await merchant.pay(phone)
    # The push times out after 2 s (SWITCH_PROVIDER_TIMEOUT); the customer acts 3 s after the
    # simulator accepts it, 2.5 s after it was sent.
    lost = await merchant.wait_for(created["id"], ("processing", *FINAL))
    await _knobs(merchant, sim, latency=0.0)
    assert lost["status"] == "processing"  # answer lost: the prompt may be on the phone
    final = await merchant.wait_for(created["id"], within=30)
    after = await _stats(merchant, sim)
    assert after["push_requests"] - before["push_requests"] == 1
    # Daraja acted on the push although our call timed out: the callback settles it.
    assert final["status"] == "succeeded", final
    assert [h["state"] for h in final["history"]][:2] == ["submitting", "unknown"]


async def test_a_killed_shard_actor_recovers_its_payments(
    merchant: Api, stack: Stack, sim: str
) -> None:
    await _knobs(merchant, sim, callback_delay=2.0)
    created = await merchant.pay(unique_phone())
    await merchant.wait_for(created["id"], ("processing",))
    shard = shard_for(merchant.merchant.merchant_id, stack.settings.shards)
    ray.kill(ray.get_actor(shard_name(shard)), no_restart=False)

    final = await merchant.wait_for(created["id"], within=30)
    assert final["status"] == "succeeded"
    key, body = uuid.uuid4().hex, stk_body(unique_phone())
    for _ in for_up_to():
        status, answer, _ = await merchant.create(body, key=key)
        if status == 202:
            break
        assert status == 503, answer
        await asyncio.sleep(0.2)
    assert status == 202
    assert (await merchant.wait_for(answer["id"]))["status"] == "succeeded"


async def test_an_outage_opens_the_circuit_then_a_probe_closes_it(merchant: Api, sim: str) -> None:
    await _knobs(merchant, sim, error_burst={"status": 503, "count": 1000})
    first = await merchant.pay(unique_phone())
    failed = await merchant.wait_for(first["id"])
    assert failed["status"] == "failed"
    assert failed["failure"]["code"] == "provider_unavailable"
    assert "nothing was charged" in failed["failure"]["message"]

    status, body, headers = await merchant.create(stk_body(unique_phone()), key=uuid.uuid4().hex)
    assert status == 503
    assert body["error"]["code"] == "provider_unavailable"
    assert int(headers["Retry-After"]) >= 1
    assert await merchant.metric("switch_breaker_open", provider="mpesa") >= 1

    await _knobs(merchant, sim, error_burst={"status": 503, "count": 0})
    await asyncio.sleep(2.1)  # the cool-down
    probe = await merchant.pay(unique_phone())
    assert (await merchant.wait_for(probe["id"]))["status"] == "succeeded"
    for _ in for_up_to():  # the gauge follows the breaker (the gateway sets it as it closes)
        if await merchant.metric("switch_breaker_open", provider="mpesa") == 0:
            break
        await asyncio.sleep(0.1)
    assert await merchant.metric("switch_breaker_open", provider="mpesa") == 0


async def test_an_expired_token_is_replaced_and_the_payment_goes_through(
    merchant: Api, sim: str
) -> None:
    await merchant.wait_for((await merchant.pay(unique_phone()))["id"])  # a token is cached
    before = await _stats(merchant, sim)
    async with merchant.http.post(f"{sim}/__sim/expire_tokens") as resp:
        assert resp.status == 200
    created = await merchant.pay(unique_phone())
    assert (await merchant.wait_for(created["id"]))["status"] == "succeeded"
    after = await _stats(merchant, sim)
    assert after["tokens_issued"] == before["tokens_issued"] + 1
