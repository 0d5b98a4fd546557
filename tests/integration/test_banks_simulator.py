"""The participant-bank simulator (connectors/banks/simulator) over HTTP on a real local port:
four banks take signed pacs.008 messages and answer signed pacs.002 messages, with the faults
the hub must survive (timeouts, rejects, late acceptances, duplicates).

A small aiohttp app stands in for the hub's pacs.002 endpoint; it verifies every message's
signature with the sending bank's key, as the hub will.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from connectors.banks.simulator import SimConfig, create_app, sandbox_key
from connectors.common import EAT
from connectors.http import HttpRequest, HttpResponse, OutcomeUnknown
from connectors.transport import AiohttpTransport
from switch.iso20022 import camt, pacs002, pacs008
from switch.iso20022.pacs002 import Pacs002
from switch.iso20022.signing import HUB, SENDER_HEADER, BadSignature, sign, verify
from switch.iso20022.values import Agent
from tests.simharness import SimClient, command_line, serving

pytestmark = pytest.mark.integration

BANKS = ("01", "03", "11", "68")


@dataclass
class HubEndpoint:
    """The hub's pacs.002 endpoint: verifies the sending bank's signature, keeps the reports."""

    reports: list[Pacs002] = field(default_factory=list)
    refused: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hub/pacs.002", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        sender = request.headers.get(SENDER_HEADER, "")
        try:
            msg_id = verify(sandbox_key(sender), sender, request.headers, body)
        except BadSignature:
            self.refused += 1
            return web.Response(status=401)
        report = pacs002.parse(body)
        assert report.msg_id == msg_id
        self.reports.append(report)
        self.arrived.set()
        return web.Response(status=200)

    def about(self, end_to_end_id: str) -> list[pacs002.TxStatus]:
        return [
            s for r in self.reports for s in r.statuses if s.original_end_to_end_id == end_to_end_id
        ]

    async def wait_for(
        self, end_to_end_id: str, count: int = 1, timeout: float = 30.0
    ) -> list[pacs002.TxStatus]:
        deadline = time.monotonic() + timeout
        while len(self.about(end_to_end_id)) < count:
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{len(self.about(end_to_end_id))} of {count} for {end_to_end_id}"
                )
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                continue
        return self.about(end_to_end_id)


@dataclass
class Rig(SimClient):
    base_url: str
    transport: AiohttpTransport
    hub: HubEndpoint

    async def send(
        self, bank: str, msg: pacs008.Pacs008, timeout: float = 30.0, **headers: str
    ) -> HttpResponse:
        body = pacs008.build(msg)
        signed = {**sign(sandbox_key(bank), HUB, msg.msg_id, body), **headers}
        request = HttpRequest(
            "POST", f"{self.base_url}/banks/{bank}/pacs.008", signed, body, timeout
        )
        return await self.transport.send(request)

    async def get(self, path: str, key_of: str) -> HttpResponse:
        headers = sign(sandbox_key(key_of), HUB, f"Q{uuid.uuid4().hex[:10]}", b"")
        return await self.transport.send(HttpRequest("GET", self.base_url + path, headers))

    async def balance(self, bank: str, account: str) -> int:
        return int((await self.account(bank, account))["balance_cents"])

    async def account(self, bank: str, account: str) -> dict[str, Any]:
        shown = await self.control("GET", f"/banks/{bank}")
        return dict(next(a for a in shown["accounts"] if a["number"] == account))

    async def final(
        self, bank: str, tx: pacs008.CreditTransfer, status: str, key_of: str | None = None
    ) -> int:
        """The hub's last word on ``tx`` (ACSC committed, RJCT aborted), as the hub sends it."""
        reason = "AB05" if status == "RJCT" else None
        st = pacs002.TxStatus(status, tx.end_to_end_id, tx.uetr, reason=reason)
        msg_id = "HUB" + uuid.uuid4().hex[:16].upper()
        report = Pacs002(msg_id, datetime.now(EAT), tx.end_to_end_id, pacs008.MESSAGE, (st,))
        body = pacs002.build(report)
        headers = sign(sandbox_key(key_of or bank), HUB, msg_id, body)
        url = f"{self.base_url}/banks/{bank}/pacs.008"
        return (await self.transport.send(HttpRequest("POST", url, headers, body))).status


def answer_of(resp: HttpResponse, bank: str) -> Pacs002:
    """A bank's answer, after checking the bank signed it."""
    msg_id = verify(sandbox_key(bank), bank, resp.headers, resp.body)
    report = pacs002.parse(resp.body)
    assert report.msg_id == msg_id
    return report


