"""M-Pesa's answers in the switch's terms: which event they are, which references they carry
and how a failure reads. The gateway and the callback routes both go through here, so a
synchronous answer, a callback and a status query map the same way."""

from __future__ import annotations

from connectors.mpesa.b2b import B2bResult
from connectors.mpesa.results import B2cResult, ReversalResult, TransactionStatusResult
from connectors.mpesa.transformers import StkResult
from switch.messages import CallbackIn, ProviderOutcome
from switch.outcomes import Wording
from switch.payments import Failure, Payment, ProviderRefs
from switch.states import Event

_EVENTS = {"succeeded": Event.SUCCEED, "failed": Event.DECLINE, "expired": Event.EXPIRE}


def queued(conversation_id: str) -> ProviderOutcome:
    """A payout the provider took; its result follows by callback."""
    return ProviderOutcome(Event.QUEUED, refs=ProviderRefs(conversation_id=conversation_id))


def accepted(merchant_request_id: str, checkout_request_id: str) -> ProviderOutcome:
    refs = ProviderRefs(
        merchant_request_id=merchant_request_id, checkout_request_id=checkout_request_id
    )
    return ProviderOutcome(Event.ACCEPTED, refs=refs)


_WORDING = Wording("M-Pesa")
rejected, unavailable, answer_lost = _WORDING.rejected, _WORDING.unavailable, _WORDING.answer_lost


def from_stk_result(result: StkResult) -> ProviderOutcome:
    """A final (or still pending) STK result from a callback or a query."""
    event = _EVENTS.get(result.outcome)
    refs = ProviderRefs(
        merchant_request_id=result.merchant_request_id or None,
        checkout_request_id=result.checkout_request_id or None,
        receipt=result.receipt,
        result_code=result.result_code,
        result_desc=result.result_desc,
        transaction_date=result.transaction_date,
    )
    failure = None
    if event == Event.DECLINE:
        failure = Failure("declined", result.message, result.result_code)
    elif event == Event.EXPIRE:
        failure = Failure("timeout", result.message, result.result_code)
    amount = result.amount * 100 if result.amount is not None else None
    return ProviderOutcome(event, refs, failure, amount, result.phone)


def _initiator_outcome(
    result: B2cResult | B2bResult | ReversalResult,
    receipt: str | None,
    amount_cents: int | None,
    receiver_name: str | None = None,
    phone: str | None = None,
) -> ProviderOutcome:
    """An initiator API's Result: only an explicit success or failure settles the payment (an
    expiry or an unknown code says nothing: Transaction Status decides)."""
    event = {"succeeded": Event.SUCCEED, "failed": Event.DECLINE}.get(result.outcome)
    refs = ProviderRefs(
        conversation_id=result.conversation_id or None,
        receipt=receipt,
        result_code=result.result_code,
        result_desc=result.result_desc,
        receiver_name=receiver_name,
    )
    declined = event == Event.DECLINE
    failure = Failure("declined", result.message, result.result_code) if declined else None
    return ProviderOutcome(event, refs, failure, amount_cents, phone)


def from_b2c_result(result: B2cResult) -> ProviderOutcome:
    """A B2C result callback (a payout is never expired by a code)."""
    return _initiator_outcome(
        result, result.receipt, result.amount_cents, result.receiver_name, result.receiver_phone
    )


def from_b2b_result(result: B2bResult) -> ProviderOutcome:
    """A B2B or tax Result."""
    return _initiator_outcome(result, result.receipt, result.amount_cents, result.receiver_name)


def from_status_result(result: TransactionStatusResult) -> ProviderOutcome:
    """A Transaction Status answer about a payout: ``found`` carries the original's outcome;
    anything else says nothing yet (``not_found`` is judged by the shard, which knows the age)."""
    if result.lookup != "found" or result.outcome not in ("succeeded", "failed"):
        return ProviderOutcome(None)
    event = _EVENTS[result.outcome]
    refs = ProviderRefs(
        receipt=result.receipt if event == Event.SUCCEED else None,
        result_code=result.result_code,
        result_desc=result.status,
    )
    declined = event == Event.DECLINE
    failure = Failure("declined", result.message, result.result_code) if declined else None
    return ProviderOutcome(event, refs, failure, result.amount_cents)


def from_reversal_result(result: ReversalResult) -> ProviderOutcome:
    """A reversal's result: the money went back to the payer, or it did not."""
    return _initiator_outcome(result, result.reversal_receipt, result.amount_cents)


def c2b_record_mismatch(payment: Payment, item: CallbackIn) -> str | None:
    """M-Pesa's record (Transaction Status) must show the very payment the confirmation
    reported: the same receipt and amount, credited to the same paybill or till. Anything less
    credits nobody."""
    refs = item.outcome.refs
    if refs is None or refs.receipt != payment.provider.receipt:
        return "the record's receipt differs from the confirmation's"
    if item.outcome.amount_minor is None:
        return "the record shows no amount"
    shortcode = str(payment.metadata.get("shortcode", ""))
    credited = (item.credit_party or "").split(" - ", 1)[0].strip()
    if not shortcode or credited != shortcode:
        return f"the record credits {credited or 'nobody'}, not {shortcode}"
    return None


def express_record_mismatch(payment: Payment, item: CallbackIn) -> str | None:
    """B2B Express Checkout's success counts only as M-Pesa's record shows it (Transaction
    Status, found by our RequestRefID): a completed payment debiting the till the prompt went
    to (the amount is checked for every rail). The callback alone never credits."""
    refs = item.outcome.refs
    if item.debit_party is None or refs is None or not refs.receipt:
        return "only M-Pesa's record (Transaction Status) settles an Express Checkout"
    till = str(payment.destination.get("till_number", ""))
    debited = item.debit_party.split(" - ", 1)[0].strip()
    if debited != till:
        return f"the record debits {debited or 'nobody'}, not till {till}"
    return None
