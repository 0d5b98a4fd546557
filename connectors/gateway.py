"""What every provider gateway repeats: the access-token cache, the concurrency slots, the circuit
breaker, the retry policy and the provider-call metrics. Each provider's gateway
(``connectors/<name>/gateway.py``) is a subclass that builds requests with its connector and maps
answers into switch outcomes. Gateways are plain classes; each runs in a Ray actor of its own
(actors/runtime.py).

Retry policy (money-safety rule 2): a request is sent again only when it provably did not take
effect: the connection never opened (NotSent), no token could be had, the provider refused the
token, or it throttled the request (HTTP 429/503 and the like) before accepting it. Anything else
that is not a clear answer (a timeout, a dropped connection, a generic 5xx) may hide a prompt or a
payout, so it becomes ``answer_lost``: the switch then waits for the callback or asks by status
query. A "duplicate id" answer means the provider already holds a request with our id: never
resent, also ``answer_lost``, so the status check decides.

A read (a lookup, a status query) moves nothing, so ``_with_retries(..., idempotent=True)``
also resends after a timeout, a dropped connection or an answer that may hide work.

Every connector's ``ProviderError`` has the same shape (``kind``, ``code``, ``message``,
``http_status``) and the same ``kind`` vocabulary; :meth:`GatewayLoop._step` turns a kind into
what the loop does, and a gateway overrides it only if its provider needs another reading.

:class:`GatewayLoop` is the loop for a provider that authenticates every request itself (HTTP
Basic, as the SACCOs' Fineract API does: :mod:`connectors.sacco.api_gateway`); :class:`GatewayCore`
adds the OAuth-style access-token cache the mobile-money and bank APIs need.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

from connectors.http import HttpRequest, HttpResponse, NotSent, OutcomeUnknown
from connectors.transport import Transport
from infra.metrics import BREAKER_OPEN, PROVIDER_CALLS, PROVIDER_LATENCY
from switch import outcomes as generic_wording
from switch.breaker import Breaker
from switch.messages import ProviderOutcome, SubmitResult
from switch.retry import backoff

Step = Literal["refresh", "resend", "refuse", "duplicate", "lost"]
"""What the retry loop does with a refusal: fetch a fresh token and resend (``refresh``), back off
and resend (``resend``), answer REJECTED (``refuse``), or answer ``answer_lost`` without another
send (``duplicate``: the provider has our id already; ``lost``: it may have acted)."""

_STEPS: dict[str, Step] = {
    "invalid_token": "refresh",
    "retriable": "resend",
    "rejected": "refuse",
    "duplicate": "duplicate",
    "unknown": "lost",
}


class TokenUnavailable(Exception):
    """No access token could be had; nothing was sent."""


@runtime_checkable
class ProviderFault(Protocol):
    """A connector's ``ProviderError``: an answer that is not what was asked for."""

    @property
    def kind(self) -> str: ...

    @property
    def code(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def http_status(self) -> int: ...


class Token(Protocol):
    @property
    def value(self) -> str: ...

    @property
    def expires_at(self) -> float: ...  # epoch seconds, already shortened by a safety margin


class TokenConnector(Protocol):
    """The part of a connector the base uses: its OAuth-style token flow."""

    def token_request(self) -> HttpRequest: ...

    def parse_token(self, resp: HttpResponse, now: float) -> Token | ProviderFault: ...


class HasPaymentId(Protocol):
    @property
    def payment_id(self) -> str: ...


OrderT = TypeVar("OrderT", bound=HasPaymentId)
C = TypeVar("C")
TC = TypeVar("TC", bound=TokenConnector)
T = TypeVar("T")


class Wording(Protocol):
    """A provider's outcomes module (connectors/<name>/outcomes.py): how its refusals read."""

    def rejected(self, provider_code: str, provider_message: str, /) -> ProviderOutcome: ...

    def unavailable(
        self, last_error: str, retry_after: float | None = None, /
    ) -> ProviderOutcome: ...

    def answer_lost(self, detail: str, /) -> ProviderOutcome: ...


class GatewayLoop(Generic[C]):
    """One provider account: ``provider`` labels the metrics, ``provider_name`` the messages,
    ``wording`` (its outcomes module) the failures. Requests carry no token (see
    :class:`GatewayCore` for providers that issue one)."""

    provider: ClassVar[str] = "provider"
    provider_name: ClassVar[str] = "The provider"
    wording: ClassVar[Wording] = generic_wording

    def __init__(
        self,
        connector: C,
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
        _watch_breaker(self)

    # --- how a refusal reads in this provider's words (its connectors/<name>/outcomes.py) ----

    def _refused(self, fault: ProviderFault) -> ProviderOutcome:
        """A refusal the loop does not resend (step ``refuse``): nothing happened."""
        return self._rejected(fault.code, fault.message)

    def _rejected(self, code: str, message: str) -> ProviderOutcome:
        """The provider refused the request: nothing happened."""
        return self.wording.rejected(code, message)

    def _unavailable(self, last_error: str, retry_after: float | None = None) -> ProviderOutcome:
        """Nothing was accepted (retries spent, no token, circuit open)."""
        return self.wording.unavailable(last_error, retry_after)

    def _lost(self, detail: str) -> ProviderOutcome:
        """Sent, or maybe sent, and no usable answer."""
        return self.wording.answer_lost(detail)

    async def _each(
        self, orders: Sequence[OrderT], one: Callable[[OrderT], Awaitable[ProviderOutcome]]
    ) -> list[SubmitResult]:
        """Every order of a batch at once, each answered with its own outcome."""
        outcomes = await asyncio.gather(*(one(o) for o in orders))
        return [SubmitResult(o.payment_id, out) for o, out in zip(orders, outcomes, strict=True)]

    def _step(self, fault: ProviderFault) -> Step:
        """What the retry loop does with a refusal; an unknown kind may hide work."""
        return _STEPS.get(fault.kind, "lost")

    async def token(self, stale: str | None = None) -> str:
        """What a request is built with: nothing here, the connector signs every request."""
        return ""

    # --- the retry loop --------------------------------------------------------------------------

    async def _with_retries(
        self,
        operation: str,
        build: Callable[[str], HttpRequest],
        parse: Callable[[HttpResponse], T | ProviderFault],
        *,
        idempotent: bool = False,
    ) -> T | ProviderOutcome:
        """``parse``'s value for an answer, else the outcome the retry policy reaches.
        ``idempotent``: the request moves nothing (a read), so what may have been taken is
        resent too instead of ending as ``answer_lost``."""
        stale: str | None = None
        last = "no attempt made"
        permitted = False  # this call holds the breaker's permission (in half-open: the probe)
        for attempt in range(1, self.retries + 2):
            if not permitted and not self.breaker.allow(time.monotonic()):
                return self._circuit_open()
            permitted = True
            try:
                token = await self.token(stale)
                resp = await self._send(operation, build(token))
            except (TokenUnavailable, NotSent) as exc:
                self.breaker.failure(time.monotonic())
                permitted = False
                last = f"not sent: {exc}"
                await self._pause(attempt)
                continue
            except OutcomeUnknown as exc:
                self.breaker.failure(time.monotonic())
                if not idempotent:
                    return self._lost(f"{operation}: {exc}")
                permitted = False
                last = f"{operation}: {exc}"
                await self._pause(attempt)
                continue
            parsed = parse(resp)
            if not isinstance(parsed, ProviderFault):
                self.breaker.success()
                return parsed
            step = self._step(parsed)
            if step == "refresh":
                # A refused token says nothing about the provider: resend with a fresh one,
                # keeping the permission (a probe must report back, or the circuit stays shut).
                stale, last = token, f"{parsed.code} {parsed.message}"
                continue
            if step in ("refuse", "duplicate"):
                self.breaker.success()  # the provider answered: it is up
                if step == "duplicate":
                    return self._lost(self._duplicate_detail(parsed))
                return self._refused(parsed)
            self.breaker.failure(time.monotonic())
            permitted = False
            if step == "resend" or idempotent:
                last = f"{parsed.code} {parsed.message}"
                await self._pause(attempt)
                continue
            return self._lost(f"{parsed.http_status} {parsed.code} {parsed.message}")
        return self._unavailable(last)

    def _duplicate_detail(self, fault: ProviderFault) -> str:
        return f"duplicate id, never resent: {fault.code} {fault.message}"

    def _circuit_open(self) -> ProviderOutcome:
        wait = self.breaker.retry_after(time.monotonic())
        return self._unavailable(
            f"{self.provider_name} circuit open after repeated failures; retry in {wait:.0f} s",
            retry_after=wait,
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
            PROVIDER_CALLS.labels(self.provider, operation, outcome).inc()
            PROVIDER_LATENCY.labels(self.provider, operation).observe(time.perf_counter() - started)

    async def close(self) -> None:
        await self.transport.close()


# Per provider, its live gateways in this process (a SACCO's: one per API SACCO): the breaker
# gauge reads them when /metrics is collected, so the call path pays nothing.
_LIVE: dict[str, weakref.WeakSet[GatewayLoop[Any]]] = {}


def _watch_breaker(gateway: GatewayLoop[Any]) -> None:
    live = _LIVE.get(gateway.provider)
    if live is None:
        live = _LIVE[gateway.provider] = weakref.WeakSet()
        BREAKER_OPEN.labels(gateway.provider).set_function(
            lambda: float(any(g.breaker.is_open for g in live))
        )
    live.add(gateway)


class GatewayCore(GatewayLoop[TC]):
    """A provider whose requests carry an access token from its OAuth-style token flow: one
    token shared by every request until it expires or the provider refuses it."""

    _token: Token | None = None

    @functools.cached_property
    def _token_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    # --- token -----------------------------------------------------------------------------------

    async def token(self, stale: str | None = None) -> str:
        """A valid token; ``stale`` names one the provider refused, forcing a fresh one (once,
        however many requests saw it refused)."""
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
            if isinstance(parsed, ProviderFault):
                raise TokenUnavailable(f"{parsed.code} {parsed.message}")
            self._token = parsed
            return parsed.value
