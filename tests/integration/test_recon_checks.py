"""Confirming an Airtel break through Airtel's own transaction enquiry, through the public API
on the real stack: a customer pays but Airtel never calls back and is down while the switch
asks, so the switch expires the payment; Airtel's statement shows the money; a run finds the
break; confirming it asks Airtel (never the caller or the statement), whose success the shard
applies (the provider's word beats the switch's clock), and a later run resolves it. The
journal balances after each step."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from app.stack import Stack

from .helpers import Api, for_up_to
from .test_compliance import Caller, _operator
from .test_rails import airtel_phone
from .test_recon import _auth, _ledger_ok, _sim

pytestmark = pytest.mark.integration


async def _statement_run(
    stack: Stack, http: aiohttp.ClientSession, op: Caller, since: datetime
) -> dict[str, Any]:
    airtel = stack.sim_urls["airtel"]
    data = await _sim(http, "GET", f"{airtel}/__sim/statement")
    url = f"{stack.api_url}/v1/operator/recon/statements?source=airtel_statement"
    async with http.post(url, data=data, headers={**_auth(op), "Content-Type": "text/csv"}) as r:
        assert r.status == 200, await r.text()
    until = datetime.now(UTC) + timedelta(seconds=1)
    body = {"sources": ["airtel_statement"], "since": since.isoformat(), "until": until.isoformat()}
    status, run = await op.call("POST", "/v1/operator/recon/runs", json=body)
    assert status == 201, run
    return dict(run)


async def test_an_airtel_payment_the_switch_expired_is_confirmed_by_airtels_enquiry(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    airtel = stack.sim_urls["airtel"]
    await _sim(http, "DELETE", f"{airtel}/__sim/breaks")
    before = (await merchant.balance())["available"]
    body = {
        "method": "airtel_ussd",
        "amount": "200",
        "currency": "KES",
        "phone": airtel_phone("0404"),  # pays, but Airtel never calls back
        "reference": "AIRCHK",
    }
    status, created, _ = await merchant.create(body, key=uuid.uuid4().hex)
    assert status == 202, created
    for _ in for_up_to():  # sent to Airtel: then Airtel goes down for every enquiry
        _, seen = await merchant.get(created["id"])
        if (seen.get("provider") or {}).get("conversation_id") or seen["status"] != "pending":
            break
        await asyncio.sleep(0.05)
    async with http.patch(f"{airtel}/__sim/config", json={"outage": 30}) as r:
        assert r.status == 200, await r.text()
    try:
        done = await merchant.wait_for(created["id"], within=30)
    finally:
        async with http.patch(f"{airtel}/__sim/config", json={"outage": 0}) as r:
            assert r.status == 200, await r.text()
    assert done["status"] in ("expired", "failed"), done
    assert (await merchant.balance())["available"] == before  # nobody credited yet
    await _ledger_ok(stack)

    alice = await _operator(stack, http)
    run = await _statement_run(stack, http, alice, since)
    [brk] = [b for b in run["breaks"] if b["key"] == created["id"]]
    assert brk["kind"] == "missing_in_switch"
    path = f"/v1/operator/recon/breaks/{brk['id']}"
    for _ in for_up_to():  # the gateway's circuit may still be cooling down after the outage
        status, confirmed = await alice.call(
            "POST", f"{path}/resolve", json={"action": "confirm", "reason": "Airtel shows it"}
        )
        if status != 503:
            break
        await asyncio.sleep(0.5)
    assert status == 200, confirmed
    assert confirmed["status"] == "resolving"
    assert confirmed["resolution"]["checked"] == "succeeded"
    paid = await merchant.wait_for(created["id"], ("succeeded",), within=30)
    assert paid["status"] == "succeeded"
    status, _ = await alice.call(
        "POST", f"{path}/resolve", json={"action": "confirm", "reason": "again"}
    )
    assert status == 409  # once
    await _ledger_ok(stack)

    await _statement_run(stack, http, alice, since)
    _, after = await alice.call("GET", path)
    assert after["status"] == "resolved", after
    await _ledger_ok(stack)
