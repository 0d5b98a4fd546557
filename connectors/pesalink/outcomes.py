"""PesaLink answers in the switch's terms (pure). The gateway, the status check and the callback
route all go through here, so a transfer's answer, its enquiry and its callback map the same way.

References: ``receipt`` is the bank's transaction id once the transfer is paid (the money
reference), ``conversation_id`` the same id from the first answer on (the bank's id of the
request), ``receiver_name`` the account holder's name as the receiving bank has it, so a payment
always shows who was (or would have been) paid.

A refusal before any money could move (the lookup found no such account, a limit, a gateway
refusal) is REJECTED; a transfer the bank recorded and that failed is DECLINE. Anything not
explicitly final is still pending. A transfer is never EXPIREd by a code: only its status says.
"""

from __future__ import annotations

from dataclasses import replace

from connectors.pesalink import TransferResult, parse_callback
from switch.messages import CallbackIn, ProviderOutcome
from switch.payments import Failure, ProviderRefs
from switch.states import Event

NAME = "PesaLink"


def rejected(
    provider_code: str, provider_message: str, holder: str | None = None
) -> ProviderOutcome:
    """The bank refused the request: nothing was sent, no money moved."""
    message = f"{NAME} refused the transfer: {provider_message}"
    failure = Failure("rejected", message, provider_code or None)
    return ProviderOutcome(Event.REJECTED, refs=_holder(holder), failure=failure)


def refused(
    reason: str, provider_code: str | None = None, holder: str | None = None
) -> ProviderOutcome:
    """Our own refusal before the transfer was sent (lookup, name check, limits)."""
    failure = Failure("rejected", f"{NAME} transfer not sent: {reason}", provider_code)
    return ProviderOutcome(Event.REJECTED, refs=_holder(holder), failure=failure)


def unavailable(last_error: str, retry_after: float | None = None) -> ProviderOutcome:
    message = f"{NAME} did not accept the transfer ({last_error}); nothing was sent"
    failure = Failure("provider_unavailable", message)
    return ProviderOutcome(Event.REJECTED, failure=failure, retry_after=retry_after)


def answer_lost(detail: str) -> ProviderOutcome:
    message = f"No clear answer from {NAME} ({detail}); the transfer's status will be checked"
    return ProviderOutcome(Event.ANSWER_LOST, failure=Failure("outcome_unknown", message))


def with_holder(outcome: ProviderOutcome, holder: str | None) -> ProviderOutcome:
    """``outcome`` with the looked-up holder's name, unless the bank named one already."""
    if not holder or (outcome.refs is not None and outcome.refs.receiver_name):
        return outcome
    if outcome.refs is None:
        return replace(outcome, refs=ProviderRefs(receiver_name=holder))
    return replace(outcome, refs=replace(outcome.refs, receiver_name=holder))


def transfer_answer(result: TransferResult, holder: str | None = None) -> ProviderOutcome:
    """The synchronous answer to a transfer: often final already; pending means the bank took
    it and the result follows (QUEUED, then callback or enquiry)."""
    if result.outcome == "pending":
        return with_holder(ProviderOutcome(Event.QUEUED, refs=_refs(result)), holder)
    return with_holder(from_result(result), holder)


def from_result(result: TransferResult) -> ProviderOutcome:
    """A transfer's state from an answer, an enquiry or a callback; pending is ``event`` None."""
    refs = _refs(result)
    if result.outcome == "succeeded":
        return ProviderOutcome(Event.SUCCEED, refs, None, result.amount_cents)
    if result.outcome == "pending":
        return ProviderOutcome(None, refs, None, result.amount_cents)
    failure = Failure("declined", result.message, result.reason_code)
    return ProviderOutcome(Event.DECLINE, refs, failure, result.amount_cents)


def pesalink_callback(payment_id: str, body: bytes) -> CallbackIn:
    """The bank's POST to the transfer's ``callbackUrl`` (which names our payment). The body's
    own reference goes in ``originator_conversation_id``, so a callback about another transfer
    is refused as a mismatch; a body that is not a transfer result raises MalformedCallback."""
    result = parse_callback(body)
    return CallbackIn(
        payment_id,
        from_result(result),
        None,
        originator_conversation_id=result.end_to_end_id,
    )


def _refs(result: TransferResult) -> ProviderRefs:
    return ProviderRefs(
        receipt=result.transaction_id if result.outcome == "succeeded" else None,
        conversation_id=result.transaction_id,
        result_code=result.reason_code,
        result_desc=result.reason_desc or result.status or None,
        transaction_date=result.completed_at,
        receiver_name=result.recipient_name,
    )


def _holder(holder: str | None) -> ProviderRefs | None:
    return ProviderRefs(receiver_name=holder) if holder else None
