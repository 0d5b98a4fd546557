"""Daraja initiator APIs, the answering side: the ``Result`` envelope POSTed to ``ResultURL``
and one exhaustive result table per API (doc §7, §8, §10, §11, §12). Pure.

One parser reads every envelope (:func:`parse_result`); per-API functions (:func:`b2c_result`,
:func:`transaction_status_result`, :func:`reversal_result`, :func:`account_balance_result`) map
it to ours with the API's table. Anything a table does not name is still pending (house style).

The envelope's quirks are tolerated (doc §7): ResultType/ResultCode as numbers or strings (or
non-numeric strings such as ``R000002``), ``ResultParameter`` as an array or a single object,
``ReferenceItem`` as a single object or an array, a ``Key`` without ``Value``, a key repeated
(``DebitPartyName`` in Transaction Status), amounts as numbers or numeric strings.

Money read from results is in integer cents (``*_cents``), because balances carry decimals.
Exceptions are kept for bodies that break the contract::

    ValueError
    └── MalformedCallback      (transformers)
        └── MalformedResult    the body is not a Daraja ``Result`` envelope we can trust
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import orjson

from connectors import common
from connectors.common import text as _text
from connectors.mpesa.initiator import B2C_MAX_AMOUNT, B2C_MIN_AMOUNT
from connectors.mpesa.transformers import EAT, MalformedCallback, Outcome

# Transaction Status answers with this for an unknown transaction. It is NOT in the doc: seen
# once in a third-party capture ("The transaction receipt number does not exist.") — unverified.
STATUS_NOT_FOUND = "2032"

_PUBLIC_NAME = re.compile(r"^\s*(\d{9,12})\s*-\s*(.*?)\s*$")

ParamValue = str | int | float | None
V = TypeVar("V", bound=str)  # what a table says: an Outcome, or a StatusLookup


class MalformedResult(MalformedCallback):
    """The body is not a ``Result`` envelope (or a money field in it is not a number)."""


# --- The Result envelope (doc §7) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitiatorResult:
    """One ``Result`` POSTed to ResultURL (or QueueTimeOutURL), normalised; nothing interpreted."""

    result_type: str  # '0' completed, '1' waiting for further messages (doc §7)
    result_code: str  # always a string: it may be 'R000002' or 'SFC_IC0003'
    result_desc: str
    originator_conversation_id: str
    conversation_id: str
    transaction_id: str  # a placeholder such as 'NLJ0000000' on failures (doc §7)
    parameters: dict[str, ParamValue]  # first value per key; a Key without Value maps to None
    parameter_list: tuple[tuple[str, ParamValue], ...]  # every pair in order; keys may repeat
    reference_items: dict[str, ParamValue]

    @property
    def is_final(self) -> bool:
        return self.result_type != "1"

    def values(self, key: str) -> list[ParamValue]:
        """Every value of a key that may repeat (``DebitPartyName``, doc §10)."""
        return [v for k, v in self.parameter_list if k == key]


def parse_result(body: bytes) -> InitiatorResult:
    """Parse the POST Safaricom makes to ResultURL for B2C, status, reversal or balance."""
    result = _envelope(body)
    pairs = _pairs(result.get("ResultParameters"), "ResultParameter")
    refs = _pairs(result.get("ReferenceData"), "ReferenceItem")
    ocid, cid = _text(result.get("OriginatorConversationID")), _text(result.get("ConversationID"))
    if not ocid and not cid:
        raise MalformedResult("Result has neither OriginatorConversationID nor ConversationID")
    return InitiatorResult(
        result_type=_text(result.get("ResultType")) or "0",
        result_code=_code(result.get("ResultCode")),
        result_desc=_text(result.get("ResultDesc")),
        originator_conversation_id=ocid,
        conversation_id=cid,
        transaction_id=_text(result.get("TransactionID")),
        parameters=_first_values(pairs),
        parameter_list=tuple(pairs),
        reference_items=_first_values(refs),
    )


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResult("result body is not JSON") from exc
    result = doc.get("Result") if isinstance(doc, dict) else None
    if not isinstance(result, dict):
        raise MalformedResult("result body has no Result object")
    return result


def _pairs(container: Any, name: str) -> list[tuple[str, ParamValue]]:
    """Key/Value pairs from an array, or from one object collapsed out of its array (doc §7)."""
    if container is None or container == "":
        return []
    raw = container.get(name) if isinstance(container, dict) else None
    items = [raw] if isinstance(raw, dict) else raw
    if items is None:
        return []
    if not isinstance(items, list):
        raise MalformedResult(f"{name} is neither a list nor an object")
    return [
        (i["Key"], _param(i.get("Value")))
        for i in items
        if isinstance(i, dict) and isinstance(i.get("Key"), str)
    ]


def _param(value: Any) -> ParamValue:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return orjson.dumps(value).decode()  # an odd shape kept as text rather than dropped


def _first_values(pairs: list[tuple[str, ParamValue]]) -> dict[str, ParamValue]:
    out: dict[str, ParamValue] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def _code(value: Any) -> str:
    code = _text(value)
    if not code:
        raise MalformedResult("ResultCode is missing or not a number/string")
    return code


# --- Values inside results ---------------------------------------------------------------------


def cents(value: ParamValue) -> int | None:
    """Integer cents from ``8959269.60``, ``"300"``, ``-1980.00``; None when absent or empty."""
    if value is None or value == "":
        return None
    try:
        return common.cents(value, grouped=True, signed=True)
    except ValueError as exc:
        raise MalformedResult(f"not an amount in whole cents: {exc}") from None


def public_name(value: ParamValue) -> tuple[str | None, str | None]:
    """``"254712345678 - JANE WANJIKU DOE"`` -> (``"254712345678"``, ``"JANE WANJIKU DOE"``)."""
    if not isinstance(value, str) or not value.strip():
        return None, None
    match = _PUBLIC_NAME.match(value)
    if match is None:
        return None, value.strip()  # a name without the number in front
    return match.group(1), match.group(2) or None


def completed_time(value: ParamValue) -> datetime | None:
    """``dd.MM.yyyy HH:mm:ss`` (B2C) or ``YYYYMMDDHHmmss`` (elsewhere), in EAT (doc §1, §8)."""
    text = _text(value)
    for fmt in ("%d.%m.%Y %H:%M:%S", "%Y%m%d%H%M%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=EAT)
        except ValueError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class Account:
    """One account of an ``AccountBalance``/``DebitAccountBalance`` string (doc §12)."""

    name: str  # 'Utility Account', 'Working Account', ...
    currency: str  # 'KES'
    available_cents: int
    # The remaining numeric fields, in order. Their meaning (uncleared/reserved/unreserved) is not
    # consistently documented (doc §12, unverified), so they are kept unnamed.
    other_cents: tuple[int, ...] = ()


def parse_accounts(text: str) -> tuple[Account, ...]:
    """``Working Account|KES|700000.00|700000.00|0.00|0.00&Utility Account|KES|...``."""
    accounts = []
    for chunk in text.split("&"):
        fields = [f.strip() for f in chunk.split("|")]
        if len(fields) < 3 or not fields[0]:
            if chunk.strip():
                raise MalformedResult(f"account {chunk!r} has fewer than three fields")
            continue
        amounts = [cents(f) for f in fields[2:]]
        available, *others = (a if a is not None else 0 for a in amounts)
        accounts.append(Account(fields[0], fields[1], available, tuple(others)))
    return tuple(accounts)


# --- Result tables: one per API ----------------------------------------------------------------

# Generic initiator codes (doc §7, from the Account Balance docs), merged into every table below.
# Only the codes that say "not done, for a stated reason" are failures. 15 (duplicate detected),
# 17 (internal failure), 19 (message sequencing failure) and the 100000000-100000011 gateway codes
# do not say whether anything moved, so they are left out: still pending, check the status.
_GENERIC_RESULTS: dict[str, tuple[Outcome, str]] = {
    "18": ("failed", "M-Pesa could not check the initiator's credential."),
    "20": ("failed", "M-Pesa could not resolve the initiator (API operator)."),
    "21": (
        "failed",
        "The API operator is not allowed to make this request (a role is missing on the portal).",
    ),
    "22": ("failed", "The API operator is not allowed to pay this receiving party."),
    "24": ("failed", "M-Pesa refused the request: a mandatory field is missing."),
    "25": ("failed", "M-Pesa refused the request: invalid request parameters."),
    "26": ("failed", "M-Pesa was too busy (traffic blocking); nothing was done. Try again later."),
    "29": ("failed", "M-Pesa refused the request: invalid command."),
    "2001": (
        "failed",
        "The initiator information is invalid: wrong API operator name or password, or the "
        "credential was encrypted with the wrong certificate.",
    ),
    "8006": ("failed", "The API operator's security credential is locked; reset it on the portal."),
}

# doc §8, "B2C ResultCodes".
B2C_RESULTS: dict[str, tuple[Outcome, str]] = {
    **_GENERIC_RESULTS,
    "0": ("succeeded", "Paid: the money is in the customer's M-Pesa account."),
    "1": ("failed", "The B2C utility account (float) has too little money for this payout."),
    "2": ("failed", f"The amount is below the B2C minimum of KES {B2C_MIN_AMOUNT}."),
    "3": ("failed", f"The amount is above the B2C maximum of KES {B2C_MAX_AMOUNT:,}."),
    "4": ("failed", "The payout would take the customer over the daily limit of KES 500,000."),
    "8": ("failed", "The payout would take the customer over the M-Pesa maximum balance."),
    "11": ("failed", "The paying shortcode (debit party) is in a state that forbids payouts."),
    "2006": ("failed", "The account status does not allow this payout."),
    "2028": ("failed", "The shortcode is not set up for this kind of payout (product assignment)."),
    "2040": (
        "failed",
        "The recipient's customer type is not supported (not a registered M-Pesa customer).",
    ),
    "SFC_IC0003": ("failed", "The recipient's phone number does not exist on M-Pesa."),
}

# doc §11: R000001/R000002 plus 1, 11, 21, 2001, 2006, 2028, 8006.
REVERSAL_RESULTS: dict[str, tuple[Outcome, str]] = {
    **_GENERIC_RESULTS,
    "0": ("succeeded", "Reversed: the money went back to the payer."),
    "R000001": ("failed", "This transaction has already been reversed."),
    "R000002": ("failed", "The original transaction ID is invalid (unknown or not reversible)."),
    "1": ("failed", "The shortcode's utility account has too little money for the reversal."),
    "11": ("failed", "The shortcode is in a state that forbids reversals."),
    "2006": ("failed", "The account status does not allow this reversal."),
    "2028": ("failed", "The shortcode is not set up for reversals (product assignment)."),
}

# doc §12: only the generic codes are listed for Account Balance.
BALANCE_RESULTS: dict[str, tuple[Outcome, str]] = {
    **_GENERIC_RESULTS,
    "0": ("succeeded", "The balance was read."),
}

StatusLookup = Literal["found", "not_found", "failed", "pending"]

# What a Transaction Status *query* itself says (not the transaction it looks at).
STATUS_QUERY_RESULTS: dict[str, tuple[StatusLookup, str]] = {
    **{code: ("failed", message) for code, (_, message) in _GENERIC_RESULTS.items()},
    "0": ("found", "M-Pesa found the transaction."),
    STATUS_NOT_FOUND: ("not_found", "M-Pesa has no transaction with this ID."),  # unverified
}

# ``TransactionStatus`` of the transaction looked at. Lifecycle (doc §10): Initiated ->
# Authorized/Pending -> Completed/Cancelled/Declined/Expired. Not final -> pending.
TRANSACTION_STATUSES: dict[str, tuple[Outcome, str]] = {
    "Completed": ("succeeded", "The transaction completed."),
    "Cancelled": ("failed", "The transaction was cancelled; no money moved."),
    "Declined": ("failed", "The transaction was declined; no money moved."),
    "Expired": ("expired", "The transaction expired before completing; no money moved."),
}


def _lookup(
    table: dict[str, tuple[V, str]], result: InitiatorResult, what: str, still: str
) -> tuple[V | Literal["pending"], str]:
    """The table's verdict on a final result; not final, or a code it does not name: pending."""
    if not result.is_final:
        return "pending", still
    known = table.get(result.result_code)
    if known is not None:
        return known
    return "pending", f"Unrecognised M-Pesa {what} result code {result.result_code}"


