"""The shard's decisions as a synchronous state machine: no awaits, no I/O.

:class:`ShardMachine` holds what the shard knows (its cache of payments, the in-flight set, the
idempotency table, committed balances and reservations, circuits learnt from the gateways, the
sweeper's asks) and decides. Commands (a new payment, a review, a reversal), provider events
(answers, callbacks, query results, a C2B confirmation), commits and ticks (a sweep) go in, with
whatever the shell had to load first (the stored payment, the route, the screening); effects
(:mod:`actors.shard.effects`) and, for commands, a reply come out. The rules themselves are in
the small pure modules beside it (admission, callbacks, reversals, postings, reviews, sweeping)
and in :mod:`switch`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from actors.orders import order_for
from actors.replies import error_reply
from actors.shard import admission, callbacks, postings, reversals, reviews, sweeping
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
from actors.writer import Committed
from routing.router import Route
from switch import ledger
from switch.c2b import received_payment
from switch.compliance import Screening
from switch.config import Settings
from switch.fees import fee_for
from switch.hub import collections as hub_collections
from switch.ledger import Balances, Entry
from switch.logs import acting_on
from switch.messages import (
    C2bIn,
    CallbackIn,
    CreatePayment,
    CreateReversal,
    HubCreditIn,
    Order,
    ProviderOutcome,
    QueryResult,
    Reply,
    SubmitResult,
)
from switch.money import format_minor
from switch.payments import Failure, Payment, apply, is_payout, offer
from switch.platform import PlatformFee
from switch.policies import reversal_refusal
from switch.postings import postings as ledger_postings
from switch.rails import RAILS, customer_initiated, provider_of
from switch.reviews import Refused, quiet_last, review_step, screened
from switch.states import Event, State, Status, is_final
from switch.sweep import Asked

log = logging.getLogger(__name__)

CACHE_LIMIT = admission.CACHE_LIMIT
_NO_MONEY_MOVED = (Status.FAILED, Status.EXPIRED)


@dataclass(frozen=True, slots=True)
class Admit:
    """A new payment to store (with its journal entries: a payout's reservation) under ``key``;
    once stored, :meth:`ShardMachine.stored` sends it."""

    payment: Payment
    key: str
    entries: list[Entry]


class ShardMachine:
    """``durable``/``durable_seq``: per payment, the version and the last history seq committed
    (advanced by the store); ``now``: the time history entries carry. ``pinned``: payments the
    cache must keep although final (a transfer step or a live event pending), set by the
    shell."""

    def __init__(
        self,
        shard: int,
        settings: Settings,
        secret_key: bytes,
        durable: dict[str, int],
        durable_seq: dict[str, int],
        now: Callable[[], datetime],
        default_shortcode: str = "",
    ) -> None:
        self.shard = shard
        self.settings = settings
        self.secret_key = secret_key
        self._at = now  # history timestamps
        self.default_shortcode = default_shortcode  # a reversal's, when the collection has none
        self.durable = durable
        self.durable_seq = durable_seq
        self.payments: OrderedDict[str, Payment] = OrderedDict()
        self.in_flight: set[str] = set()
        # Idempotency: scoped key -> request hash, claimed or stored (admission.py).
        self.idem: OrderedDict[str, str] = OrderedDict()
        self.balances = Balances()  # as committed
        self.reserving: dict[str, int] = {}  # merchant -> payout reservations not yet committed
        self.circuit_open_until: dict[str, float] = {}  # provider -> learnt from the gateways
        self.last_query: dict[str, Asked] = {}  # the sweeper's last ask about a payment
        self.resent: set[str] = set()  # reversals sent more than once
        self.pinned: Callable[[str], bool] = lambda _pid: False

    # --- the cache -------------------------------------------------------------------------

    def remember(self, payment: Payment) -> Payment:
        self.payments[payment.id] = payment
        self.payments.move_to_end(payment.id)
        if is_final(payment.state):
            self.in_flight.discard(payment.id)
        else:
            self.in_flight.add(payment.id)
        while len(self.payments) > CACHE_LIMIT:
            oldest = next(iter(self.payments))
            unwritten = self.durable.get(oldest, 0) < self.payments[oldest].version
            if oldest in self.in_flight or unwritten or self.pinned(oldest):
                break
            self.forget(oldest)
        return payment

    def forget(self, payment_id: str) -> None:
        """Drop the cached copy: the next read comes from the store."""
        self.payments.pop(payment_id, None)
        self.durable.pop(payment_id, None)
        self.durable_seq.pop(payment_id, None)

    def loaded(self, payment: Payment) -> Payment:
        """A payment read from the store (the cached copy wins if one arrived meanwhile)."""
        cached = self.payments.get(payment.id)
        if cached is not None:
            return cached
        self._mark_stored(payment)
        return self.remember(payment)

    def _mark_stored(self, payment: Payment) -> None:
        self.durable[payment.id] = payment.version
        self.durable_seq[payment.id] = payment.history[-1].seq

    def unwritten(self) -> int:
        return sum(1 for p in self.payments.values() if self.durable.get(p.id, 0) < p.version)

    def resume(self, payment: Payment) -> list[Effect]:
        """A payment in flight (or owing a webhook) found on recovery. One caught mid-send may
        have reached the provider, so it becomes ``unknown`` (never resent)."""
        self._mark_stored(payment)
        self.remember(payment)
        self.idem[payment.idem_key] = payment.request_hash
        out: list[Effect] = []
        if payment.state == State.SUBMITTING:
            self._transition(out, payment, Event.ANSWER_LOST, "recovery")
        elif payment.pending_notifications:
            out.append(Notify(payment.id))
        self._post_for(out, payment)
        return out

    # --- transitions -----------------------------------------------------------------------

    def _transition(
        self, out: list[Effect], payment: Payment, event: Event, source: str, **kw: Any
    ) -> bool:
        updated = apply(payment, event, source=source, at=self._at(), **kw)
        if updated is None:
            refused = offer(payment, event)
            if refused.verdict == "illegal":
                out.append(Illegal(payment, event.value, source, refused.reason))
            return False
        self.remember(updated)
        if updated.status != payment.status:
            out.append(StatusChanged(updated, released=updated.status in _NO_MONEY_MOVED))
        out.append(Touch(updated.id, ledger_postings(payment, updated, self.shard)))
        return True

    def _apply(
        self, out: list[Effect], payment: Payment, outcome: ProviderOutcome, source: str
    ) -> bool:
        if outcome.event is None:
            return False
        return self._transition(
            out, payment, outcome.event, source, provider=outcome.refs, failure=outcome.failure
        )

    def transition(self, payment: Payment, event: Event, source: str) -> list[Effect]:
        out: list[Effect] = []
        self._transition(out, payment, event, source)
        return out

    # --- admission and idempotency (admission.py) ------------------------------------------

    def key_and_id(self, merchant_id: str, key: str) -> tuple[str, str]:
        return admission.key_and_id(self.shard, self.secret_key, merchant_id, key)

    def refusal(self, method: str, backlog: int, monotonic: float) -> Reply | None:
        provider = provider_of(method)
        wait = self.circuit_open_until.get(provider, 0.0) - monotonic
        return admission.refusal(wait, backlog, self.settings.shard_max_backlog, provider)

    def down(self, monotonic: float) -> set[str]:
        """Providers whose circuit is open: routing avoids them."""
        return {p for p, until in self.circuit_open_until.items() if until > monotonic}

    def admit(
        self,
        req: CreatePayment,
        key: str,
        payment_id: str,
        route: Route,
        screening: Screening,
        approvals: int,
        platform: tuple[str, PlatformFee] | None = None,
    ) -> Admit | Reply:
        """The payment a screened, routed request makes, or its refusal for the balance. A
        sub-merchant's collection carries its aggregator's platform fee (``platform``)."""
        method = route.method
        # Transfer legs carry no fee: the money passes through (switch/transfers.py).
        fee = 0 if req.transfer else fee_for(self.settings.fees, method, req.amount_minor)
        entries: list[Entry] = []
        if is_payout(method):
            short = self.shortfall(req.merchant_id, req.amount_minor + fee)
            if short is not None:
                return short
            entries = [ledger.payout_reserve(req.merchant_id, payment_id, req.amount_minor, fee)]
        split = admission.platform_split(req, method, fee, platform)
        payment = admission.payment_for(req, payment_id, key, route, fee, self._at(), split)
        return Admit(screened(payment, screening, approvals, req.maker), key, entries)

    def shortfall(self, merchant_id: str, total: int) -> Reply | None:
        available = self.balances.of(ledger.available(merchant_id))
        return admission.shortfall(available, self.reserving.get(merchant_id, 0), total)

    def reserve(self, admit: Admit, sign: int) -> None:
        """Count (``sign`` 1) or uncount (-1) a reservation being committed."""
        held = sum(e.lines[1].amount for e in admit.entries)  # a reservation's credit
        merchant = admit.payment.merchant_id
        self.reserving[merchant] = self.reserving.get(merchant, 0) + sign * held

    def stored(self, admit: Admit) -> list[Effect]:
        """The new payment is committed: count it and hand it to the provider, unless it is
        held for its reviewers."""
        payment = self.remember(admit.payment)
        self.idem[admit.key] = payment.request_hash
        admission.trim(self.idem)
        out: list[Effect] = [StatusChanged(payment)]
        if payment.state != State.HELD:
            out.append(self._send(payment))
        return out

    def _send(self, payment: Payment) -> Send:
        return Send(order_for(payment, self.callback_url))

    def callback_url(self, kind: str, payment_id: str) -> str:
        return sweeping.callback_url(self.settings, self.secret_key, kind, payment_id)

    # --- reversals (reversals.py) ----------------------------------------------------------

    def reversal_refused(self, original: Payment | None, req: CreateReversal) -> Reply | None:
        if original is None or original.merchant_id != req.merchant_id:
            return error_reply(404, "not_found", f"no payment {req.payment_id}")
        refused = reversal_refusal(original, self._at(), self.settings.reversal_window_days)
        return error_reply(422, "not_reversible", refused) if refused else None

    def reversal(self, original: Payment, req: CreateReversal, key: str, rid: str) -> Admit | Reply:
        """One reversal per collection, ever (its key, ``reversals.reversal_key``, comes from
        the collection's id); the merchant's balance pays for it, reserved first like a
        payout."""
        short = self.shortfall(req.merchant_id, original.amount_minor)
        if short is not None:
            return short
        reversal = reversals.reversal_of(
            original, req, rid, key, self.default_shortcode, self._at()
        )
        reserve = ledger.payout_reserve(req.merchant_id, rid, original.amount_minor, 0)
        return Admit(reversal, key, [reserve])

    # --- provider answers ------------------------------------------------------------------

    def submitted(self, results: list[SubmitResult], monotonic: float) -> list[Effect]:
        out: list[Effect] = []
        for result in results:
            payment = self.payments.get(result.payment_id)
            if payment is None:
                continue
            if result.outcome.retry_after is not None:
                until = monotonic + result.outcome.retry_after
                self.circuit_open_until[provider_of(payment.method)] = until
            self._apply(out, payment, result.outcome, "provider")
        return out

    @staticmethod
    def answers_lost(orders: list[Order]) -> list[SubmitResult]:
        """The gateway died or the call was lost: any of these may have reached the provider."""
        return [SubmitResult(o.payment_id, ProviderOutcome(Event.ANSWER_LOST)) for o in orders]

    def callback(self, payment: Payment, item: CallbackIn, now: float) -> tuple[str, list[Effect]]:
        """A provider's callback about a payment (callbacks.py): the verdict, and effects."""
        step = callbacks.judge(payment, item, **self._facts(payment, now))
        out: list[Effect] = []
        if step.action == "decline":
            assert step.outcome is not None
            # The provider's own record contradicts the confirmation: credit nobody.
            with acting_on(payment.merchant_id, payment.id):
                log.warning("%s: the provider's record differs: %s", payment.id, step.problem)
            if self._apply(out, payment, step.outcome, "callback"):
                out.append(Durable(self.payments[payment.id]))
            return "mismatch", out
        if step.action == "mismatch":
            with acting_on(payment.merchant_id, payment.id):
                log.warning("callback for %s refused: %s", payment.id, step.problem)
            return "mismatch", out
        if step.action == "pending" or step.outcome is None:
            if item.verify and not is_final(payment.state):
                # A success only claimed: ask the provider's record now, not at the next sweep.
                self._asked(payment.id, now)
                request = sweeping.status_request(payment, self.callback_url)
                out.append(AskStatus([request], background=True))
            return "pending", out
        if not self._apply(out, payment, step.outcome, "callback"):
            return "duplicate", out
        updated = self.payments[payment.id]
        out.append(Durable(updated))
        self._post_for(out, updated)
        return "applied", out

    def _facts(self, payment: Payment, now: float) -> dict[str, Any]:
        """What an answer about a payout means depends on: was it resent, how old is it."""
        return {
            "resent": payment.id in self.resent,
            "age": now - payment.created_at.timestamp(),
            "not_found_after": self.settings.payout_not_found_after,
        }

    # --- C2B confirmations and SACCO postings (postings.py) --------------------------------

    def c2b_known(self, item: C2bIn) -> tuple[str, str, list[Effect] | None]:
        """The confirmation's key and payment id, and, when it is cached already, the effects
        of a duplicate (its posting, should that still be missing)."""
        key, payment_id = self.key_and_id(item.merchant_id, postings.c2b_key(item))
        known = self.payments.get(payment_id)
        if known is None:
            return key, payment_id, None
        out: list[Effect] = []
        self._post_for(out, known)
        return key, payment_id, out

    def c2b_received(self, item: C2bIn, key: str, payment_id: str) -> Payment:
        """A confirmation as a payment awaiting the provider's record (only it settles it)."""
        fee = fee_for(self.settings.fees, customer_initiated(), item.amount_minor)
        return received_payment(item, payment_id, key, fee, self._at())

    def c2b_stored(self, received: Payment, now: float) -> list[Effect]:
        self.remember(received)
        # Not waited for: the provider waits for the acknowledgement; the answer comes later.
        request = sweeping.status_request(received, self.callback_url)
        self._asked(received.id, now)
        return [StatusChanged(received), AskStatus([request], background=True)]

    # --- hub credits to collection accounts (switch/hub/collections.py) ----------------------

    def hub_credit(self, item: HubCreditIn) -> tuple[Payment, list[Entry]]:
        """The credit a committed hub transfer makes: the succeeded ``bank_credit``
        collection and its journal entry (the fee as the rail's fee schedule says). Its id
        comes from the hub transfer id, so the primary key refuses a second one."""
        key, payment_id = self.key_and_id(
            item.merchant_id, hub_collections.credit_key(item.transfer_id)
        )
        fee = fee_for(self.settings.fees, hub_collections.METHOD, item.amount_minor)
        paid = hub_collections.credited_payment(item, payment_id, key, fee, self._at())
        return paid, ledger_postings(replace(paid, state=State.SUBMITTING), paid, self.shard)

    def hub_credited(self, paid: Payment) -> list[Effect]:
        """The credit is stored: cached, counted, and its webhook queued (again: the commit's
        own Notify may have come before the copy was cached)."""
        self.remember(paid)
        self.idem[paid.idem_key] = paid.request_hash
        return [StatusChanged(paid), Notify(paid.id)]

    def _post_for(self, out: list[Effect], paid: Payment) -> None:
        posting = postings.member_posting(paid)
        if posting is not None:
            out.append(Post(posting))

    # --- reviews (reviews.py) --------------------------------------------------------------

    def held(self, merchant_id: str | None, limit: int) -> list[dict[str, Any]]:
        """Payments held for review, oldest first. Held payments are in flight, so memory has
        every one of them."""
        in_flight = (self.payments[pid] for pid in self.in_flight if pid in self.payments)
        return reviews.held_views(in_flight, merchant_id, limit)

    def review(
        self,
        payment: Payment | None,
        payment_id: str,
        merchant_id: str | None,
        decision: str,
        reviewer: str,
        reason: str | None,
    ) -> tuple[Reply | None, list[Effect]]:
        """A reviewer approves or rejects a held payment (``merchant_id`` None: an operator).
        The last approval needed is stored before the order is sent: a restart in between finds
        ``submitting`` and asks the provider, never sends it again. A reply: refused."""
        if payment is None or merchant_id not in (None, payment.merchant_id):
            return error_reply(404, "not_found", f"no payment {payment_id}"), []
        out: list[Effect] = []
        step = review_step(payment, decision, reviewer, reason)
        if isinstance(step, Refused):
            if step.code == "maker_cannot_approve":  # a maker approving its own: on the record
                out.append(Record("self_approval_refused", payment, decision, reviewer))
            return error_reply(step.status, step.code, step.message, step.field), out
        failure = Failure(*step.failure) if step.failure else None
        self._transition(out, payment, step.event, "review", detail=step.detail, failure=failure)
        updated = self.payments[payment.id]
        if step.event == Event.APPROVE:
            updated = self.remember(quiet_last(updated))  # same version: not yet written
        out.append(Durable(updated))
        if step.event == Event.APPROVE:
            out.append(self._send(updated))
        note = (reason or "").strip() or None
        out.append(Record(reviews.recorded_as(step.event), payment, decision, reviewer, note))
        return None, out

    # --- commits and webhooks --------------------------------------------------------------

    def committed(self, committed: Committed) -> list[Effect]:
        for entry in committed.entries:
            self.balances.post(entry)
        out: list[Effect] = [
            Notify(p.id)
            for p in (*committed.inserted, *committed.updated)
            if p.pending_notifications
        ]
        out.append(Publish(committed.updated))
        return out

    def notified(self, payment_id: str, seq: int, holding: bool) -> list[Effect]:
        """An event is delivered (or abandoned). Not written at once: ``notified_seq`` rides
        with the payment's next write, so after a crash an event may be delivered twice
        (webhooks are at least once; receivers deduplicate on ``webhook-id``), never lost.
        Once the final event is out, the payment is settled (unless a transfer step holds it)."""
        payment = self.payments.get(payment_id)
        if payment is None or payment.notified_seq >= seq:
            return []
        payment = replace(payment, notified_seq=seq)
        self.payments[payment_id] = payment
        if payment.pending_notifications:
            return [Notify(payment_id)]
        if is_final(payment.state) and not holding:
            return self.settled(payment_id)
        return []

    def settled(self, payment_id: str) -> list[Effect]:
        self.last_query.pop(payment_id, None)
        return [Settled(payment_id)]

    def done_with(self, payment_id: str) -> bool:
        """Final with every webhook out: nothing left to resume."""
        current = self.payments.get(payment_id)
        return current is not None and is_final(current.state) and not current.pending_notifications

    # --- sweeping (sweeping.py) ------------------------------------------------------------

    def sweep(self, now: float) -> list[Effect]:
        """Act on payments still in flight (see :mod:`switch.sweep`): resend reversals, expire
        what is past its deadline, then the asks, one batch per kind."""
        in_flight = [self.payments[pid] for pid in list(self.in_flight)]
        todo = sweeping.plan(in_flight, self.last_query, now, self.settings, self.callback_url)
        out: list[Effect] = []
        for payment in todo.resend:
            # No answer about a reversal: send it again. The provider refuses to reverse a
            # receipt twice, so this cannot give the money back twice, and that refusal then
            # tells us the first one went through (reversals.payout_outcome).
            self._asked(payment.id, now)
            self.resent.add(payment.id)
            out.append(self._send(payment))
        for payment in todo.expire:
            self._expire(out, payment, "outcome_unknown")
        for requests, effect in (
            (todo.query, Query(todo.query)),
            (todo.ask, AskStatus(todo.ask)),
            (todo.check, Check(todo.check)),
        ):
            if requests:
                for r in requests:
                    self._asked(r.payment_id, now)
                out.append(effect)
        return out

    def _asked(self, payment_id: str, now: float) -> None:
        self.last_query[payment_id] = sweeping.one_more_ask(self.last_query, payment_id, now)

    def _expire(self, out: list[Effect], payment: Payment, code: str) -> None:
        failure = sweeping.expiry(payment.method, code)
        self._transition(out, payment, Event.EXPIRE, "sweeper", failure=failure)

    def _late(self, payment: Payment, now: float) -> bool:
        return now - payment.created_at.timestamp() >= self.settings.stk_expire_after

    def queried(self, results: list[QueryResult], now: float) -> list[Effect]:
        """STK query answers; a collection still unanswered past its deadline expires."""
        out: list[Effect] = []
        for res in results:
            payment = self.payments.get(res.payment_id)
            if payment is None or res.outcome is None:
                continue
            applied = self._apply(out, payment, res.outcome, "query")
            if not applied and self._late(payment, now) and not is_final(payment.state):
                self._expire(out, payment, "timeout")
        return out

    def checked(self, results: list[QueryResult], now: float) -> list[Effect]:
        """Enquiry answers, applied like a callback."""
        out: list[Effect] = []
        for res in results:
            payment = self.payments.get(res.payment_id)
            if payment is None or res.outcome is None or is_final(payment.state):
                continue
            if RAILS[payment.method].direction != "collection":  # payouts and postings
                item = CallbackIn(payment.id, res.outcome, None, not_found=res.not_found)
                outcome = reversals.payout_outcome(payment, item, **self._facts(payment, now))
                self._apply(out, payment, outcome, "query")
                continue
            if not self._apply(out, payment, res.outcome, "query") and self._late(payment, now):
                self._expire(out, payment, "outcome_unknown" if res.not_found else "timeout")
        return out

    # --- balances and stats ----------------------------------------------------------------

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
