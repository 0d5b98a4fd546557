"""A shard on the in-memory store, with a scripted provider, a mock webhook endpoint and a clock
the test drives: no MongoDB, no Ray, no sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from actors.local import shard_core
from actors.shard import Clock, MemoryPaymentStore
from actors.shard.effects import Effect, Send
from actors.shard.machine import Admit, ShardMachine
from connectors.http import HttpRequest, HttpResponse
from connectors.transport import MockTransport
from routing.router import Route
from switch.compliance import ALLOW, Screening
from switch.config import Settings, from_env
from switch.messages import (
    C2bIn,
    CallbackIn,
    CreatePayment,
    Order,
    ProviderOutcome,
    QueryRequest,
    QueryResult,
    Reply,
    StatusCheck,
    StatusRequest,
    SubmitResult,
)
from switch.payments import Payment, ProviderRefs
from switch.states import Event

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC).timestamp()
MERCHANT = "mch_1"
PHONE = "254712345678"
KEY = b"k" * 32


class FakeClock(Clock):
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def time(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime.fromtimestamp(round(self.t, 3), UTC)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def accepted(order: Order) -> SubmitResult:
    """What a provider answers to a new order: a collection prompts the customer, a payout is
    queued for its result."""
    payout = type(order).__name__ in ("B2cOrderMsg", "ReversalOrderMsg")
    if payout:
        return SubmitResult(order.payment_id, ProviderOutcome(Event.QUEUED))
    refs = ProviderRefs(checkout_request_id=f"ws_CO_{order.payment_id}")
    return SubmitResult(order.payment_id, ProviderOutcome(Event.ACCEPTED, refs))


class ScriptedProvider:
    """Records every call; answers as scripted (``submit_answer`` per order, ``query_answer``
    per STK query, ``check_answer`` per enquiry); a ``*_error`` makes the call raise."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[tuple[float, str]] = []  # (when, submit|ask_status|query|check)
        self.submitted: list[Order] = []
        self.asked: list[StatusRequest] = []
        self.queried: list[QueryRequest] = []
        self.checked: list[StatusCheck] = []
        self.submit_answer: Callable[[Order], SubmitResult] = accepted
        self.query_answer: Callable[[QueryRequest], QueryResult] = lambda r: QueryResult(
            r.payment_id, ProviderOutcome(None)
        )
        self.check_answer: Callable[[StatusCheck], QueryResult] = lambda r: QueryResult(
            r.payment_id, ProviderOutcome(None)
        )
        self.submit_error: Exception | None = None
        self.query_error: Exception | None = None
        self.gate: asyncio.Event | None = None  # set: submit waits for it (a slow provider)

    def when(self, kind: str) -> list[float]:
        """When the calls of one kind were made (seconds since T0)."""
        return [t - T0 for t, k in self.calls if k == kind]

    async def submit(self, orders: list[Order]) -> list[SubmitResult]:
        self.calls.append((self.clock.time(), "submit"))
        self.submitted.extend(orders)
        if self.gate is not None:
            await self.gate.wait()
        if self.submit_error is not None:
            raise self.submit_error
        return [self.submit_answer(o) for o in orders]

    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]:
        self.calls.append((self.clock.time(), "ask_status"))
        self.asked.extend(requests)
        return [True for _ in requests]

    async def query(self, requests: list[QueryRequest]) -> list[QueryResult]:
        self.calls.append((self.clock.time(), "query"))
        self.queried.extend(requests)
        if self.query_error is not None:
            raise self.query_error
        return [self.query_answer(r) for r in requests]

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]:
        self.calls.append((self.clock.time(), "check"))
        self.checked.extend(requests)
        return [self.check_answer(r) for r in requests]


