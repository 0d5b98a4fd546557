"""M-Pesa Daraja wire types and the mappings between them and ours: STK Push, OAuth and the error
envelope shared by every API. Pure: no I/O. Initiator APIs live in ``initiator``, C2B in ``c2b``.

Every fact about the wire comes from Daraja's documentation; "doc §N" tags name the topic in
Safaricom's Daraja documentation (https://developer.safaricom.co.ke/APIs): §2 OAuth, §3 error
envelope, §4 STK Push, §5 STK query, §6 C2B, §7 initiator mechanics, §8 B2C, §10 Transaction Status,
§11 Reversal, §12 Account Balance, §13 sandbox test data.
Three kinds of answer leave this module:

* a value for a synchronous acceptance (``StkAccepted``, ``AccessToken``, ``StkPending``);
* a ``StkResult`` for a final (or unrecognised, hence pending) STK outcome, from a callback or a
  query, parsed by the same code;
* a ``ProviderError`` value for any gateway answer that is not an acceptance. A provider decline
  is a value, never an exception.

Exceptions are kept for bodies that break the contract::

    ValueError
    └── MalformedCallback   the callback body is not a Daraja ``Body.stkCallback`` envelope
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson

# The shared types, re-exported: this package names them as its own.
from connectors.common import EAT as EAT
from connectors.common import AccessToken as AccessToken
from connectors.common import ErrorKind as ErrorKind
from connectors.common import ProviderError as ProviderError
from connectors.common import describe_bare, whole
from connectors.http import HttpResponse

Outcome = Literal["succeeded", "failed", "expired", "pending"]

# Daraja timestamps are Kenya local time (``EAT``); the docs never say so, but callback samples
# and every integrator use it (doc §1, "time zone not stated in the docs — unverified").

_MSISDN = re.compile(r"^254[17]\d{8}$")


class MalformedCallback(ValueError):
    """The callback body is not an ``stkCallback`` envelope we can trust."""


@dataclass(frozen=True, slots=True)
class StkPushOrder:
    """What the switch asks M-Pesa to collect. Field lengths are guarded by the connector."""

    amount: int  # whole shillings (doc §4: "Whole shillings, minimum 1")
    phone: str  # '2547XXXXXXXX' or '2541XXXXXXXX' (doc §1)
    account_reference: str
    description: str
    callback_url: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise ValueError("amount must be a whole number of shillings, at least 1")
        if not _MSISDN.match(self.phone):
            raise ValueError("phone must be 12 digits: 2547XXXXXXXX or 2541XXXXXXXX")


@dataclass(frozen=True, slots=True)
class StkAccepted:
    """The push was queued; the outcome arrives later (doc §4, synchronous acknowledgement)."""

    merchant_request_id: str
    checkout_request_id: str
    customer_message: str


@dataclass(frozen=True, slots=True)
class StkPending:
    """A query answer while the customer has not acted yet (doc §5)."""

    checkout_request_id: str


@dataclass(frozen=True, slots=True)
class StkResult:
    checkout_request_id: str
    merchant_request_id: str
    result_code: str  # always a string: it may be 'SFC_IC0003' (doc §4)
    result_desc: str  # the provider's text, '[STK_CB - ]' prefix removed; never branch on it
    outcome: Outcome
    message: str  # plain English for a merchant's customer-support person
    amount: int | None  # whole shillings; only callbacks carry it
    receipt: str | None
    phone: str | None  # '2547...' string
    transaction_date: str | None  # 'YYYYMMDDHHmmss', EAT


# --- STK result codes: one exhaustive table (doc §4, "STK ResultCodes") -----------------------

STK_RESULTS: dict[str, tuple[Outcome, str]] = {
    "0": ("succeeded", "Paid: the customer completed the payment."),
    "1": (
        "failed",
        "The customer's M-Pesa balance (including Fuliza) was too low for this payment.",
    ),
    "2": ("failed", "The amount is below the M-Pesa minimum of KES 1."),
    "3": ("failed", "The amount is above the M-Pesa maximum for one transaction."),
    "4": ("failed", "The payment would take the customer over their daily M-Pesa limit."),
    "8": ("failed", "The payment would take the receiving account over its maximum balance."),
    "17": (
        "failed",
        "M-Pesa blocked a repeat of the same amount to the same customer within about "
        "2 minutes. Wait 2 minutes before trying again.",
    ),
    "1025": (
        "failed",
        "M-Pesa could not send the payment prompt (the prompt text was too long: "
        "shorten the account reference).",
    ),
    # 1032 also covers the SIM menu timing out (doc §4), so the message says both.
    "1032": (
        "failed",
        "The customer cancelled the payment prompt, or it timed out on their phone.",
    ),
    "2001": ("failed", "The customer entered a wrong M-Pesa PIN."),
    "2028": (
        "failed",
        "The merchant account is not set up for this kind of payment "
        "(wrong transaction type or till/paybill number).",
    ),
    "8006": ("failed", "The customer's M-Pesa PIN is locked; they must contact Safaricom."),
    "SFC_IC0003": (
        "failed",
        "The merchant account is not set up for this kind of payment "
        "(M-Pesa says the operator does not exist: check transaction type and till/paybill).",
    ),
    # The next three come from third-party lists only (doc §4, "unverified wording").
    "26": ("failed", "M-Pesa was too busy to process the payment; the customer may try again."),
    "1001": (
        "failed",
        "Another M-Pesa payment was already in progress for this customer; try again "
        "after a minute.",
    ),
    "9999": ("failed", "M-Pesa could not send the payment prompt; the customer may try again."),
    "1037": (
        "expired",
        "The customer's phone could not be reached (offline, switched off or busy), "
        "so the prompt expired.",
    ),
    "1019": ("expired", "The customer did not complete the prompt in time; the request expired."),
}


def stk_outcome(result_code: str) -> tuple[Outcome, str]:
    """Not explicitly success or failure means still pending (house style)."""
    known = STK_RESULTS.get(result_code)
    if known is not None:
        return known
    return "pending", f"Unrecognised M-Pesa result code {result_code}"


# --- Request helpers ---------------------------------------------------------------------------


def timestamp(now: datetime) -> str:
    """YYYYMMDDHHmmss in EAT, whatever the time zone of ``now`` (doc §1)."""
    if now.tzinfo is None:
        raise ValueError("timestamp() needs a time-zone-aware datetime")
    return now.astimezone(EAT).strftime("%Y%m%d%H%M%S")


def password(shortcode: str, passkey: str, timestamp: str) -> str:
    """base64(shortcode + passkey + timestamp): plain concatenation, no hashing (doc §4)."""
    return base64.b64encode(f"{shortcode}{passkey}{timestamp}".encode()).decode("ascii")


# --- Error envelopes (doc §3) ------------------------------------------------------------------

_TOKEN_CODES = frozenset({"404.001.03", "401.002.01", "400.003.01"})
_RETRIABLE_CODES = frozenset({"500.003.02", "500.003.03"})  # spike arrest / busy, quota
_RETRIABLE_STATUSES = frozenset({429, 503})
_DUPLICATE_CODE = "500.002.1001"  # "Duplicate OriginatorConversationID." (B2C v3, doc §3)
# 500.001.1001 has several meanings (doc §3); these three prove nothing was done.
_REJECTED_500_TEXTS = ("merchant does not exist", "wrong credentials", "unable to lock subscriber")
_TOKEN_IN_MESSAGE = re.compile(r"(Invalid Access Token)\s*-\s*\S+", re.IGNORECASE)


def classify_error(http_status: int, code: str, message: str) -> ErrorKind:
    if code in _TOKEN_CODES:
        return "invalid_token"
    if code == _DUPLICATE_CODE and "duplicate" in message.lower():
        # The same code also means "System internal error." (doc §3): that one stays unknown.
        return "duplicate"
    if http_status in _RETRIABLE_STATUSES or code in _RETRIABLE_CODES:
        return "retriable"
    if code == "500.001.1001" and any(t in message.lower() for t in _REJECTED_500_TEXTS):
        return "rejected"
    if code.startswith(("400.", "404.", "405.")) or 400 <= http_status < 500:
        return "rejected"
    # Any other 5xx (incl. 500.003.1001) or an odd 2xx/3xx: the provider may have acted.
    return "unknown"


def parse_error(resp: HttpResponse) -> ProviderError:
    code, message = _envelope(resp.json())
    if not message:
        message = describe_bare(resp)
    return ProviderError(classify_error(resp.status, code, message), code, message, resp.status)


def _envelope(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        return "", ""
    code = body.get("errorCode")
    message = body.get("errorMessage")
    code_s = str(code) if isinstance(code, str | int) and not isinstance(code, bool) else ""
    message_s = message if isinstance(message, str) else ""
    return code_s, redact(message_s)


def redact(message: str) -> str:
    """401.002.01 echoes the bearer token (doc §2); secrets never reach an error message."""
    return _TOKEN_IN_MESSAGE.sub(r"\1 - ***", message)


# --- STK results: callbacks (doc §4) and queries (doc §5) share this code ----------------------

_CB_PREFIX = re.compile(r"^\[STK_CB - \]\s*")


def parse_stk_callback(body: bytes) -> StkResult:
    """Parse the POST Safaricom makes to ``CallBackURL``.

    Tolerates items in any order, missing items, items without ``Value`` (``Balance``), a
    ResultCode sent as a number or a string, and the old ``[STK_CB - ]`` prefix.
    """
    cb = _stk_callback(body)
    items = _metadata(cb.get("CallbackMetadata"))
    return result_from_fields(
        cb,
        amount=_amount(items.get("Amount")),
        receipt=_opt_str(items.get("MpesaReceiptNumber"), "MpesaReceiptNumber"),
        phone=_digits(items.get("PhoneNumber"), "PhoneNumber"),
        transaction_date=_digits(items.get("TransactionDate"), "TransactionDate"),
    )


def result_from_fields(
    fields: dict[str, Any],
    *,
    amount: int | None = None,
    receipt: str | None = None,
    phone: str | None = None,
    transaction_date: str | None = None,
) -> StkResult:
    """Build a result from the four fields callbacks and query answers have in common."""
    code = _result_code(fields.get("ResultCode"))
    outcome, message = stk_outcome(code)
    desc = fields.get("ResultDesc")
    return StkResult(
        checkout_request_id=_required_str(fields, "CheckoutRequestID"),
        merchant_request_id=_required_str(fields, "MerchantRequestID"),
        result_code=code,
        result_desc=_CB_PREFIX.sub("", desc) if isinstance(desc, str) else "",
        outcome=outcome,
        message=message,
        amount=amount,
        receipt=receipt,
        phone=phone,
        transaction_date=transaction_date,
    )


def callback_ack() -> bytes:
    """What to answer Safaricom's callback POST with; conventional, not specified (doc §4)."""
    return orjson.dumps({"ResultCode": 0, "ResultDesc": "Accepted"})


