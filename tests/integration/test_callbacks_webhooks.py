"""Callbacks are untrusted; webhooks are signed, retried and deduplicated."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from app.stack import Stack
from switch.signing import callback_token

from .conftest import Receiver
from .helpers import Api, for_up_to, unique_phone

pytestmark = pytest.mark.integration


def success_callback(checkout_id: str, amount: float, phone: str) -> bytes:
    items = [
        {"Name": "Amount", "Value": amount},
        {"Name": "MpesaReceiptNumber", "Value": "FORGED0001"},
        {"Name": "TransactionDate", "Value": 20261127101010},
        {"Name": "PhoneNumber", "Value": int(phone)},
    ]
    body = {
        "Body": {
            "stkCallback": {
                "MerchantRequestID": "1-2-3",
                "CheckoutRequestID": checkout_id,
                "ResultCode": 0,
                "ResultDesc": "The service request is processed successfully.",
                "CallbackMetadata": {"Item": items},
            }
        }
    }
    return orjson.dumps(body)


async def _knobs(merchant: Api, sim: str, **knobs: object) -> None:
    async with merchant.http.patch(f"{sim}/__sim/config", json=knobs) as resp:
        assert resp.status == 200, await resp.text()


async def test_forged_callbacks_change_nothing(merchant: Api, stack: Stack, sim: str) -> None:
    assert stack.state is not None
    await _knobs(merchant, sim, callback_delay=3.0)
    phone = unique_phone()
    msisdn = "254" + phone[1:]
    created = await merchant.pay(phone)
    processing = await merchant.wait_for(created["id"], ("processing",))
    checkout = processing["provider"]["checkout_request_id"]
    good_token = callback_token(stack.state.secret_key, created["id"])
    url = f"{stack.api_url}/callbacks/stk/{created['id']}"

    attempts = [
        (f"{url}/{'A' * 24}", success_callback(checkout, 150.0, msisdn), 404),  # bad token
        (f"{url}/{good_token}", success_callback(checkout, 1.0, msisdn), 400),  # wrong amount
        (f"{url}/{good_token}", success_callback("ws_CO_other", 150.0, msisdn), 400),
        (f"{url}/{good_token}", success_callback(checkout, 150.0, "254700000000"), 400),
        (f"{url}/{good_token}", b'{"Body": {}}', 400),  # not an stkCallback
    ]
    for target, body, expected in attempts:
        async with merchant.http.post(target, data=body) as resp:
            assert resp.status == expected, (target, await resp.text())
    _, still = await merchant.get(created["id"])
    assert still["status"] == "processing" and still["provider"]["receipt"] is None

    final = await merchant.wait_for(created["id"])
    assert final["status"] == "succeeded"
    assert final["provider"]["receipt"] != "FORGED0001"


async def test_duplicate_callbacks_change_nothing_and_send_one_webhook(
    merchant: Api, receiver: Receiver, stack: Stack, sim: str
) -> None:
    await _knobs(merchant, sim, duplicate_callbacks=2)
    phone = unique_phone()
    created = await merchant.pay(phone)
    final = await merchant.wait_for(created["id"])
    assert final["status"] == "succeeded"
    for _ in for_up_to():  # the copies go one after another, each answered by the switch
        async with merchant.http.get(f"{sim}/__sim/stk", params={"phone": "254" + phone[1:]}) as r:
            [record] = await r.json()
        if record["callbacks_sent"] >= 3:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # a webhook for a copy, were one sent, would be out by now
    assert record["callbacks_sent"] == 3
    assert all(s == 200 for s in record["callback_statuses"])
    assert receiver.types_for(merchant.hook, created["id"]) == [
        "payment.processing",
        "payment.succeeded",
    ]
    _, again = await merchant.get(created["id"])
    assert again["updated_at"] == final["updated_at"]


async def test_webhook_failing_three_times_then_succeeding_gets_every_event(
    merchant: Api, receiver: Receiver, stack: Stack
) -> None:
    assert stack.state is not None
    receiver.fail_next[merchant.hook] = 3
    created = await merchant.pay(unique_phone())
    await merchant.wait_for(created["id"])
    for _ in for_up_to():
        if len(receiver.types_for(merchant.hook, created["id"])) == 2:
            break
        await asyncio.sleep(0.1)
    events = [e for e in receiver.events[merchant.hook] if e["data"]["id"] == created["id"]]
    assert [e["type"] for e in events] == ["payment.processing", "payment.succeeded"]
    assert receiver.calls[merchant.hook] == 5
    assert events[0]["data"]["status"] == "processing"
    assert events[1]["data"]["provider"]["receipt"]
    log = await stack.state.cols.webhook_deliveries.find_one({"event_id": events[0]["_webhook_id"]})
    assert log is not None and log["attempt_count"] == 4 and log["status"] == "delivered"
    assert [a["status_code"] for a in log["attempts"]] == [500, 500, 500, 204]
    for _ in for_up_to():  # settled once the final event is out: nothing left to resume
        if await stack.state.cols.inflight.find_one({"_id": created["id"]}) is None:
            break
        await asyncio.sleep(0.1)
    assert await stack.state.cols.inflight.find_one({"_id": created["id"]}) is None
