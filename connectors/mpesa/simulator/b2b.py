"""The simulated B2B (doc §9: BusinessPayBill, BusinessBuyGoods) and Tax Remittance (PayTaxToKRA,
``/mpesa/b2b/v1/remittax``) APIs.

They share the initiator machinery of :mod:`~connectors.mpesa.simulator.initiator`: the
SecurityCredential check, the fault knobs (``error_burst``, ``drop_sync_answer``,
``lose_result_callbacks``, ``duplicate_result_callbacks``, ``queue_timeouts``) and the payout
books, so Transaction Status finds a B2B payment by our OriginatorConversationID or its receipt.
A paid request debits the paying shortcode's float and credits the receiving shortcode's
utility account (``GET /__sim/b2b`` lists them).

Outcomes follow the B2C trigger table (:mod:`~connectors.mpesa.simulator.triggers`) by the last
four digits of PartyB (a paybill or till: ``...0404`` paid with no Result, ``...0408`` a queue
timeout, ``...0001`` too little float) or, for tax (PartyB is always KRA's), of the PRN.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from connectors.mpesa.simulator import initiator_wire as iw
from connectors.mpesa.simulator.answers import Refusal, json_response, refusal_response
from connectors.mpesa.simulator.ledger import Payout, conversation_id, placeholder
from connectors.mpesa.simulator.triggers import (
    B2C_INITIATOR_NOT_ALLOWED,
    B2C_INVALID_INITIATOR,
    B2cOutcome,
    b2c_outcome_for,
)
from connectors.mpesa.simulator.wire import SHORTCODE, InvalidField, _amount, _matching, _url
from connectors.simkit.admin import tail

if TYPE_CHECKING:
    from connectors.mpesa.simulator.app import Simulator

B2B_COMMANDS = frozenset({"BusinessPayBill", "BusinessBuyGoods"})
KRA = "572572"  # the only PartyB of Tax Remittance
_QUEUED = B2cOutcome(0, "", queue_timeout=True)
_NAMES = {KRA: "Kenya Revenue Authority"}


def parse(body: dict[str, Any], tax: bool) -> tuple[iw.Initiator, dict[str, Any]]:
    """Doc §9's fields (Tax Remittance: CommandID PayTaxToKRA, PartyB 572572). Our
    OriginatorConversationID is optional: without it the gateway assigns one."""
    who = iw.Initiator(iw._required(body, "Initiator"), iw._required(body, "SecurityCredential"))
    command = iw._choice(body, "CommandID", frozenset({"PayTaxToKRA"}) if tax else B2B_COMMANDS)
    iw._choice(body, "SenderIdentifierType", frozenset({"4"}))
    iw._choice(body, "RecieverIdentifierType", frozenset({"2", "4"}))  # sic (doc §1)
    fields = {
        "command_id": command,
        "amount": _amount(body),
        "party_a": _matching(body, "PartyA", SHORTCODE),
        "party_b": _matching(body, "PartyB", SHORTCODE),
        "account_reference": iw._text(
            body, "AccountReference", 20 if tax else 13, minimum=1 if tax else 0
        ),
        "remarks": iw._text(body, "Remarks", 100, minimum=1),
        "queue_timeout_url": _url(body, "QueueTimeOutURL"),
        "result_url": _url(body, "ResultURL"),
        "originator_conversation_id": iw._text(body, "OriginatorConversationID", 64, minimum=0),
    }
    if tax and fields["party_b"] != KRA:
        raise InvalidField("PartyB")
    if command == "BusinessPayBill" and not fields["account_reference"]:
        raise InvalidField("AccountReference")
    return who, fields


class B2bSim:
    def __init__(self, core: Simulator) -> None:
        self.core = core
        self._seq = 0

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/mpesa/b2b/v1/paymentrequest", self.b2b)
        router.add_post("/mpesa/b2b/v1/remittax", self.tax)
        router.add_get("/__sim/b2b", self.list_b2b)

    async def b2b(self, request: web.Request) -> web.StreamResponse:
        return await self._request(request, tax=False)

    async def tax(self, request: web.Request) -> web.StreamResponse:
        return await self._request(request, tax=True)

    async def _request(self, request: web.Request, *, tax: bool) -> web.StreamResponse:
        core, ledger = self.core, self.core.state.ledger
        try:
            core._take_burst("b2c")
            body = await core._authorised_body(request, "Initiator", "b2c")
            who, fields = parse(body, tax)
            ours = fields.pop("originator_conversation_id")
            if ours and ours in ledger.payouts:  # as B2C v3 (unverified for B2B)
                raise Refusal(500, "500.002.1001", "Duplicate OriginatorConversationID.")
        except (Refusal, InvalidField) as exc:
            await core._lag()
            return refusal_response(exc)
        if not ours:
            self._seq += 1
            ours = f"b2b-{self._seq}-{int(time.time() * 1000)}"
        payout = self._pay(who, ours, fields)
        await core._lag()
        if core.config.drop_sync_answer > 0:
            core.config.drop_sync_answer -= 1
            payout.answer_dropped = True
            core.state.stats.sync_answers_dropped += 1
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=200)  # never written: the transport is closed
        return json_response(iw.accepted(payout.originator_conversation_id, payout.conversation_id))

    def _outcome(self, who: iw.Initiator, fields: dict[str, Any]) -> B2cOutcome:
        initiator, config = self.core.initiator, self.core.config
        key = fields["account_reference"] if fields["command_id"] == "PayTaxToKRA" else None
        key = key or fields["party_b"]
        if initiator._take_queue_timeout() or key.endswith("0408"):
            return _QUEUED  # never reached M-Pesa's core: nothing is checked or paid
        if not initiator._initiator_ok(who):
            return B2C_INVALID_INITIATOR
        if fields["party_a"] != config.b2c_shortcode:
            return B2C_INITIATOR_NOT_ALLOWED
        return b2c_outcome_for(key, fields["amount"], config.b2c_float_cents)

    def _pay(self, who: iw.Initiator, ours: str, fields: dict[str, Any]) -> Payout:
        core, config, ledger = self.core, self.core.config, self.core.state.ledger
        wall, delay = time.time(), config.callback_delay
        outcome = self._outcome(who, fields)
        amount, party_b = fields["amount"], fields["party_b"]
        if outcome.paid:
            config.b2c_float_cents -= amount * 100
            ledger.credit(party_b, amount * 100)
        receipt = core.state.receipt(wall + delay)
        url = fields["queue_timeout_url"] if outcome.queue_timeout else fields["result_url"]
        payout = Payout(
            originator_conversation_id=ours,
            conversation_id=conversation_id(wall),
            command_id=fields["command_id"],
            amount=amount,
            phone=party_b,  # the receiving shortcode
            party_a=fields["party_a"],
            remarks=fields["remarks"],
            occasion=fields["account_reference"],
            result_code=outcome.result_code,
            result_desc=outcome.result_desc,
            transaction_id=receipt if outcome.paid else placeholder(receipt),
            receiver_name=_NAMES.get(party_b, f"Business {party_b}"),
            paid=outcome.paid,
            timed_out=outcome.queue_timeout,
            utility_after_cents=config.b2c_float_cents,
            delivery=core.initiator._delivery(url, lost=not outcome.sends_result),
            created_at=wall,
            due_at=core._now() + delay,
        )
        ledger.add_payout(payout, config.max_records)
        core.initiator._schedule(payout.conversation_id, payout.delivery, lambda: result(payout))
        return payout

    async def list_b2b(self, request: web.Request) -> web.Response:
        """Every B2B and tax payment, ``?party_b=`` (the paybill, till or 572572) to filter."""
        now, q = self.core._now(), request.query
        found = [
            p.to_json(now)
            for p in self.core.state.ledger.payouts.values()
            if p.command_id not in iw.B2C_COMMANDS and q.get("party_b") in (None, p.phone)
        ]
        return json_response(tail(found, q.get("limit", "")))


def result(payout: Payout) -> dict[str, Any]:
    """The Result as doc §9's samples show it: string codes on success, a reference array."""
    ids = (payout.originator_conversation_id, payout.conversation_id, payout.transaction_id)
    refs: iw.Pairs = [
        ("BillReferenceNumber", payout.occasion or None),
        ("QueueTimeoutURL", iw.SAFARICOM_QUEUE_URL),
    ]
    if payout.timed_out:
        return iw.result(iw.QUEUE_TIMEOUT_CODE, iw.QUEUE_TIMEOUT_DESC, *ids, None, None)
    if not payout.paid:
        return iw.result(payout.result_code, payout.result_desc, *ids, None, refs)
    balance = iw.kes(payout.utility_after_cents)
    before = iw.kes(payout.utility_after_cents + payout.amount * 100)
    params: iw.Pairs = [
        ("DebitAccountBalance", _amount_text(payout.utility_after_cents)),
        ("Amount", f"{payout.amount:.2f}"),
        ("DebitPartyAffectedAccountBalance", f"Working Account|KES|{before}|{balance}|0.00|0.00"),
        ("TransCompletedTime", iw.stamp(time.time())),
        ("DebitPartyCharges", ""),
        ("ReceiverPartyPublicName", f"{payout.phone} - {payout.receiver_name}"),
        ("Currency", "KES"),
        ("InitiatorAccountCurrentBalance", _amount_text(payout.utility_after_cents)),
    ]
    return iw.result(0, iw.SUCCESS, *ids, params, refs, strings=True)


def _amount_text(cents: int) -> str:
    """``{Amount={CurrencyCode=KES, MinimumAmount=618683, BasicAmount=6186.83}}`` (doc §9)."""
    return f"{{Amount={{CurrencyCode=KES, MinimumAmount={cents}, BasicAmount={cents / 100:.2f}}}}}"
