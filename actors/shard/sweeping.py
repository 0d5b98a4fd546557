"""The sweeper's plan (pure): what to ask about, resend or expire among the payments in flight.

The rules per payment are :func:`switch.sweep.sweep_action`'s (back-off, expiry by the clock,
payouts that never expire); this gathers them into one plan per sweep, so the shard sends one
batch per kind of ask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from switch.config import Settings
from switch.messages import QueryRequest, StatusCheck, StatusRequest
from switch.payments import Failure, Payment
from switch.rails import RAILS, display_name, provider_of
from switch.signing import callback_token
from switch.sweep import NEVER_ASKED, Action, Asked, sweep_action

# (kind, payment id) -> the URL a provider calls back on, signed for that payment.
CallbackUrl = Callable[[str, str], str]


@dataclass
class SweepPlan:
    query: list[QueryRequest] = field(default_factory=list)  # STK query
    ask: list[StatusRequest] = field(default_factory=list)  # Transaction Status
    check: list[StatusCheck] = field(default_factory=list)  # synchronous enquiries
    resend: list[Payment] = field(default_factory=list)  # reversals
    expire: list[Payment] = field(default_factory=list)  # answer lost, past the deadline


def callback_url(settings: Settings, secret_key: bytes, kind: str, payment_id: str) -> str:
    token = callback_token(secret_key, payment_id)
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    return f"{base}/callbacks/{kind}/{payment_id}/{token}"


def first_gap(settings: Settings) -> float:
    """The first gap between asks about one payment; it doubles while asks go unanswered
    (switch.sweep.query_gap)."""
    return max(settings.sweep_interval, settings.stk_query_after / 4)


def status_request(payment: Payment, url: CallbackUrl) -> StatusRequest:
    """Transaction Status about a payout (by our id) or a received collection's receipt (on
    the paybill or till it credited)."""
    if RAILS[payment.method].direction == "collection":
        return StatusRequest(
            payment.id,
            url("c2b/status", payment.id),
            url("c2b/timeout", payment.id),
            transaction_id=payment.provider.receipt,
            party_a=str(payment.metadata.get("shortcode") or "") or None,
        )
    return StatusRequest(payment.id, url("b2c/status", payment.id), url("b2c/timeout", payment.id))


def plan(
    in_flight: Iterable[Payment],
    asked: Mapping[str, Asked],
    now: float,
    settings: Settings,
    url: CallbackUrl,
) -> SweepPlan:
    todo = SweepPlan()
    for payment in in_flight:
        last = asked.get(payment.id, NEVER_ASKED)
        action = sweep_action(
            payment,
            now - payment.created_at.timestamp(),
            now - last.at,
            query_after=settings.stk_query_after,
            expire_after=settings.stk_expire_after,
            gap=first_gap(settings),
            asks=last.asks,
            max_gap=settings.sweep_max_gap,
        )
        if action == Action.QUERY and payment.provider.checkout_request_id:
            todo.query.append(QueryRequest(payment.id, payment.provider.checkout_request_id))
        elif action == Action.ASK_STATUS:
            todo.ask.append(status_request(payment, url))
        elif action == Action.CHECK:
            ref = payment.provider.conversation_id
            todo.check.append(StatusCheck(payment.id, payment.method, ref))
        elif action == Action.RESEND:
            todo.resend.append(payment)
        elif action == Action.EXPIRE:
            todo.expire.append(payment)
    return todo


def one_more_ask(asked: Mapping[str, Asked], payment_id: str, now: float) -> Asked:
    before = asked.get(payment_id, NEVER_ASKED)
    return Asked(now, before.asks + 1)


def expiry(method: str, code: str) -> Failure:
    """Why a collection expired: ``timeout`` (the customer did not complete the prompt) or
    ``outcome_unknown`` (the answer was lost and never learnt)."""
    name = display_name(provider_of(method))
    message = (
        f"The customer did not complete the {name} prompt in time."
        if code == "timeout"
        else f"{name}'s answer was lost and no outcome arrived in time; check your "
        "statement before asking the customer again."
    )
    return Failure(code, message)
