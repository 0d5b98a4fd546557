"""The switch as a hub participant (issue 14, item 6) through the public API on the real stack: a
bank sends to an M-Pesa phone and a SACCO member account (parties no participant holds, which the
switch reaches with its own rails); the switch pays out from the hub float merchant (the B2C and
SACCO simulators) and commits the hub transfer when the payout succeeded, aborts and releases
when it failed; the same request again pays nothing more; a party the switch does not reach is
refused before anything moves. The session's journal check (conftest) proves every move was
double entry: the bank's position, the switch's, and the float merchant's payouts."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from api.hub_switch_payee import PAYEE
from app.stack import Stack
from switch.hub.reach import SWITCH_PARTICIPANT

from .helpers import Api, unique_phone
from .test_hub import Bank, Hub, Notices, listening, operator_hub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def notices() -> AsyncIterator[Notices]:
    async with listening(Notices()) as rec:
        yield rec


@pytest.fixture
async def hub(stack: Stack, http: aiohttp.ClientSession, notices: Notices) -> Hub:
    return await operator_hub(stack, http, notices)


@pytest.fixture
async def float_merchant(hub: Hub, merchant: Api) -> Api:
    """A merchant funded with test money and named the hub float by the operator."""
    status, funded = await hub.call(
        "POST", "/v1/sandbox/fund", merchant.token, {"amount": "20000"}, key=uuid.uuid4().hex
    )
    assert status in (200, 201), funded
    body = {"float_merchant": merchant.merchant.merchant_id}
    status, switch = await hub.call("PUT", "/v1/operator/hub/switch", hub.operator, body)
    assert (status, switch["float_merchant"]) == (200, merchant.merchant.merchant_id), switch
    return merchant


async def _switch(hub: Hub) -> dict[str, Any]:
    status, body = await hub.call("GET", "/v1/operator/hub/switch", hub.operator)
    assert status == 200, body
    return body


async def _final(hub: Hub, bank: Bank, transfer_id: str, within: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status, body = await hub.call("GET", f"/v1/hub/transfers/{transfer_id}", bank.token)
        assert status == 200, body
        if body["state"] != "RESERVED":
            return body
        assert time.monotonic() < deadline, f"{transfer_id} still reserved: {body}"
        await asyncio.sleep(0.1)


async def _b2c(hub: Hub, sim: str, phone: str) -> list[dict[str, Any]]:
    async with hub.http.get(f"{sim}/__sim/b2c", params={"phone": "254" + phone[1:]}) as r:
        assert r.status == 200
        return list(await r.json())


async def _send(hub: Hub, bank: Bank, amount: str, party: dict[str, str], key: str) -> Any:
    body = {
        "payee_participant": SWITCH_PARTICIPANT,
        "amount": amount,
        "currency": "KES",
        "party": party,
    }
    return await hub.call("POST", "/v1/hub/transfers", bank.token, body, key=key)


async def test_a_bank_pays_an_mpesa_phone_once_through_the_switch(
    hub: Hub, float_merchant: Api, sim: str
) -> None:
    bank = await hub.onboard("50000", "80000")
    phone = unique_phone()
    status, found = await hub.call("GET", f"/v1/hub/parties/MSISDN/{phone}", bank.token)
    assert (status, found["participant"]) == (200, SWITCH_PARTICIPANT), found
    before = await float_merchant.balance()
    switch_before = await _switch(hub)

    key = uuid.uuid4().hex
    status, made = await _send(hub, bank, "500", {"type": "MSISDN", "id": phone}, key)
    assert (status, made["state"]) == (201, "RESERVED"), made
    done = await _final(hub, bank, made["id"])
    assert (done["state"], done["detail"]) == ("COMMITTED", "committed"), done
    paid = await _b2c(hub, sim, phone)
    assert [p["amount"] for p in paid] == [500], paid

    # The same request again answers the same transfer and pays nothing more.
    status, again = await _send(hub, bank, "500", {"type": "MSISDN", "id": phone}, key)
    assert (status, again["id"], again["state"]) == (200, made["id"], "COMMITTED"), again
    assert len(await _b2c(hub, sim, phone)) == 1

    position = await hub.position(bank)
    assert (position["position"], position["reserved"]) == ("500", "0"), position
    switch = await _switch(hub)
    moved = float(switch["position"]["position"]) - float(switch_before["position"]["position"])
    assert moved == -500, (switch_before, switch)  # the scheme owes the switch what it paid
    after = await float_merchant.balance()
    spent = int(before["available"]) - int(after["available"])
    assert spent == 500 + 15, (before, after)  # the payout and its B2C fee, from the float
    assert switch["float_balance"]["available"] == after["available"]


async def test_a_failed_payout_aborts_and_releases_the_reservation(
    hub: Hub, float_merchant: Api, sim: str
) -> None:
    bank = await hub.onboard("50000", "80000")
    phone = unique_phone("2040")  # M-Pesa: the recipient is not a registered customer
    before = await float_merchant.balance()
    status, made = await _send(hub, bank, "700", {"type": "MSISDN", "id": phone}, "k1")
    assert status == 201, made
    done = await _final(hub, bank, made["id"])
    assert done["state"] == "ABORTED", done
    assert done["history"][-1]["state"] == "aborted_rejected", done
    position = await hub.position(bank)
    assert (position["position"], position["reserved"]) == ("0", "0"), position
    after = await float_merchant.balance()
    assert after["available"] == before["available"], (before, after)


async def test_a_bank_pays_a_sacco_member_and_unreached_parties_are_refused(
    hub: Hub, float_merchant: Api
) -> None:
    bank = await hub.onboard("50000", "80000")
    member = {"type": "SACCO", "id": "STIMA:10001"}
    status, made = await _send(hub, bank, "300", member, uuid.uuid4().hex)
    assert status == 201, made
    done = await _final(hub, bank, made["id"])
    assert done["state"] == "COMMITTED", done
    assert (await hub.position(bank))["position"] == "300"

    for party in (
        {"type": "MSISDN", "id": "0771000111"},  # Telkom: no rail of the switch's
        {"type": "SACCO", "id": "NOSUCH:10001"},
    ):
        status, refused = await _send(hub, bank, "100", party, uuid.uuid4().hex)
        assert status == 422, refused
        assert refused["error"]["details"][0]["field"] == "party", refused
    body = {"float_merchant": "mch_00000000000000000000000000"}
    status, bad = await hub.call("PUT", "/v1/operator/hub/switch", hub.operator, body)
    assert (status, bad["error"]["details"][0]["field"]) == (422, "float_merchant"), bad
    status, gone = await hub.call("GET", "/v1/hub/parties/MSISDN/0771000111", bank.token)
    assert status == 404, gone
    position = await hub.position(bank)
    assert (position["position"], position["reserved"]) == ("300", "0"), position


@pytest.mark.parametrize("fault", [{"drop_sync_answer": 1}, {"lose_result_callbacks": 1}])
async def test_a_payout_whose_answer_is_lost_commits_once_when_its_recovery_knows(
    hub: Hub, float_merchant: Api, sim: str, fault: dict[str, int]
) -> None:
    """M-Pesa paid but the switch did not hear it: the transfer stays reserved (not aborted, not
    paid again) until the payout's own recovery (Transaction Status) settles it."""
    bank = await hub.onboard("50000", "80000")
    async with hub.http.patch(f"{sim}/__sim/config", json=fault) as resp:
        assert resp.status == 200, await resp.text()
    phone = unique_phone()
    status, made = await _send(hub, bank, "400", {"type": "MSISDN", "id": phone}, "lost-1")
    assert status == 201, made
    done = await _final(hub, bank, made["id"], within=45)
    assert done["state"] == "COMMITTED", done
    assert len(await _b2c(hub, sim, phone)) == 1  # never sent again
    position = await hub.position(bank)
    assert (position["position"], position["reserved"]) == ("400", "0"), position


