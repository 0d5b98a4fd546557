"""Reversals of collections: the payer gets the whole amount back, once, and the merchant's
balance pays for it (the switch's fee is not refunded)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from .helpers import Api, for_up_to, unique_phone

pytestmark = pytest.mark.integration


async def _reverse(api: Api, payment_id: str, key: str | None = None) -> tuple[int, dict]:
    headers = {**api.auth, "Idempotency-Key": key or uuid.uuid4().hex}
    async with api.http.post(
        f"{api.base}/v1/payments/{payment_id}/reversal",
        json={"reason": "Customer returned goods"},
        headers=headers,
    ) as resp:
        return resp.status, await resp.json()


async def _get_reversal(api: Api, reversal_id: str) -> dict:
    async with api.http.get(f"{api.base}/v1/reversals/{reversal_id}", headers=api.auth) as r:
        assert r.status == 200
        return await r.json()


async def _wait_reversal(api: Api, reversal_id: str) -> dict:
    for _ in for_up_to():
        body = await _get_reversal(api, reversal_id)
        if body["status"] in ("succeeded", "failed"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"reversal {reversal_id} not final")


async def test_a_collection_is_reversed_once_and_debits_the_merchant(
    merchant: Api, sim: str
) -> None:
    paid = await merchant.pay(unique_phone(), amount="400")
    assert (await merchant.wait_for(paid["id"]))["status"] == "succeeded"
    await merchant.pay(unique_phone(), amount="1000")  # more balance, to cover the reversal
    for _ in for_up_to():
        if (await merchant.balance())["available"] == "1379":  # 394 + 985
            break
        await asyncio.sleep(0.1)
    status, reversal = await _reverse(merchant, paid["id"])
    assert status == 202, reversal
    assert reversal["object"] == "reversal"
    assert reversal["reverses"] == paid["id"]
    assert reversal["amount"] == "400"
    final = await _wait_reversal(merchant, reversal["id"])
    assert final["status"] == "succeeded"
    assert final["provider"]["receipt"]
    assert (await merchant.balance())["available"] == "979"  # 1379 - 400

    # A second request (another key) returns the same reversal; nothing is reversed twice.
    again_status, again = await _reverse(merchant, paid["id"])
    assert again_status == 202
    assert again["id"] == reversal["id"]
    assert (await merchant.balance())["available"] == "979"


async def test_what_cannot_be_reversed_is_refused(merchant: Api) -> None:
    declined = await merchant.pay(unique_phone("1032"))
    await merchant.wait_for(declined["id"])
    status, body = await _reverse(merchant, declined["id"])
    assert status == 422
    assert body["error"]["code"] == "not_reversible"
    assert (await _reverse(merchant, "pay_s0_01JDX4Q8Z5V6W7X8Y9Z0A1B2C3"))[0] == 404


async def test_a_reversal_needs_the_balance(merchant: Api) -> None:
    paid = await merchant.pay(unique_phone(), amount="400")
    await merchant.wait_for(paid["id"])  # the merchant has 394: less than the 400 to give back
    status, body = await _reverse(merchant, paid["id"])
    assert status == 422
    assert body["error"]["code"] == "insufficient_balance"
