"""The merchant shard: the single writer for its merchants' payments.

It decides idempotency from its cache (the payment id is derived from the idempotency key, so the
primary key is the backstop), group-commits new payments before handing them to the provider
gateway, applies provider answers, callbacks and status queries through the state table,
persists every change before telling the merchant, and sweeps payments that stay in flight too
long.

Actor memory is a cache: on start the shard reloads every payment listed in ``inflight`` (written
before the payment itself, removed once it is final and every webhook is delivered) and resumes
it. This class is the wiring: the decisions are pure functions in the modules beside it
(admission, callbacks, reversals, postings, reviews, sweeping), the effects go through ports
(:mod:`actors.shard.ports`: the payment store, the provider, the clock; the webhook transport).
Ray specifics live in :mod:`actors.runtime`; this class is plain asyncio, built directly by tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any

from actors.compliance import Compliance
from actors.orders import order_for
from actors.replies import error_reply
from actors.shard import admission, callbacks, postings, reversals, reviews, sweeping
from actors.shard.admission import IdemEntry, claim_entry, stored_entry
from actors.shard.notify import MERCHANT_TTL, Notifier
from actors.shard.personal import EraseBatchItems, PersonalData
from actors.shard.ports import Clock, PaymentStore, ProviderPort
from actors.transfers import TransferDriver
from actors.writer import Committed
from connectors.transport import Transport
from infra.live import Publisher
from infra.metrics import ILLEGAL_EVENTS, PAYMENTS
from infra.storage.mongo import Doc
from routing.router import NoRoute, Preferences, Route, choose
from switch import ledger
from switch.c2b import received_payment
from switch.compliance import ALLOW, Screening
from switch.config import Settings
from switch.fees import fee_for
from switch.idempotency import scoped_key
from switch.ids import payment_id_for
from switch.ledger import Balances, Entry
from switch.messages import (
    C2bIn,
    CallbackIn,
    CallbackVerdict,
    CreatePayment,
    CreateReversal,
    CreateTransfer,
    Order,
    ProviderOutcome,
    QueryRequest,
    Reply,
    StatusCheck,
    StatusRequest,
    SubmitResult,
)
from switch.money import format_minor
from switch.payments import Failure, Payment, apply, from_doc, is_payout, offer, view
from switch.pii import Sealer, with_index
from switch.policies import reversal_refusal
from switch.postings import postings as ledger_postings
from switch.rails import RAILS, provider_of
from switch.reviews import Refused, quiet_last, review_step, screened
from switch.states import Event, State, Status, is_final
from switch.sweep import Asked

__all__ = ["EraseBatchItems", "IdemEntry", "ProviderPort", "ShardCore"]

log = logging.getLogger(__name__)

CACHE_LIMIT = admission.CACHE_LIMIT
READ_WAIT_S = 2.0
_NO_MONEY_MOVED = (Status.FAILED, Status.EXPIRED)


class ShardCore:
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
    ) -> None:
        self.shard = shard
        # KYC, AML and sanctions screening of new payments (actors/compliance.py); None (unit
        # tests of other paths) lets every payment through.
        self.compliance = compliance
        self.sealer = sealer  # personal data sealed at rest (switch/pii.py); None in unit tests
        self.settings = settings
        self.store = store
        self.provider = provider
        self.secret_key = secret_key
        self.clock = clock or Clock()
        self.payments: OrderedDict[str, Payment] = OrderedDict()
        self.idem: OrderedDict[str, IdemEntry] = OrderedDict()
        self.in_flight: set[str] = set()
        self.balances = Balances()  # as committed
        self.waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self.last_query: dict[str, Asked] = {}  # the sweeper's last ask about a payment
        self.orders: list[Order] = []
        self.reserving: dict[str, int] = {}  # merchant -> payout reservations not yet committed
        self.circuit_open_until: dict[str, float] = {}  # provider -> learnt from the gateways
        self.prefs: dict[str, tuple[float, Preferences]] = {}  # merchant routing preferences
        self.resent: set[str] = set()  # reversals sent more than once
        self._orders_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        store.bind(self._current, self._after_commit, self._seal if sealer is not None else None)
        # Shared with the store, which alone advances them: per payment, the version and the
        # last history seq durable.
        self.persisted = store.versions
        self.persisted_seq = store.seqs
        self.transfers = TransferDriver(shard, secret_key, self._create, self._get, self._persisted)
        self.notifier = Notifier(
            settings,
            store,
            webhook_transport,
            publisher,
            self.clock,
            self._spawn,
            payment_of=self.payments.get,
            deliverable=self._deliverable,
            delivered=self._notified,
        )
        self.personal = PersonalData(
            store, sealer, erase_batch_items, self._opened, self._current_copy, self._forget
        )

    # --- life cycle ------------------------------------------------------------------------

    async def start(self, loops: bool = True) -> None:
        """Recover, then run the order and sweep loops (``loops`` False: a test drives them with
        :meth:`send_orders` and :meth:`sweep`)."""
        await self.store.start()
        self.notifier.start()
        if self.compliance is not None:
            self.compliance.start()
        self.balances.accounts.update(await self.store.balances())
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
        if self.compliance is not None:
            await self.compliance.stop()
        await self.store.stop()

    def _seal(self, doc: Doc, payment: Payment) -> Doc:
        assert self.sealer is not None
        if "merchant_id" in doc:  # a new document: index the phone before sealing it
            with_index(doc, self.sealer)
        return self.sealer.seal(doc, payment.id, payment.merchant_id)

    async def _opened(self, doc: Doc) -> Payment:
        """A stored payment, its personal fields opened."""
        if self.sealer is not None:
            await self.sealer.ready(doc["merchant_id"])  # its changes are sealed with it
            await self.sealer.ready_for(doc)
            self.sealer.open(doc)
        return from_doc(doc)

    async def _recover(self) -> None:
        """Reload what is in flight or owes a webhook; a payment caught mid-send may have reached
        the provider, so it becomes ``unknown`` (never resent)."""
        listed = await self.store.inflight()
        found = set()
        for start in range(0, len(listed), 500):
            for doc in await self.store.read_many(listed[start : start + 500]):
                self._resume(await self._opened(doc))
                found.add(doc["_id"])
        for never_stored in set(listed) - found:  # cannot happen (one transaction); tidy up
            self.store.drop_inflight(never_stored)
        log.info("shard %d recovered %d payments in flight", self.shard, len(found))

    def _resume(self, payment: Payment) -> None:
        self._mark_stored(payment)
        self._remember(payment)
        self.idem[payment.idem_key] = stored_entry(payment.request_hash)
        if payment.state == State.SUBMITTING:
            self._transition(payment, Event.ANSWER_LOST, "recovery")
        elif payment.pending_notifications:
            self.notifier.webhook(payment.id)
        if payment.method == "mpesa_c2b":
            self._spawn(self._post_to_sacco(payment))
        if self.transfers.on_settled(payment):
            self._spawn(self._drive_transfer(payment))
        elif is_final(payment.state) and not payment.pending_notifications:
            self.store.drop_inflight(payment.id)

    def stats(self) -> dict[str, int]:
        return {
            "shard": self.shard,
            "cached": len(self.payments),
            "in_flight": len(self.in_flight),
            "unwritten": sum(
                1 for p in self.payments.values() if self.persisted.get(p.id, 0) < p.version
            ),
        }

    # --- creating payments (decisions: actors/shard/admission.py) ---------------------------

    async def create_payments(self, requests: list[CreatePayment]) -> list[Reply]:
        return list(await asyncio.gather(*(self._create(r) for r in requests)))

    async def _create(self, req: CreatePayment) -> Reply:
        key = scoped_key(req.merchant_id, req.idem_key)
        payment_id = payment_id_for(self.shard, self.secret_key, key)
        entry = self.idem.get(key)
        if entry is not None:
            return await self._replay(entry, payment_id, req.request_hash)
        # Claim the key before the first await, so concurrent copies of this request wait for
        # this one's answer instead of racing it through routing and screening.
        claim = claim_entry(req.request_hash)
        self.idem[key] = claim
        try:
            return await self._create_claimed(req, key, payment_id, claim)
        finally:
            if not claim.ready.done():  # refused or failed before anything was stored
                if self.idem.get(key) is claim:
                    del self.idem[key]
                claim.ready.set_result(False)

    async def _create_claimed(
        self, req: CreatePayment, key: str, payment_id: str, claim: IdemEntry
    ) -> Reply:
        if self.sealer is not None:
            await self.sealer.ready(req.merchant_id)  # in memory after the merchant's first
        route = await self._route(req)
        if isinstance(route, NoRoute):
            return error_reply(422, "no_route", route.reason, route.field)
        method = route.method
        wait = self.circuit_open_until.get(provider_of(method), 0.0) - self.clock.monotonic()
        refused = admission.refusal(wait, self.store.backlog(), self.settings.shard_max_backlog)
        if refused is not None:
            return refused
        # Transfer legs carry no fee: the money passes through (switch/transfers.py).
        fee = 0 if req.transfer else fee_for(self.settings.fees, method, req.amount_minor)
        # Screened before the balance check: nothing may await between that and the reservation.
        screening = await self._screen(req, payment_id, method)
        if screening.action == "refuse":
            return await self._refused(screening, key, payment_id, req.request_hash)
        entries: list[Entry] = []
        if is_payout(method):
            short = self._shortfall(req.merchant_id, req.amount_minor + fee)
            if short is not None:
                self._unscreen(req, screening)
                # Before refusing, make sure this is not a replay of a payout this shard has
                # forgotten (a restart): keys never expire, so that is the stored payout again.
                stored = await self._get(payment_id)
                if stored is not None:
                    done = stored_entry(stored.request_hash)
                    self.idem[key] = done
                    claim.ready.set_result(True)  # the copies waiting on the claim: it exists
                    return await self._replay(done, payment_id, req.request_hash)
                return short
            entries = [ledger.payout_reserve(req.merchant_id, payment_id, req.amount_minor, fee)]
        payment = admission.payment_for(req, payment_id, key, route, fee, self.clock.now())
        needed = self._approvals_needed(payment.amount_minor)
        payment = screened(payment, screening, needed, req.maker)
        reply = await self._admit(payment, key, req.request_hash, entries, claim)
        if reply.replayed or reply.status >= 300:
            self._unscreen(req, screening)  # not stored by this request: uncount it
        return reply

    async def _route(self, req: CreatePayment) -> Route | NoRoute:
        """The rail for a new payment: as named, or chosen from its destination (``auto``)."""
        if req.method != "auto":
            return Route(req.method, "requested", req.method)
        now = self.clock.monotonic()
        down = {p for p, until in self.circuit_open_until.items() if until > now}
        return choose(
            req.method,
            req.direction,
            req.destination,
            req.phone,
            req.amount_minor,
            await self._preferences(req.merchant_id),
            down,
        )

    async def _preferences(self, merchant_id: str) -> Preferences:
        cached = self.prefs.get(merchant_id)
        if cached and cached[0] > self.clock.monotonic():
            return cached[1]
        doc = await self.store.merchant(merchant_id)
        prefs = Preferences.from_doc(doc.get("routing"))
        self.prefs[merchant_id] = (self.clock.monotonic() + MERCHANT_TTL, prefs)
        return prefs

    async def _store_new(self, payment: Payment, entries: list[Entry]) -> str:
        """Persist before anyone calls a provider: the payment, its ``inflight`` row (so a
        restart finds it) and, for a payout, its reservation, in one transaction."""
        held = sum(e.lines[1].amount for e in entries)  # a reservation's credit to reserved
        self.reserving[payment.merchant_id] = self.reserving.get(payment.merchant_id, 0) + held
        try:
            return await self.store.insert(payment, entries)
        except Exception:
            log.exception("storing payment %s failed", payment.id)
            return "error"
        finally:
            self.reserving[payment.merchant_id] -= held

    def _shortfall(self, merchant_id: str, total: int) -> Reply | None:
        available = self.balances.of(ledger.available(merchant_id))
        return admission.shortfall(available, self.reserving.get(merchant_id, 0), total)

    async def _admit(
        self,
        payment: Payment,
        key: str,
        request_hash: str,
        entries: list[Entry],
        claim: IdemEntry | None = None,
    ) -> Reply:
        """Store a new payment (with its journal entries), then hand it to the provider."""
        entry = claim or claim_entry(request_hash)
        self.idem[key] = entry
        result = await self._store_new(payment, entries)
        if result == "duplicate":
            # The primary key knew it although the cache did not (a restart, or an old key).
            stored = await self._get(payment.id)
            entry.ready.set_result(stored is not None)
            if stored is None:
                self.idem.pop(key, None)
                return error_reply(503, "storage_unavailable", "could not read it; retry")
            self.idem[key] = stored_entry(stored.request_hash)
            unique = payment.method == "mpesa_reversal"
            return await self._replay(self.idem[key], payment.id, request_hash, unique)
        if result != "ok":
            self.idem.pop(key, None)
            entry.ready.set_result(False)
            return error_reply(503, "storage_unavailable", "could not store it; retry")
        self._remember(payment)
        entry.ready.set_result(True)
        admission.trim(self.idem)
        PAYMENTS.labels(payment.method, payment.status.value).inc()
        if payment.state != State.HELD:  # a held payment waits for its reviewers
            self._queue_order(payment)
        return Reply(202, view(payment))

    async def _replay(
        self, entry: IdemEntry, payment_id: str, request_hash: str, conflict_ok: bool = False
    ) -> Reply:
        """The first answer again (same id), once the first copy is stored."""
        refused = admission.replay_conflict(entry.request_hash, request_hash, conflict_ok)
        if refused is not None:
            return refused
        if not await asyncio.shield(entry.ready):
            return error_reply(503, "storage_unavailable", "the first copy failed; retry")
        payment = await self._get(payment_id)
        if payment is None:
            return error_reply(503, "storage_unavailable", "payment not readable yet; retry")
        return Reply(202, view(payment), replayed=True)

    def _mark_stored(self, payment: Payment) -> None:
        self.persisted[payment.id] = payment.version
        self.persisted_seq[payment.id] = payment.history[-1].seq

    # --- reversals (actors/shard/reversals.py) ---------------------------------------------

    async def create_reversals(self, requests: list[CreateReversal]) -> list[Reply]:
        return list(await asyncio.gather(*(self._reverse(r) for r in requests)))

    async def _reverse(self, req: CreateReversal) -> Reply:
        """Give a collection back to the payer: one reversal per collection, ever."""
        original = await self._get(req.payment_id)
        if original is None or original.merchant_id != req.merchant_id:
            return error_reply(404, "not_found", f"no payment {req.payment_id}")
        refused = reversal_refusal(original, self.clock.now(), self.settings.reversal_window_days)
        if refused:
            return error_reply(422, "not_reversible", refused)
        key = scoped_key(req.merchant_id, reversals.reversal_key(original.id))
        reversal_id = payment_id_for(self.shard, self.secret_key, key)
        entry = self.idem.get(key)
        if entry is not None:
            return await self._replay(entry, reversal_id, req.request_hash, conflict_ok=True)
        short = self._shortfall(req.merchant_id, original.amount_minor)
        if short is not None:
            return short
        shortcode = self.settings.mpesa_shortcode
        reversal = reversals.reversal_of(
            original, req, reversal_id, key, shortcode, self.clock.now()
        )
        reserve = ledger.payout_reserve(req.merchant_id, reversal_id, original.amount_minor, 0)
        return await self._admit(reversal, key, req.request_hash, [reserve])

    # --- screening and review (actors/compliance.py, actors/shard/reviews.py) ---------------

    async def _screen(self, req: CreatePayment, payment_id: str, method: str) -> Screening:
        if self.compliance is None:
            return ALLOW
        try:
            return await self.compliance.screen(
                payment_id=payment_id,
                merchant_id=req.merchant_id,
                method=method,
                amount=req.amount_minor,
                phone=req.phone,
                destination=req.destination,
                metadata=req.metadata,
                stage=admission.screening_stage(req.transfer),
            )
        except Exception:
            log.exception("screening of %s failed", payment_id)
            message = "screening is unavailable; nothing was stored. Retry with the same key."
            return Screening("refuse", "screening_unavailable", None, status=503, message=message)

    async def _refused(
        self, screening: Screening, key: str, payment_id: str, request_hash: str
    ) -> Reply:
        """Refuse a new payment, unless it is a replay of one stored before a restart."""
        stored = await self._get(payment_id)
        if stored is not None:
            done = stored_entry(stored.request_hash)
            self.idem[key] = done
            return await self._replay(done, payment_id, request_hash)
        return error_reply(screening.status, screening.reason, screening.message, screening.field)

    def _unscreen(self, req: CreatePayment, screening: Screening) -> None:
        if self.compliance is not None and screening.day is not None:
            self._spawn(
                self.compliance.give_back(
                    req.merchant_id, req.phone, req.amount_minor, screening.day
                )
            )

    def _approvals_needed(self, amount: int) -> int:
        return self.compliance.needed(amount) if self.compliance is not None else 1

    def kyc_changed(self, merchant_id: str) -> None:
        """An operator changed the merchant's KYC state or limits: the next payment reads them."""
        if self.compliance is not None:
            self.compliance.forget(merchant_id)

    def held(self, merchant_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Payments held for review, oldest first. Held payments are in flight, so memory has
        every one of them."""
        in_flight = (self.payments[pid] for pid in self.in_flight if pid in self.payments)
        return reviews.held_views(in_flight, merchant_id, limit)

    async def review(
        self,
        merchant_id: str | None,
        payment_id: str,
        decision: str,
        reviewer: str,
        reason: str | None,
    ) -> Reply:
        """A reviewer approves or rejects a held payment (``merchant_id`` None: an operator).
        The last approval needed is stored before the order is queued: a restart in between
        finds ``submitting`` and asks the provider, never sends it again."""
        payment = await self._get(payment_id)
        if payment is None or merchant_id not in (None, payment.merchant_id):
            return error_reply(404, "not_found", f"no payment {payment_id}")
        step = review_step(payment, decision, reviewer, reason)
        if isinstance(step, Refused):
            if step.code == "maker_cannot_approve":  # a maker approving its own: on the record
                self._record_review("self_approval_refused", payment, decision, reviewer)
            return error_reply(step.status, step.code, step.message, step.field)
        failure = Failure(*step.failure) if step.failure else None
        self._transition(payment, step.event, "review", detail=step.detail, failure=failure)
        updated = self.payments[payment.id]
        if step.event == Event.APPROVE:
            updated = self._remember(quiet_last(updated))  # same version: not yet written
        await self._persisted(updated)
        if step.event == Event.APPROVE:
            self._queue_order(updated)
        note = (reason or "").strip() or None
        self._record_review(reviews.recorded_as(step.event), payment, decision, reviewer, note)
        return Reply(200, view(self.payments[payment.id]))

    def _record_review(
        self, kind: str, payment: Payment, decision: str, reviewer: str, note: str | None = None
    ) -> None:
        if self.compliance is None:
            return
        self.compliance.record(
            kind,
            payment_id=payment.id,
            merchant_id=payment.merchant_id,
            method=payment.method,
            amount=payment.amount_minor,
            phone=payment.phone,
            reason=decision,
            reviewer=reviewer,
            note=note,
        )

    # --- balances --------------------------------------------------------------------------

    def balance(self, merchant_id: str) -> Reply:
        """What the merchant has: available (spendable) and reserved (held for payouts), as
        committed."""
        return Reply(
            200,
            {
                "object": "balance",
                "currency": "KES",
                "available": format_minor(self.balances.of(ledger.available(merchant_id))),
                "reserved": format_minor(self.balances.of(ledger.reserved(merchant_id))),
            },
        )

    # --- reading payments ------------------------------------------------------------------

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
        payment = await self._opened(doc)
        if payment_id in self.payments:  # arrived while we opened it
            return self.payments[payment_id]
        self._mark_stored(payment)
        return self._remember(payment)

    def _remember(self, payment: Payment) -> Payment:
        self.payments[payment.id] = payment
        self.payments.move_to_end(payment.id)
        if is_final(payment.state):
            self.in_flight.discard(payment.id)
        else:
            self.in_flight.add(payment.id)
        while len(self.payments) > CACHE_LIMIT:
            oldest = next(iter(self.payments))
            unwritten = self.persisted.get(oldest, 0) < self.payments[oldest].version
            held = oldest in self.transfers.holding
            published = oldest in self.notifier.published
            if oldest in self.in_flight or unwritten or published or held:
                break
            self._forget(oldest)
        return payment

    def _forget(self, payment_id: str) -> None:
        """Drop the cached copy: the next read comes from the store."""
        self.payments.pop(payment_id, None)
        self.persisted.pop(payment_id, None)
        self.persisted_seq.pop(payment_id, None)

    def _current_copy(self, payment: Payment) -> Payment:
        return self.payments.get(payment.id, payment)

    # --- provider hand-off -----------------------------------------------------------------

    def _callback_url(self, kind: str, payment_id: str) -> str:
        return sweeping.callback_url(self.settings, self.secret_key, kind, payment_id)

    def _queue_order(self, payment: Payment) -> None:
        order = order_for(payment, self._callback_url)
        self.orders.append(order)
        self._orders_event.set()

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
            # The gateway died or the call was lost: any of these may have reached Daraja.
            log.exception("provider gateway call failed; %d payments now unknown", len(orders))
            results = [
                SubmitResult(o.payment_id, ProviderOutcome(Event.ANSWER_LOST)) for o in orders
            ]
        for result in results:
            payment = self.payments.get(result.payment_id)
            if payment is None:
                continue
            if result.outcome.retry_after is not None:
                until = self.clock.monotonic() + result.outcome.retry_after
                self.circuit_open_until[provider_of(payment.method)] = until
            self._apply_outcome(payment, result.outcome, "provider")

    # --- applying outcomes -----------------------------------------------------------------

    def _apply_outcome(self, payment: Payment, outcome: ProviderOutcome, source: str) -> bool:
        if outcome.event is None:
            return False
        return self._transition(
            payment, outcome.event, source, provider=outcome.refs, failure=outcome.failure
        )

    def _transition(self, payment: Payment, event: Event, source: str, **kw: Any) -> bool:
        updated = apply(payment, event, source=source, at=self.clock.now(), **kw)
        if updated is None:
            refused = offer(payment, event)
            if refused.verdict == "illegal":  # never silently dropped
                ILLEGAL_EVENTS.labels(payment.method, payment.state.value, event.value).inc()
                log.warning(
                    "%s from %s refused for %s: %s", event, source, payment.id, refused.reason
                )
            return False
        self._remember(updated)
        if updated.status != payment.status:
            PAYMENTS.labels(updated.method, updated.status.value).inc()
            if self.compliance is not None and updated.status in _NO_MONEY_MOVED:
                self._spawn(self.compliance.release(updated))  # back to today's AML totals
        self.store.touch(updated.id, ledger_postings(payment, updated, self.shard))
        return True

    # --- C2B and SACCO postings (actors/shard/postings.py) ---------------------------------

    async def c2b_confirmations(self, items: list[C2bIn]) -> list[CallbackVerdict]:
        return list(await asyncio.gather(*(self._c2b(i) for i in items)))

    async def _c2b(self, item: C2bIn) -> CallbackVerdict:
        """Store a confirmation as awaiting M-Pesa's record, and ask Transaction Status about
        its receipt; only that record settles it (actors/shard/callbacks.py)."""
        key = scoped_key(item.merchant_id, postings.c2b_key(item))
        payment_id = payment_id_for(self.shard, self.secret_key, key)
        if payment_id in self.payments:
            await self._post_to_sacco(self.payments[payment_id])
            return "duplicate"
        if self.sealer is not None:
            await self.sealer.ready(item.merchant_id)
        fee = fee_for(self.settings.fees, "mpesa_c2b", item.amount_minor)
        received = received_payment(item, payment_id, key, fee, self.clock.now())
        result = await self.store.insert(received, [])
        if result == "duplicate":
            return "duplicate"
        if result != "ok":
            raise RuntimeError(f"could not store C2B payment {item.trans_id}")
        self._remember(received)
        PAYMENTS.labels(received.method, received.status.value).inc()
        # Not awaited: Daraja waits for the acknowledgement; the record's answer comes later.
        request = sweeping.status_request(received, self._callback_url)
        self._spawn(self._ask_status([request], self.clock.time()))
        return "applied"

    async def _post_to_sacco(self, paid: Payment) -> None:
        posting = postings.sacco_posting(paid)
        if posting is None:
            return
        reply = await self._create(posting)
        if reply.status >= 300:
            log.warning("posting of %s to the SACCO not created yet: %s", paid.id, reply.body)

    # --- callbacks (actors/shard/callbacks.py) ---------------------------------------------

    async def apply_callbacks(self, items: list[CallbackIn]) -> list[CallbackVerdict]:
        return list(await asyncio.gather(*(self._callback(i) for i in items)))

    async def _callback(self, item: CallbackIn) -> CallbackVerdict:
        payment = await self._get(item.payment_id)
        if payment is None:
            return "unknown_payment"
        step = callbacks.judge(
            payment,
            item,
            resent=payment.id in self.resent,
            age=self.clock.time() - payment.created_at.timestamp(),
            not_found_after=self.settings.payout_not_found_after,
        )
        if step.action == "decline":
            assert step.outcome is not None
            # M-Pesa's own record of the receipt contradicts the confirmation: credit nobody.
            log.warning("C2B %s: M-Pesa's record does not match: %s", payment.id, step.problem)
            if self._apply_outcome(payment, step.outcome, "callback"):
                await self._persisted(self.payments[payment.id])
            return "mismatch"
        if step.action == "mismatch":
            log.warning("callback for %s refused: %s", payment.id, step.problem)
            return "mismatch"
        if step.action == "pending" or step.outcome is None:
            return "pending"
        if not self._apply_outcome(payment, step.outcome, "callback"):
            return "duplicate"
        await self._persisted(self.payments[payment.id])
        await self._post_to_sacco(self.payments[payment.id])
        return "applied"

    def _payout_outcome(self, payment: Payment, item: CallbackIn) -> ProviderOutcome:
        return reversals.payout_outcome(
            payment,
            item,
            resent=payment.id in self.resent,
            age=self.clock.time() - payment.created_at.timestamp(),
            not_found_after=self.settings.payout_not_found_after,
        )

    # --- persistence -----------------------------------------------------------------------

    def _current(self, payment_id: str) -> Payment:
        return self.payments[payment_id]

    async def _persisted(self, payment: Payment) -> None:
        """Wait until ``payment``'s version (or a later one) is durable."""
        if self.persisted.get(payment.id, 0) >= payment.version:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.setdefault(payment.id, []).append((payment.version, fut))
        await fut

    def _after_commit(self, committed: Committed) -> None:
        for entry in committed.entries:
            self.balances.post(entry)
        for payment in (*committed.inserted, *committed.updated):
            waiting = self.waiters.pop(payment.id, [])
            later = [(v, f) for v, f in waiting if v > payment.version and not f.done()]
            for version, fut in waiting:
                if version <= payment.version and not fut.done():
                    fut.set_result(None)
            if later:  # changes made after this commit's snapshot: their own commit will come
                self.waiters[payment.id] = later
            if payment.pending_notifications:
                self.notifier.webhook(payment.id)
            if self.transfers.on_settled(payment):
                self._spawn(self._drive_transfer(payment))
        self.notifier.publish(committed.updated)

    # --- personal data (actors/shard/personal.py) ------------------------------------------

    async def by_phone(self, merchant_id: str, phone: str, limit: int) -> Reply:
        return await self.personal.by_phone(merchant_id, phone, limit)

    async def erase(self, merchant_id: str, phone: str) -> Reply:
        return await self.personal.erase(merchant_id, phone, self.in_flight)

    # --- transfers (actors/transfers.py) ---------------------------------------------------

    async def create_transfers(self, requests: list[CreateTransfer]) -> list[Reply]:
        return list(await asyncio.gather(*(self.transfers.create(r) for r in requests)))

    async def get_transfers(self, requests: list[tuple[str, str]]) -> list[Reply]:
        return list(await asyncio.gather(*(self.transfers.read(m, t) for m, t in requests)))

    async def _drive_transfer(self, leg: Payment) -> None:
        if not await self.transfers.drive(leg):
            return  # held: the sweeper drives it again
        current = self.payments.get(leg.id)
        if current and is_final(current.state) and not current.pending_notifications:
            self._settled(leg.id)

    # --- webhooks (actors/shard/notify.py) -------------------------------------------------

    def _notified(self, payment_id: str, seq: int) -> None:
        """An event is delivered (or abandoned). Not written at once: ``notified_seq`` rides
        with the payment's next write, so after a crash an event may be delivered twice (webhooks
        are at least once; receivers deduplicate on ``webhook-id``), never lost. Once the final
        event is out, the payment leaves ``inflight``: nothing is left to resume."""
        payment = self.payments.get(payment_id)
        if payment is None or payment.notified_seq >= seq:
            return
        payment = replace(payment, notified_seq=seq)
        self.payments[payment_id] = payment
        if payment.pending_notifications:
            self.notifier.webhook(payment_id)
        elif is_final(payment.state) and payment_id not in self.transfers.holding:
            self._settled(payment_id)

    def _settled(self, payment_id: str) -> None:
        self.notifier.forget(payment_id)
        self.last_query.pop(payment_id, None)
        self.store.drop_inflight(payment_id)

    def _deliverable(self, payment_id: str) -> int:
        """Events up to this history seq are persisted, so the merchant may be told of them."""
        return self.persisted_seq.get(payment_id, 0)

    # --- stuck payments (actors/shard/sweeping.py) -----------------------------------------

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed")

    async def sweep(self) -> None:
        """Act on payments still in flight (see :mod:`switch.sweep`)."""
        for held in list(self.transfers.holding):
            if held in self.payments:
                self._spawn(self._drive_transfer(self.payments[held]))
        now = self.clock.time()
        in_flight = [self.payments[pid] for pid in list(self.in_flight)]
        todo = sweeping.plan(in_flight, self.last_query, now, self.settings, self._callback_url)
        for payment in todo.resend:
            self._resend_reversal(payment, now)
        for payment in todo.expire:
            self._expire(payment, "outcome_unknown")
        if todo.query:
            await self._query(todo.query, now)
        if todo.ask:
            await self._ask_status(todo.ask, now)
        if todo.check:
            await self._check(todo.check, now)

    async def _check(self, requests: list[StatusCheck], now: float) -> None:
        """Airtel, PesaLink and SACCO enquiries: answered at once, applied like a callback."""
        for r in requests:
            self._asked(r.payment_id, now)
        try:
            results = await self.provider.check(requests)
        except Exception:
            log.exception("status checks failed; will ask again")
            return
        for res in results:
            payment = self.payments.get(res.payment_id)
            if payment is None or res.outcome is None or is_final(payment.state):
                continue
            if RAILS[payment.method].direction != "collection":  # payouts and postings
                item = CallbackIn(payment.id, res.outcome, None, not_found=res.not_found)
                self._apply_outcome(payment, self._payout_outcome(payment, item), "query")
                continue
            late = now - payment.created_at.timestamp() >= self.settings.stk_expire_after
            if not self._apply_outcome(payment, res.outcome, "query") and late:
                self._expire(payment, "outcome_unknown" if res.not_found else "timeout")

    def _resend_reversal(self, payment: Payment, now: float) -> None:
        """No answer about a reversal: send it again. M-Pesa refuses to reverse a receipt twice
        (R000001), so this cannot give the money back twice, and that refusal then tells us the
        first one went through. (Transaction Status cannot tell: a reversed receipt still reads
        Completed.)"""
        self._asked(payment.id, now)
        self.resent.add(payment.id)
        self._queue_order(payment)

    async def _ask_status(self, requests: list[StatusRequest], now: float) -> None:
        for r in requests:
            self._asked(r.payment_id, now)
        try:
            await self.provider.ask_status(requests)
        except Exception:
            log.exception("Transaction Status queries failed; will ask again")

    def _asked(self, payment_id: str, now: float) -> None:
        self.last_query[payment_id] = sweeping.one_more_ask(self.last_query, payment_id, now)

    async def _query(self, requests: list[QueryRequest], now: float) -> None:
        for r in requests:
            self._asked(r.payment_id, now)
        try:
            results = await self.provider.query(requests)
        except Exception:
            log.exception("status queries failed; will ask again")
            return
        for res in results:
            payment = self.payments.get(res.payment_id)
            if payment is None or res.outcome is None:
                continue
            if not self._apply_outcome(payment, res.outcome, "query"):
                age = now - payment.created_at.timestamp()
                if age >= self.settings.stk_expire_after and not is_final(payment.state):
                    self._expire(payment, "timeout")

    def _expire(self, payment: Payment, code: str) -> None:
        failure = sweeping.expiry(payment.method, code)
        self._transition(payment, Event.EXPIRE, "sweeper", failure=failure)

    # --- helpers ---------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
