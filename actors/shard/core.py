"""The merchant shard's shell: the single writer for its merchants' payments.

The decisions are :class:`actors.shard.machine.ShardMachine`'s (synchronous: commands, provider
events, commits and ticks in, effects out). This shell only loads what a decision needs (a
stored payment, the merchant's routing preferences, the screening), calls the machine, and
carries the effects out in order through the ports (:mod:`actors.shard.ports`: the payment store,
the provider, the clock; the notifier for webhooks and live events). It keeps what is
asynchronous by nature: the claims concurrent copies of a request wait on, the waiters for a
commit, the order batch and the two loops.

Actor memory is a cache: on start the shard reloads every payment listed in ``inflight`` (written
before the payment itself, removed once it is final and every webhook is delivered) and resumes
it. Ray specifics live in :mod:`actors.runtime`; this class is plain asyncio, built directly by
tests (:func:`actors.shard.build_shard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from actors.compliance import Compliance
from actors.replies import error_reply
from actors.shard import admission
from actors.shard.claims import Claims
from actors.shard.effects import (
    AskStatus,
    Check,
    Durable,
    Effect,
    Illegal,
    Notify,
    Post,
    Publish,
    Query,
    Record,
    Send,
    Settled,
    StatusChanged,
    Touch,
)
from actors.shard.machine import Admit, ShardMachine
from actors.shard.notify import Notifier
from actors.shard.personal import EraseBatchItems, PersonalData
from actors.shard.ports import Clock, PaymentStore, ProviderPort
from actors.shard.routes import Routes
from actors.shard.screening import Screener
from actors.transfers import TransferDriver
from actors.writer import Committed
from connectors.transport import Transport
from infra.live import Publisher
from infra.metrics import ILLEGAL_EVENTS, PAYMENTS
from infra.storage.mongo import Doc
from routing.router import NoRoute
from switch.config import Settings
from switch.messages import (
    C2bIn,
    CallbackIn,
    CallbackVerdict,
    CreatePayment,
    CreateReversal,
    CreateTransfer,
    Order,
    Reply,
)
from switch.payments import Payment, from_doc, view
from switch.pii import Sealer, with_index

__all__ = ["ShardCore"]

log = logging.getLogger(__name__)

READ_WAIT_S = 2.0


class ShardCore:
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

    def stats(self) -> dict[str, int]:
        return {
            "shard": self.shard,
            "cached": len(self.payments),
            "in_flight": len(self.in_flight),
            "unwritten": self.machine.unwritten(),
        }

    # --- carrying effects out --------------------------------------------------------------

    def _fire(self, e: Effect) -> bool:
        """Carry out an effect that needs no waiting; False for one that does."""
        if isinstance(e, Touch):
            self.store.touch(e.payment_id, e.entries)
        elif isinstance(e, StatusChanged):
            PAYMENTS.labels(e.payment.method, e.payment.status.value).inc()
            if e.released:
                self.screener.release(e.payment)
        elif isinstance(e, Send):
            self.orders.append(e.order)
            self._orders_event.set()
        elif isinstance(e, Notify):
            self.notifier.webhook(e.payment_id)
        elif isinstance(e, Publish):
            self.notifier.publish(e.payments)
        elif isinstance(e, Settled):
            self.notifier.forget(e.payment_id)
            self.store.drop_inflight(e.payment_id)
        elif isinstance(e, Record):
            self.screener.record(e)
        elif isinstance(e, Illegal):  # never silently dropped
            p = e.payment
            ILLEGAL_EVENTS.labels(p.method, p.state.value, e.event).inc()
            log.warning("%s from %s refused for %s: %s", e.event, e.source, p.id, e.reason)
        else:
            return False
        return True

    def _run_now(self, effects: list[Effect]) -> None:
        """The hot path's effects (all immediate); any other is spawned, in order."""
        for i, e in enumerate(effects):
            if not self._fire(e):
                self._spawn(self._run(effects[i:]))
                return

    async def _run(self, effects: list[Effect]) -> None:
        """In order: a :class:`Durable` waits for its commit before anything after it."""
        for e in effects:
            if not self._fire(e):
                await self._wait_for(e)

    async def _wait_for(self, e: Effect) -> None:
        if isinstance(e, Durable):
            await self._persisted(e.payment)
        elif isinstance(e, Query):
            try:
                results = await self.provider.query(e.requests)
            except Exception:
                log.exception("status queries failed; will ask again")
                return
            await self._run(self.machine.queried(results, self.clock.time()))
        elif isinstance(e, Check):
            try:
                checked = await self.provider.check(e.requests)
            except Exception:
                log.exception("status checks failed; will ask again")
                return
            await self._run(self.machine.checked(checked, self.clock.time()))
        elif isinstance(e, AskStatus):
            if e.background:
                self._spawn(self._ask_status(e))
            else:
                await self._ask_status(e)
        elif isinstance(e, Post):
            reply = await self._create(e.command)
            if reply.status >= 300:
                log.warning("posting %s not created yet: %s", e.command.idem_key, reply.body)

    async def _ask_status(self, e: AskStatus) -> None:
        try:
            await self.provider.ask_status(e.requests)
        except Exception:
            log.exception("Transaction Status queries failed; will ask again")

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- creating payments -----------------------------------------------------------------

    async def create_payments(self, requests: list[CreatePayment]) -> list[Reply]:
        return list(await asyncio.gather(*(self._create(r) for r in requests)))

    async def _create(self, req: CreatePayment) -> Reply:
        key, payment_id = self.machine.key_and_id(req.merchant_id, req.idem_key)
        if key in self.machine.idem:
            return await self._replay(key, payment_id, req.request_hash)
        # Claim the key before the first await, so concurrent copies of this request wait for
        # this one's answer instead of racing it through routing and screening.
        claim = self.claims.claim(key, req.request_hash)
        try:
            return await self._create_claimed(req, key, payment_id)
        finally:
            if not claim.done():  # refused or failed before anything was stored
                self.claims.resolve(key, None)

    async def _create_claimed(self, req: CreatePayment, key: str, payment_id: str) -> Reply:
        if self.sealer is not None:
            await self.sealer.ready(req.merchant_id)  # in memory after the merchant's first
        route = await self.routes.route(req, lambda: self.machine.down(self.clock.monotonic()))
        if isinstance(route, NoRoute):
            return error_reply(422, "no_route", route.reason, route.field)
        backlog = self.store.backlog()
        refused = self.machine.refusal(route.method, backlog, self.clock.monotonic())
        if refused is not None:
            return refused
        # Screened before the balance check: nothing may await between that and the reservation.
        screening = await self.screener.screen(req, payment_id, route.method)
        if screening.action == "refuse":
            return await self._stored_instead(key, payment_id, req.request_hash) or error_reply(
                screening.status, screening.reason, screening.message, screening.field
            )
        needed = self.screener.needed(req.amount_minor)
        decided = self.machine.admit(req, key, payment_id, route, screening, needed)
        if isinstance(decided, Reply):  # short of balance
            self.screener.unscreen(req, screening)
            # Not a replay of a payout this shard has forgotten (a restart)? Keys never expire.
            return await self._stored_instead(key, payment_id, req.request_hash) or decided
        reply = await self._admit(decided, req.request_hash)
        if reply.replayed or reply.status >= 300:
            self.screener.unscreen(req, screening)  # not stored by this request: uncount it
        return reply

    async def _stored_instead(self, key: str, payment_id: str, request_hash: str) -> Reply | None:
        """Before refusing, the stored payment's answer if this is a replay of one."""
        stored = await self._get(payment_id)
        if stored is None:
            return None
        self.claims.resolve(key, stored.request_hash)
        return await self._replay(key, payment_id, request_hash)

    async def _admit(self, admit: Admit, request_hash: str, unique: bool = False) -> Reply:
        """Store a new payment (the payment, its ``inflight`` row so a restart finds it, and a
        payout's reservation, in one transaction) before anyone calls a provider; then send."""
        payment, key = admit.payment, admit.key
        if key not in self.claims.pending:
            self.claims.claim(key, request_hash)
        self.machine.reserve(admit, 1)
        try:
            result = await self.store.insert(payment, admit.entries)
        except Exception:
            log.exception("storing payment %s failed", payment.id)
            result = "error"
        finally:
            self.machine.reserve(admit, -1)
        if result == "duplicate":
            # The primary key knew it although the cache did not (a restart, or an old key).
            stored = await self._get(payment.id)
            self.claims.resolve(key, stored.request_hash if stored is not None else None)
            if stored is None:
                return error_reply(503, "storage_unavailable", "could not read it; retry")
            return await self._replay(key, payment.id, request_hash, unique)
        if result != "ok":
            self.claims.resolve(key, None)
            return error_reply(503, "storage_unavailable", "could not store it; retry")
        self._run_now(self.machine.stored(admit))
        self.claims.resolve(key, payment.request_hash)
        return Reply(202, view(payment))

    async def _replay(
        self, key: str, payment_id: str, request_hash: str, conflict_ok: bool = False
    ) -> Reply:
        """The first answer again (same id), once the first copy is stored."""
        stored_hash = self.machine.idem.get(key, request_hash)
        refused = admission.replay_conflict(stored_hash, request_hash, conflict_ok)
        if refused is not None:
            return refused
        if not await self.claims.stored(key):
            return error_reply(503, "storage_unavailable", "the first copy failed; retry")
        payment = await self._get(payment_id)
        if payment is None:
            return error_reply(503, "storage_unavailable", "payment not readable yet; retry")
        return Reply(202, view(payment), replayed=True)

    # --- reversals -------------------------------------------------------------------------

    async def create_reversals(self, requests: list[CreateReversal]) -> list[Reply]:
        return list(await asyncio.gather(*(self._reverse(r) for r in requests)))

    async def _reverse(self, req: CreateReversal) -> Reply:
        """Give a collection back to the payer: one reversal per collection, ever."""
        original = await self._get(req.payment_id)
        refused = self.machine.reversal_refused(original, req)
        if refused is not None or original is None:
            return refused or error_reply(404, "not_found", f"no payment {req.payment_id}")
        key, rid = self.machine.key_and_id(req.merchant_id, f"reversal:{original.id}")
        if key in self.machine.idem:
            return await self._replay(key, rid, req.request_hash, conflict_ok=True)
        decided = self.machine.reversal(original, req, key, rid)
        if isinstance(decided, Reply):
            return decided
        return await self._admit(decided, req.request_hash, unique=True)

    # --- reviews -------------------------------------------------------------------------

    def kyc_changed(self, merchant_id: str) -> None:
        """An operator changed the merchant's KYC state or limits: the next payment reads them."""
        self.screener.forget(merchant_id)

    def held(self, merchant_id: str | None, limit: int) -> list[dict[str, Any]]:
        return self.machine.held(merchant_id, limit)

    async def review(
        self,
        merchant_id: str | None,
        payment_id: str,
        decision: str,
        reviewer: str,
        reason: str | None,
    ) -> Reply:
        payment = await self._get(payment_id)
        refused, effects = self.machine.review(
            payment, payment_id, merchant_id, decision, reviewer, reason
        )
        await self._run(effects)
        return refused or Reply(200, view(self.payments[payment_id]))

    # --- balances and reads ----------------------------------------------------------------

    def balance(self, merchant_id: str) -> Reply:
        return self.machine.balance(merchant_id)

    async def get_payments(self, requests: list[tuple[str, str]]) -> list[Reply]:
        return list(await asyncio.gather(*(self._read_one(m, p) for m, p in requests)))

    async def _read_one(self, merchant_id: str, payment_id: str) -> Reply:
        payment = await self._get(payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            return error_reply(404, "not_found", f"no payment {payment_id}")
        # Show a status only once it is stored: a crash must never take back what a client saw.
        try:
            await asyncio.wait_for(self._persisted(payment), timeout=READ_WAIT_S)
        except TimeoutError:
            return error_reply(503, "storage_unavailable", "the latest change is not stored yet")
        return Reply(200, view(payment))

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

    # --- C2B confirmations and callbacks ---------------------------------------------------

    async def c2b_confirmations(self, items: list[C2bIn]) -> list[CallbackVerdict]:
        return list(await asyncio.gather(*(self._c2b(i) for i in items)))

    async def _c2b(self, item: C2bIn) -> CallbackVerdict:
        """Store a confirmation as awaiting the provider's record, and ask about its receipt;
        only that record settles it (actors/shard/callbacks.py)."""
        key, payment_id, duplicate = self.machine.c2b_known(item)
        if duplicate is not None:
            await self._run(duplicate)
            return "duplicate"
        if self.sealer is not None:
            await self.sealer.ready(item.merchant_id)
        received = self.machine.c2b_received(item, key, payment_id)
        result = await self.store.insert(received, [])
        if result == "duplicate":
            return "duplicate"
        if result != "ok":
            raise RuntimeError(f"could not store C2B payment {item.trans_id}")
        await self._run(self.machine.c2b_stored(received, self.clock.time()))
        return "applied"

    async def apply_callbacks(self, items: list[CallbackIn]) -> list[CallbackVerdict]:
        return list(await asyncio.gather(*(self._callback(i) for i in items)))

    async def _callback(self, item: CallbackIn) -> CallbackVerdict:
        payment = await self._get(item.payment_id)
        if payment is None:
            return "unknown_payment"
        verdict, effects = self.machine.callback(payment, item, self.clock.time())
        await self._run(effects)
        return verdict  # type: ignore[return-value]

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

    # --- personal data, transfers, webhooks ------------------------------------------------

    async def by_phone(self, merchant_id: str, phone: str, limit: int) -> Reply:
        return await self.personal.by_phone(merchant_id, phone, limit)

    async def erase(self, merchant_id: str, phone: str) -> Reply:
        return await self.personal.erase(merchant_id, phone, self.in_flight)

    async def create_transfers(self, requests: list[CreateTransfer]) -> list[Reply]:
        return list(await asyncio.gather(*(self.transfers.create(r) for r in requests)))

    async def get_transfers(self, requests: list[tuple[str, str]]) -> list[Reply]:
        return list(await asyncio.gather(*(self.transfers.read(m, t) for m, t in requests)))

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
        await self._run(self.machine.sweep(self.clock.time()))
