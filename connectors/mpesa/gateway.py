"""The M-Pesa provider gateway for one Daraja account: keeps the access token and the connection
pool warm, caps concurrency, applies the retry policy and maps answers into switch outcomes.

Retry policy (money-safety rule 2, shared by every gateway in :mod:`connectors.gateway`): a request
is sent again only when it provably did not take effect: the connection never opened (NotSent), the
gateway refused the token, or Daraja throttled it (HTTP 429/503, spike arrest, quota) before
accepting it. Anything else that is not a clear answer (a timeout, a dropped connection, a generic
5xx) may hide a prompt on the customer's phone, so it becomes ``answer_lost``: the switch then
waits for the callback or asks by status query."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from connectors.gateway import GatewayCore, ProviderFault, Step, TokenUnavailable, Wording
from connectors.http import HttpRequest, HttpResponse
from connectors.mpesa import (
    B2cOrder,
    BalanceQuery,
    C2bRegistration,
    DarajaAccount,
    DarajaConnector,
    ProviderError,
    ReversalOrder,
    StatusQuery,
    StkAccepted,
    StkPending,
    StkPushOrder,
    StkResult,
    express,
)
from connectors.mpesa import outcomes as mpesa_outcomes
from connectors.mpesa.b2b import B2bOrder
from connectors.mpesa.orders import (
    B2bOrderMsg,
    B2cOrderMsg,
    ExpressOrderMsg,
    ReversalOrderMsg,
    StkOrder,
)
from connectors.mpesa.outcomes import (
    accepted,
    answer_lost,
    from_stk_result,
    queued,
    rejected,
)
from connectors.mpesa.qr import QrCode, QrOrder, parse_qr
from connectors.mpesa.transformers import parse_error
from connectors.transport import AiohttpTransport, Transport
from switch.breaker import Breaker
from switch.config import Settings
from switch.messages import (
    Order,
    ProviderOutcome,
    QueryRequest,
    QueryResult,
    StatusRequest,
    SubmitResult,
)
from switch.payments import ProviderRefs
from switch.states import Event

log = logging.getLogger(__name__)

__all__ = ["MpesaGatewayCore", "TokenUnavailable"]


class InvalidOrder(ValueError):
    """An order Daraja's fields cannot carry (a remark too short, say): refused unsent."""


@contextlib.contextmanager
def _invalid() -> Iterator[None]:
    try:
        yield
    except ValueError as exc:
        raise InvalidOrder(str(exc)) from exc


Wire = StkPushOrder | B2cOrder | B2bOrder | ReversalOrder | ExpressOrderMsg


def _wire(order: Order) -> Wire | None:
    """Daraja's order for ours, built (and checked: InvalidOrder) before anything is sent; None
    for another rail's order. An Express Checkout is built by the gateway (it names the
    gateway's own paybill)."""
    with _invalid():
        if isinstance(order, ExpressOrderMsg):
            return order
        if isinstance(order, StkOrder):
            return StkPushOrder(
                amount=order.amount,
                phone=order.phone,
                account_reference=order.account_reference,
                description=order.description,
                callback_url=order.callback_url,
            )
        if isinstance(order, B2cOrderMsg):
            # Our payout id is the OriginatorConversationID: the same on every attempt, so
            # Daraja refuses a second copy (doc §8) and Transaction Status can find it.
            return B2cOrder(
                originator_conversation_id=order.payment_id,
                command_id=order.command,  # type: ignore[arg-type]  # validated by the api
                amount=order.amount,
                phone=order.phone,
                remarks=order.remarks,
                occasion=order.occasion,
                result_url=order.result_url,
                queue_timeout_url=order.timeout_url,
            )
        if isinstance(order, B2bOrderMsg):
            return B2bOrder(
                originator_conversation_id=order.payment_id,
                command_id=order.command,  # type: ignore[arg-type]  # one of B2B_RAILS'
                amount=order.amount,
                party_b=order.party_b,
                account_reference=order.account_reference,
                remarks=order.remarks,
                result_url=order.result_url,
                queue_timeout_url=order.timeout_url,
                occasion=order.occasion,
            )
        if isinstance(order, ReversalOrderMsg):
            return ReversalOrder(
                transaction_id=order.receipt,
                amount=order.amount,
                result_url=order.result_url,
                queue_timeout_url=order.timeout_url,
                receiver_party=order.receiver_party,
                remarks=order.remarks,
            )
    return None


