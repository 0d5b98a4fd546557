"""The merchant shard: the single writer for its merchants' payments.

It decides idempotency from its cache (the payment id is derived from the idempotency key, so the
primary key is the backstop),
group-commits new payments before handing them to the provider gateway, applies provider
answers, callbacks and status queries through the state table, persists every change before
telling the merchant, and sweeps payments that stay in flight too long.

Actor memory is a cache: on start the shard reloads every payment listed in ``inflight`` (written
before the payment itself, removed once it is final and every webhook is delivered) and resumes
it. Ray specifics live in
:mod:`actors.runtime`; this class is plain asyncio, built directly by tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import orjson
from pymongo import AsyncMongoClient, UpdateOne

from actors.compliance import Compliance
from actors.group_commit import GroupCommit
from actors.orders import order_for
from actors.replies import (
    circuit_open,
    conflict,
    error_reply,
    insufficient_balance,
    overloaded,
)
from actors.transfers import TransferDriver
from actors.webhooks import Endpoint, RetryPolicy, WebhookDispatcher, event_body
from actors.writer import Committed, ShardWriter
from connectors.transport import Transport
from routing.router import NoRoute, Preferences, Route, choose
from switch import ledger
from switch.batches import item_of_key
from switch.c2b import received_payment
from switch.compliance import ALLOW, Screening, Stage
from switch.config import Settings
from switch.fees import fee_for
from switch.idempotency import Decision, decide, scoped_key
from switch.ids import payment_id_for
from switch.ledger import Balances, Entry
from switch.live import Publisher
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
    QueryResult,
    Reply,
    StatusCheck,
    StatusRequest,
    SubmitResult,
)
from switch.metrics import ILLEGAL_EVENTS, PAYMENTS
from switch.money import format_minor
from switch.outcomes import callback_mismatch
from switch.payments import (
    Failure,
    Payment,
    apply,
    from_doc,
    is_payout,
    new_payment,
    now_utc,
    offer,
    view,
)
from switch.pii import Sealer, erased_fields, with_index
from switch.policies import reversal_refusal, reversal_was_ours
from switch.postings import postings
from switch.rails import RAILS, display_name, provider_of
from switch.reviews import Refused, quiet_last, review_step, screened
from switch.signing import callback_token
from switch.states import Event, State, Status, is_final
from switch.storage.mongo import Collections, Doc
from switch.sweep import NEVER_ASKED, Action, Asked, sweep_action

log = logging.getLogger(__name__)

CACHE_LIMIT = 200_000
READ_WAIT_S = 2.0
MERCHANT_TTL = 60.0
_NO_MONEY_MOVED = (Status.FAILED, Status.EXPIRED)


class ProviderPort(Protocol):
    async def submit(self, orders: list[Order]) -> list[SubmitResult]: ...

    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]: ...

    async def query(self, requests: list[QueryRequest]) -> list[QueryResult]: ...

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]: ...


@dataclass
class IdemEntry:
    request_hash: str
    ready: asyncio.Future[bool]  # True once the payment is stored; False if storing failed


# (merchant id, [(batch id, item id, payment id)]) -> how many batch items were erased.
EraseBatchItems = Callable[[str, list[tuple[str, str, str]]], Awaitable[int]]


class ShardCore:
    def __init__(
        self,
        shard: int,
        settings: Settings,
        client: AsyncMongoClient[Doc],
        cols: Collections,
        provider: ProviderPort,
        webhook_transport: Transport,
        secret_key: bytes,
        publisher: Publisher | None = None,
        sealer: Sealer | None = None,
        compliance: Compliance | None = None,
        erase_batch_items: EraseBatchItems | None = None,
    ) -> None:
        self.shard = shard
        # KYC, AML and sanctions screening of new payments (actors/compliance.py); None (unit
        # tests of other paths) lets every payment through.
        self.compliance = compliance
        self.sealer = sealer  # personal data sealed at rest (switch/pii.py); None in unit tests
        # Erases the copies kept in payout batch items (actors/batches.py); None: no batches.
        self.erase_batch_items = erase_batch_items
        self.publisher = publisher
        self.published: dict[str, int] = {}
        self.settings = settings
        self.cols = cols
        self.provider = provider
        self.secret_key = secret_key
        self.payments: OrderedDict[str, Payment] = OrderedDict()
        self.idem: OrderedDict[str, IdemEntry] = OrderedDict()
        self.in_flight: set[str] = set()
        self.persisted: dict[str, int] = {}  # version durable in MongoDB
        self.persisted_seq: dict[str, int] = {}  # last history entry durable in MongoDB
        self.balances = Balances()  # as committed
        self.waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self.last_query: dict[str, Asked] = {}  # the sweeper's last ask about a payment
        self.merchants: dict[str, tuple[float, Endpoint]] = {}
        self.orders: list[Order] = []
        self.reserving: dict[str, int] = {}  # merchant -> payout reservations not yet committed
        self.circuit_open_until: dict[str, float] = {}  # provider -> learnt from the gateways
        self.prefs: dict[str, tuple[float, Preferences]] = {}  # merchant routing preferences
        self.resent: set[str] = set()  # reversals sent more than once
        self._orders_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self.writer = ShardWriter(
            shard,
            client,
            cols,
            self._current,
            self.persisted,
            self.persisted_seq,
            self._after_commit,
            seal=self._seal if sealer is not None else None,
        )
        self.reads: GroupCommit[str, Doc | None] = GroupCommit(self._read_docs)
        self.transfers = TransferDriver(shard, secret_key, self._create, self._get, self._persisted)
        self.attempt_log: GroupCommit[Doc, None] = GroupCommit(self._write_attempts, window=0.05)
        self.webhooks = WebhookDispatcher(
            webhook_transport,
            RetryPolicy(
                settings.webhook_timeout,
                settings.webhook_retry_base,
                settings.webhook_retry_max,
                settings.webhook_max_attempts,
            ),
            endpoint_of=self._endpoint,
            payment_of=self.payments.get,
            persisted_seq=self._deliverable,
            delivered=self._notified,
            record=self._record_attempt,
        )

    # --- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        for committer in self._committers():
            committer.start()
        await self.writer.reclaim()
        self.writer.start()
        self.webhooks.start()
        if self.compliance is not None:
            self.compliance.start()
        await self._load_balances()
        await self._recover()
        for loop in (self._order_loop, self._sweep_loop):
            self._tasks.append(asyncio.create_task(loop()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.webhooks.stop()
        await self.writer.stop()
        if self.compliance is not None:
            await self.compliance.stop()
        for committer in self._committers():
            await committer.stop()

    def _committers(self) -> list[GroupCommit[Any, Any]]:
        return [self.reads, self.attempt_log]

    async def _load_balances(self) -> None:
        async for doc in self.cols.balances.find({"shard": self.shard}):
            self.balances.accounts[doc["_id"]] = int(doc["balance"])

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
        listed = [d["_id"] async for d in self.cols.inflight.find({"shard": self.shard})]
        found = set()
        for start in range(0, len(listed), 500):
            async for doc in self.cols.payments.find({"_id": {"$in": listed[start : start + 500]}}):
                self._resume(await self._opened(doc))
                found.add(doc["_id"])
        for never_stored in set(listed) - found:  # cannot happen (one transaction); tidy up
            self.writer.drop_inflight(never_stored)
        log.info("shard %d recovered %d payments in flight", self.shard, len(found))

    def _resume(self, payment: Payment) -> None:
        self._mark_stored(payment)
        self._remember(payment)
        self.idem[payment.idem_key] = IdemEntry(payment.request_hash, _done_future(True))
        if payment.state == State.SUBMITTING:
            self._transition(payment, Event.ANSWER_LOST, "recovery")
        elif payment.pending_notifications:
            self.webhooks.enqueue(payment.id)
        if payment.method == "mpesa_c2b":
            self._spawn(self._post_to_sacco(payment))
        if self.transfers.on_settled(payment):
            self._spawn(self._drive_transfer(payment))
        elif is_final(payment.state) and not payment.pending_notifications:
            self.writer.drop_inflight(payment.id)

    def stats(self) -> dict[str, int]:
        return {
            "shard": self.shard,
            "cached": len(self.payments),
            "in_flight": len(self.in_flight),
            "unwritten": sum(
                1 for p in self.payments.values() if self.persisted.get(p.id, 0) < p.version
            ),
        }

    # --- creating payments -----------------------------------------------------------------

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
        claim = IdemEntry(req.request_hash, asyncio.get_running_loop().create_future())
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
        wait = self.circuit_open_until.get(provider_of(method), 0.0) - time.monotonic()
        if wait > 0:
            return circuit_open(wait)
        if self.writer.backlog() >= self.settings.shard_max_backlog:
            return overloaded()
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
                    done = IdemEntry(stored.request_hash, _done_future(True))
                    self.idem[key] = done
                    claim.ready.set_result(True)  # the copies waiting on the claim: it exists
                    return await self._replay(done, payment_id, req.request_hash)
                return short
            entries = [ledger.payout_reserve(req.merchant_id, payment_id, req.amount_minor, fee)]
        payment = new_payment(
            payment_id=payment_id,
            merchant_id=req.merchant_id,
            method=method,
            amount_minor=req.amount_minor,
            phone=req.phone,
            reference=req.reference,
            description=req.description,
            metadata=req.metadata,
            idem_key=key,
            request_hash=req.request_hash,
            at=now_utc(),
            fee_minor=fee,
            command=req.command if method == "mpesa_b2c" else None,
            destination=req.destination,
            route=route.to_doc() if req.method == "auto" else None,
            transfer=req.transfer,
        )
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
        now = time.monotonic()
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
        if cached and cached[0] > time.monotonic():
            return cached[1]
        doc = await self.cols.merchants.find_one({"_id": merchant_id}, {"routing": 1}) or {}
        prefs = Preferences.from_doc(doc.get("routing"))
        self.prefs[merchant_id] = (time.monotonic() + MERCHANT_TTL, prefs)
        return prefs

    async def _store_new(self, payment: Payment, entries: list[Entry]) -> str:
        """Persist before anyone calls a provider: the payment, its ``inflight`` row (so a
        restart finds it) and, for a payout, its reservation, in one transaction."""
        held = sum(e.lines[1].amount for e in entries)  # a reservation's credit to reserved
        self.reserving[payment.merchant_id] = self.reserving.get(payment.merchant_id, 0) + held
        try:
            return await self.writer.insert(payment, entries)
        except Exception:
            log.exception("storing payment %s failed", payment.id)
            return "error"
        finally:
            self.reserving[payment.merchant_id] -= held

    def _shortfall(self, merchant_id: str, total: int) -> Reply | None:
        """A payout may not take the balance below zero: committed balance, less reservations
        still being committed. None when the money is there."""
        left = self.balances.of(ledger.available(merchant_id)) - self.reserving.get(merchant_id, 0)
        return None if left >= total else insufficient_balance(total, left)

    # --- reversals --------------------------------------------------------------------------

    async def create_reversals(self, requests: list[CreateReversal]) -> list[Reply]:
        return list(await asyncio.gather(*(self._reverse(r) for r in requests)))

    async def _reverse(self, req: CreateReversal) -> Reply:
        """Give a collection back to the payer. One reversal per collection, ever: its id is
        derived from the collection's, so the primary key refuses a second one. The merchant's
        balance is debited the full amount (the fee is not refunded), reserved first."""
        original = await self._get(req.payment_id)
        if original is None or original.merchant_id != req.merchant_id:
            return error_reply(404, "not_found", f"no payment {req.payment_id}")
        refused = reversal_refusal(original, now_utc(), self.settings.reversal_window_days)
        if refused:
            return error_reply(422, "not_reversible", refused)
        key = scoped_key(req.merchant_id, f"reversal:{original.id}")
        reversal_id = payment_id_for(self.shard, self.secret_key, key)
        entry = self.idem.get(key)
        if entry is not None:
            return await self._replay(entry, reversal_id, req.request_hash, conflict_ok=True)
        short = self._shortfall(req.merchant_id, original.amount_minor)
        if short is not None:
            return short
        reversal = new_payment(
            payment_id=reversal_id,
            merchant_id=req.merchant_id,
            method="mpesa_reversal",
            amount_minor=original.amount_minor,
            phone=original.phone,
            reference=original.id,
            description=req.reason,
            metadata={
                "receipt": original.provider.receipt,
                "shortcode": original.metadata.get("shortcode", self.settings.mpesa_shortcode),
            },
            idem_key=key,
            request_hash=req.request_hash,
            at=now_utc(),
        )
        reserve = ledger.payout_reserve(req.merchant_id, reversal_id, original.amount_minor, 0)
        return await self._admit(reversal, key, req.request_hash, [reserve])

    async def _admit(
        self,
        payment: Payment,
        key: str,
        request_hash: str,
        entries: list[Entry],
        claim: IdemEntry | None = None,
    ) -> Reply:
        """Store a new payment (with its journal entries), then hand it to the provider."""
        entry = claim or IdemEntry(request_hash, asyncio.get_running_loop().create_future())
        self.idem[key] = entry
        result = await self._store_new(payment, entries)
        if result == "duplicate":
            # The primary key knew it although the cache did not (a restart, or an old key).
            stored = await self._get(payment.id)
            entry.ready.set_result(stored is not None)
            if stored is None:
                self.idem.pop(key, None)
                return error_reply(503, "storage_unavailable", "could not read it; retry")
            self.idem[key] = IdemEntry(stored.request_hash, _done_future(True))
            unique = payment.method == "mpesa_reversal"
            return await self._replay(self.idem[key], payment.id, request_hash, unique)
        if result != "ok":
            self.idem.pop(key, None)
            entry.ready.set_result(False)
            return error_reply(503, "storage_unavailable", "could not store it; retry")
        self._remember(payment)
        entry.ready.set_result(True)
        self._trim_idem()
        PAYMENTS.labels(payment.method, payment.status.value).inc()
        if payment.state != State.HELD:  # a held payment waits for its reviewers
            self._queue_order(payment)
        return Reply(202, view(payment))

    async def _replay(
        self, entry: IdemEntry, payment_id: str, request_hash: str, conflict_ok: bool = False
    ) -> Reply:
        """The first answer again (same id); a different body under the same key is a 409,
        unless the object is unique by nature (a reversal: one per collection)."""
        if not conflict_ok and decide(entry.request_hash, request_hash) == Decision.CONFLICT:
            return conflict()
        if not await asyncio.shield(entry.ready):
            return error_reply(503, "storage_unavailable", "the first copy failed; retry")
        payment = await self._get(payment_id)
        if payment is None:
            return error_reply(503, "storage_unavailable", "payment not readable yet; retry")
        return Reply(202, view(payment), replayed=True)

    def _mark_stored(self, payment: Payment) -> None:
        self.persisted[payment.id] = payment.version
        self.persisted_seq[payment.id] = payment.history[-1].seq

    def _trim_idem(self) -> None:
        # Keys never expire in MongoDB (they name the payment); the cache keeps the recent ones.
        while len(self.idem) > CACHE_LIMIT:
            self.idem.popitem(last=False)

    # --- screening and review (actors/compliance.py, switch/reviews.py) ----------------------

    async def _screen(self, req: CreatePayment, payment_id: str, method: str) -> Screening:
        if self.compliance is None:
            return ALLOW
        leg = (req.transfer or {}).get("leg")
        stage: Stage = (
            "new" if not req.transfer else "transfer_debit" if leg == "debit" else "transfer_onward"
        )
        try:
            return await self.compliance.screen(
                payment_id=payment_id,
                merchant_id=req.merchant_id,
                method=method,
                amount=req.amount_minor,
                phone=req.phone,
                destination=req.destination,
                metadata=req.metadata,
                stage=stage,
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
            done = IdemEntry(stored.request_hash, _done_future(True))
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
        """Payments held for review, oldest first: one merchant's, or all (``None``). Held
        payments are in flight, so memory has every one of them."""
        found = [
            p
            for pid in self.in_flight
            if (p := self.payments.get(pid)) is not None
            and p.state == State.HELD
            and (merchant_id is None or p.merchant_id == merchant_id)
        ]
        found.sort(key=lambda p: (p.created_at, p.id))
        return [view(p) for p in found[: max(limit, 0)]]

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
            if step.code == "maker_cannot_approve" and self.compliance is not None:
                self.compliance.record(  # a maker trying to approve its own: on the record
                    "self_approval_refused",
                    payment_id=payment.id,
                    merchant_id=payment.merchant_id,
                    method=payment.method,
                    amount=payment.amount_minor,
                    phone=payment.phone,
                    reason=decision,
                    reviewer=reviewer,
                )
            return error_reply(step.status, step.code, step.message, step.field)
        failure = Failure(*step.failure) if step.failure else None
        self._transition(payment, step.event, "review", detail=step.detail, failure=failure)
        updated = self.payments[payment.id]
        if step.event == Event.APPROVE:
            updated = self._remember(quiet_last(updated))  # same version: not yet written
        await self._persisted(updated)
        if step.event == Event.APPROVE:
            self._queue_order(updated)
        if self.compliance is not None:
            self.compliance.record(
                {"endorse": "endorsed", "approve": "approved"}.get(step.event, "rejected"),
                payment_id=payment.id,
                merchant_id=payment.merchant_id,
                method=payment.method,
                amount=payment.amount_minor,
                phone=payment.phone,
                reason=decision,
                reviewer=reviewer,
                note=(reason or "").strip() or None,
            )
        return Reply(200, view(self.payments[payment.id]))

    # --- balances --------------------------------------------------------------------------

    def balance(self, merchant_id: str) -> Reply:
        """What the merchant has: available (spendable) and reserved (held for payouts), as
        committed to MongoDB."""
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
        doc = await self.reads.submit(payment_id)
        if doc is None:
            return None
        if payment_id in self.payments:  # arrived while we read
            return self.payments[payment_id]
        payment = await self._opened(doc)
        if payment_id in self.payments:  # arrived while we opened it
            return self.payments[payment_id]
        self._mark_stored(payment)
        return self._remember(payment)

    async def _read_docs(self, ids: list[str]) -> list[Doc | None]:
        found = {d["_id"]: d async for d in self.cols.payments.find({"_id": {"$in": ids}})}
        return [found.get(i) for i in ids]

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
            if oldest in self.in_flight or unwritten or oldest in self.published or held:
                break
            self.payments.popitem(last=False)
            self.persisted.pop(oldest, None)
            self.persisted_seq.pop(oldest, None)
        return payment

    # --- provider hand-off -----------------------------------------------------------------

    def _callback_url(self, kind: str, payment_id: str) -> str:
        token = callback_token(self.secret_key, payment_id)
        base = self.settings.public_url or f"http://{self.settings.host}:{self.settings.port}"
        return f"{base}/callbacks/{kind}/{payment_id}/{token}"

    def _queue_order(self, payment: Payment) -> None:
        order = order_for(payment, self._callback_url)
        self.orders.append(order)
        self._orders_event.set()

    async def _order_loop(self) -> None:
        while True:
            await self._orders_event.wait()
            await asyncio.sleep(self.settings.batch_delay_ms / 1000)
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
                until = time.monotonic() + result.outcome.retry_after
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
        updated = apply(payment, event, source=source, at=now_utc(), **kw)
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
        self.writer.touch(updated.id, postings(payment, updated, self.shard))
        return True

    async def c2b_confirmations(self, items: list[C2bIn]) -> list[CallbackVerdict]:
        return list(await asyncio.gather(*(self._c2b(i) for i in items)))

    async def _c2b(self, item: C2bIn) -> CallbackVerdict:
        """A confirmation says a customer paid a paybill or till. Daraja signs nothing, so it
        credits nobody: the payment is stored as awaiting M-Pesa's record, and Transaction
        Status is asked about its receipt; only that record (same receipt, amount and
        shortcode: :func:`switch.outcomes.c2b_record_mismatch`) settles it. Its id comes from
        the receipt, so a repeated confirmation is refused by the primary key."""
        key = scoped_key(item.merchant_id, f"c2b:{item.trans_id}")
        payment_id = payment_id_for(self.shard, self.secret_key, key)
        if payment_id in self.payments:
            await self._post_to_sacco(self.payments[payment_id])
            return "duplicate"
        if self.sealer is not None:
            await self.sealer.ready(item.merchant_id)
        fee = fee_for(self.settings.fees, "mpesa_c2b", item.amount_minor)
        received = received_payment(item, payment_id, key, fee, now_utc())
        result = await self.writer.insert(received)
        if result == "duplicate":
            return "duplicate"
        if result != "ok":
            raise RuntimeError(f"could not store C2B payment {item.trans_id}")
        self._remember(received)
        PAYMENTS.labels(received.method, received.status.value).inc()
        # Not awaited: Daraja waits for the acknowledgement; the record's answer comes later.
        self._spawn(self._ask_status([self._status_request(received)], time.time()))
        return "applied"

    async def _post_to_sacco(self, paid: Payment) -> None:
        """A SACCO member's paybill payment: post it to the member's account (a loan repayment
        or a deposit) in the SACCO's core. The posting's key comes from the receipt, so a
        repeated confirmation or a restart never posts twice; the money is already in the
        SACCO's balance, so the posting moves nothing on the switch's books."""
        member = paid.metadata.get("member") or {}
        if paid.state != State.SUCCEEDED or not member.get("member_number"):
            return
        purpose = "loan_repayment" if member.get("product") == "loan_repayment" else "deposit"
        reply = await self._create(
            CreatePayment(
                merchant_id=paid.merchant_id,
                idem_key=f"{paid.provider.receipt}:posting",
                request_hash="c2b-posting",
                method="sacco_posting",
                amount_minor=paid.amount_minor,
                phone="",
                reference=str(paid.provider.receipt),
                description=f"M-Pesa {paid.provider.receipt} {member.get('product', '')}",
                metadata={"c2b_payment": paid.id},
                destination={
                    "sacco_code": member["sacco_code"],
                    "member_number": member["member_number"],
                    "purpose": purpose,
                },
            )
        )
        if reply.status >= 300:
            log.warning("posting of %s to the SACCO not created yet: %s", paid.id, reply.body)

    async def apply_callbacks(self, items: list[CallbackIn]) -> list[CallbackVerdict]:
        return list(await asyncio.gather(*(self._callback(i) for i in items)))

    async def _callback(self, item: CallbackIn) -> CallbackVerdict:
        payment = await self._get(item.payment_id)
        if payment is None:
            return "unknown_payment"
        problem = callback_mismatch(payment, item)
        if problem and payment.method in item.methods and payment.method == "mpesa_c2b":
            # M-Pesa's own record of the receipt contradicts the confirmation: credit nobody.
            log.warning("C2B %s: M-Pesa's record does not match: %s", payment.id, problem)
            message = f"M-Pesa's record does not match the confirmation ({problem}); not credited."
            if self._transition(
                payment, Event.DECLINE, "callback", failure=Failure("declined", message)
            ):
                await self._persisted(self.payments[payment.id])
            return "mismatch"
        if problem:
            log.warning("callback for %s refused: %s", payment.id, problem)
            return "mismatch"
        outcome = self._payout_not_found(payment, item)
        if outcome.event is None:
            return "pending"  # no answer yet: the sweeper asks again, backing off
        if not self._apply_outcome(payment, outcome, "callback"):
            return "duplicate"
        await self._persisted(self.payments[payment.id])
        await self._post_to_sacco(self.payments[payment.id])
        return "applied"

    def _payout_not_found(self, payment: Payment, item: CallbackIn) -> ProviderOutcome:
        """M-Pesa has no record of a payout: a failure only once it cannot still be queued.
        And a reversal refused as "already reversed" after we sent it twice was ours."""
        failure = item.outcome.failure
        if (
            payment.method == "mpesa_reversal"
            and failure
            and reversal_was_ours(payment, payment.id in self.resent, failure.provider_code)
        ):
            return ProviderOutcome(Event.SUCCEED, item.outcome.refs)
        if not item.not_found:
            return item.outcome
        age = time.time() - payment.created_at.timestamp()
        if age < self.settings.payout_not_found_after:
            return ProviderOutcome(None)
        name = display_name(provider_of(payment.method))
        message = f"{name[:1].upper()}{name[1:]} has no record of this payment; no money moved."
        return ProviderOutcome(Event.DECLINE, failure=Failure("declined", message))

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
                self.webhooks.enqueue(payment.id)
            if self.transfers.on_settled(payment):
                self._spawn(self._drive_transfer(payment))
        self._publish(committed.updated)

    # --- personal data (switch/pii.py) ----------------------------------------------------

    async def by_phone(self, merchant_id: str, phone: str, limit: int) -> Reply:
        """A merchant's payments to or from a phone, newest first, found by the blind index."""
        if self.sealer is None:
            return error_reply(501, "not_supported", "personal data sealing is off")
        query = {"merchant_id": merchant_id, "phone_bidx": self.sealer.bidx(phone)}
        cursor = self.cols.payments.find(query).sort("created_at", -1).limit(limit)
        found = [await self._opened(doc) async for doc in cursor]
        current = [self.payments.get(p.id, p) for p in found]
        return Reply(200, {"object": "list", "data": [view(p) for p in current]})

    async def erase(self, merchant_id: str, phone: str) -> Reply:
        """Honour an erasure request: the person's phone, account numbers and names are
        overwritten in every final payment of this merchant; amounts, dates, receipts and
        statuses stay (payment records must be kept). Payments still in flight are not touched:
        the answer says how many, and the request can be repeated once they are final."""
        if self.sealer is None:
            return error_reply(501, "not_supported", "personal data sealing is off")
        bidx = self.sealer.bidx(phone)
        query = {"merchant_id": merchant_id, "phone_bidx": bidx}
        ids = [d["_id"] async for d in self.cols.payments.find(query, {"_id": 1})]
        busy = [i for i in ids if i in self.in_flight]
        done = [i for i in ids if i not in self.in_flight]
        docs = [d async for d in self.cols.payments.find({"_id": {"$in": done}})]
        # The copies first: should that fail, the payments still match the phone and a repeat
        # of the request finds everything again.
        items = [
            (*found, doc["_id"])
            for doc in docs
            if (found := item_of_key(str(doc.get("idem") or ""), merchant_id)) is not None
        ]
        copies = 0
        if items and self.erase_batch_items is not None:
            try:
                copies = await self.erase_batch_items(merchant_id, items)
            except Exception:
                log.exception("erasure for %s: the batch items could not be erased", merchant_id)
                return error_reply(
                    503, "unavailable", "the payout batches are unavailable; nothing was erased"
                )
        for doc in docs:
            payment_id = doc["_id"]
            await self.cols.payments.update_one(
                {"_id": payment_id}, {"$set": erased_fields(doc, bidx)}
            )
            self.payments.pop(payment_id, None)  # read back erased from now on
            self.persisted.pop(payment_id, None)
            self.persisted_seq.pop(payment_id, None)
        return Reply(
            200,
            {
                "object": "erasure",
                "erased": len(docs),
                "batch_items": copies,
                "in_flight": len(busy),
                "kept": ["amounts", "dates", "statuses", "provider receipts", "references"],
            },
        )

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

    def _publish(self, payments: Iterable[Payment]) -> None:
        """Live events for the status changes just persisted (best effort; webhooks are the
        durable channel)."""
        if self.publisher is None:
            return
        events = []
        for p in payments:
            done = self.published.get(p.id, 0)
            for entry in p.history:
                if entry.status_changed and entry.seq > done:
                    events.append((p.merchant_id, orjson.dumps(event_body(p, entry))))
            self.published[p.id] = p.history[-1].seq
        if events:
            self._spawn(self.publisher.publish(events))

    # --- webhooks --------------------------------------------------------------------------

    async def _endpoint(self, merchant_id: str) -> Endpoint:
        cached = self.merchants.get(merchant_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        doc = await self.cols.merchants.find_one({"_id": merchant_id}) or {}
        endpoint = Endpoint(doc.get("webhook_url"), doc.get("webhook_secret", ""))
        self.merchants[merchant_id] = (time.monotonic() + MERCHANT_TTL, endpoint)
        return endpoint

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
            self.webhooks.enqueue(payment_id)
        elif is_final(payment.state) and payment_id not in self.transfers.holding:
            self._settled(payment_id)

    def _settled(self, payment_id: str) -> None:
        self.published.pop(payment_id, None)
        self.last_query.pop(payment_id, None)
        self.writer.drop_inflight(payment_id)

    def _deliverable(self, payment_id: str) -> int:
        """Events up to this history seq are persisted, so the merchant may be told of them."""
        return self.persisted_seq.get(payment_id, 0)

    def _record_attempt(self, doc: Doc) -> None:
        self._spawn(self.attempt_log.submit(doc))

    async def _write_attempts(self, docs: list[Doc]) -> list[None]:
        ops = [UpdateOne({"_id": d["_id"]}, {"$set": d}, upsert=True) for d in docs]
        await self.cols.webhook_deliveries.bulk_write(ops, ordered=False)
        return [None] * len(docs)

    # --- stuck payments --------------------------------------------------------------------

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
        now = time.time()
        to_query: list[QueryRequest] = []
        to_ask: list[StatusRequest] = []
        to_check: list[StatusCheck] = []
        for pid in list(self.in_flight):
            payment = self.payments[pid]
            asked = self.last_query.get(pid, NEVER_ASKED)
            action = sweep_action(
                payment,
                now - payment.created_at.timestamp(),
                now - asked.at,
                query_after=self.settings.stk_query_after,
                expire_after=self.settings.stk_expire_after,
                gap=self._query_gap(),
                asks=asked.asks,
                max_gap=self.settings.sweep_max_gap,
            )
            if action == Action.QUERY and payment.provider.checkout_request_id:
                to_query.append(QueryRequest(pid, payment.provider.checkout_request_id))
            elif action == Action.ASK_STATUS:
                to_ask.append(self._status_request(payment))
            elif action == Action.CHECK:
                ref = payment.provider.conversation_id
                to_check.append(StatusCheck(pid, payment.method, ref))
            elif action == Action.RESEND:
                self._resend_reversal(payment, now)
            elif action == Action.EXPIRE:
                self._expire(payment, "outcome_unknown")
        if to_query:
            await self._query(to_query, now)
        if to_ask:
            await self._ask_status(to_ask, now)
        if to_check:
            await self._check(to_check, now)

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
                self._apply_outcome(payment, self._payout_not_found(payment, item), "query")
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

    def _status_request(self, payment: Payment) -> StatusRequest:
        if payment.method == "mpesa_c2b":  # by receipt, on the paybill or till it credited
            return StatusRequest(
                payment.id,
                self._callback_url("c2b/status", payment.id),
                self._callback_url("c2b/timeout", payment.id),
                transaction_id=payment.provider.receipt,
                party_a=str(payment.metadata.get("shortcode") or "") or None,
            )
        return StatusRequest(
            payment.id,
            self._callback_url("b2c/status", payment.id),
            self._callback_url("b2c/timeout", payment.id),
        )

    async def _ask_status(self, requests: list[StatusRequest], now: float) -> None:
        for r in requests:
            self._asked(r.payment_id, now)
        try:
            await self.provider.ask_status(requests)
        except Exception:
            log.exception("Transaction Status queries failed; will ask again")

    def _query_gap(self) -> float:
        """The first gap between asks about one payment; it doubles while asks go unanswered
        (switch.sweep.query_gap)."""
        return max(self.settings.sweep_interval, self.settings.stk_query_after / 4)

    def _asked(self, payment_id: str, now: float) -> None:
        before = self.last_query.get(payment_id, NEVER_ASKED)
        self.last_query[payment_id] = Asked(now, before.asks + 1)

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
        name = display_name(provider_of(payment.method))
        message = (
            f"The customer did not complete the {name} prompt in time."
            if code == "timeout"
            else f"{name}'s answer was lost and no outcome arrived in time; check your "
            "statement before asking the customer again."
        )
        self._transition(payment, Event.EXPIRE, "sweeper", failure=Failure(code, message))

    # --- helpers ---------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _done_future(value: bool) -> asyncio.Future[bool]:
    fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    fut.set_result(value)
    return fut