def _outcome(
    table: dict[str, tuple[Outcome, str]], result: InitiatorResult, what: str
) -> tuple[Outcome, str]:
    return _lookup(table, result, what, "M-Pesa is still processing; more messages will follow.")


@dataclass(frozen=True, slots=True)
class _Answered:
    """What every initiator API's result says first: which request, its code, what it means."""

    originator_conversation_id: str
    conversation_id: str
    result_code: str
    result_desc: str
    outcome: Outcome
    message: str  # plain English for a merchant's support person


def _ids(result: InitiatorResult) -> tuple[str, str, str, str]:
    """The first four fields of :class:`_Answered`, as the envelope carries them."""
    return (
        result.originator_conversation_id,
        result.conversation_id,
        result.result_code,
        result.result_desc,
    )


# --- B2C (doc §8) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class B2cResult(_Answered):
    receipt: str | None  # only when paid
    amount_cents: int | None
    receiver_phone: str | None
    receiver_name: str | None  # 'JANE WANJIKU DOE' from '254712345678 - JANE WANJIKU DOE'
    completed_at: datetime | None  # from 'dd.MM.yyyy HH:mm:ss', EAT
    utility_balance_cents: int | None  # B2C utility account (the float) after the payout
    working_balance_cents: int | None
    charges_paid_balance_cents: int | None  # negative in the doc sample
    recipient_registered: bool | None


