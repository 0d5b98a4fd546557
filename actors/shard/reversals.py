"""Reversals and payouts' "no record" answers (pure).

One reversal per collection, ever: its key (and so its id) comes from the collection's id, so
the primary key refuses a second one. The merchant's balance is debited the full amount (the fee
is not refunded), reserved first like a payout.
"""

from __future__ import annotations

from datetime import datetime

from switch.messages import CallbackIn, CreateReversal, ProviderOutcome
from switch.payments import Failure, Payment, new_payment
from switch.policies import reversal_was_ours
from switch.rails import RAILS, display_name, provider_of
from switch.states import Event


def reversal_key(original_id: str) -> str:
    """The (unscoped) idempotency key of a collection's reversal."""
    return f"reversal:{original_id}"


def is_reversal(payment: Payment) -> bool:
    return RAILS[payment.method].direction == "reversal"


def reversal_of(
    original: Payment,
    req: CreateReversal,
    reversal_id: str,
    key: str,
    default_shortcode: str,
    at: datetime,
) -> Payment:
    return new_payment(
        payment_id=reversal_id,
        merchant_id=req.merchant_id,
        method=RAILS[original.method].reversal,  # the rail that gives it back
        amount_minor=original.amount_minor,
        phone=original.phone,
        reference=original.id,
        description=req.reason,
        metadata={
            "receipt": original.provider.receipt,
            "shortcode": original.metadata.get("shortcode", default_shortcode),
        },
        idem_key=key,
        request_hash=req.request_hash,
        at=at,
    )


def payout_outcome(
    payment: Payment, item: CallbackIn, *, resent: bool, age: float, not_found_after: float
) -> ProviderOutcome:
    """What a provider's answer about a payout means. The provider having no record of it is
    a failure only once it cannot still be queued (``not_found_after`` seconds old); and a
    reversal refused as "already reversed" after we sent it twice was ours."""
    failure = item.outcome.failure
    if (
        is_reversal(payment)
        and failure
        and reversal_was_ours(payment, resent, failure.provider_code)
    ):
        return ProviderOutcome(Event.SUCCEED, item.outcome.refs)
    if not item.not_found:
        return item.outcome
    if age < not_found_after:
        return ProviderOutcome(None)
    name = display_name(provider_of(payment.method))
    message = f"{name[:1].upper()}{name[1:]} has no record of this payment; no money moved."
    return ProviderOutcome(Event.DECLINE, failure=Failure("declined", message))
