"""Health, readiness, metrics, OpenAPI and the docs page."""

from __future__ import annotations

import pytest

from .helpers import Api, unique_phone

pytestmark = pytest.mark.integration


async def test_health_and_readiness(merchant: Api) -> None:
    async with merchant.http.get(f"{merchant.base}/healthz") as r:
        assert r.status == 200
    async with merchant.http.get(f"{merchant.base}/readyz") as r:
        body = await r.json()
        assert r.status == 200
        assert body["checks"] == {"mongodb": "ok", "shards": "ok"}
        assert set(body["nodes"]) == {
            "mpesa",
            "gateway-airtel",
            "gateway-pesalink",
            "gateway-sacco",
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


async def test_openapi_document_and_docs_page(merchant: Api) -> None:
    async with merchant.http.get(f"{merchant.base}/openapi.json") as r:
        doc = await r.json()
    assert doc["openapi"] == "3.1.0"
    assert {"/v1/oauth/token", "/v1/payments", "/v1/payments/{payment_id}"} <= set(doc["paths"])
    create = doc["components"]["schemas"]["PaymentCreate"]
    assert create["additionalProperties"] is False
    assert {"method", "amount", "currency", "phone", "reference"} <= set(create["required"])
    async with merchant.http.get(f"{merchant.base}/docs") as r:
        assert r.status == 200 and "swagger-ui-bundle.js" in await r.text()
    async with merchant.http.get(f"{merchant.base}/docs/assets/swagger-ui-bundle.js") as r:
        assert r.status == 200
