"""M-Pesa's callbacks with a per-payment URL, read into what the owning shard needs (pure).
Each is named, with the methods it may act on, in the provider's description."""

from __future__ import annotations

from connectors.mpesa import express
from connectors.mpesa.b2b import parse_b2b_result
from connectors.mpesa.outcomes import (
    from_b2b_result,
    from_b2c_result,
    from_reversal_result,
    from_status_result,
    from_stk_result,
)
from connectors.mpesa.results import (
    parse_b2c_result,
    parse_reversal_result,
    parse_transaction_status,
)
from connectors.mpesa.transformers import parse_stk_callback
from switch.messages import CallbackIn, ProviderOutcome
from switch.payments import Failure, ProviderRefs
from switch.states import Event


def stk(payment_id: str, body: bytes) -> CallbackIn:
    result = parse_stk_callback(body)
    return CallbackIn(payment_id, from_stk_result(result), result.checkout_request_id or None)


def b2c_result(payment_id: str, body: bytes) -> CallbackIn:
    """The result of a payout (its ResultURL)."""
    result = parse_b2c_result(body)
    ours = result.originator_conversation_id or None
    return CallbackIn(payment_id, from_b2c_result(result), None, originator_conversation_id=ours)


def b2b_result(payment_id: str, body: bytes) -> CallbackIn:
    """The result of a payment to a paybill or till, or of tax to KRA (its ResultURL)."""
    # Not matched on OriginatorConversationID: whether B2B echoes ours is unverified
    # (connectors/mpesa/b2b.py); the URL's signed token ties the Result to the payment.
    return CallbackIn(payment_id, from_b2b_result(parse_b2b_result(body)), None)


def b2c_status(payment_id: str, body: bytes) -> CallbackIn:
    """A Transaction Status answer about a payout."""
    result = parse_transaction_status(body)
    not_found = result.lookup == "not_found"
    return CallbackIn(payment_id, from_status_result(result), None, not_found=not_found)


def c2b_status(payment_id: str, body: bytes) -> CallbackIn:
    """A Transaction Status answer about a C2B receipt: M-Pesa's own record of the payment a
    confirmation reported, with the party it credited (checked by the shard)."""
    result = parse_transaction_status(body)
    return CallbackIn(
        payment_id,
        from_status_result(result),
        None,
        not_found=result.lookup == "not_found",
        credit_party=result.credit_party,
        debit_party=result.debit_party,
    )


def reversal_result(payment_id: str, body: bytes) -> CallbackIn:
    return CallbackIn(payment_id, from_reversal_result(parse_reversal_result(body)), None)


def queue_timeout(payment_id: str, _body: bytes) -> CallbackIn:
    """QueueTimeOutURL: the request timed out in M-Pesa's queue. Not an outcome (its payload is
    not documented), so the shard just asks again soon."""
    return CallbackIn(payment_id, ProviderOutcome(None), None)


def b2b_express(payment_id: str, body: bytes) -> CallbackIn:
    """B2B Express Checkout's result (its callbackUrl). A failure ends the payment; a success is
    only a claim (the callback is unsigned): the shard asks M-Pesa's record before any credit."""
    result = express.parse_result(body)
    if result.outcome == "failed":
        failure = Failure("declined", result.message, result.result_code)
        refs = ProviderRefs(result_code=result.result_code, result_desc=result.result_desc)
        outcome = ProviderOutcome(Event.DECLINE, refs, failure)
    else:
        outcome = ProviderOutcome(None)
    return CallbackIn(
        payment_id,
        outcome,
        None,
        originator_conversation_id=result.request_id,  # our RequestRefID, echoed
        verify=result.outcome == "succeeded",
    )
