"""Aggregators through the public API, on the real stack: the operator onboards an aggregator,
which creates two sub-merchants (KYC verified through the operator's KYC route), takes payments
for both with the Switch-Sub-Merchant header, sees them together and one at a time, and earns
its platform fee on the journal (balanced, in its statement); the operator's merchant routes
suspend and close, with the close refused while money is held."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from infra.merchants import create_operator_client
from switch import ledger
from switch.merchants import NewMerchant
from switch.platform import SUB_MERCHANT_HEADER

from .conftest import Receiver
from .helpers import Api, basic_auth, for_up_to, stk_body, unique_phone
from .test_kyc import details as kyc_details

pytestmark = pytest.mark.integration


class Caller:
    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base, self.token = http, base, token

    async def call(
        self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        hdrs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        async with self.http.request(method, self.base + path, json=json, headers=hdrs) as r:
            return r.status, await r.json()


async def _token(http: aiohttp.ClientSession, base: str, client_id: str, secret: str) -> str:
    form = {"grant_type": "client_credentials"}
    async with http.post(
        f"{base}/v1/oauth/token", data=form, headers=basic_auth(client_id, secret)
    ) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["access_token"])


async def _operator(stack: Stack, http: aiohttp.ClientSession) -> Caller:
    assert stack.state is not None
    client = await create_operator_client(stack.state.cols)
    token = await _token(http, stack.api_url, client["client_id"], client["client_secret"])
    return Caller(http, stack.api_url, token)


async def _aggregator(
    stack: Stack, http: aiohttp.ClientSession, operator: Caller, receiver: Receiver
) -> tuple[Api, Caller]:
    name = uuid.uuid4().hex[:12]
    body = {"name": f"Agg {name}", "webhook_url": f"{receiver.url}/{name}", "kind": "aggregator"}
    status, made = await operator.call("POST", "/v1/operator/merchants", body)
    assert status == 201, made
    assert made["kind"] == "aggregator" and made["client_secret"].startswith("sec_")
    receiver.secrets[name] = made["webhook_secret"]
    created = NewMerchant(**{k: made[k] for k in NewMerchant.__dataclass_fields__})
    api = Api(http, stack.api_url, created, name)
    await api.login()
    return api, Caller(http, stack.api_url, api.token)


async def _sub(agg: Caller, desk: tuple[Caller, Caller], name: str, fee: dict[str, Any]) -> str:
    """A sub-merchant, verified by two operators through the older KYC route (``verified``
    carries no checks there, so it needs two: the first call proposes, 202)."""
    status, sub = await agg.call("POST", "/v1/sub-merchants", {"name": name, "platform_fee": fee})
    assert status == 201, sub
    assert (sub["kyc_status"], sub["webhook_secret"]) == ("pending", None)
    path = f"/v1/operator/merchants/{sub['id']}/kyc"
    body = {"state": "verified", "reason": "documents"}
    status, proposed = await desk[0].call("PUT", path, body)
    assert status == 202, proposed
    status, applied = await desk[1].call("PUT", path, body)
    assert (status, applied["kyc_status"]) == (200, "verified"), applied
    return str(sub["id"])


async def _pay_for(agg: Api, sub_id: str, amount: str) -> dict[str, Any]:
    status, body, _ = await agg.create(
        stk_body(unique_phone(), amount=amount),
        key=uuid.uuid4().hex,
        headers={SUB_MERCHANT_HEADER: sub_id},
    )
    assert status == 202, body
    return body


async def _ids(agg: Caller, **filters: str) -> list[str]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    status, page = await agg.call("GET", f"/v1/payments?{query}")
    assert status == 200, page
    return [p["id"] for p in page["data"]]


async def test_an_aggregator_takes_payments_for_its_sub_merchants_and_earns_its_fee(
    stack: Stack, http: aiohttp.ClientSession, receiver: Receiver, merchant: Api
) -> None:
    assert stack.state is not None
    operator = await _operator(stack, http)
    agg_api, agg = await _aggregator(stack, http, operator, receiver)
    agg_id = agg_api.merchant.merchant_id

    # Fees beyond the operator's bounds (default 5 % and KES 100) are refused, naming the part.
    status, refused = await agg.call(
        "POST", "/v1/sub-merchants", {"name": "Greedy", "platform_fee": {"bps": 900}}
    )
    assert status == 422 and refused["error"]["details"][0]["field"] == "platform_fee.bps"
    # An ordinary merchant has no sub-merchants.
    plain = Caller(http, stack.api_url, merchant.token)
    status, _ = await plain.call("POST", "/v1/sub-merchants", {"name": "X"})
    assert status == 403

    desk = (operator, await _operator(stack, http))
    duka = await _sub(agg, desk, "Duka One", {"bps": 200, "fixed": "1"})
    kiosk = await _sub(agg, desk, "Kiosk Two", {"bps": 100})
    assert duka.startswith(agg_id + "_")
    status, page = await agg.call("GET", "/v1/sub-merchants")
    assert [s["id"] for s in page["data"]] == [duka, kiosk]
    assert page["data"][0]["webhook_url"] == f"{receiver.url}/{agg_api.hook}"  # inherited

    # Its own profile, and a sub-merchant's through the header.
    status, me = await agg.call("GET", "/v1/merchant")
    assert (status, me["kind"], me["parent_id"]) == (200, "aggregator", None)
    status, seen = await agg.call("GET", "/v1/merchant", headers={SUB_MERCHANT_HEADER: duka})
    assert (seen["id"], seen["parent_id"], seen["kyc_status"]) == (duka, agg_id, "verified")

    # Another merchant may not act for them: 403 naming the header.
    status, body, _ = await merchant.create(
        stk_body(unique_phone()), key="x1", headers={SUB_MERCHANT_HEADER: duka}
    )
    assert status == 403 and body["error"]["details"][0]["field"] == SUB_MERCHANT_HEADER

    paid = [
        await _pay_for(agg_api, duka, "1000"),
        await _pay_for(agg_api, duka, "200"),
        await _pay_for(agg_api, kiosk, "500"),
    ]
    for p in paid:
        # The payment is the sub-merchant's: only the header reads it.
        status, _ = await agg_api.get(p["id"])
        assert status == 404
    subs = {paid[0]["id"]: duka, paid[1]["id"]: duka, paid[2]["id"]: kiosk}
    for pid, sub in subs.items():
        status, body = await agg.call(
            "GET", f"/v1/payments/{pid}", headers={SUB_MERCHANT_HEADER: sub}
        )
        assert status == 200, body
        for _ in for_up_to():
            if body["status"] == "succeeded":
                break
            await asyncio.sleep(0.1)
            status, body = await agg.call(
                "GET", f"/v1/payments/{pid}", headers={SUB_MERCHANT_HEADER: sub}
            )
        assert body["status"] == "succeeded", body

    # Together, newest first, and one sub-merchant at a time.
    newest_first = [p["id"] for p in reversed(paid)]
    for _ in for_up_to():  # the search reads MongoDB; the last commit may be a tick away
        if await _ids(agg) == newest_first:
            break
        await asyncio.sleep(0.1)
    assert await _ids(agg) == newest_first
    assert await _ids(agg, sub_merchant=duka) == newest_first[1:]
    assert await _ids(agg, sub_merchant=kiosk) == newest_first[:1]
    status, refused = await plain.call("GET", f"/v1/payments?sub_merchant={duka}")
    assert status == 404
    # A cursor of one view does not continue another.
    status, first = await agg.call("GET", "/v1/payments?limit=1")
    status, bad = await agg.call(
        "GET", f"/v1/payments?limit=1&sub_merchant={duka}&cursor={first['next_cursor']}"
    )
    assert status == 400, bad

    # The journal: each collection's platform fee, balanced, moved to the aggregator.
    fees = {"1000": 2000 + 100, "200": 400 + 100, "500": 500}  # cents: bps of it + fixed
    switch_fee = {p["id"]: int(Decimal(p["fee"]) * 100) for p in paid}
    cols = stack.state.cols
    entries = {d["_id"]: d async for d in cols.journal.find({"payment_id": {"$in": list(subs)}})}
    for p in paid:
        entry = entries[f"{p['id']}:platform_fee"]
        assert sum(line["amount"] for line in entry["lines"]) == 0
        assert entry["merchant_id"] == agg_id and entry["counterparty"] == subs[p["id"]]
        assert {ln["account"]: ln["amount"] for ln in entry["lines"]} == {
            ledger.available(subs[p["id"]]): -fees[p["amount"]],
            ledger.available(agg_id): fees[p["amount"]],
        }
    balance = await agg_api.balance()
    assert Decimal(balance["available"]) == Decimal(sum(fees.values())) / 100
    status, duka_balance = await agg.call("GET", "/v1/balance", headers={SUB_MERCHANT_HEADER: duka})
    gross = 120_000 - switch_fee[paid[0]["id"]] - switch_fee[paid[1]["id"]] - 2600
    assert Decimal(duka_balance["available"]) == Decimal(gross) / 100

    # The aggregator's statement shows its fee income; the sub-merchant's shows what it paid.
    span = (
        (datetime.now(UTC) - timedelta(days=1)).date(),
        (datetime.now(UTC) + timedelta(days=1)).date(),
    )
    q = f"/v1/statements?since={span[0]}&until={span[1]}"
    status, st = await agg.call("GET", q)
    assert status == 200, st
    assert [e["kind"] for e in st["entries"]] == ["platform_fee"] * 3
    assert Decimal(st["closing_balance"]) == Decimal(balance["available"])
    status, st = await agg.call("GET", q, headers={SUB_MERCHANT_HEADER: duka})
    assert sorted(e["kind"] for e in st["entries"]) == ["collection"] * 2 + ["platform_fee"] * 2
    total = sum(Decimal(e["amount"]) for e in st["entries"])
    assert Decimal(st["opening_balance"]) + total == Decimal(st["closing_balance"])
    assert Decimal(st["closing_balance"]) == Decimal(duka_balance["available"])

    # Closing a sub-merchant that holds money is refused; suspending stops its payments.
    path = f"/v1/operator/merchants/{duka}"
    status, refused = await operator.call("POST", f"{path}/close", {"reason": "done"})
    assert status == 409 and "settle its balance" in refused["error"]["message"]
    status, body = await operator.call("POST", f"{path}/suspend", {"reason": "a check"})
    assert (status, body["status"]) == (200, "suspended")
    status, body, _ = await agg_api.create(
        stk_body(unique_phone()), key=uuid.uuid4().hex, headers={SUB_MERCHANT_HEADER: duka}
    )
    assert (status, body["error"]["code"]) == (403, "merchant_suspended")
    status, audit = await operator.call("GET", f"/v1/operator/merchants?parent_id={agg_id}")
    assert [m["status"] for m in audit["data"]] == ["suspended", "active"]


async def test_the_operator_manages_merchants_and_closes_an_empty_one(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    operator = await _operator(stack, http)
    status, made = await operator.call("POST", "/v1/operator/merchants", {"name": "  "})
    assert status == 422
    status, made = await operator.call("POST", "/v1/operator/merchants", {"name": "Empty Ltd"})
    assert status == 201, made
    mid = made["merchant_id"]
    status, body = await operator.call(
        "PATCH", f"/v1/operator/merchants/{mid}", {"name": "Empty Two"}
    )
    assert (status, body["name"]) == (200, "Empty Two")
    status, body = await operator.call(
        "POST", f"/v1/operator/merchants/{mid}/close", {"reason": "x"}
    )
    assert (status, body["status"]) == (200, "closed")
    status, body = await operator.call(
        "POST", f"/v1/operator/merchants/{mid}/suspend", {"reason": "x"}
    )
    assert status == 409
    token = await _token(http, stack.api_url, made["client_id"], made["client_secret"])
    closed = Api(
        http,
        stack.api_url,
        NewMerchant(**{k: made[k] for k in NewMerchant.__dataclass_fields__}),
        "none",
        token,
    )
    status, refused, _ = await closed.create(stk_body(unique_phone()), key="k")
    assert status == 403, refused
    # A merchant's token is not the operator's; the list pages.
    status, _ = await Caller(http, stack.api_url, merchant.token).call(
        "GET", "/v1/operator/merchants"
    )
    assert status == 403
    status, page = await operator.call("GET", "/v1/operator/merchants?limit=1")
    assert status == 200 and len(page["data"]) == 1 and page["next_cursor"]
    status, nxt = await operator.call(
        "GET", f"/v1/operator/merchants?limit=1&cursor={page['next_cursor']}"
    )
    assert nxt["data"][0]["id"] > page["data"][0]["id"]
    assert stack.state is not None
    actions = [
        d["action"] async for d in stack.state.cols.audit.find({"target": f"merchant:{mid}"})
    ]
    assert actions == ["merchant.create", "merchant.update", "merchant.close"]


async def test_an_aggregator_the_operator_made_applies_for_its_sub_merchants_kyc(
    stack: Stack, http: aiohttp.ClientSession, receiver: Receiver, merchant: Api
) -> None:
    """It has no people to give its client kyc:manage later: its first client holds it (an
    ordinary merchant's client does not)."""
    operator = await _operator(stack, http)
    _, agg = await _aggregator(stack, http, operator, receiver)
    status, pending = await agg.call("POST", "/v1/sub-merchants", {"name": "Kibanda Three"})
    assert status == 201, pending
    status, app = await agg.call(
        "POST",
        "/v1/kyc/applications",
        kyc_details(),
        headers={SUB_MERCHANT_HEADER: pending["id"]},
    )
    assert status == 201 and app["merchant_id"] == pending["id"], app
    plain = Caller(http, stack.api_url, merchant.token)
    status, _ = await plain.call("POST", "/v1/kyc/applications", kyc_details())
    assert status == 403
