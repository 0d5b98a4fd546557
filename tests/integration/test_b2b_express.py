"""B2B Express Checkout through POST /v1/payments, on the real stack against the Daraja
simulator: the till operator pays (credited once, though every callback arrives twice), cancels
or fails KYC (nothing credited); a lost callback is settled by Transaction Status; a forged
success callback credits nobody (M-Pesa's record is asked first); bad bodies name the field."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest

from app.stack import Stack
from switch.signing import callback_token

from .helpers import Api, for_up_to

pytestmark = pytest.mark.integration


def _till(suffix: str) -> str:
    """A till of ours with the trigger's last four digits (seven digits at most: three free)."""
    return f"{100 + uuid.uuid4().int % 900}{suffix}"


def _body(till: str, amount: str = "1000", **extra: Any) -> dict[str, Any]:
    return {"method": "mpesa_b2b_express", "amount": amount, "currency": "KES",
            "till": {"till_number": till}, "reference": "SUPPLY77",
            "description": "Acme Supplies", **extra}  # fmt: skip


async def _create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    status, made, _ = await api.create(body, key=uuid.uuid4().hex)
    assert status == 202, made
    return made


async def _balance_is(api: Api, available: str) -> None:
    for _ in for_up_to():
        if (await api.balance())["available"] == available:
            return
        await asyncio.sleep(0.1)
    assert (await api.balance())["available"] == available


async def test_express_checkout_outcomes(merchant: Api, sim: str, stack: Stack, http) -> None:
    # Refused with the field named, nothing stored.
    status, body, _ = await merchant.create({**_body("500100"), "phone": "0712345678"}, key="x1")
    assert (status, body["error"]["details"][0]["field"]) == (422, "till"), body
    bad = {**_body("500100"), "till": None}
    status, body, _ = await merchant.create(bad, key="x2")
    assert status == 422, body

    async with http.patch(f"{sim}/__sim/config", json={"duplicate_callbacks": 1}) as resp:
        assert resp.status == 200
    paid = await _create(merchant, _body(_till("7001")))
    assert (paid["method"], paid["status"]) == ("mpesa_b2b_express", "pending"), paid
    cancelled = await _create(merchant, _body(_till("4001")))
    kyc = await _create(merchant, _body(_till("4102")))
    lost = await _create(merchant, _body(_till("0404"), amount="500"))

    done = await merchant.wait_for(paid["id"])
    assert (done["status"], done["amount"], done["fee"]) == ("succeeded", "1000", "15"), done
    assert done["provider"]["receipt"], done
    failed = await merchant.wait_for(cancelled["id"])
    assert (failed["status"], failed["failure"]["provider_code"]) == ("failed", "4001"), failed
    refused = await merchant.wait_for(kyc["id"])
    assert (refused["status"], refused["failure"]["provider_code"]) == ("failed", "4102")
    # No callback ever came: the sweep's Transaction Status (by our RequestRefID) settles it.
    recovered = await merchant.wait_for(lost["id"], within=30.0)
    assert recovered["status"] == "succeeded", recovered
    await _balance_is(merchant, "1477.50")  # 1,000 less 15 and 500 less 7.50; credited once

    async with http.get(f"{sim}/__sim/express") as resp:
        prompts = {p["request_ref_id"]: p for p in await resp.json()}
    assert prompts[paid["id"]]["callback_statuses"] == [200, 200]
    assert prompts[paid["id"]]["transaction_id"] == done["provider"]["receipt"]


async def test_a_forged_success_credits_nobody(merchant: Api, sim: str, stack: Stack, http) -> None:
    async with http.patch(f"{sim}/__sim/config", json={"callback_delay": 3.0}) as resp:
        assert resp.status == 200
    made = await _create(merchant, _body(_till("4001"), amount="2000"))
    assert stack.state is not None
    token = callback_token(stack.state.secret_key, made["id"])
    url = f"{stack.api_url}/callbacks/b2b-express/{made['id']}/{token}"
    forged = {"resultCode": "0", "resultDesc": "The service request is processed successfully.",
              "amount": "2000.0", "requestId": made["id"], "resultType": "0",
              "conversationID": "AG_20261206_000000000000", "transactionId": "UL6FAKE001",
              "status": "SUCCESS"}  # fmt: skip
    async with http.post(url, data=orjson.dumps(forged)) as resp:
        assert resp.status == 200  # taken as a claim: M-Pesa's record is asked
    other = {**forged, "requestId": "pay_s0_SOMEONEELSE"}
    async with http.post(url, data=orjson.dumps(other)) as resp:
        assert resp.status == 400  # names another request
    async with http.post(url[:-4] + "AAAA", data=orjson.dumps(forged)) as resp:
        assert resp.status == 404  # a wrong token
    _, now = await merchant.get(made["id"])
    assert now["status"] == "processing", now["failure"]
    failed = await merchant.wait_for(made["id"])
    assert (failed["status"], failed["failure"]["provider_code"]) == ("failed", "4001")
    assert (await merchant.balance())["available"] == "0"
