"""The payment state table: every status change of every payment goes through :func:`advance`.

Fine internal states map to the few external ones a merchant sees (Mojaloop's habit); each has a
one-line meaning. The table is data, in one place (h11's habit).

    (create) --> submitting --accepted--> awaiting_customer --succeed--> succeeded
                     |   \\--queued--> awaiting_result        \\--decline--> declined
                     |   \\--rejected--> rejected              \\--expire--> expired
                     |    \\-answer_lost-> unknown --...
                     \\--succeed/decline/expire (a callback can overtake the answer)

Collections wait for the customer (STK prompt); payouts wait for the provider's result. A payout
never expires on the switch's own clock: money may have moved, so only the provider's answer (a
result callback or Transaction Status) settles it; that rule is in the table
(``PAYOUT_FORBIDDEN``). An event the table does not allow is either a repeat (``duplicate``) or
``illegal``: never applied, always logged and counted by the caller
(``switch_illegal_events_total``).

A payment is inserted directly as ``submitting``: the insert is the "persist before you call"
write, and a restarted shard treats ``submitting`` as "may have been sent" (never resent blind).

Screening (switch/compliance.py) may instead insert it as ``held``: stored, not sent, until
reviewers decide (switch/reviews.py)::

    (create) --> held --endorse--> held          one approval of two; more needed
                   |---approve---> submitting    the last approval needed: queued as usual
                   \\---reject----> rejected      a reviewer refused it; no money moved

``held`` is not final, so a held payment stays in ``inflight`` and survives restarts; no provider
event applies to it (it was never sent), so the sweeper neither queries nor expires it. A held
payout keeps its reservation, so the money cannot be spent twice while under review; a rejected
one releases it like any ``rejected`` payout (switch/postings.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class State(StrEnum):
    SUBMITTING = "submitting"
    UNKNOWN = "unknown"
    AWAITING_CUSTOMER = "awaiting_customer"
    AWAITING_RESULT = "awaiting_result"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REJECTED = "rejected"
    EXPIRED = "expired"
    HELD = "held"


class Status(StrEnum):
    """What the API shows."""

    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    HELD = "held"


class Event(StrEnum):
    ACCEPTED = "accepted"  # the provider took the request (customer prompted)
    QUEUED = "queued"  # the provider took a payout; its result will follow
    REJECTED = "rejected"  # the provider refused it synchronously: nothing happened
    ANSWER_LOST = "answer_lost"  # sent, or maybe sent, but no answer: outcome unknown
    SUCCEED = "succeed"  # final success from a callback or a status query
    DECLINE = "decline"  # final failure from a callback or a status query
    EXPIRE = "expire"  # the customer never answered, or no outcome within the window
    ENDORSE = "endorse"  # a reviewer approved a held payment; another approval is needed
    APPROVE = "approve"  # the last approval a held payment needed: it may be sent
    REJECT = "reject"  # a reviewer rejected a held payment: it is never sent


MEANING: dict[State, tuple[Status, str]] = {
    State.SUBMITTING: (Status.PENDING, "stored; the request to the provider is being sent"),
    State.UNKNOWN: (Status.PROCESSING, "sent, answer lost; waiting for the callback or a query"),
    State.AWAITING_CUSTOMER: (Status.PROCESSING, "provider accepted; the customer is prompted"),
    State.AWAITING_RESULT: (Status.PROCESSING, "provider accepted the payout; result to follow"),
    State.SUCCEEDED: (Status.SUCCEEDED, "money moved; the provider's receipt is recorded"),
    State.DECLINED: (Status.FAILED, "the customer or the provider declined the payment"),
    State.REJECTED: (Status.FAILED, "the provider or a reviewer refused it; no money moved"),
    State.EXPIRED: (Status.EXPIRED, "the customer never answered, or no outcome in time"),
    State.HELD: (Status.HELD, "stored, not sent: screening held it for review"),
}

_IN_FLIGHT = (State.SUBMITTING, State.UNKNOWN, State.AWAITING_CUSTOMER, State.AWAITING_RESULT)

TRANSITIONS: dict[tuple[State, Event], State] = {
    (State.SUBMITTING, Event.ACCEPTED): State.AWAITING_CUSTOMER,
    (State.SUBMITTING, Event.QUEUED): State.AWAITING_RESULT,
    # A reversal whose answer was lost is sent again (M-Pesa refuses a second reversal of the
    # same receipt, so the resend is safe); its acceptance moves it on.
    (State.UNKNOWN, Event.QUEUED): State.AWAITING_RESULT,
    (State.SUBMITTING, Event.REJECTED): State.REJECTED,
    (State.SUBMITTING, Event.ANSWER_LOST): State.UNKNOWN,
    **{(s, Event.SUCCEED): State.SUCCEEDED for s in _IN_FLIGHT},
    **{(s, Event.DECLINE): State.DECLINED for s in _IN_FLIGHT},
    **{(s, Event.EXPIRE): State.EXPIRED for s in _IN_FLIGHT},
    # The provider's word beats our own timeout: a success that arrives after the switch gave up
    # waiting is real money and must be recorded (and the merchant told).
    (State.EXPIRED, Event.SUCCEED): State.SUCCEEDED,
    # Review of a held payment (never sent, so no provider event applies to it).
    (State.HELD, Event.ENDORSE): State.HELD,
    (State.HELD, Event.APPROVE): State.SUBMITTING,
    (State.HELD, Event.REJECT): State.REJECTED,
}

# Money may have moved on a payout whose answer is late, so the switch's own clock never settles
# one: no expiry (only the provider's answer, a result or Transaction Status, says). Payouts and
# reversals (and SACCO postings, which wait for the core's answer) follow the table less these.
PAYOUT_FORBIDDEN = frozenset(
    {*((s, Event.EXPIRE) for s in _IN_FLIGHT), (State.EXPIRED, Event.SUCCEED)}
)

FINAL = frozenset({State.SUCCEEDED, State.DECLINED, State.REJECTED, State.EXPIRED})

# An event offered again after it took effect: the provider repeating itself.
DUPLICATES = frozenset(
    {
        (State.AWAITING_CUSTOMER, Event.ACCEPTED),
        (State.AWAITING_RESULT, Event.QUEUED),
        *((target, event) for (_, event), target in TRANSITIONS.items() if target in FINAL),
    }
)

Verdict = Literal["changed", "duplicate", "illegal"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of offering an event to a state. ``illegal``: the table has no such move and
    it is no repeat (a provider contradicting itself, or a bug): the caller logs and counts it,
    and nothing is stored."""

    state: State
    changed: bool  # False: a duplicate or an illegal event; nothing to store
    reason: str = ""
    verdict: Verdict = "changed"


def advance(state: State, event: Event, *, payout: bool = False) -> Outcome:
    """``payout``: the payment is a payout, a reversal or a posting (see PAYOUT_FORBIDDEN)."""
    target = TRANSITIONS.get((state, event))
    if target is not None and not (payout and (state, event) in PAYOUT_FORBIDDEN):
        return Outcome(target, True)
    if (state, event) in DUPLICATES:
        return Outcome(state, False, f"{event} again on {state}: a duplicate", "duplicate")
    kind = "a payout" if payout else "a payment"
    return Outcome(state, False, f"{event} does not apply to {kind} in {state}", "illegal")


def status_of(state: State) -> Status:
    return MEANING[state][0]


def is_final(state: State) -> bool:
    return state in FINAL
