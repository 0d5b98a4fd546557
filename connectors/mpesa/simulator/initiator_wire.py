"""Bodies of the simulated initiator APIs (doc §7, §8, §10, §11, §12). Pure.

Inbound: B2C v3, Transaction Status, Reversal and Account Balance requests, fields checked in the
order of the doc's tables; numbers and numeric strings both accepted (doc §1). A bad field raises
:class:`~connectors.mpesa.simulator.wire.InvalidField` (``400.002.02 Bad Request - Invalid X``).

Outbound: the acknowledgement and the ``Result`` envelope with Daraja's type quirks, per API as the
doc's samples show them: numeric ResultType/ResultCode for B2C, Transaction Status and Reversal
(string codes such as ``R000001`` stay strings), string ``"0"`` for Account Balance; a single
``ResultParameter`` collapses to an object; ``ReferenceItem`` is one object; ``Occasion`` without
``Value`` when empty; ``DebitPartyName`` twice in Transaction Status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.mpesa.simulator.wire import (
    MSISDN,
    SHORTCODE,
    InvalidField,
    _amount,
    _digits,
    _matching,
    _url,
)
from connectors.mpesa.transformers import EAT

B2C_COMMANDS = frozenset({"BusinessPayment", "SalaryPayment", "PromotionPayment"})
IDENTIFIER_TYPES = frozenset({"1", "2", "4", "11"})
ACCEPTED = "Accept the service request successfully."  # doc §7
SUCCESS = "The service request is processed successfully."
# Safaricom's own queue URL, as the doc §8 samples show it in ReferenceData.
SAFARICOM_QUEUE_URL = "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"
# The QueueTimeOutURL payload is not documented (doc §7): the simulator sends the Result envelope
# with this code of its own, which no result table knows, so a client reads it as pending.
QUEUE_TIMEOUT_CODE = "SIM_QUEUE_TIMEOUT"
QUEUE_TIMEOUT_DESC = "The request timed out in the M-Pesa queue and was not processed."
# Not in the doc: seen once in a third-party capture (unverified).
NOT_FOUND_CODE = 2032
NOT_FOUND_DESC = "The transaction receipt number does not exist."


@dataclass(frozen=True, slots=True)
class Initiator:
    name: str
    credential: str


@dataclass(frozen=True, slots=True)
class B2cRequest:
    initiator: Initiator
    originator_conversation_id: str
    command_id: str
    amount: int
    party_a: str
    party_b: str
    remarks: str
    queue_timeout_url: str
    result_url: str
    occasion: str


@dataclass(frozen=True, slots=True)
class StatusRequest:
    initiator: Initiator
    transaction_id: str
    original_conversation_id: str
    party_a: str
    identifier_type: str
    result_url: str
    queue_timeout_url: str
    remarks: str
    occasion: str


@dataclass(frozen=True, slots=True)
class ReversalRequest:
    initiator: Initiator
    transaction_id: str
    amount: int
    receiver_party: str
    result_url: str
    queue_timeout_url: str
    remarks: str
    occasion: str


@dataclass(frozen=True, slots=True)
class BalanceRequest:
    initiator: Initiator
    party_a: str
    identifier_type: str
    result_url: str
    queue_timeout_url: str
    remarks: str


def parse_b2c(body: dict[str, Any]) -> B2cRequest:
    """doc §8 table order. ``Occassion`` (v3 docs) and ``Occasion`` (v1 SDKs) both accepted."""
    ocid = _required(body, "OriginatorConversationID")
    initiator = Initiator(_required(body, "InitiatorName"), _required(body, "SecurityCredential"))
    command = _choice(body, "CommandID", B2C_COMMANDS)
    amount = _amount(body)  # limits 10..250,000 are ResultCodes 2/3, not gateway errors (doc §8)
    party_a = _matching(body, "PartyA", SHORTCODE)
    party_b = _matching(body, "PartyB", MSISDN)
    remarks = _text(body, "Remarks", 100, minimum=2)
    queue = _url(body, "QueueTimeOutURL")
    result = _url(body, "ResultURL")
    key = "Occassion" if "Occassion" in body else "Occasion"
    occasion = _text(body, key, 100, minimum=0)
    return B2cRequest(
        initiator, ocid, command, amount, party_a, party_b, remarks, queue, result, occasion
    )


def parse_status(body: dict[str, Any]) -> StatusRequest:
    """doc §10. ``TransactionID`` or ``OriginalConversationID``; spaced doc typos are refused."""
    initiator = _initiator(body)
    _choice(body, "CommandID", frozenset({"TransactionStatusQuery"}))
    transaction_id = _text(body, "TransactionID", 40, minimum=0)
    original = _text(body, "OriginalConversationID", 100, minimum=0)
    if not transaction_id and not original:
        raise InvalidField("TransactionID")
    return StatusRequest(
        initiator,
        transaction_id,
        original,
        _matching(body, "PartyA", SHORTCODE),
        _choice(body, "IdentifierType", IDENTIFIER_TYPES),
        _url(body, "ResultURL"),
        _url(body, "QueueTimeOutURL"),
        _text(body, "Remarks", 100, minimum=0),
        _text(body, "Occasion", 100, minimum=0),
    )


def parse_reversal(body: dict[str, Any]) -> ReversalRequest:
    """doc §11, with the ``RecieverIdentifierType`` spelling: the correct one is not read."""
    initiator = _initiator(body)
    _choice(body, "CommandID", frozenset({"TransactionReversal"}))
    transaction_id = _required(body, "TransactionID")
    amount = _amount(body)
    receiver = _matching(body, "ReceiverParty", SHORTCODE)
    _choice(body, "RecieverIdentifierType", IDENTIFIER_TYPES)
    return ReversalRequest(
        initiator,
        transaction_id,
        amount,
        receiver,
        _url(body, "ResultURL"),
        _url(body, "QueueTimeOutURL"),
        _text(body, "Remarks", 100, minimum=0),
        _text(body, "Occasion", 100, minimum=0),
    )


def parse_balance(body: dict[str, Any]) -> BalanceRequest:
    initiator = _initiator(body)
    _choice(body, "CommandID", frozenset({"AccountBalance"}))
    return BalanceRequest(
        initiator,
        _matching(body, "PartyA", SHORTCODE),
        _choice(body, "IdentifierType", IDENTIFIER_TYPES),
        _url(body, "ResultURL"),
        _url(body, "QueueTimeOutURL"),
        _text(body, "Remarks", 100, minimum=0),
    )


def _initiator(body: dict[str, Any]) -> Initiator:
    return Initiator(_required(body, "Initiator"), _required(body, "SecurityCredential"))


def _required(body: dict[str, Any], name: str) -> str:
    value = _digits(body.get(name))
    if value is None or not value.strip():
        raise InvalidField(name)
    return value


def _choice(body: dict[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = _digits(body.get(name))  # IdentifierType arrives as "4" or 4
    if value not in allowed:
        raise InvalidField(name)
    return value


def _text(body: dict[str, Any], name: str, limit: int, *, minimum: int) -> str:
    value = body.get(name)
    if value is None and minimum == 0:
        return ""
    text = _digits(value)
    if text is None or not minimum <= len(text) <= limit:
        raise InvalidField(name)
    return text


# --- Outbound ----------------------------------------------------------------------------------


def accepted(originator_conversation_id: str, conversation_id: str) -> dict[str, str]:
    """The synchronous acknowledgement of every initiator API (doc §7)."""
    return {
        "OriginatorConversationID": originator_conversation_id,
        "ConversationID": conversation_id,
        "ResponseCode": "0",
        "ResponseDescription": ACCEPTED,
    }


Pairs = list[tuple[str, Any]]


def result(
    code: int | str,
    desc: str,
    originator_conversation_id: str,
    conversation_id: str,
    transaction_id: str,
    parameters: Pairs | None = None,
    references: Pairs | None = None,
    *,
    strings: bool = False,
) -> dict[str, Any]:
    """The ``Result`` envelope (doc §7). ``strings``: ResultType/ResultCode as "0" (balance)."""
    out: dict[str, Any] = {
        "ResultType": "0" if strings else 0,
        "ResultCode": str(code) if strings else code,
        "ResultDesc": desc,
        "OriginatorConversationID": originator_conversation_id,
        "ConversationID": conversation_id,
        "TransactionID": transaction_id,
    }
    if parameters:
        out["ResultParameters"] = {"ResultParameter": _items(parameters)}
    if references:
        out["ReferenceData"] = {"ReferenceItem": _items(references)}
    return {"Result": out}


def _items(pairs: Pairs) -> list[dict[str, Any]] | dict[str, Any]:
    items = [{"Key": k} if v is None else {"Key": k, "Value": v} for k, v in pairs]
    return items[0] if len(items) == 1 else items  # one item collapses to an object (doc §7)


def queue_reference() -> Pairs:
    return [("QueueTimeoutURL", SAFARICOM_QUEUE_URL)]


def occasion_reference(occasion: str) -> Pairs:
    """``{"Key": "Occasion"}`` without Value when empty, as captured (doc §7)."""
    return [("Occasion", occasion or None)]


def money(cents: int) -> float:
    """A balance as a JSON number with decimals (``8959269.6``), as in the doc samples."""
    return cents / 100


def b2c_parameters(
    *,
    amount: int,
    receipt: str,
    phone: str,
    name: str,
    completed: float,
    utility_cents: int,
    working_cents: int,
    charges_cents: int,
) -> Pairs:
    """The doc §8 success sample's parameters, in its order."""
    return [
        ("TransactionAmount", amount),
        ("TransactionReceipt", receipt),
        ("ReceiverPartyPublicName", f"{phone} - {name}"),
        (
            "TransactionCompletedDateTime",
            f"{datetime.fromtimestamp(completed, EAT):%d.%m.%Y %H:%M:%S}",
        ),
        ("B2CUtilityAccountAvailableFunds", money(utility_cents)),
        ("B2CWorkingAccountAvailableFunds", money(working_cents)),
        ("B2CRecipientIsRegisteredCustomer", "Y"),
        ("B2CChargesPaidAccountAvailableFunds", money(charges_cents)),
    ]


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What Transaction Status reports about one transaction (doc §10 parameters)."""

    status: str  # Completed | Cancelled | Declined | Expired | Pending
    receipt: str
    amount: int
    debit_party: str  # '600310 - Safaricom333'
    credit_party: str
    originator_conversation_id: str
    conversation_id: str
    initiated: float  # wall
    finalised: float | None
    debit_account_type: str
    reason_type: str
    charges: str  # 'Fee For B2C Payment|KES|22.40'


def status_parameters(facts: StatusFacts) -> Pairs:
    """doc §10 order; times as numbers, Amount as a string, TransactionReason without Value."""
    finalised = stamp(facts.finalised) if facts.finalised is not None else ""
    return [
        ("DebitPartyName", facts.debit_party),
        ("DebitPartyName", facts.credit_party),  # sic: the credit party under the same key
        ("OriginatorConversationID", facts.originator_conversation_id),
        ("InitiatedTime", stamp(facts.initiated)),
        ("DebitAccountType", facts.debit_account_type),
        ("DebitPartyCharges", facts.charges),
        ("TransactionReason", None),
        ("ReasonType", facts.reason_type),
        ("TransactionStatus", facts.status),
        ("FinalisedTime", finalised),
        ("Amount", str(facts.amount)),
        ("ConversationID", facts.conversation_id),
        ("ReceiptNo", facts.receipt),
    ]


def reversal_parameters(
    *,
    balance: str,
    amount: int,
    completed: float,
    original: str,
    credit_party: str,
    debit_party: str,
) -> Pairs:
    """doc §11 success parameters."""
    return [
        ("DebitAccountBalance", balance),
        ("Amount", amount),
        ("TransCompletedTime", stamp(completed)),
        ("OriginalTransactionID", original),
        ("Charge", 0),
        ("CreditPartyPublicName", credit_party),
        ("DebitPartyPublicName", debit_party),
    ]


def balance_parameters(accounts: list[tuple[str, int]], completed: float) -> Pairs:
    """doc §12: ``AccountBalance`` (one string) and ``BOCompletedTime``."""
    return [("AccountBalance", accounts_text(accounts)), ("BOCompletedTime", stamp(completed))]


def accounts_text(accounts: list[tuple[str, int]]) -> str:
    """``Name|KES|available|available|0.00|0.00`` joined by ``&`` (doc §12)."""
    return "&".join(f"{name}|KES|{kes(c)}|{kes(c)}|0.00|0.00" for name, c in accounts)


def kes(cents: int) -> str:
    """Exact shillings with two decimals: ``-1540.00``."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def stamp(wall: float) -> int:
    """YYYYMMDDHHmmss in EAT as a JSON number, as in the doc samples."""
    return int(f"{datetime.fromtimestamp(wall, EAT):%Y%m%d%H%M%S}")
