"""Daraja C2B (customer-initiated Paybill/Till payments): wire types and answers (doc §6). Pure.

Safaricom calls two URLs the business registers (:class:`C2bRegistration`): ValidationURL, to
accept or reject a payment about to happen, then ConfirmationURL once it happened. Both receive
the same all-strings body, parsed by :func:`parse_c2b_payment`. The answers to send back are
built by :func:`c2b_accept`, :func:`c2b_reject` and :func:`c2b_confirmation_ack`.

Exceptions::

    ValueError
    └── MalformedCallback      (transformers)
        └── MalformedC2b       the body is not a C2B validation/confirmation payload
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import orjson

from connectors.common import cents
from connectors.common import text as _text
from connectors.http import HttpResponse
from connectors.mpesa.transformers import MalformedCallback, ProviderError, parse_error

ResponseType = Literal["Completed", "Cancelled"]
RESPONSE_TYPES: frozenset[str] = frozenset(get_args(ResponseType))
C2bCommand = Literal["CustomerPayBillOnline", "CustomerBuyGoodsOnline"]
C2B_COMMANDS: frozenset[str] = frozenset(get_args(C2bCommand))
C2B_MIN_AMOUNT = 1  # KES (doc §13)
C2B_MAX_AMOUNT = 250_000
MAX_BILL_REF = 20  # "up to 20 chars" (doc §6)
VALIDATION_DEADLINE = 8.0  # seconds, "about 8 seconds" (doc §6, §13)

# doc §6 URL rules: none of these words, in any case, anywhere in the URL.
FORBIDDEN_URL_WORDS = ("m-pesa", "mpesa", "safaricom", "exe", "exec", "cmd", "sql", "query")
# Public tunnel/test services are blocked (doc §6); matched on the host name.
BLOCKED_URL_HOSTS = ("ngrok", "mockbin", "requestbin")

# doc §6, validation response codes (any non-zero code rejects the payment).
C2B_REJECT_CODES: dict[str, str] = {
    "C2B00011": "Invalid MSISDN",
    "C2B00012": "Invalid Account Number",
    "C2B00013": "Invalid Amount",
    "C2B00014": "Invalid KYC Details",
    "C2B00015": "Invalid Shortcode",
    "C2B00016": "Other Error",
}
C2bRejectCode = Literal["C2B00011", "C2B00012", "C2B00013", "C2B00014", "C2B00015", "C2B00016"]

_SHORTCODE = re.compile(r"^\d{5,7}$")
_MSISDN = re.compile(r"^254[17]\d{8}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_MASKED = re.compile(r"^(\d+)\s*\*+\s*(\d+)$")  # '2547 ***** 126' (v2) or '25470****149' (v1)


class MalformedC2b(MalformedCallback):
    """The body is not a C2B validation/confirmation payload we can trust."""


def check_c2b_url(url: str, *, production: bool = False) -> str | None:
    """Why Safaricom would refuse ``url`` as a Confirmation/Validation URL, or None (doc §6).

    Always: http(s) with a host, none of the forbidden words, no tunnel/test service. With
    ``production``: HTTPS only and a public host (no localhost, no private address).
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return "the URL must be http(s) with a host name"
    lowered = url.lower()
    word = next((w for w in FORBIDDEN_URL_WORDS if w in lowered), None)
    if word is not None:
        return f"the URL must not contain {word!r} (in any case)"
    if any(blocked in host for blocked in BLOCKED_URL_HOSTS):
        return "public tunnel and test services (ngrok, mockbin, requestbin) are blocked"
    if production:
        if parts.scheme != "https":
            return "production URLs must be HTTPS"
        if not _public_host(host):
            return "production URLs must be public"
    return None


def _public_host(host: str) -> bool:
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True  # a DNS name: whether it resolves publicly is not a pure question


