"""Invoices (Bill Manager) through the public API: opt-in, single and bulk invoices, payments as
verified C2B payments (partial, full, over; duplicates counted once), a forged push that credits
nothing, cancellation rules, idempotency, webhooks and the acknowledgements to Bill Manager."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from api.bills_common import url_token
from app.stack import Stack

from .conftest import Receiver
from .helpers import Api, for_up_to

pytestmark = pytest.mark.integration


def _shortcode() -> str:
    return f"7{uuid.uuid4().int % 10**6:06d}"


async def _send(api: Api, method: str, path: str, body: Any = None, key: str | None = None):
    headers = {**api.auth, **({"Idempotency-Key": key} if key else {})}
    async with api.http.request(method, f"{api.base}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers.get("Idempotent-Replayed")


def _invoice(ref: str, account: str, amount: str = "800") -> dict[str, Any]:
    return {
        "external_reference": ref,
        "account_reference": account,
        "amount": amount,
        "due_date": (date.today() + timedelta(days=10)).isoformat(),
        "customer_name": "Wanjiku Kamau",
        "phone": "0712345678",
        "period": "December 2026",
        "name": "Water",
    }


async def _until(api: Api, invoice_id: str, status: str, within: float = 30.0) -> dict:
    seen: dict = {}
    for _ in range(int(within * 10)):
        _, seen, _ = await _send(api, "GET", f"/v1/invoices/{invoice_id}")
        if seen.get("status") == status:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"{invoice_id} never became {status}: {seen}")


async def _pay(api: Api, sim: str, ref: str, amount: int) -> dict:
    body = {"external_reference": ref, "amount": amount}
    async with api.http.post(f"{sim}/__sim/billmanager/pay", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_invoices_are_paid_only_by_verified_payments_once(
    merchant: Api, receiver: Receiver, sim: str, stack: Stack, http
) -> None:
    shortcode = _shortcode()
    claim = {"shortcode": shortcode, "accounts": {"type": "prefix", "prefix": "WTR"}}
    assert (await _send(merchant, "PUT", "/v1/c2b/registration", claim))[0] == 200
    optin = {"shortcode": shortcode, "email": "bills@example.co.ke",
             "official_contact": "0710000000", "send_reminders": True}  # fmt: skip
    status, body, _ = await _send(merchant, "PUT", "/v1/invoices/settings", optin)
    assert status == 200, body
    assert body["callback_url"].endswith("/********")

    # Creation: validation names the field; idempotent by key; an account not routed to us fails.
    bad = {**_invoice("A1", "WTR-1"), "amount": "12.50"}
    status, body, _ = await _send(merchant, "POST", "/v1/invoices", bad, key="k-bad")
    assert (status, body["error"]["details"][0]["field"]) == (422, "amount"), body
    status, body, _ = await _send(merchant, "POST", "/v1/invoices", _invoice("A0", "ZZZ"), "k0")
    assert (status, body["error"]["details"][0]["field"]) == (422, "account_reference")
    key = f"inv-{uuid.uuid4().hex}"
    status, first, _ = await _send(merchant, "POST", "/v1/invoices", _invoice("A1", "WTR-1"), key)
    assert (status, first["status"], first["amount"], first["outstanding"]) == (
        201,
        "open",
        "800",
        "800",
    )
    status, again, replayed = await _send(
        merchant, "POST", "/v1/invoices", _invoice("A1", "WTR-1"), key
    )
    assert (status, again["id"], replayed) == (200, first["id"], "true")
    status, _, _ = await _send(merchant, "POST", "/v1/invoices", _invoice("A9", "WTR-1"), key)
    assert status == 409
    # A bulk request reusing an external reference is refused whole, leaving nothing behind.
    clash = {"invoices": [_invoice("B1", "WTR-2", "500"), _invoice("A1", "WTR-1")]}
    status, body, _ = await _send(merchant, "POST", "/v1/invoices/bulk", clash, f"x-{key}")
    assert (status, body["error"]["code"]) == (409, "duplicate_reference"), body
    bulk = {"invoices": [_invoice("B1", "WTR-2", "500"), _invoice("B2", "WTR-3", "300")]}
    status, made, _ = await _send(merchant, "POST", "/v1/invoices/bulk", bulk, f"b-{key}")
    assert status == 201, made
    b1, b2 = made["data"]

    # Every confirmation and push arrives twice: each payment still counts once.
    async with http.patch(f"{sim}/__sim/config", json={"duplicate_callbacks": 1}) as resp:
        assert resp.status == 200
    p1 = await _pay(merchant, sim, "A1", 300)
    partly = await _until(merchant, first["id"], "partially_paid")
    assert (partly["paid"], partly["outstanding"]) == ("300", "500")
    p2 = await _pay(merchant, sim, "A1", 600)
    over = await _until(merchant, first["id"], "overpaid")
    assert (over["paid"], over["outstanding"]) == ("900", "0")
    assert sorted(p["receipt"] for p in over["payments"]) == sorted(
        [p1["trans_id"], p2["trans_id"]]
    )
    # A payment Bill Manager never pushes (a lost push): the C2B confirmation alone credits it.
    order = {"shortcode": shortcode, "amount": "300", "msisdn": "254712345678",
             "bill_ref": "wtr-3", "command_id": "CustomerPayBillOnline"}  # fmt: skip
    async with http.post(f"{sim}/__sim/c2b/pay", json=order) as resp:
        assert resp.status == 200
    await _until(merchant, b2["id"], "paid")

    # A forged push (a genuine URL, a receipt M-Pesa never issued) credits nothing.
    assert stack.state is not None
    url = f"{stack.api_url}/callbacks/billmanager/{shortcode}/{url_token(stack.state, shortcode)}"
    forged = {
        "transactionId": "FAKE00001",
        "paidAmount": "500",
        "msisdn": "254712345678",
        "dateCreated": "2026-12-06",
        "accountReference": "WTR-2",
        "shortCode": shortcode,
    }
    async with http.post(url, data=orjson.dumps(forged)) as resp:
        assert resp.status == 200
    async with http.post(url[:-5] + "00000", data=orjson.dumps(forged)) as resp:
        assert resp.status == 404  # a wrong token

    # Cancelling: refused once paid, done once unpaid (and again changes nothing).
    status, body, _ = await _send(merchant, "POST", f"/v1/invoices/{first['id']}/cancel")
    assert (status, body["error"]["code"]) == (409, "invoice_paid")
    status, body, _ = await _send(merchant, "POST", f"/v1/invoices/{b1['id']}/cancel")
    assert (status, body["status"], body["paid"]) == (200, "cancelled", "0")
    assert (await _send(merchant, "POST", f"/v1/invoices/{b1['id']}/cancel"))[0] == 200

    # Past its due date with nothing paid: expired (a later payment would still count).
    late = {**_invoice("C1", "WTR-4"), "due_date": (date.today() - timedelta(days=2)).isoformat()}
    status, c1, _ = await _send(merchant, "POST", "/v1/invoices", late, f"c-{key}")
    assert status == 201, c1
    await _until(merchant, c1["id"], "expired")

    status, listed, _ = await _send(merchant, "GET", "/v1/invoices?status=overpaid")
    assert [i["id"] for i in listed["data"]] == [first["id"]]

    # The merchant's webhooks, and Bill Manager told of each credited payment once.
    for _ in for_up_to():
        kinds = [(e["data"]["id"], e["type"]) for e in receiver.events.get(merchant.hook, [])
                 if e["type"].startswith("invoice.")]  # fmt: skip
        if {(b1["id"], "invoice.cancelled"), (c1["id"], "invoice.expired")} <= set(kinds):
            break  # both: the expiry's webhook may still be on its way when the cancel's is in
        await asyncio.sleep(0.1)
    assert [k for i, k in kinds if i == first["id"]] == [
        "invoice.created",
        "invoice.partially_paid",
        "invoice.overpaid",
    ]
    assert (b2["id"], "invoice.paid") in kinds
    assert (c1["id"], "invoice.expired") in kinds
    assert (b1["id"], "invoice.cancelled") in kinds
    async with http.get(f"{sim}/__sim/billmanager") as resp:
        acks = [a["transactionId"] for a in (await resp.json())["acknowledgements"]]
    assert sorted(r for r in acks if r in (p1["trans_id"], p2["trans_id"])) == sorted(
        [p1["trans_id"], p2["trans_id"]]
    )
    _, b1_now, _ = await _send(merchant, "GET", f"/v1/invoices/{b1['id']}")
    assert b1_now["paid"] == "0"  # the forged push named its account
    assert (await merchant.balance())["available"] == "1182"  # 1,200 received less 1.5 %
