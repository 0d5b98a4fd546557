"""What a provider callback does to its payment (pure).

A callback is checked against the stored payment and its rail
(:func:`switch.outcomes.callback_mismatch`): it never settles a payment of another rail or with
other references. On a rail whose success needs the provider's own record (its ``settle_check``:
a received C2B payment), a record that contradicts the confirmation declines the payment: nobody
is credited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from actors.shard.reversals import payout_outcome
from switch.messages import CallbackIn, ProviderOutcome
from switch.outcomes import callback_mismatch
from switch.payments import Failure, Payment
from switch.rails import RAILS, display_name, provider_of
from switch.states import Event


@dataclass(frozen=True, slots=True)
class CallbackStep:
    """``apply``: offer ``outcome`` to the state table; ``decline``: the same, then answer
    ``mismatch``; ``mismatch``: refused, nothing changes; ``pending``: no answer yet."""

    action: Literal["apply", "decline", "mismatch", "pending"]
    outcome: ProviderOutcome | None = None
    problem: str | None = None


def judge(
    payment: Payment, item: CallbackIn, *, resent: bool, age: float, not_found_after: float
) -> CallbackStep:
    problem = callback_mismatch(payment, item)
    # Only a success that fails the rail's proof is the provider's record contradicting the
    # payment; a callback naming another request is refused below and changes nothing.
    record_differs = item.outcome.event == Event.SUCCEED and payment.method in item.methods
    if problem and record_differs and RAILS[payment.method].settle_check:
        name = display_name(provider_of(payment.method))
        message = f"{name}'s record does not match the confirmation ({problem}); not credited."
        outcome = ProviderOutcome(Event.DECLINE, failure=Failure("declined", message))
        return CallbackStep("decline", outcome, problem)
    if problem:
        return CallbackStep("mismatch", problem=problem)
    outcome = payout_outcome(payment, item, resent=resent, age=age, not_found_after=not_found_after)
    if outcome.event is None:
        return CallbackStep("pending")  # the sweeper asks again, backing off
    return CallbackStep("apply", outcome)