def b2c_result(result: InitiatorResult) -> B2cResult:
    outcome, message = _outcome(B2C_RESULTS, result, "B2C")
    p = result.parameters
    phone, name = public_name(p.get("ReceiverPartyPublicName"))
    receipt = _text(p.get("TransactionReceipt")) or result.transaction_id
    registered = _text(p.get("B2CRecipientIsRegisteredCustomer")).upper()
    return B2cResult(
        *_ids(result),
        outcome,
        message,
        # On failures TransactionID is a placeholder (doc §7): never report it as a receipt.
        receipt=(receipt or None) if outcome == "succeeded" else None,
        amount_cents=cents(p.get("TransactionAmount")),
        receiver_phone=phone,
        receiver_name=name,
        completed_at=completed_time(p.get("TransactionCompletedDateTime")),
        utility_balance_cents=cents(p.get("B2CUtilityAccountAvailableFunds")),
        working_balance_cents=cents(p.get("B2CWorkingAccountAvailableFunds")),
        charges_paid_balance_cents=cents(p.get("B2CChargesPaidAccountAvailableFunds")),
        recipient_registered={"Y": True, "N": False}.get(registered),
    )


def parse_b2c_result(body: bytes) -> B2cResult:
    return b2c_result(parse_result(body))


# --- Transaction Status (doc §10) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransactionStatusResult:
    """What a status query learnt about the ORIGINAL transaction.

    ``lookup``: ``found`` (then ``outcome`` is the original's), ``not_found`` (M-Pesa has no such
    transaction), ``failed`` (the query itself was refused, e.g. 2001) or ``pending`` (unknown
    code, or not final yet). Only ``found`` says anything about the money.
    """

    lookup: StatusLookup
    outcome: Outcome  # of the original transaction; 'pending' unless lookup == 'found'
    message: str
    result_code: str
    result_desc: str
    status: str | None  # TransactionStatus as sent: 'Completed', 'Declined', ...
    receipt: str | None  # ReceiptNo as sent; proof of payment only when outcome == 'succeeded'
    amount_cents: int | None
    original_conversation_id: str | None  # the original's ConversationID parameter
    original_originator_conversation_id: str | None
    debit_party: str | None  # '600310 - Safaricom333'
    credit_party: str | None  # CreditPartyName, or the second DebitPartyName (doc §10)
    initiated_at: datetime | None
    finalised_at: datetime | None
    reason_type: str | None
    query_conversation_id: str  # of the status query itself
    query_originator_conversation_id: str