async def test_a_transfer_whose_driver_was_lost_is_resumed_by_the_pass(
    stack: Stack, hub: Hub, float_merchant: Api, sim: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The api process answered the bank and lost its driving task (a crash): the periodic
    pass, in any api process, finds the reserved transfer and pays it once."""
    [runner] = stack.runners[:1]
    payee = runner.app[PAYEE]
    monkeypatch.setattr(payee, "start", lambda _transfer_id: None)
    bank = await hub.onboard("50000", "80000")
    phone = unique_phone()
    status, made = await _send(hub, bank, "600", {"type": "MSISDN", "id": phone}, "resume-1")
    assert (status, made["state"]) == (201, "RESERVED"), made
    assert await _b2c(hub, sim, phone) == []  # nobody drove it
    monkeypatch.undo()
    done = await _final(hub, bank, made["id"], within=30)  # the next pass (every 5 s)
    assert done["state"] == "COMMITTED", done
    assert len(await _b2c(hub, sim, phone)) == 1


async def test_a_payout_the_float_cannot_pay_is_refused_and_the_transfer_aborts(
    hub: Hub, merchant: Api, sim: str
) -> None:
    body = {"float_merchant": merchant.merchant.merchant_id}  # a float with no money
    status, switch = await hub.call("PUT", "/v1/operator/hub/switch", hub.operator, body)
    assert status == 200, switch
    bank = await hub.onboard("50000", "80000")
    phone = unique_phone()
    status, made = await _send(hub, bank, "800", {"type": "MSISDN", "id": phone}, "poor-1")
    assert status == 201, made
    done = await _final(hub, bank, made["id"])
    assert done["state"] == "ABORTED", done
    assert done["history"][-1]["reason"].startswith("payout refused"), done
    assert await _b2c(hub, sim, phone) == []
    position = await hub.position(bank)
    assert (position["position"], position["reserved"]) == ("0", "0"), position
