"""Suspense money refunded to the payer through the public API on the real stack: a stranger's
C2B payment nobody claims is found by a run and booked to suspense; one operator proposes the
refund, another approves it; M-Pesa's Reversal goes out on the receipt, its Result is lost and
an approval resends it (M-Pesa's "already reversed" then confirms the first); only then does the
money leave suspense, once. The journal balances after each step."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from app.stack import Stack

from .helpers import Api, for_up_to
from .test_compliance import Caller, _operator
from .test_recon import _ledger_ok, _sim, _suspense, register_paybill

pytestmark = pytest.mark.integration


async def _break_becomes(op: Caller, path: str, status: str) -> dict[str, Any]:
    for _ in for_up_to():
        _, brk = await op.call("GET", path)
        if brk["status"] == status:
            return dict(brk)
        await asyncio.sleep(0.1)
    raise AssertionError(f"the break stayed {brk['status']}: {brk}")


async def test_a_strangers_payment_is_refunded_from_suspense_once_by_two_operators(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    assert stack.state is not None
    since = datetime.now(UTC) - timedelta(seconds=1)
    sim = stack.sim_url
    await _sim(http, "DELETE", f"{sim}/__sim/breaks")
    shortcode = await register_paybill(http, merchant)
    stranger = {"kind": "stranger", "amount": "700", "account": "NOBODY", "shortcode": shortcode}
    await _sim(http, "POST", f"{sim}/__sim/breaks", json=stranger)
    [paid] = await _sim(http, "GET", f"{sim}/__sim/c2b?shortcode={shortcode}")

    alice, bob = await _operator(stack, http), await _operator(stack, http)
    status, _ = await alice.call("POST", "/v1/operator/recon/pulls")
    assert status == 200
    until = datetime.now(UTC) + timedelta(seconds=1)
    run_body = {"sources": ["mpesa_pull"], "since": since.isoformat(), "until": until.isoformat()}
    status, run = await alice.call("POST", "/v1/operator/recon/runs", json=run_body)
    assert status == 201, run
    [found] = [b for b in run["breaks"] if b["key"] == paid["trans_id"]]
    assert found["kind"] == "missing_in_switch"
    path = f"/v1/operator/recon/breaks/{found['id']}"
    held = await _suspense(stack)
    _, brk = await alice.call("GET", path)
    assert brk["suspense"] == {"amount": "700", "moved_by": None}
    await _ledger_ok(stack)

    # Proposed by one, never approved by the same one.
    status, proposed = await alice.call(
        "POST", f"{path}/resolve", json={"action": "refund", "reason": "nobody claims it"}
    )
    assert status == 202 and proposed["proposal"]["action"] == "refund", proposed
    status, refused = await alice.call("POST", f"{path}/approve")
    assert status == 403 and refused["error"]["code"] == "same_person"

    # M-Pesa takes the reversal, but its Result never arrives.
    async with http.patch(f"{sim}/__sim/config", json={"lose_result_callbacks": 1}) as r:
        assert r.status == 200, await r.text()
    status, sent = await bob.call("POST", f"{path}/approve")
    assert status == 202, sent
    assert sent["status"] == "refunding"
    assert sent["refund"]["status"] == "sent" and sent["refund"]["sends"] == 1
    assert sent["refund"]["receipt"] == paid["trans_id"] and sent["refund"]["amount"] == "700"
    await asyncio.sleep(1.5)
    _, waiting = await alice.call("GET", path)
    assert waiting["status"] == "refunding"
    assert await _suspense(stack) == held  # nothing leaves suspense before M-Pesa says so
    await _ledger_ok(stack)

    # Approved again (not by the proposer): the same reversal; "already reversed" confirms it.
    status, refused = await alice.call("POST", f"{path}/approve")
    assert status == 403
    status, resent = await bob.call("POST", f"{path}/approve")
    assert status == 200 and resent["refund"]["sends"] == 2, resent
    done = await _break_becomes(alice, path, "resolved")
    assert done["refund"]["status"] == "succeeded" and done["refund"]["result_code"] == "R000001"
    assert done["suspense"] == {"amount": "700", "moved_by": f"{found['id']}:suspense:refund"}
    assert await _suspense(stack) == held - 70_000
    entry = await stack.state.cols.journal.find_one({"_id": f"{found['id']}:suspense:refund"})
    assert entry is not None and sum(line["amount"] for line in entry["lines"]) == 0
    await _ledger_ok(stack)
    # M-Pesa's side: two requests for the receipt, one reversal of it.
    reversals = await _sim(http, "GET", f"{sim}/__sim/initiator?kind=reversal")
    ours = [x["result_code"] for x in reversals if paid["trans_id"] in str(x["fields"])]
    assert sorted(map(str, ours)) == ["0", "R000001"], ours
    [reversed_payment] = await _sim(http, "GET", f"{sim}/__sim/c2b?shortcode={shortcode}")
    assert reversed_payment["reversed_by"], reversed_payment

    # Done once: no further approval, and a later run books and moves nothing again.
    status, _ = await bob.call("POST", f"{path}/approve")
    assert status == 409
    run_body["until"] = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    status, _ = await alice.call("POST", "/v1/operator/recon/runs", json=run_body)
    assert status == 201
    _, after = await alice.call("GET", path)
    assert after["status"] == "resolved"
    assert await _suspense(stack) == held - 70_000
    await _ledger_ok(stack)
    await _a_refund_answered_at_once(stack, http, alice, bob, shortcode, since)
    audit = [d async for d in stack.state.cols.audit.find({"target": f"recon_break:{found['id']}"})]
    assert {"recon.propose", "recon.refund", "recon.refund_resent", "recon.refund_succeeded"} <= {
        d["action"] for d in audit
    }


async def _a_refund_answered_at_once(
    stack: Stack,
    http: aiohttp.ClientSession,
    alice: Caller,
    bob: Caller,
    shortcode: str,
    since: datetime,
) -> None:
    """A second stranger, refunded with M-Pesa's Result arriving: resolved with the reversal's
    receipt, whose line on the organisation statement is the refund's, not a new break."""
    stranger = {"kind": "stranger", "amount": "300", "account": "NOBODY2", "shortcode": shortcode}
    await _sim(http, "POST", f"{stack.sim_url}/__sim/breaks", json=stranger)
    paid = [
        p
        for p in await _sim(http, "GET", f"{stack.sim_url}/__sim/c2b?shortcode={shortcode}")
        if p["bill_ref"] == "NOBODY2"
    ]
    await alice.call("POST", "/v1/operator/recon/pulls")
    until = datetime.now(UTC) + timedelta(seconds=1)
    run_body = {"sources": ["mpesa_pull"], "since": since.isoformat(), "until": until.isoformat()}
    _, run = await alice.call("POST", "/v1/operator/recon/runs", json=run_body)
    [found] = [b for b in run["breaks"] if b["key"] == paid[0]["trans_id"]]
    path = f"/v1/operator/recon/breaks/{found['id']}"
    held = await _suspense(stack)
    status, _ = await bob.call(
        "POST", f"{path}/resolve", json={"action": "refund", "reason": "nobody claims it"}
    )
    assert status == 202
    status, sent = await alice.call("POST", f"{path}/approve")
    assert status == 202, sent
    done = await _break_becomes(alice, path, "resolved")
    receipt = done["refund"]["reversal_receipt"]
    assert done["refund"]["status"] == "succeeded" and receipt and done["refund"]["sends"] == 1
    assert await _suspense(stack) == held - 30_000
    csv = await _sim(http, "GET", f"{stack.sim_url}/__sim/org-statement?shortcode={shortcode}")
    assert receipt.encode() in csv  # M-Pesa shows the reversal as money out
    async with http.post(
        f"{stack.api_url}/v1/operator/recon/statements?source=mpesa_statement"
        f"&shortcode={shortcode}",
        data=csv,
        headers={"Authorization": f"Bearer {alice.token}", "Content-Type": "text/csv"},
    ) as r:
        assert r.status == 200, await r.text()
    run_body = {**run_body, "sources": ["mpesa_statement"]}
    run_body["until"] = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    _, run = await alice.call("POST", "/v1/operator/recon/runs", json=run_body)
    assert receipt not in {b["key"] for b in run["breaks"]}, run["breaks"]
    await _ledger_ok(stack)