class MpesaGatewayCore(GatewayCore[DarajaConnector]):
    provider = "mpesa"
    provider_name = "M-Pesa"
    wording: ClassVar[Wording] = mpesa_outcomes

    def _step(self, fault: ProviderFault) -> Step:
        # A duplicate OriginatorConversationID is read where it can occur (B2C, _map_b2c);
        # anywhere else it stays what it always was here: a possibly processed request.
        return "lost" if fault.kind == "duplicate" else super()._step(fault)

    # --- STK push --------------------------------------------------------------------------

    async def submit(self, orders: list[Order]) -> list[SubmitResult]:
        return await self._each(orders, self._submit_any)

    async def _submit_any(self, order: Order) -> ProviderOutcome:
        try:
            wire = _wire(order)
        except InvalidOrder as exc:
            # Refused before anything is sent, this order alone (never the rest of the batch).
            return rejected("invalid_order", f"the order is not valid for M-Pesa: {exc}")
        if isinstance(wire, B2cOrder):
            return await self._submit_b2c(wire)
        if isinstance(wire, B2bOrder):
            return await self._submit_b2b(wire)
        if isinstance(wire, ReversalOrder):
            return await self._submit_reversal(wire)
        if isinstance(wire, StkPushOrder):
            return await self._submit_one(wire)
        if isinstance(wire, ExpressOrderMsg):
            try:
                return await self._submit_express(wire)
            except ValueError as exc:
                return rejected("invalid_order", f"the order is not valid for M-Pesa: {exc}")
        # Another rail's order sent here by mistake: refused before anything is sent.
        return rejected("", f"M-Pesa cannot carry a {type(order).__name__}")

    # --- sending -------------------------------------------------------------------------------

    async def _submit_reversal(self, wire: ReversalOrder) -> ProviderOutcome:
        def build(token: str) -> HttpRequest:
            return self.connector.reversal_request(token, wire)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            ack = self.connector.parse_initiator_ack(resp)
            return ack if isinstance(ack, ProviderError) else queued(ack.conversation_id)

        async with self._slots:
            return await self._with_retries("reversal", build, parse)

    async def _submit_one(self, wire: StkPushOrder) -> ProviderOutcome:
        def build(token: str) -> HttpRequest:
            return self.connector.stk_push_request(token, wire, datetime.now(UTC))

        async with self._slots:
            return await self._with_retries("stk_push", build, self._map_push)

    def _map_push(self, resp: HttpResponse) -> ProviderOutcome | ProviderError:
        parsed = self.connector.parse_stk_push(resp)
        if isinstance(parsed, StkAccepted):
            return accepted(parsed.merchant_request_id, parsed.checkout_request_id)
        return parsed

    # --- B2C payouts ----------------------------------------------------------------------

    async def _submit_b2c(self, wire: B2cOrder) -> ProviderOutcome:
        def build(token: str) -> HttpRequest:
            return self.connector.b2c_request(token, wire)

        async with self._slots:
            return await self._with_retries(
                "b2c", build, lambda resp: self._map_b2c(resp, wire.originator_conversation_id)
            )

    def _map_b2c(self, resp: HttpResponse, ours: str) -> ProviderOutcome | ProviderError:
        parsed = self.connector.parse_b2c_ack(resp)
        if not isinstance(parsed, ProviderError) and parsed.originator_conversation_id != ours:
            # B2C v3 echoes our OriginatorConversationID (doc §8): an acknowledgement naming
            # another request says nothing about this one. Not a failure either (ours may have
            # been taken): the result callback or Transaction Status will tell.
            log.warning(
                "B2C acknowledgement for %s names %r", ours, parsed.originator_conversation_id
            )
            return answer_lost("the acknowledgement named another request")
        if isinstance(parsed, ProviderError):
            if parsed.kind == "duplicate":
                # Daraja already has this payout: never resend, learn its fate by status query.
                return answer_lost(f"{parsed.code} {parsed.message}")
            return parsed
        return queued(parsed.conversation_id)

    async def _submit_b2b(self, wire: B2bOrder) -> ProviderOutcome:
        def build(token: str) -> HttpRequest:
            return self.connector.b2b_request(token, wire)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            ack = self.connector.parse_initiator_ack(resp)
            if isinstance(ack, ProviderError):
                # Already taken (if B2B refuses a second OriginatorConversationID, unverified):
                # never resend, learn its fate by status query.
                return answer_lost(f"{ack.code} {ack.message}") if ack.kind == "duplicate" else ack
            return queued(ack.conversation_id)

        async with self._slots:
            return await self._with_retries("b2b", build, parse)

    # --- B2B Express Checkout (connectors/mpesa/express.py) -----------------------------------

    async def _submit_express(self, order: ExpressOrderMsg) -> ProviderOutcome:
        # Our payment id is the RequestRefID: the same on every attempt.
        wire = express.ExpressOrder(
            order.payment_id, order.till, self.connector.account.shortcode, order.amount,
            order.payment_ref, order.partner_name, order.callback_url,
        )  # fmt: skip
        url = self.connector.account.base_url.rstrip("/") + express.PATH

        def build(token: str) -> HttpRequest:
            auth = {"Authorization": f"Bearer {token}"}
            return HttpRequest.json("POST", url, wire.body(), auth, self.connector.timeout)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            if resp.status in (401, 404, 429, 503) and b"errorCode" in resp.body:
                return parse_error(resp)  # a token to renew, a gateway refusal or a throttle
            ack = express.parse_ack(resp.status, resp.body)
            if ack.ok:  # the prompt is on the operator's phone; the result follows by callback
                return ProviderOutcome(Event.QUEUED)
            if resp.status == 409:
                # Our RequestRefID again (unverified how Daraja words it): the first prompt
                # stands, so never a failure; its callback or Transaction Status will tell.
                return answer_lost(f"{ack.code} {ack.status}")
            return rejected(ack.code, ack.status or "refused")

        async with self._slots:
            return await self._with_retries("b2b_express", build, parse)

    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]:
        """Send Transaction Status queries; the answers come to each request's result URL.
        True when Daraja took the query."""
        return list(await asyncio.gather(*(self._ask_one(r) for r in requests)))

    async def _ask_one(self, req: StatusRequest) -> bool:
        # A payout is found by our OriginatorConversationID; a C2B payment by its receipt on the
        # shortcode it credited (doc §10: TransactionID, PartyA, IdentifierType 4).
        query = StatusQuery(
            result_url=req.result_url,
            queue_timeout_url=req.timeout_url,
            transaction_id=req.transaction_id,
            original_conversation_id=None if req.transaction_id else req.payment_id,
            party_a=req.party_a,
        )

        def build(token: str) -> HttpRequest:
            return self.connector.transaction_status_request(token, query)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            ack = self.connector.parse_initiator_ack(resp)
            return ack if isinstance(ack, ProviderError) else ProviderOutcome(Event.QUEUED)

        async with self._slots:
            outcome = await self._with_retries("transaction_status", build, parse)
        return outcome.event == Event.QUEUED

    # --- Account Balance --------------------------------------------------------------------

    async def query_balance(self, result_url: str, timeout_url: str) -> bool:
        """Ask for the float of the B2C shortcode; the answer comes to ``result_url``."""
        query = BalanceQuery(result_url=result_url, queue_timeout_url=timeout_url)

        def build(token: str) -> HttpRequest:
            return self.connector.account_balance_request(token, query)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            ack = self.connector.parse_initiator_ack(resp)
            return ack if isinstance(ack, ProviderError) else ProviderOutcome(Event.QUEUED)

        outcome = await self._with_retries("account_balance", build, parse)
        return outcome.event == Event.QUEUED

    # --- Dynamic QR ---------------------------------------------------------------------------

    async def generate_qr(self, order: QrOrder) -> dict[str, str]:
        """A QR code for a till or paybill: ``png`` (base64), or ``error``. Moves no money, so
        any failure may simply be asked again."""
        made: list[QrCode] = []

        def build(token: str) -> HttpRequest:
            return self.connector.qr_request(token, order)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            answer = parse_qr(resp)
            if isinstance(answer, ProviderError):
                return answer
            made.append(answer)
            return ProviderOutcome(Event.QUEUED)

        outcome = await self._with_retries("qr_generate", build, parse)
        if made:
            return {
                "png": base64.b64encode(made[0].png).decode("ascii"),
                "response_code": made[0].response_code,
                "description": made[0].description,
            }
        return {"error": outcome.failure.message if outcome.failure else "no answer"}

    # --- C2B URL registration ----------------------------------------------------------------

    async def register_c2b(self, registration: C2bRegistration) -> dict[str, str]:
        """Register the validation and confirmation URLs of a shortcode: Daraja's answer, or the
        error it gave (``error`` key)."""

        def build(token: str) -> HttpRequest:
            return self.connector.c2b_register_request(token, registration)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            ack = self.connector.parse_c2b_ack(resp)
            if isinstance(ack, ProviderError):
                return ack
            refs = ProviderRefs(
                conversation_id=ack.originator_conversation_id, result_desc=ack.description
            )
            return ProviderOutcome(Event.QUEUED, refs=refs)

        outcome = await self._with_retries("c2b_register", build, parse)
        if outcome.event == Event.QUEUED and outcome.refs:
            return {
                "originator_conversation_id": outcome.refs.conversation_id or "",
                "description": outcome.refs.result_desc or "",
            }
        reason = outcome.failure.message if outcome.failure else "no answer"
        return {"error": reason}

    # --- Bill Manager and Ratiba (connectors/mpesa/billmanager.py, ratiba.py) ---------------

    async def product_call(
        self, path: str, payload: object, headers: dict[str, str]
    ) -> dict[str, str]:
        """POST one Bill Manager or Ratiba request: ``status`` and ``body`` of the answer (the
        caller's module reads it), or ``error``. A token Daraja refuses is renewed; nothing that
        may have arrived is resent (the products refuse duplicates, which is read as such)."""

        def build(token: str) -> HttpRequest:
            auth = {"Authorization": f"Bearer {token}", **headers}
            url = self.connector.account.base_url.rstrip("/") + path
            return HttpRequest.json("POST", url, payload, auth, self.connector.timeout)

        def parse(resp: HttpResponse) -> dict[str, str] | ProviderFault:
            if resp.status in (401, 404) and b"errorCode" in resp.body:
                return parse_error(resp)  # an expired token or a gateway refusal
            return {"status": str(resp.status), "body": resp.body.decode(errors="replace")}

        answer = await self._with_retries("product", build, parse)
        if isinstance(answer, dict):
            return answer
        return {"error": answer.failure.message if answer.failure else "no answer"}

    # --- STK query -------------------------------------------------------------------------

    async def query(self, requests: list[QueryRequest]) -> list[QueryResult]:
        results = await asyncio.gather(*(self._query_one(r) for r in requests))
        return list(results)

    async def _query_one(self, req: QueryRequest) -> QueryResult:
        def build(token: str) -> HttpRequest:
            return self.connector.stk_query_request(
                token, req.checkout_request_id, datetime.now(UTC)
            )

        async with self._slots:
            outcome = await self._with_retries(
                "stk_query", build, lambda resp: self._map_query(resp, req.checkout_request_id)
            )
        # Only a final result or "still processing" is an answer about the payment; a query that
        # failed (rejected, lost, unavailable) says nothing about it: ask again later.
        if outcome.event in (None, Event.SUCCEED, Event.DECLINE, Event.EXPIRE):
            return QueryResult(req.payment_id, outcome)
        return QueryResult(req.payment_id, None)

    def _map_query(self, resp: HttpResponse, checkout_id: str) -> ProviderOutcome | ProviderError:
        parsed = self.connector.parse_stk_query(resp, checkout_request_id=checkout_id)
        if isinstance(parsed, StkPending):
            return ProviderOutcome(None)
        if isinstance(parsed, StkResult):
            if parsed.checkout_request_id != checkout_id:
                # The answer must echo the CheckoutRequestID asked about (doc §5); one about
                # another request (or none) settles nothing: ask again later.
                log.warning(
                    "STK query for %s answered about %r", checkout_id, parsed.checkout_request_id
                )
                return ProviderOutcome(None)
            return from_stk_result(parsed)
        return parsed


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def mpesa_gateway_from(
    settings: Settings, transport: Transport | None = None, *, deliver: object = None
) -> MpesaGatewayCore:
    """The gateway for the Daraja account the settings describe."""
    account = DarajaAccount(
        base_url=settings.mpesa_base_url,
        consumer_key=settings.mpesa_consumer_key,
        consumer_secret=settings.mpesa_consumer_secret,
        shortcode=settings.mpesa_shortcode,
        passkey=settings.mpesa_passkey,
        transaction_type=settings.mpesa_transaction_type,
        party_b=settings.mpesa_till,
        initiator_name=settings.mpesa_initiator_name,
        initiator_password=settings.mpesa_initiator_password,
        certificate_pem=_read(settings.mpesa_certificate_file),
        b2c_shortcode=settings.mpesa_b2c_shortcode,
    )
    return MpesaGatewayCore(
        DarajaConnector(account, timeout=settings.provider_timeout),
        transport or AiohttpTransport(limit=settings.provider_concurrency),
        concurrency=settings.provider_concurrency,
        retries=settings.provider_retries,
        breaker=Breaker(settings.breaker_threshold, settings.breaker_cool_down),
    )