def _stk_callback(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedCallback("callback body is not JSON") from exc
    outer = doc.get("Body") if isinstance(doc, dict) else None
    cb = outer.get("stkCallback") if isinstance(outer, dict) else None
    if not isinstance(cb, dict):
        raise MalformedCallback("callback body has no Body.stkCallback object")
    return cb


def _metadata(meta: Any) -> dict[str, Any]:
    """Name -> Value for the items that have a Value (``Balance`` often has none, doc §4)."""
    if meta is None:
        return {}
    raw = meta.get("Item") if isinstance(meta, dict) else None
    # A one-element array collapsing to an object is a Daraja habit (doc, intro).
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise MalformedCallback("CallbackMetadata.Item is not a list")
    return {
        i["Name"]: i["Value"]
        for i in items
        if isinstance(i, dict) and isinstance(i.get("Name"), str) and "Value" in i
    }


def _result_code(value: Any) -> str:
    # A number in callbacks, a string in queries, sometimes not numeric at all (doc §4, §5).
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise MalformedCallback("ResultCode is missing or not a number/string")


def _required_str(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedCallback(f"{name} is missing or not a string")
    return value


def _opt_str(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MalformedCallback(f"{name} is not a string")


def _whole(value: Any, name: str) -> int:
    """An exact whole number from a JSON number or numeric string (Amount arrives as 1.00)."""
    try:
        return whole(value)
    except ValueError as exc:
        raise MalformedCallback(f"{name}: {exc}") from None


def _amount(value: Any) -> int | None:
    return None if value is None else _whole(value, "Amount")


def _digits(value: Any, name: str) -> str | None:
    """PhoneNumber and TransactionDate are JSON numbers in callbacks (doc §4); keep strings."""
    if value is None or isinstance(value, str):
        return value
    return str(_whole(value, name))
