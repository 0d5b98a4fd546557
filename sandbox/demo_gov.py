"""Government collections in ``python -m switch demo``: an agency (a merchant of kind
government) issues a payment reference payable in instalments; the simulated customers pay one
instalment, too little, and to a reference that does not exist. Validation refuses the last two
before any money moves; the first is counted, with a receipt."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import aiohttp

from infra.merchants import create_merchant
from infra.storage.mongo import Collections
from sandbox.demo_bills import _call, _until

SHORTCODE = "600992"


async def run_gov(http: aiohttp.ClientSession, base: str, sim: str, cols: Collections) -> bool:
    print("\ngovernment collections (payment references on an agency's paybill):", flush=True)
    agency = await create_merchant(cols, "Demo County Revenue", None, kind="government")
    form = {"grant_type": "client_credentials", "client_id": agency.client_id,
            "client_secret": agency.client_secret}  # fmt: skip
    async with http.post(f"{base}/v1/oauth/token", data=form) as resp:
        auth = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}
    claim = {"shortcode": SHORTCODE, "response_type": "Cancelled"}
    await _call(http, "PUT", f"{base}/v1/c2b/registration", auth, claim)
    paybill = {"shortcode": SHORTCODE, "agency_name": "Demo County Revenue"}
    await _call(http, "PUT", f"{base}/v1/gov/paybill", auth, paybill)
    prn = f"LR{uuid.uuid4().hex[:8].upper()}"
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    ref = await _call(http, "POST", f"{base}/v1/gov/references", auth, {
        "prn": prn, "revenue_head": "Land rates", "amount": "1500", "expires_at": expires,
        "payer": {"name": "Achieng Otieno"},
        "partial_payments": {"mode": "instalments", "instalments": 3},
    }, key=True)  # fmt: skip
    tries = [(prn, 500), (prn, 100), ("NO-SUCH-PRN", 500)]
    paid = [await _pay(http, sim, account, amount) for account, amount in tries]
    seen = await _until(http, f"{base}/v1/gov/references/{ref['id']}", auth,
                        lambda r: r["paid"] == "500")  # fmt: skip
    for (account, amount), answer in zip(tries, paid, strict=True):
        code = answer.get("validation_result_code")
        print(f"  pay {amount} to {account}: {answer.get('state')} (validation {code})")
    print(f"  reference {prn} of 1500: {seen['status']}, paid {seen['paid']}, receipt "
          + ", ".join(p["receipt_number"] for p in seen["payments"]))  # fmt: skip
    states = [p.get("state") for p in paid]
    return states == ["completed", "rejected", "rejected"] and seen["status"] == "partially_paid"


async def _pay(http: aiohttp.ClientSession, sim: str, account: str, amount: int) -> dict[str, str]:
    order = {"shortcode": SHORTCODE, "amount": amount, "msisdn": "254712000800",
             "bill_ref": account, "command_id": "CustomerPayBillOnline"}  # fmt: skip
    async with http.post(f"{sim}/__sim/c2b/pay", json=order) as resp:
        answer: dict[str, str] = await resp.json()
        return answer
