"""ISO 20022 on the hub, through the public API on the real stack, with the four-bank simulator
(connectors/banks/simulator) as four ``iso20022`` participants: a signed pacs.008 from the payer
bank reserves (pacs.002 ACSP), the hub sends the payee bank a signed pacs.008, and the bank's
pacs.002 commits or aborts the transfer, synchronously or late (to ``/v1/hub/iso/pacs.002``).
Faults: a rejecting bank, a late and a duplicated answer, a bank that never answers, forged
and misdirected pacs.002 messages. Positions of these four sum to zero; the session's journal
check (conftest) proves every move was double entry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from app.stack import Stack
from connectors.banks.simulator import SimConfig, create_app
from connectors.banks.simulator.app import SIMULATOR, Simulator
from infra.merchants import create_operator_client
from switch.iso20022 import pacs002, pacs008
from switch.iso20022.hub_wire import uetr_of
from switch.iso20022.pacs002 import Pacs002, TxStatus
from switch.iso20022.pacs008 import CreditTransfer, Pacs008
from switch.iso20022.signing import HUB, sign, verify
from switch.iso20022.values import Agent
from tests.simharness import serving

from .helpers import basic_auth, for_up_to

pytestmark = pytest.mark.integration

CODES = ("01", "03", "11", "68")
XML = "application/xml"


@dataclass
class Bank:
    code: str
    id: str
    key: str
    token: str


@dataclass
class Rig:
    http: aiohttp.ClientSession
    base: str
    sim: Simulator
    banks: dict[str, Bank]

    async def call(
        self, method: str, path: str, token: str, body: bytes | None = None, **headers: str
    ) -> tuple[int, bytes, dict[str, str]]:
        auth = {"Authorization": f"Bearer {token}"} if token else {}  # a bank's pacs.002: none
        all_headers = {**auth, **headers}
        async with self.http.request(
            method, f"{self.base}{path}", data=body, headers=all_headers
        ) as r:
            return r.status, await r.read(), dict(r.headers)

    async def send(
        self, payer: str, msg: Pacs008, accept: str = XML, key: str | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        bank = self.banks[payer]
        body = pacs008.build(msg)
        headers = sign(key or bank.key, payer, msg.msg_id, body)
        headers["Accept"] = accept
        return await self.call("POST", "/v1/hub/transfers", bank.token, body, **headers)

    def report(self, payer: str, status: int, body: bytes, headers: dict[str, str]) -> Pacs002:
        """A pacs.002 from the hub: signed by it with the payer's key."""
        assert headers["Content-Type"].startswith(XML), (status, body)
        msg_id = verify(
            self.banks[payer].key, HUB, {k.lower(): v for k, v in headers.items()}, body
        )
        report = pacs002.parse(body)
        assert report.msg_id == msg_id
        return report

    async def state(self, who: str, transfer_id: str) -> TxStatus:
        status, body, headers = await self.call(
            "GET", f"/v1/hub/transfers/{transfer_id}", self.banks[who].token, Accept=XML
        )
        assert status == 200, body
        [st] = self.report(who, status, body, headers).statuses
        return st

    async def until(self, who: str, transfer_id: str, wanted: str, seconds: float = 10) -> TxStatus:
        for _ in range(int(seconds / 0.1)):
            st = await self.state(who, transfer_id)
            if st.status == wanted:
                return st
            await asyncio.sleep(0.1)
        raise AssertionError(f"{transfer_id} never {wanted}: {st}")

    async def position(self, code: str) -> dict[str, Any]:
        status, body, _ = await self.call("GET", "/v1/hub/participant", self.banks[code].token)
        assert status == 200, body
        return dict(orjson.loads(body)["position"])

    async def money(self, code: str) -> tuple[str, str, str]:
        """What a participant holds (``peak`` aside: a reservation raises it for good)."""
        p = await self.position(code)
        return p["position"], p["reserved"], p["liquidity_cover"]

    async def positions_sum_to_zero(self) -> None:
        total = sum([Decimal((await self.position(c))["position"]) for c in CODES], Decimal(0))
        assert total == 0