def transfer(
    to_bank: str, account: str, name: str, amount: str = "1500.00", **change: Any
) -> pacs008.CreditTransfer:
    fields: dict[str, Any] = {
        "end_to_end_id": "E2E-" + uuid.uuid4().hex[:12],
        "amount": Decimal(amount),
        "currency": "KES",
        "debtor_name": "ANN KIPROP",
        "debtor_account": "0150000503",
        "debtor_agent": Agent(member_id="07"),
        "creditor_agent": Agent(member_id=to_bank),
        "creditor_name": name,
        "creditor_account": account,
        "transaction_id": "TX-" + uuid.uuid4().hex[:8],
        **change,
    }
    return pacs008.CreditTransfer(**fields)


def message(*txs: pacs008.CreditTransfer) -> pacs008.Pacs008:
    return pacs008.Pacs008("HUB" + uuid.uuid4().hex[:16].upper(), datetime.now(EAT), txs)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    hub = HubEndpoint()
    async with serving(hub.app()) as hub_url:
        config = SimConfig(callback_url=f"{hub_url}/hub/pacs.002", hang_seconds=1.0)
        async with serving(create_app(config)) as base_url:
            transport = AiohttpTransport()
            try:
                yield Rig(base_url, transport, hub)
            finally:
                await transport.close()


async def test_four_banks_credit_open_accounts_and_refuse_the_rest(rig: Rig) -> None:
    for bank in BANKS:
        before = await rig.balance(bank, f"{bank}10000001")
        txs = (
            transfer(bank, f"{bank}10000001", "Jane  wanjiku"),  # case and spacing aside
            transfer(bank, f"{bank}99999999", "NOBODY"),
            transfer(bank, f"{bank}10000404", "PETER KAMAU"),
            transfer(bank, f"{bank}10000606", "GRACE MUTHONI"),
            transfer(bank, f"{bank}10000002", "SOMEONE ELSE"),
            transfer("57", f"{bank}10000003", "MARY AKINYI"),  # another bank's customer
        )
        resp = await rig.send(bank, message(*txs))
        assert resp.status == 200, resp.body
        report = answer_of(resp, bank)
        got = [(s.status, s.reason) for s in report.statuses]
        assert got == [
            ("ACCP", None),
            ("RJCT", "AC01"),
            ("RJCT", "AC04"),
            ("RJCT", "AC06"),
            ("RJCT", "BE01"),
            ("RJCT", "RC01"),
        ]
        accepted = report.statuses[0]
        assert accepted.original_uetr == txs[0].uetr and accepted.bank_reference
        assert accepted.accepted_at is not None
        assert report.statuses[2].info == "Account closed"
        # Accepted is held, not yet the customer's: the hub's ACSC books it.
        assert await rig.balance(bank, f"{bank}10000001") == before
        assert (await rig.account(bank, f"{bank}10000001"))["held_cents"] == 150_000
        assert await rig.final(bank, txs[0], "ACSC") == 204
        assert await rig.balance(bank, f"{bank}10000001") == before + 150_000
    stats = await rig.control("GET", "/stats")
    assert (stats["accepted"], stats["rejected"]) == (4, 20)


async def test_a_repeat_is_answered_again_and_booked_once(rig: Rig) -> None:
    tx = transfer("68", "6810000003", "MARY AKINYI", "250.00")
    first = answer_of(await rig.send("68", message(tx)), "68")
    again = answer_of(await rig.send("68", message(tx)), "68")  # a new message, the same UETR
    assert first.statuses == again.statuses
    changed = pacs008.CreditTransfer(**{**_fields(tx), "amount": Decimal("999.00")})
    refused = answer_of(await rig.send("68", message(changed)), "68")
    assert (refused.statuses[0].status, refused.statuses[0].reason) == ("RJCT", "AM05")
    shown = await rig.control("GET", "/banks/68")
    account = next(a for a in shown["accounts"] if a["number"] == "6810000003")
    assert [b["cents"] for b in account["bookings"]] == [25_000]


def _fields(tx: pacs008.CreditTransfer) -> dict[str, Any]:
    return {name: getattr(tx, name) for name in pacs008.CreditTransfer.__dataclass_fields__}


