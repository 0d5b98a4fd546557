"""Every rail through the public API against its simulator: Airtel Money collections and payouts,
PesaLink bank transfers (to an account and to a phone), smart routing with failover, transfers
between account kinds, and name lookups. The session teardown checks the books balance."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from app.stack import Stack

from .helpers import Api, for_up_to, unique_phone

pytestmark = pytest.mark.integration


def airtel_phone(suffix: str = "") -> str:
    """An Airtel number (073x) no other test uses; ``suffix`` picks a simulator trigger."""
    digits = f"{uuid.uuid4().int % 10**7:07d}"
    if suffix:
        digits = digits[: 7 - len(suffix)] + suffix
    elif digits[-4:].startswith(("1", "0", "4")):
        digits = digits[:-4] + "2" + digits[-3:]
    return "073" + digits


def account(suffix: str = "") -> str:
    digits = f"{uuid.uuid4().int % 10**10:010d}"
    if suffix:
        return digits[: 10 - len(suffix)] + suffix
    return digits[:-4] + "7" + digits[-3:]  # no trigger ends in 7xxx


async def _post(api: Api, path: str, body: dict[str, Any], key: str | None = None) -> Any:
    headers = {**api.auth, "Idempotency-Key": key or uuid.uuid4().hex}
    async with api.http.post(f"{api.base}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def _get(api: Api, path: str) -> tuple[int, dict[str, Any]]:
    async with api.http.get(f"{api.base}{path}", headers=api.auth) as resp:
        return resp.status, await resp.json()


async def _wait(api: Api, path: str, statuses: tuple[str, ...], within: float = 30.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        status, body = await _get(api, path)
        if status == 200 and body["status"] in statuses:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} still {status} {body}")
        await asyncio.sleep(0.2)


async def _fund(api: Api, shillings: int) -> None:
    paid = await api.pay(unique_phone(), amount=str(shillings))
    assert (await api.wait_for(paid["id"]))["status"] == "succeeded"


def _payout(method: str, amount: str = "500", **dest: Any) -> dict[str, Any]:
    return {"method": method, "amount": amount, "currency": "KES", "reference": "R1", **dest}


async def _sim(api: Api, url: str, path: str) -> Any:
    async with api.http.get(f"{url}{path}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _knobs(api: Api, url: str, **knobs: Any) -> None:
    async with api.http.patch(f"{url}/__sim/config", json=knobs) as resp:
        assert resp.status == 200, await resp.text()


# --- Airtel Money ----------------------------------------------------------------------------


async def test_an_airtel_collection_is_confirmed_and_credited(merchant: Api) -> None:
    body = {
        "method": "airtel_ussd",
        "amount": "200",
        "currency": "KES",
        "phone": airtel_phone(),
        "reference": "AIR1",
    }
    status, created = await _post(merchant, "/v1/payments", body)
    assert status == 202, created
    assert created["provider"]["name"] == "airtel"
    done = await merchant.wait_for(created["id"])
    assert done["status"] == "succeeded", done
    assert done["provider"]["receipt"]
    assert (await merchant.balance())["available"] == "197"  # 200 less 1.5 %


async def test_auto_collects_an_airtel_number_with_airtel(merchant: Api) -> None:
    body = {
        "method": "auto",
        "amount": "100",
        "currency": "KES",
        "phone": airtel_phone("1007"),
        "reference": "AIR2",
    }
    status, created = await _post(merchant, "/v1/payments", body)
    assert status == 202, created
    assert created["method"] == "airtel_ussd"
    assert created["routing"]["requested"] == "auto"
    assert "Airtel" in created["routing"]["reason"]
    done = await merchant.wait_for(created["id"])
    assert done["status"] == "failed"
    assert done["failure"]["code"] == "declined"
    assert (await merchant.balance())["available"] == "0"


async def test_an_airtel_payout_is_paid_and_a_refused_one_releases_the_money(
    merchant: Api,
) -> None:
    await _fund(merchant, 2000)  # 1970 available
    status, paid = await _post(merchant, "/v1/payouts", _payout("auto", phone=airtel_phone()))
    assert status == 202, paid
    assert paid["method"] == "airtel_payout"
    status, refused = await _post(
        merchant, "/v1/payouts", _payout("airtel_payout", phone=airtel_phone("1007"))
    )
    assert status == 202, refused
    ok = await merchant.for_payouts().wait_for(paid["id"])
    assert ok["status"] == "succeeded", ok
    bad = await merchant.for_payouts().wait_for(refused["id"])
    assert bad["status"] == "failed", bad
    # 1970 less 500 and the KES 15 fee; the refused payout's reservation went back.
    assert await merchant.balance() == {
        "object": "balance",
        "currency": "KES",
        "available": "1455",
        "reserved": "0",
    }


async def test_an_airtel_payout_still_in_process_settles_by_enquiry(merchant: Api) -> None:
    await _fund(merchant, 1000)
    status, created = await _post(
        merchant, "/v1/payouts", _payout("airtel_payout", phone=airtel_phone("1006"))
    )
    assert status == 202, created
    assert created["status"] in ("pending", "processing")
    done = await merchant.for_payouts().wait_for(created["id"])
    assert done["status"] == "succeeded", done


# --- PesaLink ----------------------------------------------------------------------------------


async def test_a_bank_transfer_names_the_holder_and_pays(merchant: Api, stack: Stack) -> None:
    await _fund(merchant, 3000)
    number = account()
    status, found = await _post(
        merchant, "/v1/lookups", {"bank": {"bank_code": "68", "account_number": number}}
    )
    assert status == 200, found
    holder = found["holder_name"]
    assert found["bank_name"]
    status, created = await _post(
        merchant,
        "/v1/payouts",
        _payout(
            "bank_transfer",
            "1500",
            bank={"bank_code": "68", "account_number": number, "account_name": holder},
        ),
    )
    assert status == 202, created
    assert created["destination"]["account_number"].endswith(number[-4:])
    assert number not in str(created)
    done = await merchant.for_payouts().wait_for(created["id"])
    assert done["status"] == "succeeded", done
    assert done["recipient_name"] == holder
    sent = await _sim(merchant, stack.sim_urls["pesalink"], f"/__sim/transfers/{created['id']}")
    assert sent


async def test_a_closed_account_is_refused_before_money_moves(merchant: Api, stack: Stack) -> None:
    await _fund(merchant, 1000)
    number = account("1004")
    status, found = await _post(
        merchant, "/v1/lookups", {"bank": {"bank_code": "68", "account_number": number}}
    )
    assert status == 422, found
    status, created = await _post(
        merchant,
        "/v1/payouts",
        _payout("bank_transfer", bank={"bank_code": "68", "account_number": number}),
    )
    assert status == 202, created
    done = await merchant.for_payouts().wait_for(created["id"])
    assert done["status"] == "failed"
    assert done["failure"]["code"] == "rejected"
    transfers = await _sim(merchant, stack.sim_urls["pesalink"], "/__sim/transfers")
    assert created["id"] not in str(transfers)
    assert (await merchant.balance())["reserved"] == "0"


async def test_a_name_that_does_not_match_the_holder_is_refused(merchant: Api) -> None:
    await _fund(merchant, 1000)
    bank = {"bank_code": "01", "account_number": account(), "account_name": "Nobody Atall"}
    status, created = await _post(merchant, "/v1/payouts", _payout("bank_transfer", bank=bank))
    assert status == 202, created
    done = await merchant.for_payouts().wait_for(created["id"])
    assert done["status"] == "failed"
    assert "name" in done["failure"]["message"].lower()


async def test_a_pending_bank_transfer_settles_later(merchant: Api) -> None:
    await _fund(merchant, 1000)
    bank = {"bank_code": "11", "account_number": account("5001")}
    status, created = await _post(merchant, "/v1/payouts", _payout("bank_transfer", bank=bank))
    assert status == 202, created
    done = await merchant.for_payouts().wait_for(created["id"], within=30)
    assert done["status"] == "succeeded", done


async def test_a_bank_outside_pesalink_is_a_clear_error(merchant: Api) -> None:
    bank = {"bank_code": "999", "account_number": "0123456789"}
    status, body = await _post(merchant, "/v1/payouts", _payout("bank_transfer", bank=bank))
    assert status == 422
    assert body["error"]["details"][0]["field"] == "bank.bank_code"


async def test_a_phone_can_be_paid_through_the_pesalink_directory(merchant: Api) -> None:
    await _fund(merchant, 1000)
    status, created = await _post(
        merchant,
        "/v1/payouts",
        _payout("bank_transfer", phone="0771234567"),  # Telkom
    )
    assert status == 202, created
    done = await merchant.for_payouts().wait_for(created["id"])
    assert done["status"] == "succeeded", done
    assert done["recipient_name"]


# --- routing -----------------------------------------------------------------------------------


async def test_auto_fails_over_to_pesalink_while_mpesa_is_down(
    merchant: Api, stack: Stack, sim: str
) -> None:
    await _fund(merchant, 3000)
    await _knobs(merchant, sim, outage=30)
    try:
        # Payouts on M-Pesa fail (nothing sent) until the breaker opens and the shard learns it.
        for _ in range(6):
            status, body = await _post(
                merchant, "/v1/payouts", _payout("mpesa_b2c", phone=unique_phone())
            )
            if status == 503:
                break
            await merchant.for_payouts().wait_for(body["id"])
        assert status == 503, body
        status, routed = await _post(merchant, "/v1/payouts", _payout("auto", phone=unique_phone()))
        assert status == 202, routed
        assert routed["method"] == "bank_transfer"
        assert routed["routing"]["reason"].startswith("failover:")
        done = await merchant.for_payouts().wait_for(routed["id"])
        assert done["status"] == "succeeded", done
    finally:
        await _knobs(merchant, sim, outage=0)
        await asyncio.sleep(2.5)  # the breaker's cool-down (test settings)


# --- transfers ---------------------------------------------------------------------------------


def _transfer(source: dict[str, Any], destination: dict[str, Any], amount: str = "700") -> Any:
    return {
        "amount": amount,
        "currency": "KES",
        "source": source,
        "destination": destination,
        "reference": "TRF1",
    }


async def test_a_wallet_to_bank_transfer(merchant: Api) -> None:
    body = _transfer(
        {"type": "mpesa", "phone": unique_phone()},
        {"type": "bank", "bank_code": "68", "account_number": account()},
    )
    key = uuid.uuid4().hex
    status, created = await _post(merchant, "/v1/transfers", body, key)
    assert status == 202, created
    assert created["object"] == "transfer"
    path = f"/v1/transfers/{created['id']}"
    done = await _wait(merchant, path, ("succeeded", "failed", "refunded", "refund_failed"))
    assert done["status"] == "succeeded", done
    assert set(done["legs"]) == {"debit", "credit"}
    assert done["legs"]["debit"]["method"] == "mpesa_stk"
    assert done["legs"]["credit"]["method"] == "bank_transfer"
    # The money passed through: nothing left behind, nothing taken.
    assert (await merchant.balance())["available"] == "0"
    again_status, again = await _post(merchant, "/v1/transfers", body, key)
    assert again_status == 202
    assert again["id"] == created["id"]


async def test_a_failed_credit_gives_the_money_back(merchant: Api) -> None:
    body = _transfer(
        {"type": "airtel", "phone": airtel_phone()},
        {"type": "bank", "bank_code": "68", "account_number": account("1001")},  # no such
    )
    status, created = await _post(merchant, "/v1/transfers", body)
    assert status == 202, created
    path = f"/v1/transfers/{created['id']}"
    done = await _wait(merchant, path, ("succeeded", "failed", "refunded", "refund_failed"))
    assert done["status"] == "refunded", done
    assert done["legs"]["refund"]["method"] == "airtel_payout"
    assert (await merchant.balance()) == {
        "object": "balance",
        "currency": "KES",
        "available": "0",
        "reserved": "0",
    }


async def test_a_declined_debit_moves_nothing(merchant: Api) -> None:
    body = _transfer(
        {"type": "mpesa", "phone": unique_phone("1032")},  # the customer cancels
        {"type": "airtel", "phone": airtel_phone()},
    )
    status, created = await _post(merchant, "/v1/transfers", body)
    assert status == 202, created
    done = await _wait(merchant, f"/v1/transfers/{created['id']}", ("failed",))
    assert set(done["legs"]) == {"debit"}


async def test_a_bank_account_is_a_source_only_at_a_hub_participant(merchant: Api) -> None:
    body = _transfer(
        {"type": "bank", "bank_code": "02", "account_number": account()},  # no participant
        {"type": "mpesa", "phone": unique_phone()},
    )
    status, refused = await _post(merchant, "/v1/transfers", body)
    assert status == 422
    assert refused["error"]["details"][0]["field"] == "source"
    assert "PesaLink only pushes" in refused["error"]["details"][0]["reason"]


async def test_a_merchant_can_prefer_pesalink_for_its_auto_payouts(stack: Stack) -> None:
    """Routing preferences are the merchant's own (PUT /v1/merchant/routing, a person with
    two-factor sign-in) and decide what auto picks first."""
    import aiohttp

    from .test_users import owner_with_totp

    async with aiohttp.ClientSession() as http:
        owner = await owner_with_totp(http, stack.api_url)
        prefs = {"prefer": ["bank_transfer"], "avoid": [], "failover": True}
        status, body, _ = await owner.call("PUT", "/v1/merchant/routing", prefs)
        assert status == 200, body
        assert body["prefer"] == ["bank_transfer"]
        key = {"Idempotency-Key": uuid.uuid4().hex}
        pay = {
            "method": "mpesa_stk",
            "amount": "900",
            "currency": "KES",
            "phone": unique_phone(),
            "reference": "FUND",
        }
        status, paid, _ = await owner.call("POST", "/v1/payments", pay, key)
        assert status == 202, paid
        for _ in for_up_to():
            status, shown, _ = await owner.call("GET", f"/v1/payments/{paid['id']}")
            if shown["status"] == "succeeded":
                break
            await asyncio.sleep(0.2)
        assert shown["status"] == "succeeded", shown
        key = {"Idempotency-Key": uuid.uuid4().hex}
        status, routed, _ = await owner.call(
            "POST", "/v1/payouts", _payout("auto", phone=unique_phone()), key
        )
        assert status == 202, routed
        assert routed["method"] == "bank_transfer"
        bad = {"prefer": ["carrier_pigeon"]}
        status, refused, _ = await owner.call("PUT", "/v1/merchant/routing", bad)
        assert status == 422, refused
