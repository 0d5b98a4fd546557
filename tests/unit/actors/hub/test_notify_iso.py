"""The ISO 20022 notice to a payee bank (actors/hub/notify_iso.py) over a mock transport: the
pacs.008 is signed for the bank, and only the bank's own signed pacs.002 answers the transfer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from actors.hub.machine import Command, Fulfil, Notice
from actors.hub.notify_iso import IsoDelivery
from connectors.http import HttpRequest, HttpResponse, NotSent
from switch.hub.participants import Participant
from switch.iso20022 import hub_wire, pacs002, pacs008
from switch.iso20022.pacs002 import Pacs002, TxStatus
from switch.iso20022.signing import HUB, sign, verify
from switch.messages import Reply

TID = "htr_01JDX4Q3W0TQK2M8V5E4R7C1BN"
PAYER = Participant("hpa_A", "active", "KES", 0, 8000, "", "whsec_" + "A" * 32, "json", "01")
PAYEE = Participant(
    "hpa_B", "active", "KES", 0, 8000, "http://bank/pacs.008", "whsec_" + "B" * 32, "iso20022", "68"
)
DATA: dict[str, Any] = {
    "id": TID, "payer": "hpa_A", "payee": "hpa_B", "amount": "10.00", "currency": "KES",
    "state": "RESERVED", "party": {"type": "ACCOUNT", "id": "68:6810000001"}, "note": None,
}  # fmt: skip
NOTICE = Notice("hpa_B", "evt_1", "hub.transfer.prepared", DATA)


class Bank:
    """Answers each pacs.008 with a pacs.002 of ``status``, signed with ``key``."""

    def __init__(self, status: str | None = "ACCP", key: str = PAYEE.webhook_secret) -> None:
        self.status, self.key = status, key
        self.seen: list[HttpRequest] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request)
        if self.status is None:
            raise NotSent("connection refused")
        assert request.body is not None
        verify(PAYEE.webhook_secret, HUB, request.headers, request.body)  # signed for this bank
        [tx] = pacs008.parse(request.body).transfers
        reason = "AC04" if self.status == "RJCT" else None
        status = TxStatus(self.status, tx.end_to_end_id, tx.uetr, reason=reason)
        now = datetime.now(UTC).replace(microsecond=0)
        report = Pacs002("68ST1", now, "HUB1", pacs008.MESSAGE, (status,))
        body = pacs002.build(report)
        return HttpResponse(200, body, sign(self.key, "68", report.msg_id, body))

    async def close(self) -> None:
        return None


def delivery(bank: Bank, answer: int = 200) -> tuple[IsoDelivery, list[Command]]:
    got: list[Command] = []
    d = IsoDelivery(bank, {"hpa_A": PAYER, "hpa_B": PAYEE}.get)

    async def submit(commands: list[Command]) -> list[Reply]:
        got.extend(commands)
        return [Reply(answer, {}) for _ in commands]

    d.submit = submit
    return d, got


async def test_an_acceptance_commits_and_the_pacs008_names_the_transfer() -> None:
    bank = Bank("ACCP")
    d, got = delivery(bank)
    assert await d.deliver(NOTICE, PAYEE, 1.0)
    assert got == [Fulfil(TID, "hpa_B", True, "")]
    [tx] = pacs008.parse(bank.seen[0].body or b"").transfers
    assert (tx.end_to_end_id, tx.uetr, tx.debtor_agent.member_id) == (
        TID, hub_wire.uetr_of(TID), "01",
    )  # fmt: skip


async def test_a_rejection_aborts_with_its_reason_and_pending_waits() -> None:
    d, got = delivery(Bank("RJCT"))
    assert await d.deliver(NOTICE, PAYEE, 1.0)
    assert got == [Fulfil(TID, "hpa_B", False, "payee_account_closed")]
    d, got = delivery(Bank("PDNG"))
    assert await d.deliver(NOTICE, PAYEE, 1.0) and got == []


async def test_an_answer_not_signed_by_the_payee_bank_is_ignored() -> None:
    d, got = delivery(Bank("ACCP", key="whsec_" + "C" * 32))
    assert await d.deliver(NOTICE, PAYEE, 1.0) and got == []


async def test_no_answer_or_an_unrecorded_one_is_tried_again() -> None:
    d, got = delivery(Bank(None))
    assert not await d.deliver(NOTICE, PAYEE, 1.0) and got == []
    d, got = delivery(Bank("ACCP"), answer=503)
    assert not await d.deliver(NOTICE, PAYEE, 1.0)


class Inbox:
    """A bank's endpoint taking the hub's final pacs.002, answering ``status``."""

    def __init__(self, status: int | None = 204) -> None:
        self.status = status
        self.seen: list[HttpRequest] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request)
        if self.status is None:
            raise NotSent("connection refused")
        return HttpResponse(self.status, b"", {})

    async def close(self) -> None:
        return None


async def _told(inbox: Inbox, state: str, **extra: Any) -> tuple[bool, TxStatus]:
    d = IsoDelivery(inbox, {"hpa_A": PAYER, "hpa_B": PAYEE}.get)
    kind = "committed" if state == "COMMITTED" else "aborted"
    notice = Notice("hpa_B", "evt_2", f"hub.transfer.{kind}", {**DATA, "state": state, **extra})
    ok = await d.deliver(notice, PAYEE, 1.0)
    request = inbox.seen[-1]
    assert request.url == PAYEE.endpoint_url and request.body is not None
    signed = verify(PAYEE.webhook_secret, HUB, request.headers, request.body)  # the hub signed
    report = pacs002.parse(request.body)
    assert report.msg_id == signed
    [status] = report.statuses
    return ok, status


async def test_a_transfers_end_is_the_hubs_signed_pacs002_acsc_or_rjct_with_the_reason() -> None:
    ok, st = await _told(Inbox(), "COMMITTED")
    assert ok and (st.status, st.original_end_to_end_id, st.original_uetr) == (
        "ACSC", TID, hub_wire.uetr_of(TID),
    )  # fmt: skip
    error = {"code": "3303", "reason": "the transfer expired"}
    ok, st = await _told(Inbox(), "ABORTED", error=error)
    assert ok and st.status == "RJCT" and st.reason


async def test_a_final_word_not_delivered_is_tried_again_and_a_refusal_is_not() -> None:
    assert not (await IsoDelivery(Inbox(None), {"hpa_B": PAYEE}.get).deliver(
        Notice("hpa_B", "e", "hub.transfer.committed", {**DATA, "state": "COMMITTED"}), PAYEE, 1.0
    ))  # fmt: skip
    ok, _ = await _told(Inbox(503), "COMMITTED")
    assert not ok
    ok, _ = await _told(Inbox(400), "COMMITTED")
    assert ok  # the bank refuses it for good: resending would not change its mind


async def test_position_alarms_send_nothing() -> None:
    bank = Bank("ACCP")
    d, _ = delivery(bank)
    assert await d.deliver(Notice("hpa_B", "evt_3", "hub.position.threshold", DATA), PAYEE, 1.0)
    assert bank.seen == []