async def test_messages_are_authenticated_and_a_forgery_changes_nothing(rig: Rig) -> None:
    tx = transfer("11", "1110000001", "JANE WANJIKU")
    msg = message(tx)
    body = pacs008.build(msg)
    url = f"{rig.base_url}/banks/11/pacs.008"
    forgeries = {
        "unsigned": {"content-type": "application/xml"},
        "another bank's key": sign(sandbox_key("68"), HUB, msg.msg_id, body),
        "signed as the bank itself (reflected)": sign(sandbox_key("11"), "11", msg.msg_id, body),
        "old": sign(sandbox_key("11"), HUB, msg.msg_id, body, now=time.time() - 3600),
        "another message's id": sign(sandbox_key("11"), HUB, "HUBOTHER", body),
    }
    for what, headers in forgeries.items():
        resp = await rig.transport.send(HttpRequest("POST", url, headers, body))
        assert resp.status == 401, what
        assert "error" in resp.json(), what
    tampered = body.replace(b"1500.00", b"9500.00")
    headers = sign(sandbox_key("11"), HUB, msg.msg_id, body)
    resp = await rig.transport.send(HttpRequest("POST", url, headers, tampered))
    assert resp.status == 401
    assert (await rig.control("GET", "/stats"))["transfers"] == 0
    assert await rig.balance("11", "1110000001") == 100_000_00


async def test_a_document_the_schema_refuses_gets_ff01_naming_the_element(rig: Rig) -> None:
    msg = message(transfer("03", "0310000001", "JANE WANJIKU"))
    body = pacs008.build(msg).replace(b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>OURS</ChrgBr>")
    headers = sign(sandbox_key("03"), HUB, msg.msg_id, body)
    resp = await rig.transport.send(
        HttpRequest("POST", f"{rig.base_url}/banks/03/pacs.008", headers, body)
    )
    assert resp.status == 400
    report = answer_of(resp, "03")
    assert report.group is not None
    assert (report.group.status, report.group.reason) == ("RJCT", "FF01")
    assert report.group.info is not None and "ChrgBr" in report.group.info
    assert await rig.balance("03", "0310000001") == 100_000_00


async def test_a_timeout_books_the_credit_and_the_status_query_tells(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"never_answer": 1, "fault_bank": "01"})
    tx = transfer("01", "0110000002", "JOHN OTIENO", "700.00")
    with pytest.raises(OutcomeUnknown):
        await rig.send("01", message(tx), timeout=0.5)
    # A timeout is not a failure: the bank took it. Asking settles it, by UETR or end-to-end id.
    for ref in (tx.uetr, tx.end_to_end_id):
        resp = await rig.get(f"/banks/01/status/{ref}", "01")
        assert resp.status == 200
        (status,) = answer_of(resp, "01").statuses
        assert (status.status, status.original_uetr) == ("ACCP", tx.uetr)
    assert (await rig.account("01", "0110000002"))["held_cents"] == 70_000
    assert await rig.final("01", tx, "ACSC") == 204
    assert await rig.balance("01", "0110000002") == 100_000_00 + 70_000
    unknown = await rig.get("/banks/01/status/E2E-NEVER-SENT", "01")
    assert unknown.status == 404
    unsigned = await rig.transport.send(
        HttpRequest("GET", f"{rig.base_url}/banks/01/status/{tx.uetr}")
    )
    assert unsigned.status == 401


async def test_a_late_acceptance_is_pending_then_posted_to_the_hub(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"late_next": 1, "late_delay": 0.2})
    tx = transfer("68", "6810000001", "JANE WANJIKU")
    now = answer_of(await rig.send("68", message(tx)), "68")
    assert now.statuses[0].status == "PDNG"
    (later,) = await rig.hub.wait_for(tx.end_to_end_id)
    assert (later.status, later.original_uetr) == ("ACCP", tx.uetr)
    assert rig.hub.refused == 0


async def test_duplicates_deliver_the_same_status_twice(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"duplicate_next": 1})
    tx = transfer("11", "1110000003", "MARY AKINYI")
    answer = answer_of(await rig.send("11", message(tx)), "11")
    (copy,) = await rig.hub.wait_for(tx.end_to_end_id)
    assert copy == answer.statuses[0]
    await rig.control("PATCH", "/config", {"duplicate_next": 1, "late_next": 1, "late_delay": 0.1})
    late = transfer("11", "1110000002", "JOHN OTIENO")
    await rig.send("11", message(late))
    first, second = await rig.hub.wait_for(late.end_to_end_id, count=2)
    assert first == second and first.status == "ACCP"
    assert (await rig.account("11", "1110000002"))["held_cents"] == 150_000  # held once
    for _ in range(2):  # the hub's word twice books once
        assert await rig.final("11", late, "ACSC") == 204
    assert await rig.balance("11", "1110000002") == 100_000_00 + 150_000


