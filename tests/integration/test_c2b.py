"""M-Pesa C2B through the public API: a merchant claims a shortcode's accounts, customers pay the
paybill on the simulator, the switch validates, records and credits, and tells the merchant."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from api.c2b import url_token
from app.stack import Stack

from .conftest import Receiver
from .helpers import PATIENCE, Api, for_up_to, unique_phone

pytestmark = pytest.mark.integration


def _shortcode() -> str:
    return f"6{uuid.uuid4().int % 10**6:06d}"


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


async def _c2b_events(
    receiver: Receiver,
    hook: str,
    within: float = PATIENCE,
    kind: str = "payment.succeeded",
    receipt: str | None = None,
) -> list[dict]:
    """The merchant's C2B webhooks of one type (a confirmation first says payment.processing
    while M-Pesa's record is checked, then succeeded or failed)."""
    for _ in for_up_to(within):
        events = [
            e
            for e in receiver.events.get(hook, [])
            if e["data"]["method"] == "mpesa_c2b"
            and e["type"] == kind
            and (receipt is None or e["data"]["provider"].get("receipt") == receipt)
        ]
        if events:
            return events
        await asyncio.sleep(0.1)
    return []


def _confirmation(shortcode: str, trans_id: str, amount: str, bill_ref: str) -> dict:
    return {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": "20261206101010",
        "TransAmount": amount,
        "BusinessShortCode": shortcode,
        "BillRefNumber": bill_ref,
        "InvoiceNumber": "",
        "OrgAccountBalance": "",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 678",
        "FirstName": "JOHN",
        "MiddleName": "",
        "LastName": "",
    }


async def _confirm(http, stack: Stack, shortcode: str, body: dict) -> int:
    assert stack.state is not None
    token = url_token(stack.state.secret_key, shortcode)
    url = f"{stack.api_url}/callbacks/c2b/confirmation/{shortcode}/{token}"
    async with http.post(url, data=orjson.dumps(body)) as resp:
        return resp.status


async def test_paybill_payments_reach_the_right_merchant_once(
    merchant: Api, receiver: Receiver, sim: str, stack: Stack, http
) -> None:
    shortcode = _shortcode()
    status, registered = await _register(merchant, shortcode, {"type": "prefix", "prefix": "ACME"})
    assert status == 200, registered
    assert registered["provider"]["description"]
    assert "/callbacks/c2b/validation/" in registered["validation_url"]
    # The URL's token is a secret between the switch and M-Pesa: never shown to a merchant.
    assert stack.state is not None
    assert url_token(stack.state.secret_key, shortcode) not in orjson.dumps(registered).decode()

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
    body = _confirmation(shortcode, paid["trans_id"], "250.00", "acme-001")
    url = f"{stack.api_url}/callbacks/c2b/confirmation/{shortcode}/{token}"
    async with http.post(url, data=orjson.dumps(body)) as resp:
        assert resp.status == 200
        assert (await resp.json())["ResultCode"] == 0
    await asyncio.sleep(0.5)  # a second webhook or credit, were one made, would be in by now
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
    body = _confirmation(shortcode, trans_id, "75.00", "X")
    url = f"{stack.api_url}/callbacks/c2b/confirmation/{shortcode}/{token}"
    async with http.post(url, data=orjson.dumps(body)) as resp:
        assert resp.status == 200
    kept = await stack.state.cols.c2b_unmatched.find_one({"_id": trans_id})
    assert kept is not None
    assert kept["payment"]["amount_cents"] == 7500


async def test_a_forged_confirmation_credits_nobody(
    merchant: Api, receiver: Receiver, stack: Stack, http
) -> None:
    """Even with the URL's secret (leaked, say), a confirmation of a payment M-Pesa never made
    credits nobody: Transaction Status has no record of the receipt, so it fails."""
    shortcode = _shortcode()
    assert (await _register(merchant, shortcode, {"type": "any"}))[0] == 200
    before = (await merchant.balance())["available"]
    trans_id = f"FK{uuid.uuid4().hex[:8].upper()}"
    body = _confirmation(shortcode, trans_id, "200000.00", "anything")
    assert await _confirm(http, stack, shortcode, body) == 200
    [failed] = await _c2b_events(receiver, merchant.hook, kind="payment.failed", receipt=trans_id)
    assert "no record" in failed["data"]["failure"]["message"]
    assert (await merchant.balance())["available"] == before
    assert not await _c2b_events(receiver, merchant.hook, within=0.5, receipt=trans_id)


async def test_a_confirmation_of_someone_elses_receipt_credits_nobody(
    merchant: Api, receiver: Receiver, stack: Stack, http
) -> None:
    """A real receipt (an STK payment to another shortcode) confirmed on the merchant's paybill:
    M-Pesa's record credits another shortcode, so the confirmation is declined, uncredited."""
    stk = await merchant.pay(unique_phone(), amount="120")
    done = await merchant.wait_for(stk["id"])
    assert done["status"] == "succeeded"
    receipt = done["provider"]["receipt"]
    shortcode = _shortcode()
    assert (await _register(merchant, shortcode, {"type": "any"}))[0] == 200
    before = (await merchant.balance())["available"]
    assert await _confirm(http, stack, shortcode, _confirmation(shortcode, receipt, "120.00", "X"))
    [failed] = await _c2b_events(receiver, merchant.hook, kind="payment.failed", receipt=receipt)
    assert "does not match" in failed["data"]["failure"]["message"]
    assert (await merchant.balance())["available"] == before


async def test_a_receipt_belongs_to_one_merchant_only(
    merchant: Api, receiver: Receiver, sim: str, stack: Stack, http
) -> None:
    from .test_payments_api import _other_merchant

    shortcode = _shortcode()
    assert (await _register(merchant, shortcode, {"type": "prefix", "prefix": "A"}))[0] == 200
    other = await _other_merchant(stack, receiver, http)
    assert (await _register(other, shortcode, {"type": "prefix", "prefix": "B"}))[0] == 200
    paid = await _customer_pays(merchant, sim, shortcode, "A-1", "300")
    assert await _c2b_events(receiver, merchant.hook, receipt=paid["trans_id"])
    # The same receipt replayed with the other merchant's account number.
    body = _confirmation(shortcode, paid["trans_id"], "300.00", "B-1")
    assert await _confirm(http, stack, shortcode, body) == 200
    await asyncio.sleep(2.0)
    assert (await other.balance())["available"] == "0"
    assert not await _c2b_events(receiver, other.hook, within=0.2, kind="payment.processing")