def transfer(payer: str, payee: str, account: str, amount: str = "1500.00") -> Pacs008:
    tx = CreditTransfer(
        end_to_end_id=f"E2E{uuid.uuid4().hex[:20]}",
        amount=Decimal(amount),
        currency="KES",
        debtor_name="ALICE NJERI",
        debtor_account=f"{payer}20000001",
        debtor_agent=Agent(member_id=payer),
        creditor_agent=Agent(member_id=payee),
        creditor_name="JANE WANJIKU",
        creditor_account=f"{payee}{account}",
        remittance="invoice 42",
    )
    return Pacs008(f"MSG{uuid.uuid4().hex[:20]}", datetime.now(UTC).replace(microsecond=0), (tx,))


async def _token(http: aiohttp.ClientSession, base: str, client_id: str, secret: str) -> str:
    form = {"grant_type": "client_credentials"}
    url = f"{base}/v1/oauth/token"
    async with http.post(url, data=form, headers=basic_auth(client_id, secret)) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["access_token"])


@pytest.fixture(scope="module")
async def rig(stack: Stack, http: aiohttp.ClientSession) -> AsyncIterator[Rig]:
    assert stack.state is not None
    # The hub's notices are answered by the banks' own checks; names are not checked because
    # the hub does not carry the creditor's name (a JSON transfer has none).
    config = SimConfig(
        callback_url=f"{stack.api_url}/v1/hub/iso/pacs.002", check_names=False,
        late_delay=0.5, hang_seconds=3.0,
    )  # fmt: skip
    app: web.Application = create_app(config)
    async with serving(app) as sim_url:
        client = await create_operator_client(stack.state.cols)
        operator = await _token(http, stack.api_url, client["client_id"], client["client_secret"])
        banks: dict[str, Bank] = {}
        for code in CODES:
            body = {
                "name": f"ISO bank {code}", "kind": "bank", "bank_code": code,
                "format": "iso20022", "endpoint_url": f"{sim_url}/banks/{code}/pacs.008",
                "net_debit_cap": "50000",
            }  # fmt: skip
            headers = {"Authorization": f"Bearer {operator}"}
            url = f"{stack.api_url}/v1/operator/hub/participants"
            async with http.post(url, json=body, headers=headers) as r:
                made = await r.json()
                assert r.status == 201 and made["format"] == "iso20022", made
            pid = made["id"]
            funds = {"action": "funds_in", "amount": "50000", "currency": "KES", "reason": "t"}
            headers["Idempotency-Key"] = uuid.uuid4().hex
            async with http.post(f"{url}/{pid}/funds", json=funds, headers=headers) as r:
                assert r.status in (200, 201), await r.text()
            token = await _token(http, stack.api_url, made["client_id"], made["client_secret"])
            banks[code] = Bank(code, pid, made["webhook_secret"], token)
            app[SIMULATOR].banks[code].key = made["webhook_secret"]  # the key shared at onboarding
        yield Rig(http, stack.api_url, app[SIMULATOR], banks)


def credits(rig: Rig, code: str, account: str) -> list[Any]:
    return [b for b in rig.sim.banks[code].accounts[f"{code}{account}"].bookings if b.cents > 0]


async def settled(rig: Rig, code: str, tid: str, held: list[bool]) -> None:
    """Wait until bank ``code``'s bookings of hub transfer ``tid`` are ``held`` (held or not,
    one per booking; [] for none): the hub's final pacs.002 books or releases a held credit."""
    uetr = uetr_of(tid)
    seen: list[bool] = []
    for _ in for_up_to():
        accounts = rig.sim.banks[code].accounts.values()
        seen = [b.held for a in accounts for b in a.bookings if b.uetr == uetr]
        if seen == held:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"bank {code}'s bookings of {tid}: {seen}, not {held}")


