"""SACCO member accounts through the public API: deposits and loan disbursements to an API SACCO
and to a file SACCO (batch files out, result files in), member look-ups, a transfer out of a
member account, and members' paybill payments posted to their accounts."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app.stack import Stack

from .helpers import Api, for_up_to, unique_phone
from .test_c2b import _customer_pays, _shortcode

pytestmark = pytest.mark.integration


def member(suffix: str = "") -> str:
    digits = f"{uuid.uuid4().int % 10**7:07d}"
    if suffix:
        return digits[: 7 - len(suffix)] + suffix
    return digits[:-3] + "1" + digits[-2:]  # no trigger ends in 1xx


async def _post(api: Api, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    headers = {**api.auth, "Idempotency-Key": uuid.uuid4().hex}
    async with api.http.post(f"{api.base}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def _fund(api: Api, shillings: int) -> None:
    paid = await api.pay(unique_phone(), amount=str(shillings))
    assert (await api.wait_for(paid["id"]))["status"] == "succeeded"


async def _posting_for(stack: Stack, bill_ref: str) -> dict[str, Any]:
    """The SACCO posting the switch made for the C2B payment with this account reference."""
    assert stack.state is not None
    cols = stack.state.cols
    for _ in for_up_to():
        c2b = await cols.payments.find_one({"method": "mpesa_c2b", "reference": bill_ref})
        if c2b is not None:
            posting = await cols.payments.find_one(
                {"method": "sacco_posting", "metadata.c2b_payment": c2b["_id"]}
            )
            if posting is not None:
                return posting
        await asyncio.sleep(0.1)
    raise AssertionError(f"no SACCO posting for the C2B payment {bill_ref}")


def _sacco_payout(code: str, number: str, purpose: str = "deposit", amount: str = "400") -> Any:
    return {
        "method": "sacco",
        "amount": amount,
        "currency": "KES",
        "reference": "SAC1",
        "sacco": {"sacco_code": code, "member_number": number, "purpose": purpose},
    }


async def test_a_deposit_to_an_api_sacco_member(merchant: Api, stack: Stack) -> None:
    await _fund(merchant, 1000)
    number = member()
    status, found = await _post(
        merchant, "/v1/lookups", {"sacco": {"sacco_code": "STIMA", "member_number": number}}
    )
    assert status == 200, found
    status, created = await _post(merchant, "/v1/payouts", _sacco_payout("STIMA", number))
    assert status == 202, created
    done = await merchant.for_payouts().wait_for(created["id"])
    assert done["status"] == "succeeded", done
    assert done["recipient_name"] == found["name"]
    assert done["provider"]["receipt"]
    # 985 less 400 and the KES 10 SACCO fee
    assert (await merchant.balance())["available"] == "575"


async def file_sacco_loan(merchant: Api) -> dict[str, Any]:
    """A KES 1,500 loan disbursement through the file SACCO, succeeded."""
    await _fund(merchant, 2000)
    status, created = await _post(
        merchant, "/v1/payouts", _sacco_payout("WAUMINI", member(), "loan_disbursement", "1500")
    )
    assert status == 202, created
    done: dict[str, Any] = await merchant.for_payouts().wait_for(created["id"], within=30)
    assert done["status"] == "succeeded", done
    return done


async def test_a_loan_disbursement_through_a_file_sacco(merchant: Api) -> None:
    done = await file_sacco_loan(merchant)
    assert done["provider"]["conversation_id"]  # the batch file it travelled in


async def test_an_unknown_member_fails_and_releases_the_money(merchant: Api) -> None:
    await _fund(merchant, 1000)
    status, created = await _post(merchant, "/v1/payouts", _sacco_payout("STIMA", member("404")))
    assert status == 202, created
    done = await merchant.for_payouts().wait_for(created["id"])
    assert done["status"] == "failed", done
    assert (await merchant.balance())["reserved"] == "0"


async def test_an_unregistered_sacco_is_a_clear_error(merchant: Api) -> None:
    status, body = await _post(merchant, "/v1/payouts", _sacco_payout("NOSUCH", member()))
    assert status == 422
    assert body["error"]["details"][0]["field"] == "sacco.sacco_code"


async def test_a_transfer_from_a_member_account_to_a_wallet(merchant: Api) -> None:
    body = {
        "amount": "600",
        "currency": "KES",
        "reference": "TRF2",
        "source": {"type": "sacco", "sacco_code": "STIMA", "member_number": member()},
        "destination": {"type": "mpesa", "phone": unique_phone()},
    }
    status, created = await _post(merchant, "/v1/transfers", body)
    assert status == 202, created
    for _ in for_up_to(40):
        async with merchant.http.get(
            f"{merchant.base}/v1/transfers/{created['id']}", headers=merchant.auth
        ) as r:
            shown = await r.json()
        if shown["status"] in ("succeeded", "failed", "refunded", "refund_failed"):
            break
        await asyncio.sleep(0.2)
    assert shown["status"] == "succeeded", shown
    assert shown["legs"]["debit"]["method"] == "sacco_withdrawal"
    assert shown["legs"]["credit"]["method"] == "mpesa_b2c"
    assert (await merchant.balance())["available"] == "0"


async def test_a_members_paybill_payment_is_posted_to_the_member(
    merchant: Api, sim: str, stack: Stack
) -> None:
    assert stack.state is not None
    shortcode = _shortcode()
    body = {"shortcode": shortcode, "accounts": {"type": "any"}, "sacco_code": "STIMA"}
    async with merchant.http.put(
        f"{merchant.base}/v1/c2b/registration", json=body, headers=merchant.auth
    ) as resp:
        assert resp.status == 200, await resp.text()
    number = member()
    paid = await _customer_pays(merchant, sim, shortcode, number, "700")
    assert paid["validation"] == "accepted"
    refused = await _customer_pays(merchant, sim, shortcode, "not a member!", "700")
    assert refused["validation"] != "accepted"
    posting = await _posting_for(stack, number)
    done = await merchant.wait_for(posting["_id"])
    assert done["status"] == "succeeded", done
    assert done["object"] == "posting"
    assert done["amount"] == "700"
    # The SACCO already holds the money: the posting takes nothing from its balance.
    assert (await merchant.balance())["available"] == "689.50"


async def test_a_sacco_paybill_refuses_an_unknown_sacco(merchant: Api) -> None:
    body = {"shortcode": _shortcode(), "accounts": {"type": "any"}, "sacco_code": "NOSUCH"}
    async with merchant.http.put(
        f"{merchant.base}/v1/c2b/registration", json=body, headers=merchant.auth
    ) as resp:
        assert resp.status == 422
        assert (await resp.json())["error"]["details"][0]["field"] == "sacco_code"


async def test_a_loan_repayment_by_paybill_reduces_the_members_loan(
    merchant: Api, sim: str, stack: Stack
) -> None:
    assert stack.state is not None
    shortcode = _shortcode()
    body = {"shortcode": shortcode, "accounts": {"type": "any"}, "sacco_code": "STIMA"}
    async with merchant.http.put(
        f"{merchant.base}/v1/c2b/registration", json=body, headers=merchant.auth
    ) as resp:
        assert resp.status == 200, await resp.text()
    number = member()
    paid = await _customer_pays(merchant, sim, shortcode, f"{number}LN", "1200")
    assert paid["validation"] == "accepted"
    posting = await _posting_for(stack, f"{number}LN")
    assert posting["destination"]["purpose"] == "loan_repayment"
    done = await merchant.wait_for(posting["_id"])
    assert done["status"] == "succeeded", done
    async with merchant.http.get(
        f"{stack.sim_urls['sacco'].split('/fineract')[0]}/__sim/ledger"
    ) as resp:
        ledger = await resp.text()
    assert posting["_id"] in ledger


async def test_a_member_number_of_the_wrong_format_is_refused_before_money_moves(
    merchant: Api,
) -> None:
    await _fund(merchant, 500)
    status, body = await _post(merchant, "/v1/payouts", _sacco_payout("STIMA", "M-12"))
    assert status == 422, body
    assert body["error"]["details"][0]["field"] == "sacco.member_number"
    assert (await merchant.balance())["reserved"] == "0"
