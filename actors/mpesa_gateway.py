"""The M-Pesa provider gateway for one Daraja account: keeps the access token and the connection
pool warm, caps concurrency, applies the retry policy and maps answers into switch outcomes.

Retry policy (money-safety rule 2): a request is sent again only when it provably did not take
effect: the connection never opened (NotSent), the gateway refused the token, or Daraja throttled
it (HTTP 429/503, spike arrest, quota) before accepting it. Anything else that is not a clear
answer (a timeout, a dropped connection, a generic 5xx) may hide a prompt on the customer's phone,
so it becomes ``answer_lost``: the switch then waits for the callback or asks by status query.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from connectors.http import HttpRequest, HttpResponse, NotSent, OutcomeUnknown
from connectors.mpesa import (
    AccessToken,
    B2cOrder,
    BalanceQuery,
    C2bRegistration,
    DarajaConnector,
    ProviderError,
    ReversalOrder,
    StatusQuery,
    StkAccepted,
    StkPending,
    StkPushOrder,
    StkResult,
)
from connectors.transport import Transport
from switch.breaker import Breaker
from switch.messages import (
    B2cOrderMsg,
    Order,
    ProviderOutcome,
    QueryRequest,
    QueryResult,
    ReversalOrderMsg,
    StatusRequest,
    StkOrder,
    SubmitResult,
)
from switch.metrics import PROVIDER_CALLS, PROVIDER_LATENCY
from switch.outcomes import (
    accepted,
    answer_lost,
    from_stk_result,
    queued,
    rejected,
    unavailable,
)
from switch.payments import ProviderRefs
from switch.retry import backoff
from switch.states import Event

log = logging.getLogger(__name__)


class TokenUnavailable(Exception):
    """No access token could be had; nothing was sent."""


class MpesaGatewayCore:
    def __init__(
        self,
        connector: DarajaConnector,
        transport: Transport,
        concurrency: int = 64,
        retries: int = 3,
        retry_base: float = 0.2,
        breaker: Breaker | None = None,
    ) -> None:
        self.connector = connector
        self.transport = transport
        self.retries = retries
        self.retry_base = retry_base
        self._slots = asyncio.Semaphore(concurrency)
        self.breaker = breaker or Breaker()
        self._token: AccessToken | None = None
        self._token_lock = asyncio.Lock()

    # --- token -----------------------------------------------------------------------------

    async def token(self, stale: str | None = None) -> str:
        """A valid token; ``stale`` names one Daraja refused, forcing a fresh one (once, however
        many requests saw it refused)."""
        async with self._token_lock:
            current = self._token
            fresh_enough = current and current.expires_at > time.time()
            if current and fresh_enough and current.value != stale:
                return current.value
            try:
                resp = await self._send("oauth", self.connector.token_request())
            except (NotSent, OutcomeUnknown) as exc:
                raise TokenUnavailable(str(exc)) from exc
            parsed = self.connector.parse_token(resp, time.time())
            if isinstance(parsed, ProviderError):
                raise TokenUnavailable(f"{parsed.code} {parsed.message}")
            self._token = parsed
            return parsed.value

    # --- STK push --------------------------------------------------------------------------

    async def submit(self, orders: list[Order]) -> list[SubmitResult]:
        outcomes = await asyncio.gather(*(self._submit_any(o) for o in orders))
        return [SubmitResult(o.payment_id, out) for o, out in zip(orders, outcomes, strict=True)]

    async def _submit_any(self, order: Order) -> ProviderOutcome:
        if isinstance(order, B2cOrderMsg):
            return await self._submit_b2c(order)
        if isinstance(order, ReversalOrderMsg):
            return await self._submit_reversal(order)
        return await self._submit_one(order)

    async def _submit_reversal(self, order: ReversalOrderMsg) -> ProviderOutcome:
        wire = ReversalOrder(
            transaction_id=order.receipt,
            amount=order.amount,
            result_url=order.result_url,
            queue_timeout_url=order.timeout_url,
            receiver_party=order.receiver_party,
            remarks=order.remarks,
        )

        def build(token: str) -> HttpRequest:
            return self.connector.reversal_request(token, wire)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            ack = self.connector.parse_initiator_ack(resp)
            return ack if isinstance(ack, ProviderError) else queued(ack.conversation_id)

        async with self._slots:
            return await self._with_retries("reversal", build, parse)

    async def _submit_one(self, order: StkOrder) -> ProviderOutcome:
        wire = StkPushOrder(
            amount=order.amount,
            phone=order.phone,
            account_reference=order.account_reference,
            description=order.description,
            callback_url=order.callback_url,
        )

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

    async def _submit_b2c(self, order: B2cOrderMsg) -> ProviderOutcome:
        # Our payout id is the OriginatorConversationID: the same on every attempt, so Daraja
        # refuses a second copy (doc §8) and Transaction Status can find it.
        wire = B2cOrder(
            originator_conversation_id=order.payment_id,
            command_id=order.command,  # type: ignore[arg-type]  # validated by the api
            amount=order.amount,
            phone=order.phone,
            remarks=order.remarks,
            occasion=order.occasion,
            result_url=order.result_url,
            queue_timeout_url=order.timeout_url,
        )

        def build(token: str) -> HttpRequest:
            return self.connector.b2c_request(token, wire)

        async with self._slots:
            return await self._with_retries("b2c", build, self._map_b2c)

    def _map_b2c(self, resp: HttpResponse) -> ProviderOutcome | ProviderError:
        parsed = self.connector.parse_b2c_ack(resp)
        if isinstance(parsed, ProviderError):
            if parsed.kind == "duplicate":
                # Daraja already has this payout: never resend, learn its fate by status query.
                return answer_lost(f"{parsed.code} {parsed.message}")
            return parsed
        return queued(parsed.conversation_id)

    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]:
        """Send Transaction Status queries; the answers come to each request's result URL.
        True when Daraja took the query."""
        return list(await asyncio.gather(*(self._ask_one(r) for r in requests)))

    async def _ask_one(self, req: StatusRequest) -> bool:
        query = StatusQuery(
            result_url=req.result_url,
            queue_timeout_url=req.timeout_url,
            original_conversation_id=req.payment_id,
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
            return from_stk_result(parsed)
        return parsed

    # --- the retry loop --------------------------------------------------------------------

    async def _with_retries(
        self,
        operation: str,
        build: Callable[[str], HttpRequest],
        parse: Callable[[HttpResponse], ProviderOutcome | ProviderError],
    ) -> ProviderOutcome:
        stale: str | None = None
        last = "no attempt made"
        for attempt in range(1, self.retries + 2):
            if not self.breaker.allow(time.monotonic()):
                return self._circuit_open()
            try:
                token = await self.token(stale)
                resp = await self._send(operation, build(token))
            except (TokenUnavailable, NotSent) as exc:
                self.breaker.failure(time.monotonic())
                last = f"not sent: {exc}"
                await self._pause(attempt)
                continue
            except OutcomeUnknown as exc:
                self.breaker.failure(time.monotonic())
                return answer_lost(f"{operation}: {exc}")
            parsed = parse(resp)
            if not isinstance(parsed, ProviderError):
                self.breaker.success()
                return parsed
            if parsed.kind == "invalid_token":
                stale, last = token, f"{parsed.code} {parsed.message}"
                continue
            if parsed.kind == "rejected":
                self.breaker.success()  # Daraja answered: it is up, the request was wrong
                return rejected(parsed.code, parsed.message)
            self.breaker.failure(time.monotonic())
            if parsed.kind == "retriable":
                last = f"{parsed.code} {parsed.message}"
                await self._pause(attempt)
                continue
            return answer_lost(f"{parsed.http_status} {parsed.code} {parsed.message}")
        return unavailable(last)

    def _circuit_open(self) -> ProviderOutcome:
        wait = self.breaker.retry_after(time.monotonic())
        return unavailable(
            f"M-Pesa circuit open after repeated failures; retry in {wait:.0f} s", retry_after=wait
        )

    async def _pause(self, attempt: int) -> None:
        if attempt <= self.retries:
            await asyncio.sleep(backoff(attempt, self.retry_base, 5.0))

    async def _send(self, operation: str, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        outcome = "error"
        try:
            resp = await self.transport.send(request)
            outcome = str(resp.status)
            return resp
        except NotSent:
            outcome = "not_sent"
            raise
        except OutcomeUnknown:
            outcome = "unknown"
            raise
        finally:
            PROVIDER_CALLS.labels("mpesa", operation, outcome).inc()
            PROVIDER_LATENCY.labels("mpesa", operation).observe(time.perf_counter() - started)