def transaction_status_result(result: InitiatorResult) -> TransactionStatusResult:
    lookup, message = _lookup(
        STATUS_QUERY_RESULTS, result, "status query", "M-Pesa is still processing the status query."
    )
    p = result.parameters
    status = _text(p.get("TransactionStatus")) or None
    outcome: Outcome = "pending"
    if lookup == "found":
        outcome, message = TRANSACTION_STATUSES.get(
            status or "", ("pending", f"The transaction is not final yet (status {status!r}).")
        )
    debit = [v for v in (_text(x) for x in result.values("DebitPartyName")) if v]
    credit = _text(p.get("CreditPartyName")) or (debit[1] if len(debit) > 1 else "")
    return TransactionStatusResult(
        lookup=lookup,
        outcome=outcome,
        message=message,
        result_code=result.result_code,
        result_desc=result.result_desc,
        status=status,
        receipt=_text(p.get("ReceiptNo")) or None,
        amount_cents=cents(p.get("Amount")),
        original_conversation_id=_text(p.get("ConversationID")) or None,
        original_originator_conversation_id=_text(p.get("OriginatorConversationID")) or None,
        debit_party=debit[0] if debit else None,
        credit_party=credit or None,
        initiated_at=completed_time(p.get("InitiatedTime")),
        finalised_at=completed_time(p.get("FinalisedTime")),
        reason_type=_text(p.get("ReasonType")) or None,
        query_conversation_id=result.conversation_id,
        query_originator_conversation_id=result.originator_conversation_id,
    )


