"""M-Pesa B2B (to a paybill, to a till) and tax remittance to KRA through the public API on the
real stack: fees and balances, the Daraja simulator's own record of what it paid, faults (lost,
duplicated and dropped answers, queue timeouts) that must never pay twice, validation that moves
nothing, and settlement to a nominated paybill. The session fixture's teardown then proves the
journal and balances agree."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest

from app.stack import Stack

from .helpers import Api, unique_phone
from .test_settlement import fund, people, schedule, wait_run

pytestmark = pytest.mark.integration


def _shortcode(suffix: str = "") -> str:
    """A fresh 7-digit shortcode whose last four digits pick a sandbox trigger (or none: ``7``
    fourth from the end dodges them all)."""
    digits = f"{uuid.uuid4().int % 10**6:06d}"
    code = digits[:3] + "7" + digits[3:]
    return code[: 7 - len(suffix)] + suffix if suffix else code


async def _send(merchant: Api, body: dict[str, Any], key: str = "") -> tuple[int, dict[str, Any]]:
    payload = {"amount": "500", "currency": "KES", "reference": "SUPPLIER1", **body}
    headers = {**merchant.auth, "Idempotency-Key": key or uuid.uuid4().hex}
    async with merchant.http.post(
        f"{merchant.base}/v1/payouts", json=payload, headers=headers
    ) as r:
        return r.status, await r.json()


async def _sim_b2b(merchant: Api, sim: str, party_b: str) -> list[dict[str, Any]]:
    async with merchant.http.get(f"{sim}/__sim/b2b", params={"party_b": party_b}) as r:
        assert r.status == 200
        found: list[dict[str, Any]] = await r.json()
        return found


async def _knobs(merchant: Api, sim: str, **knobs: object) -> None:
    async with merchant.http.patch(f"{sim}/__sim/config", json=knobs) as resp:
        assert resp.status == 200, await resp.text()


async def _fund(merchant: Api, shillings: int) -> None:
    paid = await merchant.pay(unique_phone(), amount=str(shillings))
    assert (await merchant.wait_for(paid["id"]))["status"] == "succeeded"


async def test_a_payment_to_a_paybill_reaches_its_account_once(merchant: Api, sim: str) -> None:
    await _fund(merchant, 1000)  # 1.5 % fee: 985 available
    paybill = _shortcode()
    body = {
        "method": "mpesa_b2b_paybill",
        "paybill": {"business_number": paybill, "account_reference": "INV-118"},
    }
    status, created = await _send(merchant, body)
    assert status == 202, created
    assert (created["object"], created["fee"]) == ("payout", "15")
    assert created["destination"] == body["paybill"]
    final = await merchant.for_payouts().wait_for(created["id"])
    assert final["status"] == "succeeded", final
    assert final["provider"]["receipt"]
    assert final["recipient_name"] == f"{paybill} - Business {paybill}"
    [paid] = await _sim_b2b(merchant, sim, paybill)
    assert (paid["command_id"], paid["occasion"], paid["amount"]) == (
        "BusinessPayBill",
        "INV-118",
        500,
    )
    assert paid["originator_conversation_id"] == created["id"] and paid["paid"] is True
    assert (await merchant.balance())["available"] == str(985 - 515)


async def test_a_payment_to_a_till_and_auto_routing_by_destination(merchant: Api, sim: str) -> None:
    await _fund(merchant, 1000)
    till = _shortcode()
    status, created = await _send(merchant, {"method": "auto", "till": {"till_number": till}})
    assert status == 202, created
    assert created["routing"]["method"] == "mpesa_b2b_till", created
    final = await merchant.for_payouts().wait_for(created["id"])
    assert final["status"] == "succeeded", final
    [paid] = await _sim_b2b(merchant, sim, till)
    assert (paid["command_id"], paid["occasion"]) == ("BusinessBuyGoods", "")


async def test_tax_is_remitted_to_kra_against_its_prn_and_a_bad_prn_moves_nothing(
    merchant: Api, sim: str
) -> None:
    await _fund(merchant, 1000)
    prn = f"PRN{uuid.uuid4().int % 10**8:08d}7"
    status, created = await _send(merchant, {"method": "mpesa_tax", "tax": {"prn": prn}})
    assert status == 202, created
    final = await merchant.for_payouts().wait_for(created["id"])
    assert final["status"] == "succeeded", final
    assert final["recipient_name"] == "572572 - Kenya Revenue Authority"
    mine = [p for p in await _sim_b2b(merchant, sim, "572572") if p["occasion"] == prn]
    assert [(p["command_id"], p["amount"]) for p in mine] == [("PayTaxToKRA", 500)]
    before = await merchant.balance()
    for body, field in [
        ({"method": "mpesa_tax", "tax": {"prn": "prn-1"}}, "tax.prn"),
        ({"method": "mpesa_tax", "phone": "0712000000"}, "phone"),
        ({"method": "mpesa_b2b_till", "paybill": {"business_number": "88888"}}, "paybill"),
        (
            {
                "method": "mpesa_b2b_paybill",
                "paybill": {"business_number": "888880", "account_reference": "X" * 14},
            },
            "paybill.account_reference",
        ),
    ]:
        status, refused = await _send(merchant, body)
        assert status == 422, refused
        fields = [d["field"] for d in refused["error"]["details"]]
        assert any(f.startswith(field) for f in fields), (field, refused)
    assert await merchant.balance() == before  # nothing reserved, nothing sent


@pytest.mark.parametrize(
    "fault",
    [{"drop_sync_answer": 1}, {"lose_result_callbacks": 1}, {"duplicate_result_callbacks": 2}],
)
async def test_a_b2b_payment_whose_answer_is_lost_is_settled_by_status_never_resent(
    merchant: Api, sim: str, fault: dict[str, int]
) -> None:
    await _fund(merchant, 1000)
    await _knobs(merchant, sim, **fault)
    paybill = _shortcode()
    body = {
        "method": "mpesa_b2b_paybill",
        "amount": "200",
        "paybill": {"business_number": paybill, "account_reference": "ACC1"},
    }
    status, created = await _send(merchant, body)
    assert status == 202, created
    final = await merchant.for_payouts().wait_for(created["id"], within=30)
    assert final["status"] == "succeeded", final
    assert len(await _sim_b2b(merchant, sim, paybill)) == 1  # one request reached M-Pesa
    await asyncio.sleep(0.5)  # a late duplicate Result changes nothing
    assert (await merchant.balance())["available"] == str(985 - 215)


async def test_a_queue_timeout_that_paid_nothing_fails_and_releases(
    merchant: Api, sim: str
) -> None:
    await _fund(merchant, 1000)
    till = _shortcode("0408")
    status, created = await _send(
        merchant, {"method": "mpesa_b2b_till", "till": {"till_number": till}}
    )
    assert status == 202, created
    final = await merchant.for_payouts().wait_for(created["id"], within=30)
    assert final["status"] == "failed", final
    assert (await merchant.balance())["available"] == "985"
    assert all(not p["paid"] for p in await _sim_b2b(merchant, sim, till))


async def test_a_declined_b2b_payment_releases_its_reservation(merchant: Api) -> None:
    await _fund(merchant, 1000)
    status, created = await _send(
        merchant, {"method": "mpesa_b2b_till", "till": {"till_number": _shortcode("0001")}}
    )
    assert status == 202, created
    final = await merchant.for_payouts().wait_for(created["id"])
    assert (final["status"], final["failure"]["provider_code"]) == ("failed", "1"), final
    assert (await merchant.balance())["available"] == "985"


async def test_settlement_to_a_nominated_paybill(
    stack: Stack, http: aiohttp.ClientSession, sim: str
) -> None:
    owner, finance, payer = await people(stack, http)
    await fund(payer, 3000)  # 2,955 available
    await schedule(owner)
    paybill = _shortcode()
    account = {"business_number": paybill, "account_reference": "SETTLE-1"}
    status, proposed, _ = await owner.call(
        "PUT", "/v1/settlement/account", {"kind": "paybill", "paybill": account}
    )
    assert status == 202, proposed
    assert proposed["pending_change"]["business_number"] == paybill
    change = proposed["pending_change"]["change_id"]
    status, confirmed, _ = await finance.call(
        "POST", "/v1/settlement/account/confirm", {"change_id": change}
    )
    assert status == 200, confirmed
    await asyncio.sleep(2.1)  # the test stack's cooling-off
    status, started, _ = await owner.call("POST", "/v1/settlements")
    assert status == 201, started
    run = await wait_run(owner, started["id"])
    assert (run["status"], run["method"]) == ("succeeded", "mpesa_b2b_paybill"), run
    assert (run["amount"], run["fee"]) == ("2940", "15")
    async with http.get(f"{sim}/__sim/b2b", params={"party_b": paybill}) as resp:
        [paid] = await resp.json()
    assert (paid["amount"], paid["occasion"], paid["paid"]) == (2940, "SETTLE-1", True)
    assert paid["originator_conversation_id"] == run["payout_id"]
    status, balance, _ = await owner.call("GET", "/v1/balance")
    assert (balance["available"], balance["reserved"]) == ("0", "0")
