"""SACCO answers in the switch's terms (pure), in the SACCO's own name. The API gateway
(:mod:`connectors.sacco.api_gateway`), the file batches (:mod:`connectors.sacco.files_gateway`)
and the status check all go through here, so an answer, a lookup and a result line map the same way.

References: ``receipt`` is the SACCO's transaction id (API) or its reference on the result line
(files); ``conversation_id`` is the batch id of a file line; ``receiver_name`` is the member.

SUCCEED: booked. DECLINE: a business rule (dormant account, insufficient funds, no loan to
disburse, no active loan to repay) or a FAILED result line. REJECTED: the request was wrong, or
nothing was sent (``provider_unavailable``). ``not_found`` (event None): the SACCO has no such
transaction, or the line was never written.
"""

from __future__ import annotations

from connectors.sacco import files
from connectors.sacco.api import Accounts
from connectors.sacco.files import ResultLine
from connectors.sacco.orders import SaccoOrder
from connectors.sacco.registry import Sacco
from switch.messages import ProviderOutcome, QueryResult
from switch.payments import Failure, ProviderRefs
from switch.states import Event

NOT_FOUND = "not_found"
NO_ACTIVE_LOAN = "no_active_loan"


def rejected(sacco: Sacco | None, code: str, message: str) -> ProviderOutcome:
    who = sacco.name if sacco else "The SACCO gateway"
    failure = Failure("rejected", f"{who} refused the request: {message}", code)
    return ProviderOutcome(Event.REJECTED, failure=failure)


def declined(
    sacco: Sacco, code: str, message: str, refs: ProviderRefs | None = None
) -> ProviderOutcome:
    failure = Failure("declined", f"{sacco.name} declined: {message}", code)
    return ProviderOutcome(Event.DECLINE, refs=refs, failure=failure)


def unavailable(sacco: Sacco, last: str, retry_after: float | None = None) -> ProviderOutcome:
    message = f"{sacco.name} did not take the request ({last}); no money moved"
    failure = Failure("provider_unavailable", message)
    return ProviderOutcome(Event.REJECTED, failure=failure, retry_after=retry_after)


def answer_lost(sacco: Sacco, detail: str) -> ProviderOutcome:
    """Sent, or maybe sent, and no usable answer: the status check decides."""
    return ProviderOutcome(
        Event.ANSWER_LOST, failure=Failure("outcome_unknown", f"{sacco.code} {detail}")
    )


def succeeded(
    receipt: str, amount_minor: int, name: str | None, desc: str | None = None
) -> ProviderOutcome:
    refs = ProviderRefs(
        receipt=receipt, receiver_name=name or None, result_code="0", result_desc=desc
    )
    return ProviderOutcome(Event.SUCCEED, refs=refs, amount_minor=amount_minor)


def not_found(message: str, refs: ProviderRefs | None = None) -> ProviderOutcome:
    return ProviderOutcome(None, refs=refs, failure=Failure(NOT_FOUND, message))


def queued_in(batch_id: str) -> ProviderOutcome:
    return ProviderOutcome(Event.QUEUED, refs=ProviderRefs(conversation_id=batch_id))


def from_result_line(sacco: Sacco, batch_id: str, line: ResultLine) -> ProviderOutcome:
    """A result-file line as a final outcome."""
    if line.status == "PAID":
        refs = ProviderRefs(
            receipt=line.sacco_reference, conversation_id=batch_id, result_code="PAID"
        )
        return ProviderOutcome(Event.SUCCEED, refs=refs, amount_minor=line.amount_minor)
    refs = ProviderRefs(conversation_id=batch_id, result_code="FAILED", result_desc=line.reason)
    outcome = declined(sacco, "FAILED", line.reason or "no reason given", refs)
    return ProviderOutcome(outcome.event, refs, outcome.failure, line.amount_minor)


def overpayment_note(order: SaccoOrder, accounts: Accounts) -> str | None:
    """For a repayment above the loan balance read before the call: by how much (the SACCO
    holds the excess as a credit balance on the loan). None when not a repayment, not above
    the balance, or the balance is unknown."""
    loan = accounts.loan_to_repay() if order.purpose == "loan_repayment" else None
    owed = loan.outstanding_minor if loan else None
    if owed is None or order.amount_minor <= owed:
        return None
    return f"loan overpaid by KES {files.format_amount(order.amount_minor - owed)}"


def query_result(pid: str, outcome: ProviderOutcome) -> QueryResult:
    """A status answer; ``not_found`` when the SACCO (or the batch journal) has no such line."""
    failure = outcome.failure
    missing = outcome.event is None and failure is not None and failure.code == NOT_FOUND
    return QueryResult(pid, outcome, not_found=missing)


def lookup_error(code: str, message: str) -> dict[str, str]:
    """A member lookup that found nobody, or could not ask: ``error`` in plain words."""
    return {"error": message, "error_code": code}
