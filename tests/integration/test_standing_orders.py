"""Standing orders (Ratiba) through the public API: consent, runs on the simulator's clock, each
run paid once (as a verified C2B payment) under duplicate callbacks, failed runs reported,
declined consent, cancellation, idempotency and webhooks."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from .conftest import Receiver
from .helpers import Api, for_up_to

pytestmark = pytest.mark.integration


async def _send(api: Api, method: str, path: str, body: Any = None, key: str | None = None):
    headers = {**api.auth, **({"Idempotency-Key": key} if key else {})}
    async with api.http.request(method, f"{api.base}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers.get("Idempotent-Replayed")


async def _until(api: Api, order_id: str, check, within: float = 30.0) -> dict:
    seen: dict = {}
    for _ in range(int(within * 10)):
        # The order first: its status follows from its runs, which only move forward, so runs
        # read after a final order are final too (read the other way round, they may lag).
        _, order, _ = await _send(api, "GET", f"/v1/standing-orders/{order_id}")
        _, seen, _ = await _send(api, "GET", f"/v1/standing-orders/{order_id}/runs")
        if check(order, seen["data"]):
            return {**order, "runs": seen["data"]}
        await asyncio.sleep(0.1)
    raise AssertionError(f"{order_id} never got there: {order} {seen}")


async def test_runs_are_paid_once_and_failures_reported(
    merchant: Api, receiver: Receiver, sim: str, http
) -> None:
    shortcode = f"8{uuid.uuid4().int % 10**6:06d}"
    claim = {"shortcode": shortcode, "accounts": {"type": "prefix", "prefix": "LN"}}
    assert (await _send(merchant, "PUT", "/v1/c2b/registration", claim))[0] == 200
    async with http.get(f"{sim}/__sim/clock") as resp:
        today = date.fromisoformat((await resp.json())["today"])
    start = today + timedelta(days=1)

    def order(phone: str, name: str, end_days: int = 62, **extra: Any) -> dict[str, Any]:
        return {"name": name, "phone": phone, "amount": "500", "frequency": "monthly",
                "start_date": start.isoformat(),
                "end_date": (start + timedelta(days=end_days)).isoformat(),
                "shortcode": shortcode, "account_reference": "LN-7", **extra}  # fmt: skip

    status, body, _ = await _send(
        merchant, "POST", "/v1/standing-orders", order("0712345678", "x", frequency="biweekly"), "b"
    )
    assert (status, body["error"]["details"][0]["field"]) == (422, "frequency")
    async with http.patch(f"{sim}/__sim/config", json={"duplicate_callbacks": 1}) as resp:
        assert resp.status == 200
    made = {}
    for phone, name in (("254712345678", "Loan"), ("254708370001", "Dues"),
                        ("254708371032", "Gym"), ("254712345679", "Club")):  # fmt: skip
        key = f"{name}-{uuid.uuid4().hex}"
        body = order(phone, name, 400 if name == "Club" else 62)
        status, made[name], _ = await _send(merchant, "POST", "/v1/standing-orders", body, key)
        assert (status, made[name]["status"]) == (201, "pending_consent"), made[name]
        status, again, replayed = await _send(merchant, "POST", "/v1/standing-orders", body, key)
        assert (status, again["id"], replayed) == (200, made[name]["id"], "true")

    ids = {name: o["id"] for name, o in made.items()}
    gym = await _until(merchant, ids["Gym"], lambda o, _r: o["status"] == "declined")
    assert gym["failure"]["provider_code"] == "1032"
    for name in ("Loan", "Dues", "Club"):
        await _until(merchant, ids[name], lambda o, _r: o["status"] == "active")
    status, club, _ = await _send(merchant, "POST", f"/v1/standing-orders/{ids['Club']}/cancel")
    assert (status, club["status"]) == (200, "cancelled")

    async with http.post(f"{sim}/__sim/clock/advance", json={"days": 70}) as resp:
        assert resp.status == 200

    loan = await _until(merchant, ids["Loan"], lambda o, _r: o["status"] == "completed")
    assert {r["status"] for r in loan["runs"]} == {"succeeded"}
    receipts = [r["receipt"] for r in loan["runs"]]
    assert len(loan["runs"]) == len(set(receipts)) == 3
    for run in loan["runs"]:
        status, payment = await merchant.get(run["payment_id"])
        assert (status, payment["status"], payment["amount"]) == (200, "succeeded", "500")
    dues = await _until(merchant, ids["Dues"], lambda o, _r: o["status"] == "completed")
    assert {(r["status"], r["failure_code"]) for r in dues["runs"]} == {("failed", "1")}
    status, failed, _ = await _send(
        merchant, "GET", f"/v1/standing-orders/{ids['Dues']}/runs?status=failed"
    )
    assert len(failed["data"]) == 3

    # Each run reported once to the merchant, whatever Ratiba and C2B sent twice.
    for _ in for_up_to():
        kinds = [(e["data"]["id"], e["type"]) for e in receiver.events.get(merchant.hook, [])
                 if e["type"].startswith("standing_order.")]  # fmt: skip
        if kinds.count((ids["Dues"], "standing_order.run_failed")) == 3 and (
            kinds.count((ids["Loan"], "standing_order.run_succeeded")) == 3
        ):
            break
        await asyncio.sleep(0.1)
    assert kinds.count((ids["Loan"], "standing_order.run_succeeded")) == 3, [
        (e["_webhook_id"], e["data"].get("run")) for e in receiver.events.get(merchant.hook, [])
    ]
    assert kinds.count((ids["Dues"], "standing_order.run_failed")) == 3
    assert (ids["Gym"], "standing_order.declined") in kinds
    assert (ids["Club"], "standing_order.cancelled") in kinds
    # Ratiba has no cancellation call: M-Pesa ran the cancelled order too. That money arrived, so
    # it is credited and recorded (never dropped), and the order stays cancelled.
    club = await _until(
        merchant, ids["Club"], lambda _o, r: sum(x["status"] == "succeeded" for x in r) == 3
    )
    assert club["status"] == "cancelled"
    assert (await merchant.balance())["available"] == "2955"  # 6 runs of 500, less 1.5 %