class Endpoint:
    """The merchant's webhook receiver: records every delivery, answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.events: list[dict[str, Any]] = []
        self.transport = MockTransport(self._receive)

    async def _receive(self, request: HttpRequest) -> HttpResponse:
        self.events.append(orjson.loads(request.body))
        return HttpResponse(self.status, b"")

    def types(self, payment_id: str) -> list[str]:
        return [e["type"] for e in self.events if e["data"]["id"] == payment_id]


class Rig:
    def __init__(
        self,
        store: MemoryPaymentStore | None = None,
        clock: FakeClock | None = None,
        **settings: Any,
    ) -> None:
        self.settings: Settings = from_env({}, **settings)
        self.clock = clock or FakeClock()
        self.store = store or MemoryPaymentStore(0)
        self.store.merchants.setdefault(
            MERCHANT,
            {
                "_id": MERCHANT,
                "webhook_url": "https://m.example/hook",
                "webhook_secret": "whsec_" + "a" * 32,
            },
        )
        self.provider = ScriptedProvider(self.clock)
        self.endpoint = Endpoint()
        self.core = shard_core(
            0,
            self.settings,
            self.store,
            self.provider,
            self.endpoint.transport,
            KEY,
            clock=self.clock,
        )

    async def start(self) -> None:
        await self.core.start(loops=False)  # the test sends orders and sweeps by hand

    async def stop(self) -> None:
        await self.core.stop()

    async def settle(self, turns: int = 20) -> None:
        """Let every ready task run: commits, submissions, webhooks."""
        for _ in range(turns):
            await asyncio.sleep(0)

    async def send(self) -> None:
        """The order loop's tick: send what is queued, then let the answers apply."""
        await self.core.send_orders()
        await self.settle()

    async def create(self, request: CreatePayment) -> Reply:
        [reply] = await self.core.create_payments([request])
        return reply

    def payment(self, payment_id: str) -> Payment:
        return self.core.payments[payment_id]

    def stored(self, payment_id: str) -> dict[str, Any]:
        return self.store.payments[payment_id]

    async def callback(self, item: CallbackIn) -> str:
        [verdict] = await self.core.apply_callbacks([item])
        return verdict

    async def c2b(self, item: C2bIn) -> str:
        [verdict] = await self.core.c2b_confirmations([item])
        return verdict


def stk(key: str = "key-1", amount: int = 15000, body: str = "h") -> CreatePayment:
    return CreatePayment(MERCHANT, key, body, "mpesa_stk", amount, PHONE, "INV1", "d", {})


def b2c(key: str = "pay-1", amount: int = 50_000, body: str = "h") -> CreatePayment:
    return CreatePayment(
        MERCHANT, key, body, "mpesa_b2c", amount, PHONE, "P1", "salary", {}, "BusinessPayment"
    )


async def started(make: Callable[[], Rig] = Rig) -> Rig:
    rig = make()
    await rig.start()
    return rig


Run = Callable[[Rig], Awaitable[None]]


class Bench:
    """A :class:`ShardMachine` alone: no event loop, no store. ``commit`` plays the store
    (what is touched becomes durable); the clock is ``t``."""

    def __init__(self, **settings: Any) -> None:
        self.settings: Settings = from_env({}, **settings)
        self.t = T0
        self.machine = ShardMachine(
            0, self.settings, KEY, {}, {}, lambda: datetime.fromtimestamp(self.t, UTC), "600000"
        )

    def admit(self, request: CreatePayment, screening: Screening = ALLOW) -> Admit | Reply:
        key, pid = self.machine.key_and_id(request.merchant_id, request.idem_key)
        route = Route(request.method, "requested", request.method)
        return self.machine.admit(request, key, pid, route, screening, 2)

    def stored(self, request: CreatePayment, screening: Screening = ALLOW) -> Payment:
        """A new payment admitted and committed; its effects in ``self.effects``."""
        admit = self.admit(request, screening)
        assert isinstance(admit, Admit), admit
        self.effects = self.machine.stored(admit)
        self.commit(admit.payment)
        return self.machine.payments[admit.payment.id]

    def commit(self, payment: Payment) -> None:
        current = self.machine.payments[payment.id]
        self.machine.durable[payment.id] = current.version
        self.machine.durable_seq[payment.id] = current.history[-1].seq

    def answer(self, payment: Payment, outcome: ProviderOutcome) -> list[Effect]:
        return self.machine.submitted([SubmitResult(payment.id, outcome)], self.t)

    def sent(self, request: CreatePayment) -> Payment:
        """Stored, sent and accepted (or queued) by the provider."""
        payment = self.stored(request)
        [send] = [e for e in self.effects if isinstance(e, Send)]
        self.answer(payment, accepted(send.order).outcome)
        return self.machine.payments[payment.id]
