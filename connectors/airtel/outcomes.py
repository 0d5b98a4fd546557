"""Airtel Money answers in the switch's terms (pure). The gateway, the status check and the
callback route all go through here, so an answer, an enquiry and a callback map the same way.

References: ``receipt`` is Airtel's ``airtel_money_id`` (the money reference, reliably present
only on success, doc §5), ``conversation_id`` a payout's ``reference_id`` (Airtel's id of the
request, doc §8). Our payment id is Airtel's ``transaction.id``.

A synchronous refusal of the request (HTTP 4xx, nothing recorded at Airtel) is REJECTED; a
transaction Airtel recorded and failed (status TF) is DECLINE, or EXPIRE for a collection whose
prompt timed out. Anything not explicitly final is still pending.
"""

from __future__ import annotations

from typing import Literal

from connectors.airtel import (
    CallbackHashMismatch,
    CollectionAccepted,
    TransactionResult,
    hash_matches,
    parse_callback,
)
from connectors.airtel.security import HashForm
from connectors.airtel.transformers import callback_envelope
from switch.messages import CallbackIn, ProviderOutcome
from switch.payments import Failure, ProviderRefs
from switch.states import Event

Kind = Literal["collect", "payout"]
NAME = "Airtel Money"


def rejected(provider_code: str, provider_message: str) -> ProviderOutcome:
    """Airtel refused the request synchronously: nothing happened."""
    message = f"{NAME} refused the request: {provider_message}"
    failure = Failure("rejected", message, provider_code or None)
    return ProviderOutcome(Event.REJECTED, failure=failure)


def invalid_order(reason: str) -> ProviderOutcome:
    """Refused before anything was sent (an amount or phone Airtel cannot take)."""
    failure = Failure("rejected", f"{NAME} cannot take this payment: {reason}; nothing was sent")
    return ProviderOutcome(Event.REJECTED, failure=failure)


def unavailable(last_error: str, retry_after: float | None = None) -> ProviderOutcome:
    message = f"{NAME} did not accept the request ({last_error}); nothing was charged"
    failure = Failure("provider_unavailable", message)
    return ProviderOutcome(Event.REJECTED, failure=failure, retry_after=retry_after)


def answer_lost(detail: str) -> ProviderOutcome:
    message = f"No clear answer from {NAME} ({detail}); the payment's status will be checked"
    return ProviderOutcome(Event.ANSWER_LOST, failure=Failure("outcome_unknown", message))


def push_accepted(answer: CollectionAccepted) -> ProviderOutcome:
    """The USSD prompt is on the customer's phone: NOT a payment (doc §4)."""
    refs = ProviderRefs(
        result_code=answer.response_code or None, result_desc=answer.message or None
    )
    return ProviderOutcome(Event.ACCEPTED, refs=refs)


def payout_answer(result: TransactionResult) -> ProviderOutcome:
    """A disbursement's synchronous answer: usually final already (TS/TF, doc §8); TIP/TA or an
    ambiguous code means Airtel took it and the result follows (QUEUED, then enquire)."""
    if result.outcome == "pending":
        return ProviderOutcome(Event.QUEUED, refs=_refs(result))
    return from_result(result, "payout")


def from_result(result: TransactionResult, kind: Kind) -> ProviderOutcome:
    """A transaction's state from an enquiry, a callback or a payout answer; pending is None."""
    refs = _refs(result)
    if result.outcome == "succeeded":
        return ProviderOutcome(Event.SUCCEED, refs=refs)
    if result.outcome == "pending":
        return ProviderOutcome(None, refs=refs)
    code = result.response_code or result.status or None
    if kind == "collect" and result.expired:
        return ProviderOutcome(Event.EXPIRE, refs, Failure("timeout", result.message, code))
    return ProviderOutcome(Event.DECLINE, refs, Failure("declined", result.message, code))


def airtel_callback(
    body: bytes, callback_key: str | None, hash_form: HashForm = "fixed_order"
) -> CallbackIn:
    """Airtel's POST to the one portal-configured callback URL (collections, doc §6).

    Our payment id is the callback's ``transaction.id``. With ``callback_key`` set, a missing or
    wrong ``hash`` raises :class:`CallbackHashMismatch`; a body that is not a callback raises
    ``MalformedCallback`` (its parent class).
    """
    if callback_key is not None:
        txn, received = callback_envelope(body)
        if received is None:
            raise CallbackHashMismatch("callback authentication is on but there is no hash")
        if not hash_matches(txn, received, callback_key, hash_form):
            raise CallbackHashMismatch("callback hash does not match its payload")
    result = parse_callback(body)
    # Callbacks carry TS or TF only: a prompt that timed out reads as a plain decline here.
    return CallbackIn(result.transaction_id, from_result(result, "collect"), None)


def _refs(result: TransactionResult) -> ProviderRefs:
    return ProviderRefs(
        receipt=result.airtel_money_id if result.outcome == "succeeded" else None,
        conversation_id=result.reference_id,
        result_code=result.response_code or result.status or None,
        result_desc=result.provider_message or result.message or None,
    )