# --- Register URL (doc §6) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class C2bRegistration:
    shortcode: str
    confirmation_url: str
    validation_url: str
    response_type: ResponseType = "Completed"  # what happens when validation does not answer

    def __post_init__(self) -> None:
        if not _SHORTCODE.match(self.shortcode):
            raise ValueError("shortcode must be 5 to 7 digits")
        if self.response_type not in RESPONSE_TYPES:
            raise ValueError("response_type must be exactly 'Completed' or 'Cancelled'")
        for name, url in (
            ("confirmation_url", self.confirmation_url),
            ("validation_url", self.validation_url),
        ):
            reason = check_c2b_url(url)
            if reason is not None:
                raise ValueError(f"{name}: {reason}")


@dataclass(frozen=True, slots=True)
class C2bSimulation:
    """A sandbox-only simulated customer payment (``/mpesa/c2b/v*/simulate``, doc §6)."""

    shortcode: str
    amount: int
    msisdn: str
    bill_ref: str | None  # the account number; None for tills
    command_id: C2bCommand = "CustomerPayBillOnline"

    def __post_init__(self) -> None:
        if not _SHORTCODE.match(self.shortcode):
            raise ValueError("shortcode must be 5 to 7 digits")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValueError("amount must be a whole number of shillings")
        if not C2B_MIN_AMOUNT <= self.amount <= C2B_MAX_AMOUNT:
            raise ValueError(f"amount must be {C2B_MIN_AMOUNT} to {C2B_MAX_AMOUNT:,} shillings")
        if not _MSISDN.match(self.msisdn):
            raise ValueError("msisdn must be 12 digits: 2547XXXXXXXX or 2541XXXXXXXX")
        if self.command_id not in C2B_COMMANDS:
            raise ValueError(f"command_id must be one of {sorted(C2B_COMMANDS)}")
        if self.bill_ref is not None and len(self.bill_ref) > MAX_BILL_REF:
            raise ValueError(f"bill_ref is longer than {MAX_BILL_REF} characters")


@dataclass(frozen=True, slots=True)
class C2bAccepted:
    """Register URL or simulate accepted (doc §6). The wire key is ``OriginatorCoversationID``."""

    originator_conversation_id: str
    description: str  # 'Success' (v2), 'success' (v1), 'Accept the service request successfully.'


def parse_c2b_ack(resp: HttpResponse) -> C2bAccepted | ProviderError:
    """Register URL and simulate answers; both spellings of the conversation ID are accepted."""
    body = resp.json()
    if resp.status != 200 or not isinstance(body, dict):
        return parse_error(resp)
    code, desc = _text(body.get("ResponseCode")), _text(body.get("ResponseDescription"))
    if code != "0":
        return ProviderError("unknown", code, desc or "HTTP 200 without an acceptance", 200)
    ocid = body.get("OriginatorCoversationID", body.get("OriginatorConversationID"))
    return C2bAccepted(_text(ocid), desc)


# --- Validation and confirmation payloads (Safaricom -> us, doc §6) ----------------------------

MsisdnForm = Literal["hashed", "masked", "plain", "absent"]


@dataclass(frozen=True, slots=True)
class C2bPayment:
    """A validation or confirmation body. Every value is a string on the wire (doc §6)."""

    transaction_type: str  # 'Pay Bill' or 'Buy Goods'
    trans_id: str  # the M-Pesa receipt
    trans_time: str  # YYYYMMDDHHmmss, EAT
    amount_cents: int  # TransAmount: '5.00' or '10'
    shortcode: str
    bill_ref: str  # the account number typed by the customer; '' for tills
    invoice_number: str
    org_account_balance_cents: int | None  # usually empty in validation
    third_party_trans_id: str
    msisdn: str  # NOT the number: SHA-256 hex (v1 registration) or masked (v2)
    msisdn_form: MsisdnForm
    first_name: str
    middle_name: str
    last_name: str

    @property
    def full_name(self) -> str:
        return " ".join(n for n in (self.first_name, self.middle_name, self.last_name) if n)

    def paid_by(self, phone: str) -> bool:
        """Whether ``phone`` ('2547...') can be the payer, given how the MSISDN is disguised."""
        return msisdn_matches(self.msisdn, phone)


