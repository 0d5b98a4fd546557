"""On the sandbox stack: a merchant (and an aggregator's sub-merchant, through the header) is
funded in one call, once per Idempotency-Key, and can pay out of it at once; the aggregator
suspends and reactivates its own sub-merchant (audited), may not close one, and may not lift a
suspension the operator made. The session's teardown checks that the journal balances."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from switch.platform import SUB_MERCHANT_HEADER

from .conftest import Receiver
from .helpers import Api, stk_body, unique_phone
from .test_platform import Caller, _aggregator, _operator, _sub

pytestmark = pytest.mark.integration


async def _fund(caller: Caller, amount: str, key: str, sub: str = "") -> tuple[int, Any]:
    headers = {"Idempotency-Key": key, **({SUB_MERCHANT_HEADER: sub} if sub else {})}
    return await caller.call("POST", "/v1/sandbox/fund", {"amount": amount}, headers)


async def test_a_sandbox_merchant_is_funded_once_per_key_and_pays_out_of_it(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    assert stack.state is not None
    me = Caller(http, stack.api_url, merchant.token)
    key = uuid.uuid4().hex
    status, bad = await _fund(me, "0", key)
    assert (status, bad["error"]["details"][0]["field"]) == (422, "amount"), bad
    status, bad = await me.call("POST", "/v1/sandbox/fund", {"amount": "10"})
    assert (status, bad["error"]["code"]) == (400, "idempotency_key_missing"), bad
    status, funded = await _fund(me, "25000", key)
    assert (status, funded["created"], funded["amount"]) == (201, True, "25000"), funded
    assert funded["balance"]["available"] == "25000"
    status, again = await _fund(me, "25000", key)
    assert (status, again["created"], again["id"]) == (200, False, funded["id"])
    assert (await merchant.balance())["available"] == "25000"
    entries = [d async for d in stack.state.cols.journal.find({"payment_id": funded["id"]})]
    assert [(e["kind"], e["merchant_id"]) for e in entries] == [
        ("sandbox_funding", merchant.merchant.merchant_id)
    ]
    assert sum(line["amount"] for line in entries[0]["lines"]) == 0

    status, paid = await merchant.payout(unique_phone(), amount="1000")
    assert status == 202, paid
    final = await merchant.for_payouts().wait_for(paid["id"])
    assert final["status"] == "succeeded", final


async def test_an_aggregator_suspends_and_reactivates_its_sub_merchant_but_not_the_operators(
    stack: Stack, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    assert stack.state is not None
    operator = await _operator(stack, http)
    agg_api, agg = await _aggregator(stack, http, operator, receiver)
    sub = await _sub(agg, (operator, await _operator(stack, http)), "Kibanda", {"bps": 100})

    # Funded through the header: the sub-merchant's balance, not the aggregator's.
    status, funded = await _fund(agg, "300", uuid.uuid4().hex, sub)
    assert (status, funded["merchant_id"]) == (201, sub), funded
    status, mine = await agg.call("GET", "/v1/balance")
    assert mine["available"] == "0"

    path = f"/v1/sub-merchants/{sub}"
    status, body = await agg.call("POST", f"{path}/suspend", {"reason": "unpaid invoice"})
    assert (status, body["status"]) == (200, "suspended"), body

    async def pay() -> tuple[int, Any]:
        status, body, _ = await agg_api.create(
            stk_body(unique_phone()), key=uuid.uuid4().hex, headers={SUB_MERCHANT_HEADER: sub}
        )
        return status, body

    status, refused = await pay()
    assert (status, refused["error"]["code"]) == (403, "merchant_suspended"), refused
    status, body = await agg.call("POST", f"{path}/close", {"reason": "x"})
    assert status in (404, 405), body  # closing is the operator's alone
    status, body = await agg.call("POST", f"{path}/reactivate", {"reason": "paid"})
    assert (status, body["status"]) == (200, "active"), body
    assert (await pay())[0] == 202

    # The operator's suspension is the operator's to lift.
    status, body = await operator.call(
        "POST", f"/v1/operator/merchants/{sub}/suspend", {"reason": "fraud review"}
    )
    assert status == 200, body
    status, refused = await agg.call("POST", f"{path}/reactivate", {"reason": "please"})
    assert (status, refused["error"]["code"]) == (409, "conflict"), refused
    assert "operator" in refused["error"]["message"]
    status, body = await operator.call(
        "POST", f"/v1/operator/merchants/{sub}/reactivate", {"reason": "cleared"}
    )
    assert (status, body["status"]) == (200, "active"), body

    actions = [
        (d["action"], (d.get("after") or {}).get("by"))
        async for d in stack.state.cols.audit.find({"target": f"merchant:{sub}"}).sort("_id", 1)
    ]
    assert actions[-4:] == [
        ("merchant.suspend", "aggregator"),
        ("merchant.reactivate", "aggregator"),
        ("merchant.suspend", "operator"),
        ("merchant.reactivate", "operator"),
    ]
    # Another aggregator's sub-merchant is not found.
    _, other = await _aggregator(stack, http, operator, receiver)
    status, _ = await other.call("POST", f"{path}/suspend", {"reason": "x"})
    assert status == 404
