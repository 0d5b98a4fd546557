"""The typed Python client (switch_client) against the real stack: collect, pay out, transfer,
read back, list every page, balance and statement; errors arrive as typed exceptions naming the
fields; a key given twice makes one payment; the switch's own webhooks verify."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiohttp import web

from app.stack import Stack
from infra.merchants import create_merchant
from switch_client import ApiError, FieldError, SwitchClient, verify_webhook

from .conftest import free_port
from .helpers import FINAL, for_up_to, unique_phone

pytestmark = pytest.mark.integration


async def _settled(api: SwitchClient, payment_id: str, payout: bool = False) -> str:
    for _ in for_up_to():
        got = await (api.get_payout if payout else api.get_payment)(payment_id)
        if got["status"] in FINAL:
            return got["status"]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{payment_id} did not settle")


async def test_the_client_through_the_public_api(stack: Stack) -> None:
    assert stack.state is not None
    hooks: list[tuple[dict[str, str], bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        hooks.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    shop = await create_merchant(stack.state.cols, "Client Shop", f"http://127.0.0.1:{port}/hook")
    try:
        async with SwitchClient(stack.api_url, shop.client_id, shop.client_secret) as api:
            key, payer = f"order-{uuid.uuid4().hex[:8]}", unique_phone()
            first = await api.create_payment(
                amount="300", phone=payer, reference="INV1", idempotency_key=key
            )
            again = await api.create_payment(
                amount="300", phone=payer, reference="INV1", idempotency_key=key
            )
            assert again["id"] == first["id"]  # retried with its key: one payment
            assert await _settled(api, first["id"]) == "succeeded"
            more = [
                await api.create_payment(amount="150", phone=unique_phone(), reference="INV2")
                for _ in range(3)
            ]
            for p in more:
                assert await _settled(api, p["id"]) == "succeeded"

            with pytest.raises(ApiError) as bad:
                await api.create_payment(amount="0", phone="12", reference="no spaces!")
            assert bad.value.status == 422 and bad.value.code == "validation_failed"
            named = {d.field for d in bad.value.details}
            assert {"amount", "phone", "reference"} <= named, bad.value.details
            assert all(isinstance(d, FieldError) and d.reason for d in bad.value.details)
            with pytest.raises(ApiError) as reused:
                await api.create_payment(
                    amount="999", phone=unique_phone(), reference="INV1", idempotency_key=key
                )
            assert (reused.value.status, reused.value.code) == (409, "idempotency_key_reused")

            listed = [p["id"] async for p in api.list_payments(limit=2, reference="INV2")]
            assert sorted(listed) == sorted(p["id"] for p in more)  # two pages, every one

            balance = await api.balance()
            assert Decimal(balance["available"]) == Decimal("295.5") + 3 * Decimal("147.75")
            payout = await api.create_payout(
                amount="100", phone=unique_phone(), method="mpesa_b2c", reference="PAY1"
            )
            assert await _settled(api, payout["id"], payout=True) == "succeeded"
            with pytest.raises(ApiError) as poor:
                await api.create_payout(
                    amount="100000", phone=unique_phone(), method="mpesa_b2c", reference="PAY2"
                )
            assert poor.value.code == "insufficient_balance", poor.value

            today = datetime.now(UTC)
            statement = await api.statement(
                (today - timedelta(days=1)).date().isoformat(),
                (today + timedelta(days=1)).date().isoformat(),
            )
            assert statement["closing_balance"] == (await api.balance())["available"]
            assert statement["entries"]

            phone = {"type": "mpesa", "phone": unique_phone()}
            transfer = await api.create_transfer(
                amount="50", source=phone, destination={"type": "mpesa", "phone": unique_phone()},
                reference="TR1",
            )  # fmt: skip
            assert (await api.get_transfer(transfer["id"]))["id"] == transfer["id"]

        async with SwitchClient(stack.api_url, shop.client_id, "sec_wrong") as wrong:
            with pytest.raises(ApiError) as denied:
                await wrong.balance()
            assert denied.value.status == 401 and denied.value.code == "invalid_client"
    finally:
        await runner.cleanup()

    assert hooks, "no webhook arrived"
    headers, body = hooks[0]
    assert verify_webhook(shop.webhook_secret, headers, body)
    assert not verify_webhook(shop.webhook_secret, headers, body + b" ")
    stale = float(headers["webhook-timestamp"]) + 301
    assert not verify_webhook(shop.webhook_secret, headers, body, now=stale)
