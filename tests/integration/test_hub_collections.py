"""Merchants' collection accounts at the switch (issue 14, item 6) through the public API on the
real stack: a merchant is issued an account under the switch's bank code, a bank participant
finds it in the hub's directory and sends an ordinary hub transfer to it; the switch, as the
payee, accepts and, once the transfer is COMMITTED, credits the merchant once (a ``bank_credit``
payment with its fee, its journal entry and the payment.succeeded webhook), however often the
transfer is sent or driven again. A transfer to an unknown or closed account is refused before
anything is reserved. The session's journal check (conftest) proves the books balance."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import pytest

from api.hub_switch_payee import PAYEE
from app.stack import Stack
from switch.hub import collections as col
from switch.hub.reach import SWITCH_PARTICIPANT

from .conftest import Receiver
from .helpers import Api
from .test_hub import Bank, Hub, Notices, listening, operator_hub

pytestmark = pytest.mark.integration
ACCOUNT = "/v1/merchant/collection-account"


@pytest.fixture(scope="module")
async def notices() -> Any:
    async with listening(Notices()) as rec:
        yield rec


@pytest.fixture
async def hub(stack: Stack, http: aiohttp.ClientSession, notices: Notices) -> Hub:
    return await operator_hub(stack, http, notices)


async def _send(hub: Hub, bank: Bank, amount: str, account: str, key: str) -> Any:
    body = {
        "payee_participant": SWITCH_PARTICIPANT,
        "amount": amount,
        "currency": "KES",
        "party": {"type": "ACCOUNT", "id": account},
        "note": "INV-42",
    }
    return await hub.call("POST", "/v1/hub/transfers", bank.token, body, key=key)


async def _credited(receiver: Receiver, merchant: Api, within: float = 20.0) -> dict[str, Any]:
    """The merchant's one payment.succeeded webhook (polled with a deadline)."""
    deadline = time.monotonic() + within
    while True:
        events = [
            e for e in receiver.events.get(merchant.hook, []) if e["type"] == "payment.succeeded"
        ]
        if events:
            return events[0]
        assert time.monotonic() < deadline, "no payment.succeeded webhook"
        await asyncio.sleep(0.1)


async def test_a_bank_credit_to_a_collection_account_is_credited_once(
    stack: Stack, hub: Hub, merchant: Api, receiver: Receiver
) -> None:
    status, account = await hub.call("POST", ACCOUNT, merchant.token)
    assert (status, account["status"], account["bank_code"]) == (201, "active", "99"), account
    assert col.number_ok(account["account_number"])
    status, again = await hub.call("POST", ACCOUNT, merchant.token)
    assert (status, again["id"]) == (200, account["id"]), again  # one account per merchant

    bank = await hub.onboard("50000", "80000")
    status, found = await hub.call("GET", f"/v1/hub/parties/ACCOUNT/{account['id']}", bank.token)
    assert (status, found["participant"]) == (200, SWITCH_PARTICIPANT), found
    status, before = await hub.call("GET", "/v1/operator/hub/switch", hub.operator)
    assert status == 200, before

    key = uuid.uuid4().hex
    status, made = await _send(hub, bank, "1000", account["id"], key)
    assert (status, made["state"]) == (201, "RESERVED"), made
    event = await _credited(receiver, merchant)
    payment = event["data"]
    assert (payment["method"], payment["amount"], payment["fee"]) == ("bank_credit", "1000", "10")
    assert payment["provider"] == {"name": "hub", "receipt": made["id"], "result_code": None}
    assert payment["metadata"]["payer_bank"]["participant"] == bank.id
    assert payment["reference"] == "INV-42"
    status, transfer = await hub.call("GET", f"/v1/hub/transfers/{made['id']}", bank.token)
    assert (status, transfer["state"]) == (200, "COMMITTED"), transfer

    # The same request again, and the switch's payee driving it twice more, credit nothing more.
    status, replay = await _send(hub, bank, "1000", account["id"], key)
    assert (status, replay["id"], replay["state"]) == (200, made["id"], "COMMITTED"), replay
    payee = stack.runners[0].app[PAYEE]
    assert await payee.drive(made["id"]) == "committed"
    await payee.sweep()
    assert (await merchant.balance())["available"] == "990"
    assert [e["type"] for e in receiver.events[merchant.hook]] == ["payment.succeeded"]
    assert stack.state is not None
    journal = stack.state.cols.journal
    entries = [e async for e in journal.find({"payment_id": payment["id"]})]
    assert [e["kind"] for e in entries] == ["collection"]
    assert sum(line["amount"] for line in entries[0]["lines"]) == 0

    # The bank paid the scheme, the scheme owes the switch: positions moved by the amount.
    assert (await hub.position(bank))["position"] == "1000"
    status, after = await hub.call("GET", "/v1/operator/hub/switch", hub.operator)
    moved = float(after["position"]["position"]) - float(before["position"]["position"])
    assert moved == -1000, (before, after)


async def test_transfers_to_unknown_or_closed_accounts_are_refused_before_anything_moves(
    hub: Hub, merchant: Api
) -> None:
    bank = await hub.onboard("50000", "80000")
    unknown = f"99:{col.account_number(987_654_321)}"  # a valid number nobody was issued
    status, refused = await _send(hub, bank, "500", unknown, uuid.uuid4().hex)
    assert (status, refused["error"]["code"]) == (422, "payee_account_unknown"), refused
    assert refused["error"]["details"][0]["field"] == "party"
    typo = unknown[:-1] + str((int(unknown[-1]) + 1) % 10)  # a wrong check digit
    status, refused = await _send(hub, bank, "500", typo, uuid.uuid4().hex)
    assert (status, refused["error"]["code"]) == (422, "payee_account_unknown"), refused

    status, account = await hub.call("POST", ACCOUNT, merchant.token)
    assert status == 201, account
    status, closed = await hub.call("POST", f"{ACCOUNT}/close", merchant.token)
    assert (status, closed["status"]) == (200, "closed"), closed
    status, refused = await _send(hub, bank, "500", account["id"], uuid.uuid4().hex)
    assert (status, refused["error"]["code"]) == (422, "payee_account_closed"), refused
    status, _ = await hub.call("GET", f"/v1/hub/parties/ACCOUNT/{account['id']}", bank.token)
    assert status == 404  # no longer in the directory
    status, fresh = await hub.call("POST", ACCOUNT, merchant.token)
    assert (status, fresh["status"]) == (201, "active") and fresh["id"] != account["id"], fresh

    position = await hub.position(bank)
    assert (position["position"], position["reserved"]) == ("0", "0"), position
    assert (await merchant.balance())["available"] == "0"