async def test_an_aborted_transfer_is_taken_back_and_a_forged_word_changes_nothing(
    rig: Rig,
) -> None:
    tx = transfer("68", "6810000002", "JOHN OTIENO", "400.00")
    assert answer_of(await rig.send("68", message(tx)), "68").statuses[0].status == "ACCP"
    # Signed with another bank's key, or not by the hub: refused, the credit stays held.
    assert await rig.final("68", tx, "ACSC", key_of="01") == 401
    assert (await rig.account("68", "6810000002"))["held_cents"] == 40_000
    # The hub aborted it (it expired before the acceptance reached it): taken back.
    assert await rig.final("68", tx, "RJCT") == 204
    shown = await rig.account("68", "6810000002")
    assert (shown["held_cents"], shown["balance_cents"]) == (0, 100_000_00)
    assert all(b["uetr"] != tx.uetr for b in shown["bookings"])
    assert await rig.final("68", tx, "ACSC") == 204  # too late: nothing is held for it
    assert await rig.balance("68", "6810000002") == 100_000_00
    stats = await rig.control("GET", "/stats")
    assert (stats["released"], stats["settled"]) == (1, 0)


async def test_rejects_only_where_the_fault_is_aimed(rig: Rig) -> None:
    await rig.control(
        "PATCH", "/config", {"reject_next": 1, "reject_reason": "AM04", "fault_bank": "03"}
    )
    ok = answer_of(await rig.send("68", message(transfer("68", "6810000002", "JOHN OTIENO"))), "68")
    assert ok.statuses[0].status == "ACCP"
    refused = answer_of(
        await rig.send("03", message(transfer("03", "0310000002", "JOHN OTIENO"))), "03"
    )
    assert (refused.statuses[0].status, refused.statuses[0].reason) == ("RJCT", "AM04")
    again = answer_of(
        await rig.send("03", message(transfer("03", "0310000002", "JOHN OTIENO"))), "03"
    )
    assert again.statuses[0].status == "ACCP"  # the counter is spent
    with pytest.raises(AssertionError):
        await rig.control("PATCH", "/config", {"reject_reason": "XX99"})


async def test_an_accounts_camt053_statement(rig: Rig) -> None:
    txs = [transfer("68", "6810000002", "JOHN OTIENO", amount) for amount in ("100.00", "250.50")]
    held = transfer("68", "6810000002", "JOHN OTIENO", "999.00")  # the hub has not settled it
    for tx in (*txs, held):
        await rig.send("68", message(tx))
    for tx in txs:
        assert await rig.final("68", tx, "ACSC") == 204
    resp = await rig.get("/banks/68/accounts/6810000002/camt.053", "68")
    assert resp.status == 200
    msg_id = verify(sandbox_key("68"), "68", resp.headers, resp.body)
    statement = camt.parse_statement(resp.body)
    (report,) = statement.reports
    assert statement.msg_id == msg_id and report.account == "6810000002"
    assert [(e.amount, e.credit, e.end_to_end_id, e.uetr) for e in report.entries] == [
        (Decimal("100.00"), True, txs[0].end_to_end_id, txs[0].uetr),
        (Decimal("250.50"), True, txs[1].end_to_end_id, txs[1].uetr),
    ]
    assert report.entries[0].counterparty == "ANN KIPROP"
    closing = report.balance("CLBD")
    assert report.balanced() and closing is not None
    assert closing.amount == Decimal("100350.50")
    missing = await rig.get("/banks/68/accounts/6899999999/camt.053", "68")
    assert missing.status == 404


async def test_outage_and_error_bursts_answer_before_anything_is_read(rig: Rig) -> None:
    await rig.control(
        "PATCH", "/config", {"error_burst": {"status": 503, "count": 1, "api": "pacs008"}}
    )
    tx = transfer("01", "0110000001", "JANE WANJIKU")
    assert (await rig.send("01", message(tx))).status == 503
    assert answer_of(await rig.send("01", message(tx)), "01").statuses[0].status == "ACCP"
    await rig.control("PATCH", "/config", {"outage": 30})
    assert (await rig.send("01", message(tx))).status == 503
    assert (await rig.control("GET", "/config"))["outage"] > 0
    await rig.control("POST", "/reset")
    assert (await rig.control("GET", "/stats"))["transfers"] == 0
    assert (await rig.send("99", message(tx))).status == 404


async def test_the_command_line_serves_the_four_banks() -> None:
    async with command_line("connectors.banks.simulator", "--no-signature-check") as (url, config):
        assert set(config["banks"]) == set(BANKS)
        assert config["check_signatures"] is False
        transport = AiohttpTransport()
        try:
            msg = message(transfer("01", "0110000001", "JANE WANJIKU"))
            body = pacs008.build(msg)
            resp = await transport.send(HttpRequest("POST", f"{url}/banks/01/pacs.008", {}, body))
            assert resp.status == 200
            assert pacs002.parse(resp.body).statuses[0].status == "ACCP"
        finally:
            await transport.close()