def parse_c2b_payment(body: bytes) -> C2bPayment:
    doc = _object(body)
    trans_id = _text(doc.get("TransID"))
    if not trans_id:
        raise MalformedC2b("TransID is missing")
    amount = _cents(doc.get("TransAmount"), "TransAmount")
    if amount is None:
        raise MalformedC2b("TransAmount is missing")
    msisdn = _text(doc.get("MSISDN"))
    return C2bPayment(
        transaction_type=_text(doc.get("TransactionType")),
        trans_id=trans_id,
        trans_time=_text(doc.get("TransTime")),
        amount_cents=amount,
        shortcode=_text(doc.get("BusinessShortCode")),
        bill_ref=_text(doc.get("BillRefNumber")),
        invoice_number=_text(doc.get("InvoiceNumber")),
        # A balance may be below zero; a payment's TransAmount may not.
        org_account_balance_cents=_cents(
            doc.get("OrgAccountBalance"), "OrgAccountBalance", signed=True
        ),
        third_party_trans_id=_text(doc.get("ThirdPartyTransID")),
        msisdn=msisdn,
        msisdn_form=msisdn_form(msisdn),
        first_name=_text(doc.get("FirstName")),
        middle_name=_text(doc.get("MiddleName")),
        last_name=_text(doc.get("LastName")),
    )


def msisdn_form(msisdn: str) -> MsisdnForm:
    if not msisdn:
        return "absent"
    if _SHA256.match(msisdn):
        return "hashed"
    if _MSISDN.match(msisdn):
        return "plain"
    return "masked"


def msisdn_matches(disguised: str, phone: str) -> bool:
    """SHA-256 hex of the number (v1), or its visible head and tail (v2 mask), or the number."""
    form = msisdn_form(disguised)
    if form == "hashed":
        return hashlib.sha256(phone.encode()).hexdigest() == disguised.lower()
    if form == "plain":
        return disguised == phone
    match = _MASKED.match(disguised)
    if form == "masked" and match is not None:
        head, tail = match.groups()
        return phone.startswith(head) and phone.endswith(tail)
    return False


# --- Our answers (us -> Safaricom, doc §6) -----------------------------------------------------


def c2b_accept(third_party_trans_id: str | None = None) -> bytes:
    """Accept a validation; ``third_party_trans_id`` is echoed in the confirmation."""
    answer = {"ResultCode": "0", "ResultDesc": "Accepted"}
    if third_party_trans_id:
        answer["ThirdPartyTransID"] = third_party_trans_id
    return orjson.dumps(answer)


def c2b_reject(code: C2bRejectCode = "C2B00016") -> bytes:
    """Reject a validation; the code chooses the SMS the customer gets (doc §6)."""
    if code not in C2B_REJECT_CODES:
        raise ValueError(f"code must be one of {sorted(C2B_REJECT_CODES)}")
    return orjson.dumps({"ResultCode": code, "ResultDesc": "Rejected"})


def c2b_confirmation_ack() -> bytes:
    """What to answer a confirmation with: a number 0 here, as in the doc sample (doc §6)."""
    return orjson.dumps({"ResultCode": 0, "ResultDesc": "Success"})


# --- helpers -----------------------------------------------------------------------------------


def _object(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedC2b("C2B body is not JSON") from exc
    if not isinstance(doc, dict):
        raise MalformedC2b("C2B body is not a JSON object")
    return doc


def _cents(value: Any, name: str, *, signed: bool = False) -> int | None:
    """Strings as sent; numbers tolerated although the doc says every value is a string."""
    if not _text(value):
        return None
    try:
        return cents(value, grouped=True, signed=signed)
    except ValueError as exc:
        raise MalformedC2b(f"{name} is not an amount in whole cents: {exc}") from None