async def test_an_xml_transfer_between_two_banks_commits(rig: Rig) -> None:
    msg = transfer("01", "68", "10000001")
    before = len(credits(rig, "68", "10000001"))
    status, body, headers = await rig.send("01", msg)
    assert status == 201, body
    [st] = rig.report("01", status, body, headers).statuses
    tx = msg.transfers[0]
    assert (st.status, st.original_end_to_end_id, st.original_uetr) == (
        "ACSP", tx.end_to_end_id, tx.uetr,
    )  # fmt: skip
    tid = headers["Location"].rsplit("/", 1)[1]
    # The hub told bank 68 (signed pacs.008); its ACCP committed the transfer.
    assert (await rig.until("01", tid, "ACSC")).status == "ACSC"
    assert (await rig.state("68", tid)).status == "ACSC"
    assert len(credits(rig, "68", "10000001")) == before + 1
    await settled(rig, "68", tid, [False])  # the hub's ACSC: booked for the customer
    # The same message again answers again; the same MsgId with other details is AM05.
    status, body, headers = await rig.send("01", msg)
    assert status == 200, body
    assert rig.report("01", status, body, headers).statuses[0].status == "ACSC"
    other = Pacs008(
        msg.msg_id, msg.created, (transfer("01", "68", "10000001", "9.00").transfers[0],)
    )
    status, body, headers = await rig.send("01", other)
    [st] = rig.report("01", status, body, headers).statuses
    assert (status, st.status, st.reason) == (409, "RJCT", "AM05")
    # JSON on request: the same resource's JSON answer.
    status, body, _ = await rig.send("01", msg, accept="application/json")
    assert status == 200 and b'"COMMITTED"' in body, body
    assert len(credits(rig, "68", "10000001")) == before + 1
    await rig.positions_sum_to_zero()


async def test_bad_xml_is_refused_naming_the_element_and_changes_nothing(rig: Rig) -> None:
    before = await rig.money("01")
    msg = transfer("01", "68", "10000001")
    body = (
        pacs008.build(msg)
        .replace(b"<IntrBkSttlmAmt", b"<IntrBkSttlmAmnt")
        .replace(b"</IntrBkSttlmAmt>", b"</IntrBkSttlmAmnt>")
    )
    bank = rig.banks["01"]
    headers = {**sign(bank.key, "01", msg.msg_id, body), "Accept": XML}
    status, answer, got = await rig.call("POST", "/v1/hub/transfers", bank.token, body, **headers)
    report = rig.report("01", status, answer, got)
    assert status == 400 and report.group is not None, answer
    assert (report.group.status, report.group.reason) == ("RJCT", "FF01")
    assert (report.group.info or "").startswith("/Document/FIToFICstmrCdtTrf/CdtTrfTxInf")
    headers["Accept"] = "application/json"
    status, answer, _ = await rig.call("POST", "/v1/hub/transfers", bank.token, body, **headers)
    assert status == 400 and b"invalid_message" in answer, answer
    # A wrong signature: 401, nothing read.
    status, answer, _ = await rig.send("01", msg, key="whsec_" + "A" * 32)
    assert status == 401, answer
    assert await rig.money("01") == before


async def test_a_closed_account_is_rejected_ac04_and_released(rig: Rig) -> None:
    before = await rig.money("03")
    status, body, headers = await rig.send("03", transfer("03", "11", "10000404", "700"))
    assert status == 201, body
    tid = headers["Location"].rsplit("/", 1)[1]
    st = await rig.until("03", tid, "RJCT")
    assert st.reason == "AC04", st
    assert await rig.money("03") == before
    await rig.positions_sum_to_zero()


async def test_a_late_and_duplicated_acceptance_commits_once(rig: Rig) -> None:
    rig.sim.config.fault_bank = "11"
    rig.sim.config.late_next = 1
    rig.sim.config.duplicate_next = 1  # the late pacs.002 is POSTed twice
    sent = rig.sim.stats.callbacks_sent
    status, body, headers = await rig.send("68", transfer("68", "11", "10000002", "250"))
    assert status == 201, body
    tid = headers["Location"].rsplit("/", 1)[1]
    assert (await rig.state("68", tid)).status == "ACSP"  # the bank said PDNG: waiting
    await rig.until("68", tid, "ACSC")
    for _ in for_up_to():
        if rig.sim.stats.callbacks_sent >= sent + 2:
            break
        await asyncio.sleep(0.1)
    assert rig.sim.stats.callbacks_sent == sent + 2  # both copies answered 200 by the hub
    assert len([b for b in credits(rig, "11", "10000002") if b.uetr]) >= 1
    rig.sim.config.fault_bank = None
    await rig.positions_sum_to_zero()


