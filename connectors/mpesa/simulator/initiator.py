"""The simulated initiator APIs: B2C v3, Transaction Status, Reversal, Account Balance (doc §7-§12).

Each request is checked at the gateway (token, fields, B2C's unique OriginatorConversationID),
acknowledged, and its ``Result`` POSTed to ResultURL ``callback_delay`` seconds later (or to
QueueTimeOutURL after a queue timeout). The SecurityCredential is decrypted with the sandbox key
(:mod:`~connectors.mpesa.simulator.sandbox`); a wrong one is not a gateway error but a Result with
ResultCode 2001, as in the doc's B2C failure sample.

Money moves at acceptance: a payout debits the float (``b2c_float_cents``) at once, a reversal the
paybill's utility account, so the books (``GET /__sim/b2c``) never lag what was promised. A
Transaction Status or Account Balance Result is built when it is sent, from the books as they are.

Fault knobs used here: ``error_burst`` (B2C), ``drop_sync_answer`` (B2C: processed, answer lost),
``lose_result_callbacks``, ``duplicate_result_callbacks``, ``queue_timeouts``.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from connectors.mpesa.simulator import initiator_wire as iw
from connectors.mpesa.simulator.answers import (
    Refusal,
    TokenStyle,
    json_response,
    refusal_response,
)
from connectors.mpesa.simulator.ledger import (
    Delivery,
    InitiatorRequest,
    Payout,
    RequestKind,
    Reversal,
    conversation_id,
    gateway_originator_id,
    placeholder,
)
from connectors.mpesa.simulator.sandbox import decrypt_credential
from connectors.mpesa.simulator.triggers import (
    B2C_INITIATOR_NOT_ALLOWED,
    B2C_INVALID_INITIATOR,
    B2C_TRIGGERS,
    B2cOutcome,
    b2c_outcome_for,
)
from connectors.mpesa.simulator.wire import MSISDN, InvalidField
from connectors.simkit.admin import tail

if TYPE_CHECKING:
    from connectors.mpesa.simulator.app import Simulator

Body = dict[str, Any]
Build = Callable[[], Body]

_QUEUED = B2cOutcome(0, "", queue_timeout=True)
_MAX_CREDENTIALS = 4096  # decrypted credentials kept; clients reuse one (doc §7)
_ORG = "Sandbox Org"  # the simulated organisation's public name
_REASONS = {  # ReasonType by CommandID; only the first is the doc's (doc §10)
    "BusinessPayment": "Business Payment to Customer via API",
    "SalaryPayment": "Salary Payment via API",
    "PromotionPayment": "Promotion Payment via API",
    "BusinessPayBill": "Business Pay Bill",  # B2B and tax: the simulator's wording
    "BusinessBuyGoods": "Business Buy Goods",
    "PayTaxToKRA": "Pay Tax to KRA",
}


@dataclass(frozen=True, slots=True)
class Original:
    """A C2B or STK payment a reversal or a status query can point at."""

    receipt: str
    shortcode: str
    amount: int
    phone: str
    created_at: float
    status: str  # Completed | Cancelled | Pending
    reason_type: str
    c2b: bool


class InitiatorSim:
    def __init__(self, core: Simulator) -> None:
        self.core = core
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._credentials: dict[str, str | None] = {}
        self._seq = 0

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/mpesa/b2c/v3/paymentrequest", self.b2c)
        router.add_post("/mpesa/transactionstatus/v1/query", self.transaction_status)
        router.add_post("/mpesa/reversal/v1/request", self.reversal)
        router.add_post("/mpesa/accountbalance/v1/query", self.account_balance)
        router.add_get("/__sim/b2c", self.list_b2c)
        router.add_get("/__sim/b2c/{originator_conversation_id}", self.get_b2c)
        router.add_get("/__sim/initiator", self.list_requests)
        router.add_put("/__sim/customers/{phone}", self.put_customer)

    def cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def pending(self) -> int:
        return len(self._timers)

    # --- B2C v3 (doc §8) -----------------------------------------------------------------------

    async def b2c(self, request: web.Request) -> web.StreamResponse:
        core, stats = self.core, self.core.state.stats
        stats.b2c_requests += 1
        try:
            core._take_burst("b2c")
            body = await core._authorised_body(request, "OriginatorConversationID", "b2c")
            order = iw.parse_b2c(body)
            if order.originator_conversation_id in core.state.ledger.payouts:
                raise Refusal(500, "500.002.1001", "Duplicate OriginatorConversationID.")
        except (Refusal, InvalidField) as exc:
            stats.b2c_rejected += 1
            await core._lag()
            return refusal_response(exc)
        payout = self._pay(order)
        await core._lag()
        if core.config.drop_sync_answer > 0:
            core.config.drop_sync_answer -= 1
            payout.answer_dropped = True
            stats.sync_answers_dropped += 1
            return _drop(request)
        return json_response(iw.accepted(payout.originator_conversation_id, payout.conversation_id))

    def _pay(self, order: iw.B2cRequest) -> Payout:
        core, config = self.core, self.core.config
        wall, delay = time.time(), config.callback_delay
        outcome = self._payout_outcome(order)
        if outcome.paid:
            config.b2c_float_cents -= order.amount * 100
            core.state.stats.b2c_paid += 1
        receipt = core.state.receipt(wall + delay)
        url = order.queue_timeout_url if outcome.queue_timeout else order.result_url
        payout = Payout(
            originator_conversation_id=order.originator_conversation_id,
            conversation_id=conversation_id(wall),
            command_id=order.command_id,
            amount=order.amount,
            phone=order.party_b,
            party_a=order.party_a,
            remarks=order.remarks,
            occasion=order.occasion,
            result_code=outcome.result_code,
            result_desc=outcome.result_desc,
            transaction_id=receipt if outcome.paid else placeholder(receipt),
            receiver_name=core.state.ledger.name_of(order.party_b),
            paid=outcome.paid,
            timed_out=outcome.queue_timeout,
            utility_after_cents=config.b2c_float_cents,
            delivery=self._delivery(url, lost=not outcome.sends_result),
            created_at=wall,
            due_at=core._now() + delay,
        )
        core.state.ledger.add_payout(payout, config.max_records)
        core.state.stats.b2c_accepted += 1
        self._schedule(payout.conversation_id, payout.delivery, lambda: self._payout_body(payout))
        return payout

    def _payout_outcome(self, order: iw.B2cRequest) -> B2cOutcome:
        trigger = B2C_TRIGGERS.get(order.party_b[-4:])
        if self._take_queue_timeout() or (trigger is not None and trigger.queue_timeout):
            return _QUEUED  # never reached M-Pesa's core: nothing is checked or paid
        if not self._initiator_ok(order.initiator):
            return B2C_INVALID_INITIATOR
        if order.party_a != self.core.config.b2c_shortcode:
            return B2C_INITIATOR_NOT_ALLOWED
        return b2c_outcome_for(order.party_b, order.amount, self.core.config.b2c_float_cents)

    def _payout_body(self, payout: Payout) -> Body:
        ids = (payout.originator_conversation_id, payout.conversation_id, payout.transaction_id)
        if payout.timed_out:
            return _queue_timeout(*ids)
        if not payout.paid:
            return iw.result(
                payout.result_code, payout.result_desc, *ids, None, iw.queue_reference()
            )
        params = iw.b2c_parameters(
            amount=payout.amount,
            receipt=payout.transaction_id,
            phone=payout.phone,
            name=payout.receiver_name,
            completed=time.time(),
            utility_cents=payout.utility_after_cents,
            working_cents=0,
            charges_cents=0,  # the simulator charges no fees (the tariff is not in the doc)
        )
        return iw.result(0, iw.SUCCESS, *ids, params, iw.queue_reference())

    # --- Transaction Status, Reversal, Account Balance (doc §10-§12) ---------------------------

    async def transaction_status(self, request: web.Request) -> web.StreamResponse:
        return await self._query(request, "status", "status", iw.parse_status, self._status)

    async def reversal(self, request: web.Request) -> web.StreamResponse:
        return await self._query(request, "reversal", "reversal", iw.parse_reversal, self._reverse)

    async def account_balance(self, request: web.Request) -> web.StreamResponse:
        return await self._query(request, "balance", "balance", iw.parse_balance, self._balance)

    async def _query(
        self,
        request: web.Request,
        kind: RequestKind,
        style: TokenStyle,
        parse: Callable[[dict[str, Any]], Any],
        plan: Callable[[Any, InitiatorRequest], Build],
    ) -> web.StreamResponse:
        core = self.core
        core.state.stats.initiator_requests += 1
        try:
            order = parse(await core._authorised_body(request, "Initiator", style))
        except (Refusal, InvalidField) as exc:
            await core._lag()
            return refusal_response(exc)
        record = self._record(kind, order)
        build = self._plan(order, record, plan)
        self._schedule(record.conversation_id, record.delivery, _noting(record, build))
        await core._lag()
        ack = iw.accepted(record.originator_conversation_id, record.conversation_id)
        return json_response(ack)

    def _plan(
        self, order: Any, record: InitiatorRequest, plan: Callable[[Any, InitiatorRequest], Build]
    ) -> Build:
        if self._take_queue_timeout():  # never reached M-Pesa's core
            record.delivery.url = order.queue_timeout_url
            return functools.partial(_queue_timeout, *_ids(record))
        if not self._initiator_ok(order.initiator):
            desc, strings = B2C_INVALID_INITIATOR.result_desc, record.kind == "balance"
            return functools.partial(iw.result, 2001, desc, *_ids(record), strings=strings)
        return plan(order, record)

    def _record(self, kind: RequestKind, order: Any) -> InitiatorRequest:
        wall = time.time()
        self._seq += 1
        skip = ("initiator", "result_url", "queue_timeout_url")
        summary = {f.name: str(getattr(order, f.name)) for f in fields(order) if f.name not in skip}
        record = InitiatorRequest(
            kind=kind,
            originator_conversation_id=gateway_originator_id(self._seq),
            conversation_id=conversation_id(wall),
            fields=summary,
            delivery=self._delivery(order.result_url, lost=False),
            created_at=wall,
        )
        self.core.state.ledger.add_request(record, self.core.config.max_records)
        return record

    def _status(self, order: iw.StatusRequest, record: InitiatorRequest) -> Build:
        def build() -> Body:
            facts = self._facts(order)
            if facts is None:
                return iw.result(
                    iw.NOT_FOUND_CODE, iw.NOT_FOUND_DESC, *_ids(record), None, _occasion(order)
                )
            params = iw.status_parameters(facts)
            return iw.result(0, iw.SUCCESS, *_ids(record), params, _occasion(order))

        return build

    def _facts(self, order: iw.StatusRequest) -> iw.StatusFacts | None:
        """Look the transaction up when the Result is built, by receipt first."""
        ledger, receipt = self.core.state.ledger, order.transaction_id
        express = self.core.express.facts(order.original_conversation_id, receipt)
        if express is not None:  # a paid B2B Express Checkout prompt
            return express
        payout = ledger.payout_by_receipt(receipt) if receipt else None
        original = self._original(receipt) if receipt and payout is None else None
        if original is not None:
            return self._payment_facts(original)
        if payout is None and order.original_conversation_id:
            payout = ledger.payout(order.original_conversation_id)
        if payout is None or payout.timed_out:  # a queue timeout never reached M-Pesa's books
            return None
        return self._payout_facts(payout)

    def _payout_facts(self, payout: Payout) -> iw.StatusFacts:
        state = payout.state(self.core._now())
        status = {"processing": "Pending", "completed": "Completed"}.get(state, "Declined")
        delay = self.core.config.callback_delay
        return iw.StatusFacts(
            status=status,
            receipt=payout.transaction_id,
            amount=payout.amount,
            debit_party=f"{payout.party_a} - {_ORG}",
            credit_party=f"{payout.phone} - {payout.receiver_name}",
            originator_conversation_id=payout.originator_conversation_id,
            conversation_id=payout.conversation_id,
            initiated=payout.created_at,
            finalised=None if state == "processing" else payout.created_at + delay,
            debit_account_type="Utility Account",
            reason_type=_REASONS.get(payout.command_id, "Business Payment to Customer via API"),
            charges="Fee For B2C Payment|KES|0.00",
        )

    def _payment_facts(self, original: Original) -> iw.StatusFacts:
        name = self.core.state.ledger.name_of(original.phone)
        return iw.StatusFacts(
            status=original.status,
            receipt=original.receipt,
            amount=original.amount,
            debit_party=f"{original.phone} - {name}",
            credit_party=f"{original.shortcode} - {_ORG}",
            originator_conversation_id="",
            conversation_id="",
            initiated=original.created_at,
            finalised=None if original.status == "Pending" else original.created_at,
            debit_account_type="Customer M-Pesa Account",
            reason_type=original.reason_type,
            charges="",
        )

    def _original(self, receipt: str) -> Original | None:
        """A C2B or STK payment by its receipt; STK ones only once the customer has paid."""
        state, now = self.core.state, self.core._now()
        payment = state.ledger.c2b.get(receipt)
        if payment is not None:
            status = {"completed": "Completed", "validating": "Pending"}.get(
                payment.state, "Cancelled"
            )
            reason = "Pay Bill" if payment.command_id == "CustomerPayBillOnline" else "Buy Goods"
            return Original(
                receipt,
                payment.shortcode,
                payment.amount,
                payment.msisdn,
                payment.created_at,
                status,
                reason,
                c2b=True,
            )
        record = state.records.get(state.receipts.get(receipt, ""))
        if record is None or record.result_code != 0 or record.due_at > now:
            return None
        return Original(
            receipt,
            self.core.config.shortcode,
            record.amount,
            record.phone,
            record.created_at,
            "Completed",
            "Pay Bill Online",
            c2b=False,
        )

    def _reverse(self, order: iw.ReversalRequest, record: InitiatorRequest) -> Build:
        """Decided now, so two reversals of one receipt give one R000001 (doc §11).

        The doc does not say what a different ``Amount`` does: the simulator always reverses the
        whole original amount, and answers R000002 for a receipt it does not know, one paid to
        another shortcode than ``ReceiverParty``, or a B2C payout (portal only, doc §8).
        """
        ledger, wall = self.core.state.ledger, time.time()
        original = self._original(order.transaction_id)
        ids = _ids(record)
        refs = _occasion(order)
        usable = original is not None and original.status == "Completed"
        if original is None or not usable or original.shortcode != order.receiver_party:
            body = iw.result("R000002", "The OriginalTransactionID is invalid.", *ids, None, refs)
        elif original.receipt in ledger.reversals:
            body = iw.result(
                "R000001", "The transaction has already been reversed.", *ids, None, refs
            )
        elif ledger.utility.get(original.shortcode, 0) < original.amount * 100:
            body = iw.result(
                1, "The balance is insufficient for the transaction.", *ids, None, refs
            )
        else:
            body = self._reversed(original, record, wall)
        return lambda: body

    def _reversed(self, original: Original, record: InitiatorRequest, wall: float) -> Body:
        ledger = self.core.state.ledger
        receipt = self.core.state.receipt(wall)
        balance = ledger.credit(original.shortcode, -original.amount * 100)
        ledger.reversals[original.receipt] = Reversal(
            original.receipt, receipt, original.shortcode, original.amount
        )
        if original.c2b:
            ledger.c2b[original.receipt].reversed_by = receipt
        params = iw.reversal_parameters(
            balance=iw.accounts_text([("Utility Account", balance)]),
            amount=original.amount,
            completed=wall,
            original=original.receipt,
            credit_party=f"{original.phone} - {ledger.name_of(original.phone)}",
            debit_party=f"{original.shortcode} - {_ORG}",
        )
        ocid, cid, _ = _ids(record)
        return iw.result(0, iw.SUCCESS, ocid, cid, receipt, params, None)

    def _balance(self, order: iw.BalanceRequest, record: InitiatorRequest) -> Build:
        def build() -> Body:
            accounts = self._accounts(order.party_a)
            if accounts is None:
                desc = B2C_INITIATOR_NOT_ALLOWED.result_desc
                return iw.result(21, desc, *_ids(record), None, None, strings=True)
            params = iw.balance_parameters(accounts, time.time())
            return iw.result(
                0, iw.SUCCESS, *_ids(record), params, iw.queue_reference(), strings=True
            )

        return build

    def _accounts(self, party: str) -> list[tuple[str, int]] | None:
        """B2C shortcode: Working, Utility (the float), Charges Paid; a paybill: the doc §12
        sample's five accounts, its utility holding what it received. Other shortcodes: None."""
        config, ledger = self.core.config, self.core.state.ledger
        if party == config.b2c_shortcode:
            utility = config.b2c_float_cents
            return [
                ("Working Account", 0),
                ("Utility Account", utility),
                ("Charges Paid Account", 0),
            ]
        if party == config.shortcode or party in ledger.registrations or party in ledger.utility:
            return [
                ("Working Account", 0),
                ("Float Account", 0),
                ("Utility Account", ledger.utility.get(party, 0)),
                ("Charges Paid Account", 0),
                ("Organization Settlement Account", 0),
            ]
        return None

    # --- shared mechanics ----------------------------------------------------------------------

    def _initiator_ok(self, who: iw.Initiator) -> bool:
        config = self.core.config
        if who.name != config.initiator_name:
            return False
        if who.credential not in self._credentials:
            if len(self._credentials) >= _MAX_CREDENTIALS:
                self._credentials.clear()
            self._credentials[who.credential] = decrypt_credential(who.credential)
        password = self._credentials[who.credential]
        expected = config.initiator_password.encode()
        return password is not None and secrets.compare_digest(password.encode(), expected)

    def _take_queue_timeout(self) -> bool:
        if self.core.config.queue_timeouts > 0:
            self.core.config.queue_timeouts -= 1
            return True
        return False

    def _delivery(self, url: str, *, lost: bool) -> Delivery:
        config = self.core.config
        if not lost and config.lose_result_callbacks > 0:
            config.lose_result_callbacks -= 1
            lost = True
        return Delivery(url, 1 + config.duplicate_result_callbacks, lost)

    def _schedule(self, key: str, delivery: Delivery, build: Build) -> None:
        loop = asyncio.get_running_loop()
        delay = self.core.config.callback_delay
        self._timers[key] = loop.call_later(delay, self._fire, key, delivery, build)

    def _fire(self, key: str, delivery: Delivery, build: Build) -> None:
        self._timers.pop(key, None)
        body = build()
        if delivery.lost:
            self.core.state.stats.results_lost += 1
            return
        self.core._spawn(self._deliver(delivery, orjson.dumps(body)))

    async def _deliver(self, delivery: Delivery, body: bytes) -> None:
        stats = self.core.state.stats
        for _ in range(delivery.copies):  # no retries: Daraja's retry behaviour is unverified
            status, _, error = await self.core.post_json(delivery.url, body)
            delivery.statuses.append(status)
            if error is not None:
                delivery.error = error
            stats.results_sent += 1
            if status is None or not 200 <= status < 300:
                stats.results_failed += 1

    # --- control endpoints (not Daraja) --------------------------------------------------------

    async def list_b2c(self, request: web.Request) -> web.Response:
        """Every B2C payout with its state: ``processing``, ``completed``, ``failed``,
        ``timed_out`` (B2B and tax payments share the books: ``GET /__sim/b2b`` lists those)."""
        now, q = self.core._now(), request.query
        payouts = [
            p.to_json(now)
            for p in self.core.state.ledger.payouts.values()
            if p.command_id in iw.B2C_COMMANDS and q.get("phone") in (None, p.phone)
        ]
        if "state" in q:
            payouts = [p for p in payouts if p["state"] == q["state"]]
        return json_response(tail(payouts, q.get("limit", "")))

    async def get_b2c(self, request: web.Request) -> web.Response:
        payout = self.core.state.ledger.payout(request.match_info["originator_conversation_id"])
        if payout is None:
            return json_response({"error": "unknown OriginatorConversationID"}, 404)
        return json_response(payout.to_json(self.core._now()))

    async def list_requests(self, request: web.Request) -> web.Response:
        kind = request.query.get("kind")
        requests = self.core.state.ledger.requests.values()
        return json_response([r.to_json() for r in requests if kind in (None, r.kind)])

    async def put_customer(self, request: web.Request) -> web.Response:
        """Set a customer's registered name: ``PUT /__sim/customers/2547... {"name": "..."}``."""
        phone = request.match_info["phone"]
        try:
            name = orjson.loads(await request.read()).get("name")
        except (orjson.JSONDecodeError, AttributeError):
            name = None
        if not MSISDN.match(phone) or not isinstance(name, str) or not name.strip():
            return json_response(
                {"error": 'PUT /__sim/customers/2547XXXXXXXX {"name": "..."}'}, 400
            )
        self.core.state.ledger.names[phone] = name.strip().upper()
        return json_response({"phone": phone, "name": self.core.state.ledger.names[phone]})


def _ids(record: InitiatorRequest) -> tuple[str, str, str]:
    """(OriginatorConversationID, ConversationID, TransactionID) of a query's Result."""
    return record.originator_conversation_id, record.conversation_id, ""


def _occasion(order: Any) -> iw.Pairs:
    return iw.occasion_reference(order.occasion)


def _queue_timeout(ocid: str, cid: str, transaction_id: str) -> Body:
    return iw.result(
        iw.QUEUE_TIMEOUT_CODE, iw.QUEUE_TIMEOUT_DESC, ocid, cid, transaction_id, None, None
    )


def _noting(record: InitiatorRequest, build: Build) -> Build:
    """Keep the Result's code on the record for ``GET /__sim/initiator``."""

    def noted() -> Body:
        body = build()
        record.result_code = body["Result"]["ResultCode"]
        record.result_desc = body["Result"]["ResultDesc"]
        return body

    return noted


def _drop(request: web.Request) -> web.Response:
    """Close the connection without answering: the request was processed, the answer is lost."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=200)  # never written: the transport is closed