def parse_transaction_status(body: bytes) -> TransactionStatusResult:
    return transaction_status_result(parse_result(body))


# --- Reversal (doc §11) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReversalResult(_Answered):
    reversal_receipt: str | None  # TransactionID of the reversal itself, when it succeeded
    original_transaction_id: str | None
    amount_cents: int | None
    charge_cents: int | None
    completed_at: datetime | None
    debit_account: Account | None  # 'Utility Account|KES|7722179.62|...' after the reversal
    credit_party_name: str | None
    debit_party_name: str | None


def reversal_result(result: InitiatorResult) -> ReversalResult:
    outcome, message = _outcome(REVERSAL_RESULTS, result, "reversal")
    p = result.parameters
    balance = _text(p.get("DebitAccountBalance"))
    accounts = parse_accounts(balance) if balance else ()
    return ReversalResult(
        *_ids(result),
        outcome,
        message,
        reversal_receipt=(result.transaction_id or None) if outcome == "succeeded" else None,
        original_transaction_id=_text(p.get("OriginalTransactionID")) or None,
        amount_cents=cents(p.get("Amount")),
        charge_cents=cents(p.get("Charge")),
        completed_at=completed_time(p.get("TransCompletedTime")),
        debit_account=accounts[0] if accounts else None,
        credit_party_name=_text(p.get("CreditPartyPublicName")) or None,
        debit_party_name=_text(p.get("DebitPartyPublicName")) or None,
    )


def parse_reversal_result(body: bytes) -> ReversalResult:
    return reversal_result(parse_result(body))


# --- Account Balance (doc §12) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountBalanceResult(_Answered):
    accounts: tuple[Account, ...]
    completed_at: datetime | None  # BOCompletedTime

    def account(self, name: str) -> Account | None:
        """The account called ``name`` ('Utility Account'), case-insensitively."""
        wanted = name.casefold()
        return next((a for a in self.accounts if a.name.casefold() == wanted), None)


def account_balance_result(result: InitiatorResult) -> AccountBalanceResult:
    outcome, message = _outcome(BALANCE_RESULTS, result, "account balance")
    text = _text(result.parameters.get("AccountBalance"))
    return AccountBalanceResult(
        *_ids(result),
        outcome,
        message,
        accounts=parse_accounts(text) if text else (),
        completed_at=completed_time(result.parameters.get("BOCompletedTime")),
    )


def parse_account_balance(body: bytes) -> AccountBalanceResult:
    return account_balance_result(parse_result(body))
