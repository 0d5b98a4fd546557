"""Invoices, QR codes and standing orders in ``python -m switch demo``: a paybill claimed and
opted in to Bill Manager, a dynamic QR code to pay it, an invoice its customer pays, and a monthly
standing order whose three runs the simulator plays when its calendar is moved on. Every row must
end paid or succeeded."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from datetime import date, timedelta
from typing import Any

import aiohttp

SHORTCODE = "600991"
WAIT_S = 30.0


async def run_bills(http: aiohttp.ClientSession, base: str, auth: dict[str, str], sim: str) -> bool:
    print("\ninvoices, QR codes, standing orders (Bill Manager, Dynamic QR, Ratiba):", flush=True)
    claim = {"shortcode": SHORTCODE, "accounts": {"type": "prefix", "prefix": "DEMO"}}
    await _call(http, "PUT", f"{base}/v1/c2b/registration", auth, claim)
    optin = {"shortcode": SHORTCODE, "email": "billing@duka.example",
             "official_contact": "0710000000", "send_reminders": True}  # fmt: skip
    await _call(http, "PUT", f"{base}/v1/invoices/settings", auth, optin)
    qr = await _call(http, "POST", f"{base}/v1/qr-codes", auth, {
        "kind": "paybill", "shortcode": SHORTCODE, "amount": "250", "reference": "DEMO-QR1",
        "merchant_name": "Demo Duka"})  # fmt: skip
    png = base64.b64decode(qr.get("image_png", ""))[:4] == b"\x89PNG"
    print(f"  dynamic QR code for paybill {SHORTCODE}, KES 250, DEMO-QR1: "
          f"{'PNG image' if png else 'no image'}, payload {qr.get('payload')}")  # fmt: skip
    due = date.today() + timedelta(days=7)
    invoice = await _call(http, "POST", f"{base}/v1/invoices", auth, {
        "external_reference": f"DEMO-{uuid.uuid4().hex[:8]}", "account_reference": "DEMO-INV1",
        "amount": "800", "due_date": due.isoformat(), "customer_name": "Wanjiku Kamau",
        "phone": "0712000700", "period": "This month", "name": "Water",
    }, key=True)  # fmt: skip
    pay = {"external_reference": invoice["external_reference"], "amount": 800}
    await _call(http, "POST", f"{sim}/__sim/billmanager/pay", {}, pay)
    today = date.fromisoformat((await _call(http, "GET", f"{sim}/__sim/clock", {}))["today"])
    start = today + timedelta(days=1)
    order = await _call(http, "POST", f"{base}/v1/standing-orders", auth, {
        "name": "Phone loan", "phone": "0712000701", "amount": "200", "frequency": "monthly",
        "start_date": start.isoformat(), "end_date": (start + timedelta(days=62)).isoformat(),
        "shortcode": SHORTCODE, "account_reference": "DEMO-SO1",
    }, key=True)  # fmt: skip
    order_url = f"{base}/v1/standing-orders/{order['id']}"
    await _until(http, order_url, auth, lambda o: o["status"] == "active")
    await _call(http, "POST", f"{sim}/__sim/clock/advance", {}, {"days": 70})
    paid = await _until(http, f"{base}/v1/invoices/{invoice['id']}", auth,
                        lambda i: i["status"] == "paid")  # fmt: skip
    done = await _until(http, order_url, auth, lambda o: o["status"] == "completed")
    runs = (await _call(http, "GET", f"{order_url}/runs", auth))["data"]
    ok = png and paid.get("status") == "paid" and [r["status"] for r in runs] == ["succeeded"] * 3
    print(f"  invoice of 800 to DEMO-INV1: {paid.get('status')} (paid {paid.get('paid')})")
    print(f"  standing order of 200 a month: {done.get('status')}, runs "
          + ", ".join(f"{r['due_date']} {r['status']}" for r in runs))  # fmt: skip
    return ok


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, auth: dict[str, str],
    body: Any = None, key: bool = False,
) -> dict[str, Any]:  # fmt: skip
    headers = {**auth, **({"Idempotency-Key": uuid.uuid4().hex} if key else {})}
    async with http.request(method, url, json=body, headers=headers) as resp:
        answer: dict[str, Any] = await resp.json()
        if resp.status >= 300:
            raise RuntimeError(f"{method} {url} refused: {resp.status} {answer}")
        return answer


async def _until(
    http: aiohttp.ClientSession, url: str, auth: dict[str, str], done: Any
) -> dict[str, Any]:
    deadline, seen = time.monotonic() + WAIT_S, {}
    while time.monotonic() < deadline:
        seen = await _call(http, "GET", url, auth)
        if done(seen):
            break
        await asyncio.sleep(0.3)
    return seen
