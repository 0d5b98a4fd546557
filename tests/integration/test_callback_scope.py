"""A callback acts only on a payment of its own provider and kind: an unauthenticated Airtel
callback naming an M-Pesa payout, or an M-Pesa result route of another kind, changes nothing,
and Airtel's "no record" is never taken as an M-Pesa payout's failure."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from app.stack import Stack
from switch.signing import callback_token

from .helpers import Api, unique_phone

pytestmark = pytest.mark.integration


async def _knobs(api: Api, sim: str, **knobs: object) -> None:
    async with api.http.patch(f"{sim}/__sim/config", json=knobs) as resp:
        assert resp.status == 200, await resp.text()


async def _funded(merchant: Api, shillings: int) -> None:
    paid = await merchant.pay(unique_phone(), amount=str(shillings))
    assert (await merchant.wait_for(paid["id"]))["status"] == "succeeded"


def _airtel_failure(payment_id: str) -> bytes:
    txn = {"id": payment_id, "message": "Failed", "status_code": "TF", "airtel_money_id": "X1"}
    return orjson.dumps({"transaction": txn})


async def test_an_airtel_callback_cannot_fail_an_mpesa_payout(
    merchant: Api, stack: Stack, sim: str
) -> None:
    await _funded(merchant, 1000)
    await _knobs(merchant, sim, callback_delay=8.0)  # the payout's result comes late
    status, payout = await merchant.payout(unique_phone(), amount="500")
    assert status == 202, payout
    await asyncio.sleep(3.5)  # older than SWITCH_PAYOUT_NOT_FOUND_AFTER (3 s in the tests)
    url = f"{stack.api_url}/callbacks/airtel"
    async with merchant.http.post(url, data=_airtel_failure(payout["id"])) as resp:
        assert resp.status == 400, await resp.text()  # refused: not an Airtel collection
    payouts = merchant.for_payouts()
    _, now = await payouts.get(payout["id"])
    assert now["status"] == "processing"
    assert (await merchant.balance())["reserved"] == "515"  # the money is still held
    await _knobs(merchant, sim, callback_delay=0.3)
    final = await payouts.wait_for(payout["id"], within=30)
    assert final["status"] == "succeeded"  # paid once, as M-Pesa says


async def test_an_mpesa_result_of_another_kind_cannot_settle_a_payment(
    merchant: Api, stack: Stack, sim: str
) -> None:
    """A B2C result posted (with the payment's own token) to an STK collection: refused."""
    assert stack.state is not None
    await _knobs(merchant, sim, callback_delay=3.0)
    created = await merchant.pay(unique_phone())
    await merchant.wait_for(created["id"], ("processing",))
    token = callback_token(stack.state.secret_key, created["id"])
    result = {
        "Result": {
            "ResultType": 0,
            "ResultCode": 2001,
            "ResultDesc": "The initiator information is invalid.",
            "OriginatorConversationID": created["id"],
            "ConversationID": "AG_20261206_0001",
            "TransactionID": "NLJ0000000",
        }
    }
    url = f"{stack.api_url}/callbacks/b2c/result/{created['id']}/{token}"
    async with merchant.http.post(url, data=orjson.dumps(result)) as resp:
        assert resp.status == 400
    assert (await merchant.get(created["id"]))[1]["status"] == "processing"
    assert (await merchant.wait_for(created["id"]))["status"] == "succeeded"
