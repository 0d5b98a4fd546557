"""Dynamic M-Pesa QR codes through the public API on the real stack: a code for a claimed paybill
account (JSON with the image, and the PNG itself), read back module by module into what the
simulator encoded; a till or account the merchant has not claimed is refused before M-Pesa is
asked."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson
import pytest
import segno

from tests.unit.connectors.test_mpesa_qr import read_modules

from .helpers import Api

pytestmark = pytest.mark.integration


async def _register(api: Api, shortcode: str, accounts: dict[str, Any]) -> None:
    body = {"shortcode": shortcode, "accounts": accounts}
    async with api.http.put(f"{api.base}/v1/c2b/registration", json=body, headers=api.auth) as r:
        assert r.status == 200, await r.text()


async def _qr(api: Api, body: dict[str, Any], accept: str = "") -> tuple[int, bytes, str]:
    headers = {**api.auth, **({"Accept": accept} if accept else {})}
    async with api.http.post(f"{api.base}/v1/qr-codes", json=body, headers=headers) as r:
        return r.status, await r.read(), r.content_type


async def test_a_qr_code_for_a_claimed_paybill_account(merchant: Api, sim: str) -> None:
    shortcode = f"6{uuid.uuid4().int % 10**6:06d}"
    await _register(merchant, shortcode, {"type": "prefix", "prefix": "INV"})
    body = {
        "kind": "paybill",
        "shortcode": shortcode,
        "amount": "250",
        "reference": "INV-1001",
        "merchant_name": "Duka La Mama",
    }
    status, raw, kind = await _qr(merchant, body)
    assert (status, kind) == (200, "application/json"), raw
    answer = orjson.loads(raw)
    assert answer["payload"] == {
        "MerchantName": "Duka La Mama",
        "RefNo": "INV-1001",
        "Amount": 250,
        "TrxCode": "PB",
        "CPI": shortcode,
        "Size": "300",
    }
    png = base64.b64decode(answer["image_png"])
    text = f"MPESA|PB|{shortcode}|250|INV-1001|Duka La Mama"  # the simulator's content
    expected = [[bool(m) for m in row] for row in segno.make(text, error="m").matrix]
    assert read_modules(png) == expected
    # The PNG itself.
    status, image, kind = await _qr(merchant, body, accept="image/png")
    assert (status, kind) == (200, "image/png") and read_modules(image) == expected
    # An account outside the claim, or a till nobody claimed: refused, M-Pesa not asked.
    async with merchant.http.get(f"{sim}/__sim/qr") as r:
        made = len(await r.json())
    for change in ({"reference": "OTHER-1"}, {"kind": "till", "shortcode": "5999998"}):
        status, raw, _ = await _qr(merchant, {**body, **change})
        assert status == 422, raw
        assert orjson.loads(raw)["error"]["details"][0]["field"] == "shortcode"
    status, raw, _ = await _qr(merchant, {**body, "amount": "0"})
    assert status == 422 and b"amount" in raw
    async with merchant.http.get(f"{sim}/__sim/qr") as r:
        assert len(await r.json()) == made
