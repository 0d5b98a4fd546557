"""M-Pesa B2C payouts through the public API: balances, reservations, faults that must never
pay twice. The session fixture's teardown then proves the journal and balances agree."""

from __future__ import annotations

import asyncio

import pytest

from app.stack import Stack

from .helpers import Api, unique_phone

pytestmark = pytest.mark.integration


async def _knobs(api: Api, sim: str, **knobs: object) -> None:
    async with api.http.patch(f"{sim}/__sim/config", json=knobs) as resp:
        assert resp.status == 200, await resp.text()


async def _sim_payouts(api: Api, sim: str, phone: str) -> list[dict]:
    async with api.http.get(f"{sim}/__sim/b2c", params={"phone": "254" + phone[1:]}) as r:
        return await r.json()


async def _fund(merchant: Api, shillings: int) -> None:
    """Collect money from a customer so the merchant has something to pay out."""
    paid = await merchant.pay(unique_phone(), amount=str(shillings))
    assert (await merchant.wait_for(paid["id"]))["status"] == "succeeded"


async def test_a_payout_beyond_the_balance_is_refused_and_sends_nothing(
    merchant: Api, sim: str
) -> None:
    phone = unique_phone()
    status, body = await merchant.payout(phone, amount="500")
    assert status == 422
    assert body["error"]["code"] == "insufficient_balance"
    assert "515" in body["error"]["message"]  # amount plus the KES 15 fee
    assert await _sim_payouts(merchant, sim, phone) == []
    assert (await merchant.balance())["available"] == "0"


async def test_a_payout_reserves_then_spends_the_balance(merchant: Api, sim: str) -> None:
    await _fund(merchant, 1000)  # 1.5 % fee: 985 available
    phone = unique_phone()
    status, created = await merchant.payout(phone, amount="500", command="SalaryPayment")
    assert status == 202, created
    assert created["object"] == "payout"
    assert created["fee"] == "15"
    assert (await merchant.balance())["reserved"] == "515"
    final = await merchant.for_payouts().wait_for(created["id"])
    assert final["status"] == "succeeded"
    assert final["provider"]["receipt"]
    assert final["recipient_name"]
    assert final["command"] == "SalaryPayment"
    assert await merchant.balance() == {
        "object": "balance",
        "currency": "KES",
        "available": "470",
        "reserved": "0",
    }
    [paid] = await _sim_payouts(merchant, sim, phone)
    assert paid["paid"] is True
    assert paid["originator_conversation_id"] == created["id"]
    # a payout is not a payment, and the other way round
    assert (await merchant.get(created["id"]))[0] == 404


async def test_a_failed_payout_releases_its_reservation(merchant: Api, sim: str) -> None:
    await _fund(merchant, 1000)
    status, created = await merchant.payout(unique_phone("2040"), amount="500")
    assert status == 202
    final = await merchant.for_payouts().wait_for(created["id"])
    assert final["status"] == "failed"
    assert final["failure"]["provider_code"] == "2040"
    assert await merchant.balance() == {
        "object": "balance",
        "currency": "KES",
        "available": "985",
        "reserved": "0",
    }


async def test_concurrent_payouts_never_take_the_balance_below_zero(merchant: Api) -> None:
    await _fund(merchant, 1000)  # 985: room for three payouts of 300 + 15
    answers = await asyncio.gather(*(merchant.payout(unique_phone(), "300") for _ in range(5)))
    assert sorted(status for status, _ in answers) == [202, 202, 202, 422, 422]
    for status, body in answers:
        if status == 202:
            await merchant.for_payouts().wait_for(body["id"])
    assert (await merchant.balance())["available"] == "40"


@pytest.mark.parametrize(
    "fault",
    [{"drop_sync_answer": 1}, {"lose_result_callbacks": 1}, {"duplicate_result_callbacks": 2}],
)
async def test_a_payout_whose_answer_is_lost_is_settled_by_status_never_resent(
    merchant: Api, sim: str, fault: dict
) -> None:
    await _fund(merchant, 1000)
    await _knobs(merchant, sim, **fault)
    phone = unique_phone()
    status, created = await merchant.payout(phone, amount="200")
    assert status == 202
    final = await merchant.for_payouts().wait_for(created["id"], within=30)
    assert final["status"] == "succeeded"
    payouts = await _sim_payouts(merchant, sim, phone)
    assert len(payouts) == 1  # one request reached M-Pesa: never sent again
    assert (await merchant.balance())["available"] == str(985 - 215)


async def test_a_queue_timeout_that_paid_nothing_fails_and_releases(
    merchant: Api, sim: str
) -> None:
    await _fund(merchant, 1000)
    phone = unique_phone("0408")
    status, created = await merchant.payout(phone, amount="200")
    assert status == 202
    final = await merchant.for_payouts().wait_for(created["id"], within=30)
    assert final["status"] == "failed"
    assert "no record" in final["failure"]["message"]
    assert (await merchant.balance())["available"] == "985"
    assert all(not p["paid"] for p in await _sim_payouts(merchant, sim, phone))


async def test_payout_validation(merchant: Api, stack: Stack) -> None:
    assert stack.state is not None
    for phone, change, field in [
        (unique_phone(), {"amount": "9"}, "amount"),
        ("0733000000", {}, "phone"),
        (unique_phone(), {"command": "Refund"}, "command"),
        (unique_phone(), {"remarks": "x"}, "remarks"),
    ]:
        status, body = await merchant.payout(phone, **change)
        assert status == 422, body
        assert field in [d["field"] for d in body["error"]["details"]]
    count = await stack.state.cols.payments.count_documents(
        {"merchant_id": merchant.merchant.merchant_id}
    )
    assert count == 0
