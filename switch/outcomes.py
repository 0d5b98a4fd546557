"""Provider answers in the switch's terms, as every provider shares them: an answer lost, and
whether a callback can belong to a stored payment. Each provider's own mappings (its results,
its wording) are in its package (``connectors/<name>/outcomes.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from switch.messages import CallbackIn, ProviderOutcome
from switch.payments import ERASED, Failure, Payment
from switch.providers import resolve
from switch.rails import RAILS
from switch.states import Event


@dataclass(frozen=True, slots=True)
class Wording:
    """How a provider's refusals read, in its own name (a gateway's ``wording``)."""

    name: str

    def rejected(self, provider_code: str, provider_message: str) -> ProviderOutcome:
        message = f"{self.name} refused the request: {provider_message}"
        failure = Failure("rejected", message, provider_code)
        return ProviderOutcome(Event.REJECTED, failure=failure)

    def unavailable(self, last_error: str, retry_after: float | None = None) -> ProviderOutcome:
        message = f"{self.name} did not accept the request ({last_error}); nothing was charged"
        failure = Failure("provider_unavailable", message)
        return ProviderOutcome(Event.REJECTED, failure=failure, retry_after=retry_after)

    def answer_lost(self, detail: str) -> ProviderOutcome:
        return ProviderOutcome(Event.ANSWER_LOST, failure=Failure("outcome_unknown", detail))


_GENERIC = Wording("The provider")
rejected, unavailable, answer_lost = _GENERIC.rejected, _GENERIC.unavailable, _GENERIC.answer_lost


def callback_mismatch(payment: Payment, item: CallbackIn) -> str | None:
    """Why a callback cannot belong to this payment, or None when it fits."""
    if item.methods and payment.method not in item.methods:
        return f"a callback for {'/'.join(sorted(item.methods))} cannot act on a {payment.method}"
    if item.originator_conversation_id and item.originator_conversation_id != payment.id:
        return "OriginatorConversationID differs"
    stored = payment.provider.checkout_request_id
    # Erased (switch/pii.py): the URL's signed payment id still ties the callback to it, and a
    # late success must still be recorded.
    if (
        stored
        and stored != ERASED
        and item.checkout_request_id
        and stored != item.checkout_request_id
    ):
        return "CheckoutRequestID differs"
    outcome = item.outcome
    if outcome.event == Event.SUCCEED:
        if outcome.amount_minor is not None and outcome.amount_minor != payment.amount_minor:
            return f"amount {outcome.amount_minor} != {payment.amount_minor}"
        if outcome.phone and outcome.phone != payment.phone:
            return "phone differs"
        check = RAILS[payment.method].settle_check
        if check:  # the rail's own proof, e.g. M-Pesa's record of a C2B receipt
            problem: str | None = resolve(check)(payment, item)
            return problem
    return None
