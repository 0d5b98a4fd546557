"""M-Pesa C2B through the public API: a merchant claims a shortcode's accounts, customers pay the
paybill on the simulator, the switch validates, records and credits, and tells the merchant."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from api.c2b import url_token
from switch.stack import Stack

from .conftest import Receiver
from .helpers import Api

pytestmark = pytest.mark.integration


def _shortcode() -> str:
    return f"6{uuid.uuid4().int % 10**5:05d}"


async def _register(api: Api, shortcode: str, accounts: dict) -> tuple[int, dict]:
    body = {"shortcode": shortcode, "accounts": accounts}
    async with api.http.put(f"{api.base}/v1/c2b/registration", json=body, headers=api.auth) as resp:
        return resp.status, await resp.json()


async def _customer_pays(api: Api, sim: str, shortcode: str, bill_ref: str, amount: str) -> dict:
    order = {
        "shortcode": shortcode,
        "amount": amount,
        "msisdn": "254712345678",
        "bill_ref": bill_ref,
        "command_id": "CustomerPayBillOnline",
    }
    async with api.http.post(f"{sim}/__sim/c2b/pay", json=order) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _c2b_events(receiver: Receiver, hook: str, within: float = 10) -> list[dict]:
    for _ in range(int(within * 10)):
        events = [e for e in receiver.events.get(hook, []) if e["data"]["method"] == "mpesa_c2b"]
        if events:
            return events
        await asyncio.sleep(0.1)
    return []


async def test_paybill_payments_reach_the_right_merchant_once(
    merchant: Api, receiver: Receiver, sim: str, stack: Stack, http
) -> None:
    shortcode = _shortcode()
    status, registered = await _register(merchant, shortcode, {"type": "prefix", "prefix": "ACME"})
    assert status == 200, registered
    assert registered["provider"]["description"]
    assert "/callbacks/c2b/validation/" in registered["validation_url"]

    paid = await _customer_pays(merchant, sim, shortcode, "acme-001", "250")
    assert paid["validation"] == "accepted"
    assert paid["state"] == "completed"
    [event] = await _c2b_events(receiver, merchant.hook)
    assert event["type"] == "payment.succeeded"
    assert event["data"]["provider"]["receipt"] == paid["trans_id"]
    assert event["data"]["reference"] == "acme-001"
    assert event["data"]["amount"] == "250"
    assert (await merchant.balance())["available"] == "246.25"  # 1.5 % fee

    # The same confirmation again (Daraja retries, or a replay): nothing changes.
    assert stack.state is not None
    token = url_token(stack.state.secret_key, shortcode)
    body = {
        "TransactionType": "Pay Bill",
        "TransID": paid["trans_id"],
        "TransTime": paid["trans_time"],
        "TransAmount": "250.00",
        "BusinessShortCode": shortcode,
        "BillRefNumber": "acme-001",
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 678",
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "",
    }
    url = f"{stack.api_url}/callbacks/c2b/confirmation/{shortcode}/{token}"
    async with http.post(url, data=orjson.dumps(body)) as resp:
        assert resp.status == 200
        assert (await resp.json())["ResultCode"] == 0
    await asyncio.sleep(0.5)
    assert len(await _c2b_events(receiver, merchant.hook)) == 1
    assert (await merchant.balance())["available"] == "246.25"

    # A forged confirmation (wrong token) is refused.
    async with http.post(f"{url[:-4]}beef", data=orjson.dumps(body)) as resp:
        assert resp.status == 404


async def test_an_account_nobody_claims_is_refused_at_validation(
    merchant: Api, sim: str, stack: Stack
) -> None:
    shortcode = _shortcode()
    assert (await _register(merchant, shortcode, {"type": "list", "accounts": ["INV1"]}))[0] == 200
    refused = await _customer_pays(merchant, sim, shortcode, "INV2", "100")
    assert refused["validation"] == "rejected"
    assert refused["validation_result_code"] == "C2B00012"
    assert (await merchant.balance())["available"] == "0"


async def test_overlapping_claims_on_a_shortcode_conflict(
    merchant: Api, stack: Stack, http, receiver: Receiver
) -> None:
    from .test_payments_api import _other_merchant

    shortcode = _shortcode()
    assert (await _register(merchant, shortcode, {"type": "prefix", "prefix": "A"}))[0] == 200
    other = await _other_merchant(stack, receiver, http)
    status, body = await _register(other, shortcode, {"type": "any"})
    assert status == 409
    assert body["error"]["code"] == "c2b_route_conflict"
    assert (await _register(other, shortcode, {"type": "prefix", "prefix": "B"}))[0] == 200


async def test_a_confirmation_nobody_claims_is_kept_not_lost(stack: Stack, http) -> None:
    assert stack.state is not None
    shortcode = _shortcode()
    token = url_token(stack.state.secret_key, shortcode)
    trans_id = f"UK{uuid.uuid4().hex[:8].upper()}"
    body = {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": "20261127101010",
        "TransAmount": "75.00",
        "BusinessShortCode": shortcode,
        "BillRefNumber": "X",
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 678",
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "",
    }
    url = f"{stack.api_url}/callbacks/c2b/confirmation/{shortcode}/{token}"
    async with http.post(url, data=orjson.dumps(body)) as resp:
        assert resp.status == 200
    kept = await stack.state.cols.c2b_unmatched.find_one({"_id": trans_id})
    assert kept is not None
    assert kept["payment"]["amount_cents"] == 7500