async def test_a_bank_that_never_answers_lets_the_transfer_expire(rig: Rig) -> None:
    rig.sim.config.fault_bank = "03"
    rig.sim.config.never_answer = 1
    before = await rig.money("01")
    accepted, released = rig.sim.stats.accepted, rig.sim.stats.released
    # A pacs.008 has no field for the payee's time to answer: this transfer is sent as JSON
    # with a short expires_in; the payee bank (iso20022) gets its pacs.008 all the same.
    body = {"payee_participant": rig.banks["03"].id, "amount": "300", "currency": "KES",
            "expires_in": 1, "party": {"type": "ACCOUNT", "id": "03:0310000001"}}  # fmt: skip
    headers = {"Content-Type": "application/json", "Idempotency-Key": uuid.uuid4().hex}
    status, answer, headers = await rig.call(
        "POST", "/v1/hub/transfers", rig.banks["01"].token, orjson.dumps(body), **headers
    )
    assert status == 201, answer
    tid = headers["Location"].rsplit("/", 1)[1]
    st = await rig.until("01", tid, "RJCT")
    assert st.reason == "AB05", st
    assert rig.sim.stats.never_answered == 1  # the bank took the pacs.008 and held its answer
    assert await rig.money("01") == before
    # The bank had accepted (its answer never came): the hub's RJCT takes its held credit back,
    # so its customer is not paid money the payer never sent.
    assert rig.sim.stats.accepted > accepted  # it had accepted, held
    await settled(rig, "03", tid, [])
    assert rig.sim.stats.released > released
    rig.sim.config.fault_bank = None
    await rig.positions_sum_to_zero()


def bank_report(
    rig: Rig, code: str, tid: str, uetr: str, key: str | None = None
) -> tuple[bytes, dict[str, str]]:
    msg_id = f"{code}ST{uuid.uuid4().hex[:16].upper()}"
    report = Pacs002(
        msg_id, datetime.now(UTC).replace(microsecond=0), "HUBANY", pacs008.MESSAGE,
        (TxStatus("ACCP", tid, uetr),),
    )  # fmt: skip
    body = pacs002.build(report)
    return body, sign(key or rig.banks[code].key, code, msg_id, body)


async def test_forged_and_misdirected_pacs002_change_nothing(rig: Rig) -> None:
    rig.sim.config.fault_bank = "01"
    rig.sim.config.late_next = 1
    rig.sim.config.late_delay = 30.0  # the bank's own answer will not come during this test
    status, body, headers = await rig.send("11", transfer("11", "01", "10000001", "120"))
    assert status == 201, body
    tid = headers["Location"].rsplit("/", 1)[1]
    path = "/v1/hub/iso/pacs.002"
    # Signed with a key that is not bank 01's: 401.
    forged, h = bank_report(rig, "01", tid, uetr_of(tid), key="whsec_" + "B" * 32)
    assert (await rig.call("POST", path, "", forged, **h))[0] == 401
    # Signed properly by bank 03, which is not this transfer's payee: 404.
    other, h = bank_report(rig, "03", tid, uetr_of(tid))
    assert (await rig.call("POST", path, "", other, **h))[0] == 404
    # The payer's own bank cannot accept what it pays either.
    payer, h = bank_report(rig, "11", tid, uetr_of(tid))
    assert (await rig.call("POST", path, "", payer, **h))[0] == 404
    assert (await rig.state("11", tid)).status == "ACSP"
    # The payee's, signed: committed; again: the same answer, nothing more.
    good, h = bank_report(rig, "01", tid, uetr_of(tid))
    status, answer, _ = await rig.call("POST", path, "", good, **h)
    assert status == 200 and b"COMMITTED" in answer, answer
    status, answer, _ = await rig.call("POST", path, "", good, **h)
    assert status == 200 and b"COMMITTED" in answer, answer
    assert (await rig.state("11", tid)).status == "ACSC"
    rig.sim.config.fault_bank = None
    rig.sim.config.late_delay = 0.5
    await rig.positions_sum_to_zero()


async def test_an_iso20022_participant_needs_a_bank_code(rig: Rig, stack: Stack) -> None:
    assert stack.state is not None
    client = await create_operator_client(stack.state.cols)
    operator = await _token(rig.http, rig.base, client["client_id"], client["client_secret"])
    body = {"name": "No code", "kind": "wallet", "format": "iso20022",
            "endpoint_url": "http://127.0.0.1:9/x", "net_debit_cap": "10"}  # fmt: skip
    headers = {"Authorization": f"Bearer {operator}"}
    url = f"{rig.base}/v1/operator/hub/participants"
    async with rig.http.post(url, json=body, headers=headers) as r:
        answer = await r.json()
    assert (r.status, answer["error"]["details"][0]["field"]) == (422, "bank_code"), answer
    async with rig.http.post(url, json={**body, "format": "xml"}, headers=headers) as r:
        assert r.status == 422
