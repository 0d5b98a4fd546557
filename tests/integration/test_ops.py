"""Health, readiness, metrics, OpenAPI and the docs page."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from .helpers import Api, unique_phone
from .test_callback_scope import _funded, _knobs

pytestmark = pytest.mark.integration


async def test_health_and_readiness(merchant: Api) -> None:
    async with merchant.http.get(f"{merchant.base}/healthz") as r:
        assert r.status == 200
    async with merchant.http.get(f"{merchant.base}/readyz") as r:
        body = await r.json()
        assert r.status == 200
        assert body["checks"] == {"mongodb": "ok", "shards": "ok"}
        nodes = set(body["nodes"])
        assert nodes - {"hub"} == {  # the hub's actor starts with the first hub call
            "mpesa",
            "gateway-airtel",
            "gateway-pesalink",
            "gateway-sacco",
            "gateway-hub",  # requests to pay to banks (connectors/hub/gateway.py)
            "batches",
            "shard-0",
            "shard-1",
        }


async def test_metrics_cover_requests_payments_providers_and_webhooks(merchant: Api) -> None:
    await merchant.wait_for((await merchant.pay(unique_phone()))["id"])
    async with merchant.http.get(f"{merchant.base}/metrics") as r:
        assert r.status == 200
        text = await r.text()
    assert (
        'switch_http_requests_total{actor="api",method="POST",route="/v1/payments",status="202"}'
        in text
    )
    assert 'switch_payments_total{actor="shard-' in text and 'status="succeeded"' in text
    assert 'switch_provider_calls_total{actor="mpesa-174379",operation="stk_push"' in text
    assert "switch_provider_call_seconds_bucket" in text
    assert 'switch_webhook_deliveries_total{actor="shard-' in text
    assert "switch_actor_batch_items_bucket" in text
    # Gauges a shard sets on its sweep tick, the gateways' breakers, the queues.
    assert 'switch_payments_in_flight{actor="shard-0",method="mpesa_stk",shard="0"}' in text
    assert 'switch_webhook_backlog{actor="shard-1",shard="1"}' in text
    assert 'switch_breaker_open{actor="mpesa-174379",provider="mpesa"}' in text
    assert 'switch_queue_depth{actor="shard-0",queue="commit",shard="0"}' in text
    assert 'switch_queue_depth{actor="api",queue="create_payments",shard="' in text
    assert 'switch_payment_duration_seconds_bucket{actor="shard-' in text


async def test_a_payout_unanswered_past_its_expiry_shows_then_its_time_to_final(
    merchant: Api, sim: str
) -> None:
    await _funded(merchant, 1000)
    done = "switch_payment_duration_seconds_bucket"
    payouts, fast = {"method": "mpesa_b2c", "outcome": "succeeded"}, {"le": "5.0"}
    before = [await merchant.metric(done, **payouts, **le) for le in ({"le": "+Inf"}, fast)]
    await _knobs(merchant, sim, callback_delay=10.0)  # the payout's result comes late
    # The gauge counts every merchant's payouts: an earlier test's may be past expiry too.
    earlier = await merchant.metric("switch_payments_past_expiry", method="mpesa_b2c")
    status, payout = await merchant.payout(unique_phone(), amount="500")
    assert status == 202, payout
    started = asyncio.get_running_loop().time()
    # Older than SWITCH_STK_EXPIRE_AFTER (6 s in the tests) and not answered: past its expiry
    # (a payout never expires by the clock), counted by its shard's next sweep.
    past = earlier
    while past <= earlier and asyncio.get_running_loop().time() - started < 9.5:
        past = await merchant.metric("switch_payments_past_expiry", method="mpesa_b2c")
        await asyncio.sleep(0.3)
    assert past > earlier, (earlier, past)
    assert asyncio.get_running_loop().time() - started >= 6
    assert await merchant.metric("switch_payments_in_flight", method="mpesa_b2c") >= 1
    await _knobs(merchant, sim, callback_delay=0.3)
    final = await merchant.for_payouts().wait_for(payout["id"], within=30)
    assert final["status"] == "succeeded"
    # Observed, created to final: over 5 s. The histogram counts every merchant's payouts (an
    # earlier test's may end meanwhile), so: at least one more observation over 5 s, and ours
    # took over 5 s by its own times.
    after = [await merchant.metric(done, **payouts, **le) for le in ({"le": "+Inf"}, fast)]
    slow = (after[0] - after[1]) - (before[0] - before[1])
    assert slow >= 1, (before, after)
    took = datetime.fromisoformat(final["updated_at"]) - datetime.fromisoformat(final["created_at"])
    assert took.total_seconds() > 5, final


async def test_openapi_document_and_docs_page(merchant: Api) -> None:
    async with merchant.http.get(f"{merchant.base}/openapi.json") as r:
        doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    assert {"/v1/oauth/token", "/v1/payments", "/v1/payments/{payment_id}"} <= set(doc["paths"])
    create = doc["components"]["schemas"]["PaymentCreate"]
    assert create["additionalProperties"] is False
    # (the phone, or a till for B2B Express Checkout: the model checks which)
    assert {"method", "amount", "currency", "reference"} <= set(create["required"])
    async with merchant.http.get(f"{merchant.base}/docs") as r:
        assert r.status == 200 and "swagger-ui-bundle.js" in await r.text()
    async with merchant.http.get(f"{merchant.base}/docs/assets/swagger-ui-bundle.js") as r:
        assert r.status == 200
