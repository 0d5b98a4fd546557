"""Transfers left ``refund_failed`` through the public API on the real stack: a run over the
``transfers`` source lists each as a break and nothing else; a retried refund goes out once
however often it is asked (its key comes from the break), a failed retry reopens the break, and
marking it refunded by hand needs evidence and a second operator. The journal balances after
each step."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from app.stack import Stack

from .helpers import Api
from .test_compliance import _operator
from .test_rails import _post, _wait, account, airtel_phone
from .test_recon import _ledger_ok

pytestmark = pytest.mark.integration

FINAL = ("succeeded", "failed", "refunded", "refund_failed")


async def _run(operator: Any, since: datetime) -> dict[str, Any]:
    window = {
        "since": since.isoformat(),
        "until": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
    }
    status, run = await operator.call(
        "POST", "/v1/operator/recon/runs", json={"sources": ["transfers"], **window}
    )
    assert status == 201, run
    return run


async def _mine(merchant: Api, transfer_id: str) -> bool:
    async with merchant.http.get(
        f"{merchant.base}/v1/transfers/{transfer_id}", headers=merchant.auth
    ) as resp:
        return resp.status == 200


async def test_a_refund_failed_transfer_is_retried_then_marked_refunded_by_two(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    # Airtel takes the money from ...1013 but refuses to pay it back; the bank account is unknown.
    body = {
        "amount": "700",
        "currency": "KES",
        "source": {"type": "airtel", "phone": airtel_phone("1013")},
        "destination": {"type": "bank", "bank_code": "68", "account_number": account("1001")},
        "reference": "TRF9",
    }
    status, created = await _post(merchant, "/v1/transfers", body)
    assert status == 202, created
    done = await _wait(merchant, f"/v1/transfers/{created['id']}", FINAL)
    assert done["status"] == "refund_failed", done
    owed = await merchant.balance()
    assert owed["available"] == "700"  # the payer's money, in the merchant's balance
    await _ledger_ok(stack)

    alice, bob = await _operator(stack, http), await _operator(stack, http)
    run = await _run(alice, since)
    # The run is switch-wide (other tests' transfers may be in its window): this merchant's
    # breaks are exactly its one transfer.
    ours = [b for b in run["breaks"] if await _mine(merchant, b["key"])]
    assert [(b["kind"], b["key"]) for b in ours] == [("refund_failed", created["id"])], run
    path = f"/v1/operator/recon/breaks/{ours[0]['id']}"
    status, brk = await alice.call("GET", path)
    assert (status, brk["switch_amount"], brk["provider"]) == (200, "700", "airtel"), brk

    # Only the refund resolutions fit it.
    status, refused = await alice.call(
        "POST", f"{path}/resolve", json={"action": "write_off", "reason": "not ours"}
    )
    assert (status, refused["error"]["code"]) == (409, "not_applicable"), refused

    # Retry: one payout back to the source, however often the request is repeated.
    retry = {"action": "retry_refund", "reason": "Airtel says the wallet is fixed"}
    answers = await asyncio.gather(
        *(alice.call("POST", f"{path}/resolve", json=retry) for _ in range(3))
    )
    assert sorted(s for s, _ in answers) == [200, 409, 409], answers
    resolved = next(b for s, b in answers if s == 200)
    assert resolved["status"] == "resolving", resolved
    payout_id = resolved["resolution"]["payout_id"]
    assert resolved["resolution"]["attempt"] == 1
    payout = await _wait(merchant, f"/v1/payouts/{payout_id}", FINAL)
    assert (payout["method"], payout["amount"], payout["status"]) == (
        "airtel_payout",
        "700",
        "failed",
    )
    await _ledger_ok(stack)
    # Airtel refused again: the next run opens the break again.
    await _run(bob, since)
    status, brk = await alice.call("GET", path)
    assert brk["status"] == "open", brk
    assert (await merchant.balance())["available"] == "700"

    # Marked refunded by hand: evidence, and a second operator.
    mark = {"action": "mark_refunded", "reason": "merchant refunded at the counter"}
    status, refused = await alice.call("POST", f"{path}/resolve", json=mark)
    assert status == 422 and refused["error"]["details"][0]["field"] == "evidence", refused
    status, proposed = await alice.call(
        "POST", f"{path}/resolve", json={**mark, "evidence": "cash receipt 4471, signed"}
    )
    assert status == 202 and proposed["proposal"]["evidence"] == "cash receipt 4471, signed"
    status, refused = await alice.call("POST", f"{path}/approve")
    assert (status, refused["error"]["code"]) == (403, "same_person"), refused
    status, done = await bob.call("POST", f"{path}/approve")
    assert status == 200 and done["status"] == "resolved", done
    status, again = await bob.call("POST", f"{path}/approve")
    assert status == 409, again
    # Nothing moved on the books: the balance is the merchant's again, and the journal balances.
    assert (await merchant.balance())["available"] == "700"
    await _ledger_ok(stack)
    # A later run finds it again but it stays resolved.
    await _run(alice, since)
    status, brk = await alice.call("GET", path)
    assert brk["status"] == "resolved", brk
    assert stack.state is not None
    trail = [
        d["action"]
        async for d in stack.state.cols.audit.find({"target": f"recon_break:{brk['id']}"})
    ]
    assert trail == ["recon.retry_refund", "recon.propose", "recon.mark_refunded"], trail
