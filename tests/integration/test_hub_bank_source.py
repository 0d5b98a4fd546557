"""A bank account as a transfer's source (issue 14, item 6) through the public API on the real
stack: the debit leg is a signed request to pay to the payer's bank, a hub participant; the test
plays the bank (its endpoint answers the request, then it pays with an ordinary hub transfer to
the merchant's collection account quoting the reference). The payment pays the leg, the saga
pays an M-Pesa wallet, and the merchant's balance ends where it started; a declined or unpaid
request fails the transfer with nothing moved; a second payment quoting the same reference is an
ordinary bank_credit, never the leg again; a bank that is no participant is refused (422). The
session's journal check (conftest) proves the books balance."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from api.hub_switch_payee import PAYEE
from app.stack import Stack
from connectors.banks.simulator import book
from connectors.banks.simulator.app import SIMULATOR, create_app
from connectors.banks.simulator.config import SimConfig
from switch.hub.reach import SWITCH_PARTICIPANT
from switch.signing import verify_webhook
from tests.simharness import serving

from .helpers import Api, unique_phone
from .test_hub import Bank, Hub, Notices, listening, operator_hub

pytestmark = pytest.mark.integration
CODE = "07"  # the payer bank's code (NCBA): no other test onboards it
DECLINE = "0013"  # an account number ending so: the bank declines (_account never does)


@dataclass
class Desk(Notices):
    """The bank's endpoint: records each request to pay; declines those for accounts ending
    in :data:`DECLINE` (422 with a reason), accepts the others (202)."""

    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        name = request.match_info["name"]
        if not verify_webhook(self.secrets.get(name, ""), request.headers, body):
            self.bad += 1
            return web.Response(status=400)
        event = orjson.loads(body)
        if event["type"] != "hub.request_to_pay":
            return web.Response(status=204)
        self.requests.append(event["data"])
        if event["data"]["debtor"]["account_number"].endswith(DECLINE):
            return web.json_response({"reason": "customer declined"}, status=422)
        return web.Response(status=202)

    async def request_for(self, leg_id: str, within: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            found = [r for r in self.requests if r["reference"] == leg_id]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no request to pay for {leg_id}"
            await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def desk() -> AsyncIterator[Desk]:
    async with listening(Desk()) as rec:
        yield rec


_PAYER: dict[str, Bank] = {}


@pytest.fixture
async def hub(stack: Stack, http: aiohttp.ClientSession, desk: Desk) -> Hub:
    return await operator_hub(stack, http, desk)


@pytest.fixture
async def payer(hub: Hub) -> Bank:
    """The payer bank, onboarded once for the module (its bank code is unique)."""
    if CODE not in _PAYER:
        _PAYER[CODE] = await hub.onboard("500000", "500000", bank_code=CODE)
    return _PAYER[CODE]


def _account(suffix: str = "") -> str:
    """A payer account; no suffix: one the PesaLink simulator pays (no trigger ends in 7xxx)."""
    digits = f"{uuid.uuid4().int % 10**10:010d}"
    return digits[: 10 - len(suffix)] + suffix if suffix else digits[:-4] + "7" + digits[-3:]


async def _start(
    merchant: Api, amount: str, account: str, code: str = CODE, phone: str = "", key: str = ""
) -> tuple[int, dict[str, Any]]:
    body = {
        "amount": amount,
        "currency": "KES",
        "reference": "RTP1",
        "source": {"type": "bank", "bank_code": code, "account_number": account},
        "destination": {"type": "mpesa", "phone": phone or unique_phone()},
    }
    headers = {**merchant.auth, "Idempotency-Key": key or uuid.uuid4().hex}
    async with merchant.http.post(f"{merchant.base}/v1/transfers", json=body, headers=headers) as r:
        return r.status, await r.json()


async def _transfer(merchant: Api, tid: str, statuses: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 25.0
    while True:
        async with merchant.http.get(
            f"{merchant.base}/v1/transfers/{tid}", headers=merchant.auth
        ) as r:
            body: dict[str, Any] = await r.json()
        if r.status == 200 and body["status"] in statuses:
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.1)


async def _pay(hub: Hub, bank: Bank, request: dict[str, Any], key: str, **change: str) -> Any:
    """The bank pays a request to pay: an ordinary hub transfer to the creditor account."""
    body = {
        "payee_participant": SWITCH_PARTICIPANT,
        "amount": request["amount"],
        "currency": "KES",
        "party": request["creditor"],
        "note": request["reference"],
        **change,
    }
    return await hub.call("POST", "/v1/hub/transfers", bank.token, body, key=key)


async def _committed(hub: Hub, bank: Bank, hub_tid: str) -> None:
    deadline = time.monotonic() + 30.0
    while True:
        status, t = await hub.call("GET", f"/v1/hub/transfers/{hub_tid}", bank.token)
        if status == 200 and t["state"] == "COMMITTED":
            return
        assert time.monotonic() < deadline, t
        await asyncio.sleep(0.05)


async def _payments(merchant: Api, receipt: str) -> list[dict[str, Any]]:
    url = f"{merchant.base}/v1/payments?receipt={receipt}"
    async with merchant.http.get(url, headers=merchant.auth) as r:
        assert r.status == 200
        return list((await r.json())["data"])


async def test_a_bank_account_pays_an_mpesa_wallet_through_a_request_to_pay(
    stack: Stack, hub: Hub, payer: Bank, desk: Desk, merchant: Api
) -> None:
    status, made = await _start(merchant, "700", _account())
    assert status == 202, made
    debit = made["legs"]["debit"]
    assert (debit["method"], made["source"]["type"]) == ("bank_request", "bank"), made
    request = await desk.request_for(debit["id"])
    assert (request["amount"], request["debtor"]["bank_code"]) == ("700", CODE), request
    status, account = await hub.call("GET", "/v1/merchant/collection-account", merchant.token)
    assert (status, request["creditor"]["id"]) == (200, account["id"]), account  # issued for it

    key = uuid.uuid4().hex
    status, paid = await _pay(hub, payer, request, key)
    assert status == 201, paid
    done = await _transfer(merchant, made["id"], ("succeeded",))
    assert done["legs"]["debit"]["status"] == "succeeded", done
    assert done["legs"]["debit"]["provider"]["receipt"] == paid["id"]
    assert done["legs"]["credit"]["method"] == "mpesa_b2c", done
    assert (await merchant.balance())["available"] == "0"  # the legs passed through

    # The same payment again, and the payee driving it again, pay nothing more.
    status, again = await _pay(hub, payer, request, key)
    assert (status, again["id"]) == (200, paid["id"]), again
    payee = stack.runners[0].app[PAYEE]
    assert await payee.drive(paid["id"]) == "committed"
    assert [p["id"] for p in await _payments(merchant, paid["id"])] == [debit["id"]]
    assert (await merchant.balance())["available"] == "0"
    assert stack.state is not None
    entries = [e async for e in stack.state.cols.journal.find({"payment_id": debit["id"]})]
    assert [e["kind"] for e in entries] == ["collection"]
    assert sum(line["amount"] for line in entries[0]["lines"]) == 0

    # A second, distinct payment quoting the same reference never pays the leg again: it is an
    # ordinary bank_credit of the merchant (less its fee).
    status, second = await _pay(hub, payer, request, uuid.uuid4().hex)
    assert status == 201, second
    await _committed(hub, payer, second["id"])
    deadline = time.monotonic() + 30.0
    while not (found := await _payments(merchant, second["id"])):
        assert time.monotonic() < deadline, "the second payment was never credited"
        await asyncio.sleep(0.1)
    assert [(p["method"], p["amount"], p["fee"]) for p in found] == [("bank_credit", "700", "7")]
    assert (await merchant.balance())["available"] == "693"


async def test_a_failed_credit_pays_the_bank_account_back_by_pesalink(
    hub: Hub, payer: Bank, desk: Desk, merchant: Api
) -> None:
    unregistered = unique_phone("2040")  # M-Pesa B2C: recipient not registered
    status, made = await _start(merchant, "600", _account(), phone=unregistered)
    assert status == 202, made
    request = await desk.request_for(made["legs"]["debit"]["id"])
    status, paid = await _pay(hub, payer, request, uuid.uuid4().hex)
    assert status == 201, paid
    done = await _transfer(merchant, made["id"], ("refunded", "refund_failed"))
    assert done["status"] == "refunded", done
    assert done["legs"]["credit"]["status"] == "failed", done
    refund = done["legs"]["refund"]
    assert (refund["method"], refund["status"], refund["amount"]) == (
        "bank_transfer",
        "succeeded",
        "600",
    )
    assert (await merchant.balance())["available"] == "0"


async def test_a_declined_request_to_pay_fails_the_transfer_with_nothing_moved(
    hub: Hub, payer: Bank, desk: Desk, merchant: Api
) -> None:
    before = await hub.position(payer)
    status, made = await _start(merchant, "500", _account(DECLINE))
    assert status == 202, made
    done = await _transfer(merchant, made["id"], ("failed",))
    assert set(done["legs"]) == {"debit"}, done
    assert done["legs"]["debit"]["failure"]["code"] == "declined", done
    assert "customer declined" in done["legs"]["debit"]["failure"]["message"]
    assert (await merchant.balance())["available"] == "0"
    assert await hub.position(payer) == before


async def test_an_unpaid_request_expires_and_a_late_payment_is_an_ordinary_credit(
    hub: Hub, payer: Bank, desk: Desk, merchant: Api
) -> None:
    status, made = await _start(merchant, "300", _account())
    assert status == 202, made
    request = await desk.request_for(made["legs"]["debit"]["id"])
    # SWITCH_STK_EXPIRE_AFTER is 6 s in the tests: the leg expires, the transfer fails.
    done = await _transfer(merchant, made["id"], ("failed",))
    assert done["legs"]["debit"]["status"] == "expired", done
    assert set(done["legs"]) == {"debit"}, done

    status, late = await _pay(hub, payer, request, uuid.uuid4().hex)
    assert status == 201, late
    deadline = time.monotonic() + 30.0
    while not (found := await _payments(merchant, late["id"])):
        assert time.monotonic() < deadline, "the late payment was never credited"
        await asyncio.sleep(0.1)
    assert [p["method"] for p in found] == ["bank_credit"]
    assert (await _transfer(merchant, made["id"], ("failed",)))["status"] == "failed"


async def test_a_bank_that_is_not_a_hub_participant_is_refused(merchant: Api) -> None:
    body = {
        "amount": "700",
        "currency": "KES",
        "reference": "RTP1",
        "source": {"type": "bank", "bank_code": "02", "account_number": _account()},
        "destination": {"type": "mpesa", "phone": unique_phone()},
    }
    headers = {**merchant.auth, "Idempotency-Key": uuid.uuid4().hex}
    async with merchant.http.post(f"{merchant.base}/v1/transfers", json=body, headers=headers) as r:
        status, refused = r.status, await r.json()
    assert status == 422, refused
    detail = refused["error"]["details"][0]
    assert detail["field"] == "source"
    assert "not an active participant of the interoperability hub" in detail["reason"]


SIM_CODE = "70"  # the simulated bank (Family Bank): no other test onboards it


async def test_the_bank_simulator_pays_or_declines_requests_to_pay(
    stack: Stack, hub: Hub, merchant: Api
) -> None:
    """connectors/banks/simulator answers a request to pay by the debtor account: ...0001 its
    customer approves and the bank pays through the hub, ...0002 declines."""
    app: web.Application = create_app(SimConfig(hub_url=stack.api_url))
    sim = app[SIMULATOR]
    async with serving(app) as sim_url:
        body = {
            "name": "Simulated bank 70", "kind": "bank", "bank_code": SIM_CODE,
            "endpoint_url": f"{sim_url}/banks/{SIM_CODE}/notices", "net_debit_cap": "50000",
        }  # fmt: skip
        status, made = await hub.call("POST", "/v1/operator/hub/participants", hub.operator, body)
        assert status == 201, made
        bank = Bank(made["id"], "sim70", "")
        assert (await hub.fund(bank, "funds_in", "50000"))[0] in (200, 201)
        sim.banks[SIM_CODE] = book.new_bank(
            SIM_CODE, "Family Bank", "FABLKENA", made["webhook_secret"]
        )
        client = {"client_id": made["client_id"], "client_secret": made["client_secret"]}
        sim.config.hub_clients = {SIM_CODE: client}

        approves, declines = f"{SIM_CODE}10000001", f"{SIM_CODE}10000002"
        key, phone = uuid.uuid4().hex, unique_phone()
        [(s1, paid), (s2, refused)] = [
            await _start(merchant, "400", approves, SIM_CODE, phone, key),
            await _start(merchant, "400", declines, SIM_CODE),
        ]
        assert (s1, s2) == (202, 202), (paid, refused)
        done = await _transfer(merchant, paid["id"], ("succeeded",))
        assert done["legs"]["credit"]["status"] == "succeeded", done
        failed = await _transfer(merchant, refused["id"], ("failed",))
        assert "customer declined" in failed["legs"]["debit"]["failure"]["message"], failed
        assert (await merchant.balance())["available"] == "0"
        debits = [b for b in sim.banks[SIM_CODE].accounts[approves].bookings if b.cents < 0]
        assert [(b.cents, b.end_to_end_id) for b in debits] == [
            (-40_000, done["legs"]["debit"]["id"])
        ]
        assert (sim.stats.requests_to_pay, sim.stats.requests_paid) == (2, 1)

        # Once the bank stops taking part, a new transfer from it is refused, but the same
        # request under the same key still answers the transfer it made.
        path = f"/v1/operator/hub/participants/{bank.id}"
        reason = {"reason": "left the scheme"}
        assert (await hub.call("POST", f"{path}/suspend", hub.operator, reason))[0] == 200
        status, refused = await _start(merchant, "400", approves, SIM_CODE)
        assert (status, refused["error"]["details"][0]["field"]) == (422, "source"), refused
        status, again = await _start(merchant, "400", approves, SIM_CODE, phone, key)
        assert (status, again["id"], again["status"]) == (202, paid["id"], "succeeded"), again
