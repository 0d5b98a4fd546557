"""The shard's shell: carries the machine's effects out through the ports, in order.

:class:`actors.shard.machine.ShardMachine` decides (synchronously: commands, provider events,
commits and ticks in; effects out). The shell loads what a decision needs, calls the machine and
executes its effects (:mod:`actors.shard.effects`) through the ports (:mod:`actors.shard.ports`:
the payment store, the provider, the clock; the notifier for webhooks and live events): a
:class:`Durable` waits for its commit before the effects after it, so an order is never sent
before the payment that names it is stored. It keeps what is asynchronous by nature: the
waiters for a commit, the order batch, the order and sweep loops, background tasks.

Actor memory is a cache: on start the shard reloads every payment listed in ``inflight`` (written
before the payment itself, removed once it is final and every webhook is delivered) and resumes
it. The shard's operations are :class:`actors.shard.core.ShardCore`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from actors.compliance import Compliance
from actors.shard import effects as fx
from actors.shard.claims import Claims
from actors.shard.machine import ShardMachine
from actors.shard.notify import Notifier
from actors.shard.personal import EraseBatchItems, PersonalData
from actors.shard.ports import Clock, PaymentStore, ProviderPort
from actors.shard.routes import Routes
from actors.shard.screening import Screener
from actors.transfers import TransferDriver
from actors.writer import Committed
from connectors.transport import Transport
from infra.live import Publisher
from infra.metrics import (
    ILLEGAL_EVENTS,
    IN_FLIGHT,
    PAST_EXPIRY,
    PAYMENT_DURATION,
    PAYMENTS,
    QUEUE_DEPTH,
    WEBHOOK_BACKLOG,
)
from infra.storage.mongo import Doc
from switch.config import Settings
from switch.gauges import created_to_final, rail_load
from switch.logs import acting_on
from switch.messages import (
    CreatePayment,
    Order,
    QueryResult,
    Reply,
)
from switch.payments import Payment, from_doc
from switch.pii import Sealer, with_index
from switch.rails import RAILS

__all__ = ["Shell"]

log = logging.getLogger(__name__)

READ_WAIT_S = 2.0


class Shell:
    """Built from its ports (:func:`actors.local.shard_core` wires the switch's)."""

    def __init__(
        self,
        shard: int,
        settings: Settings,
        store: PaymentStore,
        provider: ProviderPort,
        webhook_transport: Transport,
        secret_key: bytes,
        publisher: Publisher | None = None,
        sealer: Sealer | None = None,
        compliance: Compliance | None = None,
        erase_batch_items: EraseBatchItems | None = None,
        clock: Clock | None = None,
        default_shortcode: str = "",
    ) -> None:
        self.shard = shard
        self.settings = settings
        self.store = store
        self.provider = provider
        self.clock = clock or Clock()
        self.sealer = sealer  # personal data sealed at rest (switch/pii.py); None in unit tests
        self.machine = ShardMachine(
            shard,
            settings,
            secret_key,
            store.versions,  # the store alone advances them
            store.seqs,
            self.clock.now,
            default_shortcode,
        )
        store.bind(self.current, self.after_commit, self.seal if sealer is not None else None)
        self.claims = Claims(self.machine.idem)
        self.waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self.orders: list[Order] = []
        self._orders_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._fundings: dict[str, asyncio.Future[str]] = {}  # sandbox fundings being posted
        self._credits: dict[str, asyncio.Future[str]] = {}  # hub credits being stored
        self.screener = Screener(compliance, self._spawn)
        self.routes = Routes(store, self.clock)
        self.transfers = TransferDriver(shard, secret_key, self._create, self._get, self._persisted)
        self.notifier = Notifier(
            settings,
            store,
            webhook_transport,
            publisher,
            self.clock,
            self._spawn,
            payment_of=self.payments.get,
            deliverable=self.deliverable,
            delivered=self.notified,
        )
        self.personal = PersonalData(
            store, sealer, erase_batch_items, self.opened, self.current_copy, self.machine.forget
        )
        holding, published = self.transfers.holding, self.notifier.published
        self.machine.pinned = lambda pid: pid in holding or pid in published

    # The machine's memory, named as tests and the ports read it.
    @property
    def payments(self) -> dict[str, Payment]:
        return self.machine.payments

    @property
    def in_flight(self) -> set[str]:
        return self.machine.in_flight

    # --- life cycle ------------------------------------------------------------------------

    async def start(self, loops: bool = True) -> None:
        """Recover, then run the order and sweep loops (``loops`` False: a test drives them with
        :meth:`send_orders` and :meth:`sweep`)."""
        await self.store.start()
        self.notifier.start()
        self.screener.start()
        self.machine.balances.accounts.update(await self.store.balances())
        await self._recover()
        if loops:
            for loop in (self._order_loop, self._sweep_loop):
                self._tasks.append(asyncio.create_task(loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.notifier.stop()
        await self.screener.stop()
        await self.store.stop()

    def seal(self, doc: Doc, payment: Payment) -> Doc:
        assert self.sealer is not None
        if "merchant_id" in doc:  # a new document: index the phone before sealing it
            with_index(doc, self.sealer)
        return self.sealer.seal(doc, payment.id, payment.merchant_id)

    async def opened(self, doc: Doc) -> Payment:
        """A stored payment, its personal fields opened."""
        if self.sealer is not None:
            await self.sealer.ready(doc["merchant_id"])  # its changes are sealed with it
            await self.sealer.ready_for(doc)
            self.sealer.open(doc)
        return from_doc(doc)

    async def _recover(self) -> None:
        listed = await self.store.inflight()
        found = set()
        for start in range(0, len(listed), 500):
            for doc in await self.store.read_many(listed[start : start + 500]):
                payment = await self.opened(doc)
                await self._run(self.machine.resume(payment))
                if self.transfers.on_settled(payment):
                    self._spawn(self._drive_transfer(payment))
                elif self.machine.done_with(payment.id):
                    self.store.drop_inflight(payment.id)
                found.add(doc["_id"])
        for never_stored in set(listed) - found:  # cannot happen (one transaction); tidy up
            self.store.drop_inflight(never_stored)
        log.info("shard %d recovered %d payments in flight", self.shard, len(found))

    # --- carrying effects out --------------------------------------------------------------

    def _fire(self, e: fx.Effect) -> bool:
        """Carry out an effect that needs no waiting; False for one that does."""
        if isinstance(e, fx.Touch):
            self.store.touch(e.payment_id, e.entries)
        elif isinstance(e, fx.StatusChanged):
            PAYMENTS.labels(e.payment.method, e.payment.status.value).inc()
            final = created_to_final(e.payment)
            if final is not None:
                PAYMENT_DURATION.labels(e.payment.method, final[0]).observe(final[1])
            if e.released:
                self.screener.release(e.payment)
        elif isinstance(e, fx.Send):
            self.orders.append(e.order)
            self._orders_event.set()
        elif isinstance(e, fx.Notify):
            self.notifier.webhook(e.payment_id)
        elif isinstance(e, fx.Publish):
            self.notifier.publish(e.payments)
        elif isinstance(e, fx.Settled):
            self.notifier.forget(e.payment_id)
            self.store.drop_inflight(e.payment_id)
        elif isinstance(e, fx.Record):
            self.screener.record(e)
        elif isinstance(e, fx.Illegal):  # never silently dropped
            p = e.payment
            ILLEGAL_EVENTS.labels(p.method, p.state.value, e.event).inc()
            with acting_on(p.merchant_id, p.id):
                log.warning("%s from %s refused for %s: %s", e.event, e.source, p.id, e.reason)
        else:
            return False
        return True

    def _run_now(self, effects: list[fx.Effect]) -> None:
        """The hot path's effects (all immediate); any other is spawned, in order."""
        for i, e in enumerate(effects):
            if not self._fire(e):
                self._spawn(self._run(effects[i:]))
                return

    async def _run(self, effects: list[fx.Effect]) -> None:
        """In order: a :class:`Durable` waits for its commit before anything after it."""
        for e in effects:
            if not self._fire(e):
                await self._wait_for(e)

    async def _wait_for(self, e: fx.Effect) -> None:
        if isinstance(e, fx.Durable):
            await self._persisted(e.payment)
        elif isinstance(e, fx.Query):
            results = await self._answers(self.provider.query(e.requests), "status queries")
            await self._run(self.machine.queried(results, self.clock.time()))
        elif isinstance(e, fx.Check):
            results = await self._answers(self.provider.check(e.requests), "status checks")
            await self._run(self.machine.checked(results, self.clock.time()))
        elif isinstance(e, fx.AskStatus):
            if e.background:
                self._spawn(self._ask_status(e))
            else:
                await self._ask_status(e)
        elif isinstance(e, fx.Post):
            reply = await self._create(e.command)
            if reply.status >= 300:
                log.warning("posting %s not created yet: %s", e.command.idem_key, reply.body)

    async def _answers(self, call: Awaitable[list[QueryResult]], what: str) -> list[QueryResult]:
        """The provider's answers, or none if the call failed (the sweeper asks again)."""
        try:
            return await call
        except Exception:
            log.exception("%s failed; will ask again", what)
            return []

    async def _ask_status(self, e: fx.AskStatus) -> None:
        try:
            await self.provider.ask_status(e.requests)
        except Exception:
            log.exception("Transaction Status queries failed; will ask again")

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _get(self, payment_id: str) -> Payment | None:
        cached = self.payments.get(payment_id)
        if cached is not None:
            return cached
        doc = await self.store.read(payment_id)
        if doc is None:
            return None
        if payment_id in self.payments:  # arrived while we read
            return self.payments[payment_id]
        return self.machine.loaded(await self.opened(doc))

    def current_copy(self, payment: Payment) -> Payment:
        return self.payments.get(payment.id, payment)

    # --- provider hand-off -----------------------------------------------------------------

    async def _order_loop(self) -> None:
        while True:
            await self._orders_event.wait()
            await asyncio.sleep(self.settings.batch_delay_ms / 1000)
            await self.send_orders()

    async def send_orders(self) -> None:
        """Send the orders queued since the last batch (the order loop's tick)."""
        self._orders_event.clear()
        batch, self.orders = self.orders, []
        if batch:
            self._spawn(self._submit(batch))

    async def _submit(self, orders: list[Order]) -> None:
        try:
            results = await self.provider.submit(orders)
        except Exception:
            log.exception("provider gateway call failed; %d payments now unknown", len(orders))
            results = self.machine.answers_lost(orders)
        self._run_now(self.machine.submitted(results, self.clock.monotonic()))

    # --- persistence -----------------------------------------------------------------------

    def current(self, payment_id: str) -> Payment:
        return self.payments[payment_id]

    async def _persisted(self, payment: Payment) -> None:
        """Wait until ``payment``'s version (or a later one) is durable."""
        if self.machine.durable.get(payment.id, 0) >= payment.version:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(payment.id, []).append((payment.version, fut))
        await fut

    def after_commit(self, committed: Committed) -> None:
        for payment in (*committed.inserted, *committed.updated):
            waiting = self.waiters.pop(payment.id, [])
            later = [(v, f) for v, f in waiting if v > payment.version and not f.done()]
            for version, fut in waiting:
                if version <= payment.version and not fut.done():
                    fut.set_result(None)
            if later:  # changes made after this commit's snapshot: their own commit will come
                self.waiters[payment.id] = later
            if self.transfers.on_settled(payment):
                self._spawn(self._drive_transfer(payment))
        self._run_now(self.machine.committed(committed))

    async def _drive_transfer(self, leg: Payment) -> None:
        if not await self.transfers.drive(leg):
            return  # held: the sweeper drives it again
        if self.machine.done_with(leg.id):
            self._settle(leg.id)

    def notified(self, payment_id: str, seq: int) -> None:
        """An event is delivered (or abandoned): see :meth:`ShardMachine.notified`."""
        holding = payment_id in self.transfers.holding
        self._run_now(self.machine.notified(payment_id, seq, holding))

    def _settle(self, payment_id: str) -> None:
        self._run_now(self.machine.settled(payment_id))

    def deliverable(self, payment_id: str) -> int:
        """Events up to this history seq are persisted, so the merchant may be told of them."""
        return self.machine.durable_seq.get(payment_id, 0)

    # --- stuck payments --------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed")

    async def sweep(self) -> None:
        """Act on payments still in flight (see :meth:`ShardMachine.sweep`)."""
        for held in list(self.transfers.holding):
            if held in self.payments:
                self._spawn(self._drive_transfer(self.payments[held]))
        try:
            await self._run(self.machine.sweep(self.clock.time()))
        finally:
            self.gauges()

    def gauges(self) -> None:
        """Set the shard's gauges from its memory (the sweep tick's; no database read)."""
        shard = str(self.shard)
        flying = (self.payments[pid] for pid in self.in_flight if pid in self.payments)
        load = rail_load(flying, RAILS, self.clock.time(), self.settings.stk_expire_after)
        for method, counts in load.items():
            IN_FLIGHT.labels(shard, method).set(counts.in_flight)
            PAST_EXPIRY.labels(shard, method).set(counts.past_expiry)
        WEBHOOK_BACKLOG.labels(shard).set(self.notifier.webhooks.backlog())
        QUEUE_DEPTH.labels("commit", shard).set(self.store.backlog())
        QUEUE_DEPTH.labels("orders", shard).set(len(self.orders))

    async def _create(self, req: CreatePayment) -> Reply:
        """Create a payment (ShardCore's): postings and transfer legs go this way."""
        raise NotImplementedError
