"""What to do about a payment still in flight (pure), decided by the shard's sweeper.

- A collection with a CheckoutRequestID is asked about by STK query once it is older than
  ``stk_query_after``; one without (its answer was lost) is not asked about.
- A payout waiting for its result is asked about by Transaction Status; it never expires on the
  switch's clock (its money may have moved: only the provider's answer settles it). Nor does a
  C2B confirmation waiting for M-Pesa's record (nobody is credited before it settles).
- A reversal waiting for its result is sent again (M-Pesa refuses a second reversal of a receipt).
- Airtel, PesaLink and SACCO payments are checked by a synchronous enquiry (``check``).
- A collection expires by the clock once older than ``stk_expire_after``, whether or not the
  provider ever answered a query: past the deadline it gets one last ask (if the rail can ask),
  and expires at the next sweep if that ask did not settle it. A late success still counts: the
  state table (switch/states.py) lets ``expired`` become ``succeeded`` on the provider's word, so
  a customer who paid is credited (once; the credit is posted by that transition) and no money
  is created by expiry itself (an expired collection posts nothing).
- Asks about one payment back off while they fail or the answer is "pending": the gap doubles
  from ``gap`` after each unanswered ask, up to ``max_gap`` (a payout can wait for days).
- A payment held for review was never sent: it is left alone, however old.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from switch.payments import Payment
from switch.rails import RAILS
from switch.states import State


class Action(Enum):
    QUERY = "query"  # STK query
    ASK_STATUS = "ask_status"  # Transaction Status
    RESEND = "resend"  # provider-idempotent resend (reversals)
    CHECK = "check"  # a synchronous enquiry by our id
    EXPIRE = "expire"


class Asked(NamedTuple):
    """The sweeper's last ask about one payment: when, and how many asks so far (all
    unanswered: the payment is still in flight)."""

    at: float
    asks: int


NEVER_ASKED = Asked(0.0, 0)


def query_gap(gap: float, asks: int, max_gap: float) -> float:
    """Seconds to wait before asking about a payment again after ``asks`` unanswered asks."""
    return min(max_gap, gap * 2.0 ** min(max(asks - 1, 0), 30))


def sweep_action(
    p: Payment,
    age: float,
    since_asked: float,
    *,
    query_after: float,
    expire_after: float,
    gap: float,
    asks: int = 0,
    max_gap: float | None = None,
) -> Action | None:
    """``since_asked``: seconds since the last ask (huge if never); ``asks``: how many asks so
    far went unanswered (the payment is still in flight, so every one of them did)."""
    if p.state == State.HELD:
        return None  # never sent, waiting for reviewers: nothing to ask, nothing to expire
    waiting = p.state in (State.UNKNOWN, State.AWAITING_RESULT)
    due = age >= query_after and since_asked >= query_gap(gap, asks, max_gap or gap)
    rail = RAILS[p.method]
    if rail.recovery == "check":
        pending = waiting or p.state == State.AWAITING_CUSTOMER
        if pending and rail.direction == "collection" and age >= expire_after:
            return _last_ask_or_expire(Action.CHECK, age, since_asked, expire_after)
        return Action.CHECK if pending and due else None
    if rail.recovery == "resend":
        return Action.RESEND if waiting and due else None
    if rail.recovery == "transaction_status":  # payouts, and C2B receipts being verified
        return Action.ASK_STATUS if waiting and due else None
    if p.provider.checkout_request_id:
        if age >= expire_after:
            return _last_ask_or_expire(Action.QUERY, age, since_asked, expire_after)
        return Action.QUERY if due else None
    if age >= expire_after:
        return Action.EXPIRE
    return None


def _last_ask_or_expire(ask: Action, age: float, since_asked: float, expire_after: float) -> Action:
    """Past the deadline: ask once more unless already asked since the deadline passed (an ask
    that failed or said "pending" then), else expire; a failing provider cannot keep it open."""
    asked_since_deadline = since_asked <= age - expire_after
    return Action.EXPIRE if asked_since_deadline else ask
