"""Airtel Money Open API (Kenya) wire types and their mapping to ours. Pure: no I/O.

"doc §N" tags name the topic in Airtel's Open API documentation
(https://developers.airtel.africa/documentation): §2 token, §3 response envelope, §4 USSD push, §5
enquiry, §6 callback, §7 refund, §8 disbursement, §10 response codes, §11 Kenya specifics. What the
connector returns:

* a value for an acceptance or a transaction's state (``AccessToken``, ``CollectionAccepted``,
  ``TransactionResult``, ``RefundResult``, ``EncryptionKey``);
* a ``TransactionResult`` for a collection's outcome, from a callback or an enquiry, parsed by
  the same code; a disbursement's synchronous answer and its enquiry give one too;
* a ``ProviderError`` value for any gateway answer that is not an acceptance. A provider decline
  is a value, never an exception.

Statuses map to outcomes in ONE table, :data:`STATUSES` (transaction statuses of doc §5 and the
product codes of doc §10); the gateway, router and OAuth codes that explain a refused *request*
are classified in :data:`GATEWAY_CODES`. Anything not explicitly success or failure is pending.

Exceptions are kept for bodies that break the contract::

    ValueError
    └── MalformedCallback        the callback body is not an Airtel ``transaction`` envelope
        └── CallbackHashMismatch  callback authentication is on and the ``hash`` is missing
                                  or does not match (doc §6)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

# The shared types, re-exported: this package names them as its own.
from connectors.common import AccessToken as AccessToken
from connectors.common import ErrorKind as ErrorKind
from connectors.common import ProviderError as ProviderError
from connectors.common import describe_bare
from connectors.common import text as _text
from connectors.http import HttpResponse

Outcome = Literal["succeeded", "failed", "pending"]

COUNTRY = "KE"  # doc §11: X-Country and every country field
CURRENCY = "KES"  # doc §11: X-Currency and every currency field

# The switch's provider form (2547XXXXXXXX / 2541XXXXXXXX) or the bare national number; Airtel
# takes the 9-digit national number without the country code (doc §1).
_PHONE = re.compile(r"^(?:254)?([17]\d{8})$")
# Our own guard, not Airtel's (its id rules are unverified): ids go into URL paths (doc §5, §8).
_TRANSACTION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class MalformedCallback(ValueError):
    """The callback body is not a ``{"transaction": {...}}`` envelope we can trust."""


class CallbackHashMismatch(MalformedCallback):
    """Callback authentication is enabled and the ``hash`` is missing or wrong (doc §6)."""


# --- What the switch asks for ------------------------------------------------------------------


def national_msisdn(phone: str) -> str:
    """'254733123456' or '733123456' -> '733123456' (doc §1: no country code in msisdn)."""
    match = _PHONE.match(phone)
    if match is None:
        raise ValueError("phone must be 2547XXXXXXXX, 2541XXXXXXXX or the 9-digit national number")
    return match.group(1)


def wire_amount(amount_cents: int) -> int:
    """Integer cents -> Airtel's ``amount``: a JSON number of whole shillings (doc §4, §8).

    Kenyan mobile-money amounts are whole shillings; whether Airtel accepts
    decimals is unverified, so cents that are not a whole shilling are refused here.
    """
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise ValueError("amount_cents must be an integer")
    if amount_cents < 100 or amount_cents % 100:
        raise ValueError("amount_cents must be a whole number of shillings, at least KES 1")
    return amount_cents // 100


def _check_order(transaction_id: str, amount_cents: int, phone: str, reference: str) -> None:
    if not _TRANSACTION_ID.match(transaction_id):
        raise ValueError("transaction_id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    wire_amount(amount_cents)
    national_msisdn(phone)
    if not reference.strip():
        raise ValueError("reference is mandatory (doc §4)")


@dataclass(frozen=True, slots=True)
class CollectionOrder:
    """A USSD-push collection (doc §4). ``transaction_id`` is ours: the idempotency key, the
    enquiry key and the id echoed in the callback."""

    transaction_id: str
    amount_cents: int
    phone: str  # '2547XXXXXXXX' / '2541XXXXXXXX' or the 9-digit national number
    reference: str  # mandatory free text shown/recorded for the payment

    def __post_init__(self) -> None:
        _check_order(self.transaction_id, self.amount_cents, self.phone, self.reference)

    @property
    def msisdn(self) -> str:
        return national_msisdn(self.phone)

    @property
    def amount(self) -> int:
        return wire_amount(self.amount_cents)


@dataclass(frozen=True, slots=True)
class DisbursementOrder:
    """A v1 payout to a wallet (doc §8). ``transaction_id`` is ours and the enquiry key."""

    transaction_id: str
    amount_cents: int
    phone: str
    reference: str

    def __post_init__(self) -> None:
        _check_order(self.transaction_id, self.amount_cents, self.phone, self.reference)

    @property
    def msisdn(self) -> str:
        return national_msisdn(self.phone)

    @property
    def amount(self) -> int:
        return wire_amount(self.amount_cents)


# --- What Airtel answers -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CollectionAccepted:
    """The USSD prompt was sent (doc §4): NOT a payment. Wait for the callback or enquire."""

    transaction_id: str | None  # the echo; the portal sample even shows ``false`` (doc §4)
    push_status: str  # data.transaction.status: 'SUCCESS' or 'Success.' (the push, not the money)
    response_code: str  # 'DP00800001006' ("in process"); '' when an older answer omits it
    message: str


@dataclass(frozen=True, slots=True)
class TransactionResult:
    """A collection's or a disbursement's state, from a callback, an enquiry or (disbursements)
    the synchronous answer; all parsed by :func:`result_from_fields`."""

    transaction_id: str
    status: str  # TS | TF | TA | TIP | TE (doc §5); '' when the answer carried none
    outcome: Outcome
    message: str  # plain English for a merchant's customer-support person
    provider_message: str  # Airtel's text; never branch on it
    airtel_money_id: str | None  # Airtel's reference, reliably present only for TS (doc §5)
    response_code: str | None  # DP code of an enquiry or answer; callbacks carry none (doc §6)
    reference_id: str | None = None  # disbursements only (doc §8)
    found: bool = True  # False: Airtel has no transaction with this id (yet), doc §5

    @property
    def expired(self) -> bool:
        """The customer never completed the prompt: TE, or a timed-out / expired code.

        Callbacks carry only TS/TF and free text, so a timed-out prompt reported by callback
        alone shows as plain ``failed`` (doc §6).
        """
        return self.outcome == "failed" and (
            self.status == "TE" or self.response_code in EXPIRY_CODES
        )


@dataclass(frozen=True, slots=True)
class RefundResult:
    """A refund's answer (doc §7). Full refunds only, keyed by ``airtel_money_id``."""

    airtel_money_id: str
    outcome: Outcome
    status: str  # data.transaction.status, 'SUCCESS' in the doc sample
    response_code: str
    message: str  # plain English
    provider_message: str


@dataclass(frozen=True, slots=True)
class EncryptionKey:
    """``GET /v1/rsa/encryption-keys`` (doc §8, from a portal copy: *unverified* for KE)."""

    key_id: str
    key: str  # Base64 DER (SPKI)
    valid_upto: str  # as sent; its format is not documented


# --- ONE status table: transaction statuses (doc §5) and product codes (doc §10) ----------------

STATUSES: dict[str, tuple[Outcome, str]] = {
    # data.transaction.status / callback status_code (doc §5, §6)
    "TS": ("succeeded", "Airtel Money completed the transaction."),
    "TF": ("failed", "Airtel Money reports that the transaction failed."),
    "TE": ("failed", "The transaction expired before the customer completed it."),
    "TA": ("pending", "Airtel Money has not settled the transaction yet (ambiguous); ask later."),
    "TIP": ("pending", "The transaction is still in progress."),
    # Collections, DP008... (doc §10, "majority reading across SDKs and portal copies")
    "DP00800001000": ("pending", "Airtel Money is still processing the payment; ask again later."),
    "DP00800001001": ("succeeded", "Paid: the customer completed the payment."),
    "DP00800001002": ("failed", "The customer entered a wrong Airtel Money PIN."),
    "DP00800001003": (
        "failed",
        "The payment is above the customer's Airtel Money transaction limit.",
    ),
    "DP00800001004": ("failed", "The amount is below the Airtel Money minimum."),
    # One code, three readings (doc §10): the message says all of them.
    "DP00800001005": (
        "failed",
        "The customer did not enter their PIN, or Airtel Money did not recognise the phone "
        "number or the transaction.",
    ),
    "DP00800001006": ("pending", "The payment prompt was sent; waiting for the customer."),
    "DP00800001007": (
        "failed",
        "The customer's Airtel Money balance was too low for this payment.",
    ),
    "DP00800001008": ("failed", "Airtel Money refused the payment."),
    "DP00800001009": ("failed", "Airtel Money refused the payment (do not honour)."),  # less common
    "DP00800001010": (
        "failed",
        "This account may not take the payment (barred, churned or not registered).",
    ),
    "DP00800001024": ("failed", "The customer did not answer the payment prompt in time."),
    # Not found says nothing about the money yet: the caller judges by age (doc §5).
    "DP00800001025": ("pending", "Airtel Money has no payment with this id (yet)."),
    "DP00800001026": (
        "failed",
        "Airtel Money refused the request: its signature did not match the payload.",
    ),
    "DP00800001029": ("failed", "The transaction expired before the customer completed it."),
    # Disbursements, DP009... (doc §10; there is no 002 or 008)
    "DP00900001000": ("pending", "Airtel Money has not settled the payout yet (ambiguous)."),
    "DP00900001001": ("succeeded", "Paid out: the money reached the recipient's wallet."),
    "DP00900001003": ("failed", "The payout would exceed the maximum daily limit."),
    "DP00900001004": ("failed", "The payout amount is outside the allowed range."),
    "DP00900001005": ("failed", "Airtel Money could not complete the payout."),
    "DP00900001006": ("pending", "The payout is still in process."),
    "DP00900001007": (
        "failed",
        "The merchant's Airtel Money wallet has too little money for this payout.",
    ),
    "DP00900001009": ("failed", "Airtel Money refused the payout: invalid initiatee."),
    "DP00900001010": ("failed", "The paying account is not allowed to make this payout."),
    "DP00900001011": (
        "failed",
        "Airtel Money does not allow this payout (or it repeats another payout's details).",
    ),
    "DP00900001012": ("failed", "The recipient's mobile number is not valid for Airtel Money."),
    "DP00900001013": ("failed", "Airtel Money refused the payout."),
    "DP00900001014": ("pending", "The payout timed out inside Airtel Money; ask for its status."),
    "DP00900001015": ("pending", "Airtel Money has no payout with this id (yet)."),
    "DP00900001016": (
        "failed",
        "Airtel Money refused the request: its signature did not match the payload.",
    ),
    # A duplicate says nothing about the original's outcome: ask for its status.
    "DP00900001017": ("pending", "Airtel Money already has a payout with this id."),
    "DP00900001018": ("failed", "Airtel Money refused the payout (forbidden)."),
}

EXPIRY_CODES = frozenset({"DP00800001024", "DP00800001029"})
NOT_FOUND_CODES = frozenset({"DP00800001025", "DP00900001015", "ESB000045"})
ACCEPTED_PUSH_CODES = frozenset({"DP00800001006", "DP00800001000", "DP00800001001"})


def status_outcome(code: str) -> tuple[Outcome, str]:
    """Not explicitly success or failure means still pending (house style)."""
    known = STATUSES.get(code)
    if known is not None:
        return known
    return "pending", f"Unrecognised Airtel Money status or code {code or '(none)'}"


def transaction_outcome(status: str, response_code: str | None = None) -> tuple[Outcome, str]:
    """The outcome of a transaction: the status decides, the response code explains.

    * a known status (TS/TF/...) decides; it reads as its response code's message when that
      code agrees (TF with DP00800001007 says why it failed);
    * no status: only a failure code can decide (a code alone never proves success, doc §10);
    * a status and a code that contradict each other (TS with a failure code, TF with a success
      code) are not explicit, hence pending.
    """
    code_outcome = STATUSES.get(response_code or "")
    if status not in STATUSES:
        if code_outcome is not None and code_outcome[0] != "succeeded":
            return code_outcome
        return "pending", f"Unrecognised Airtel Money status {status or '(none)'}" + (
            f" with code {response_code}" if response_code else ""
        )
    outcome, message = STATUSES[status]
    if code_outcome is not None and {outcome, code_outcome[0]} == {"succeeded", "failed"}:
        return "pending", f"Airtel Money's answer contradicts itself ({status}, {response_code})."
    if code_outcome is not None and code_outcome[0] == outcome:
        return code_outcome  # the code agrees and says more (e.g. why it failed)
    return outcome, message


# --- Request errors: gateway, router and OAuth codes (doc §3, §10) ------------------------------

GATEWAY_CODES: dict[str, tuple[ErrorKind, str]] = {
    # ESB (doc §10, "Gateway codes"; wording unverified for KE)
    "ESB000010": ("unknown", "Success (in an answer that is not an acceptance)"),
    "ESB000001": ("unknown", "Something went wrong at Airtel; the request may have been processed"),
    "ESB000004": ("unknown", "Error initiating the payment; it may have started"),
    "ESB000008": ("rejected", "A field failed Airtel's validation"),
    "ESB000011": ("rejected", "Failed"),
    "ESB000014": ("retriable", "Airtel could not fetch the status; ask again"),
    "ESB000033": ("rejected", "Invalid MSISDN length"),
    "ESB000034": ("rejected", "Invalid country"),
    "ESB000035": ("rejected", "Invalid currency"),
    "ESB000036": ("rejected", "Invalid MSISDN format"),
    "ESB000039": ("rejected", "Vendor not configured for this country"),
    "ESB000041": ("duplicate", "External transaction id already exists"),
    "ESB000045": ("rejected", "No transaction found"),
    # Router (doc §10)
    "ROUTER001": ("rejected", "Wallet not configured"),
    "ROUTER003": ("rejected", "Missing header or body parameters"),
    "ROUTER005": ("rejected", "Country route not configured"),
    "ROUTER006": ("rejected", "Invalid country"),
    "ROUTER007": ("rejected", "Not authorised for this country"),
    "ROUTER112": ("rejected", "Invalid currency"),
    "ROUTER119": ("rejected", "Missing currency"),
    # The PIN check did not complete, so nothing moved (our reading; unverified).
    "ROUTER114": ("retriable", "Error validating the PIN"),
    "ROUTER115": ("rejected", "Incorrect PIN"),
    "ROUTER116": ("rejected", "The encrypted value of the PIN is incorrect"),
    "ROUTER117": ("unknown", "Request timeout; enquire"),
    # OAuth-style ``error`` values (doc §3 names the fields; the values are RFC 6749's).
    "invalid_token": ("invalid_token", "The access token is invalid or expired"),
    "invalid_client": ("rejected", "Wrong client id or secret"),
    "unauthorized_client": ("rejected", "The client may not use this grant"),
    "unsupported_grant_type": ("rejected", "Unsupported grant type"),
    "invalid_request": ("rejected", "Invalid token request"),
}

_RETRIABLE_STATUSES = frozenset({429, 503})
_AMBIGUOUS_STATUSES = frozenset({408})  # read timeout: enquire (doc §10)


def code_kind(code: str) -> ErrorKind | None:
    """What a refused request's code lets the caller do; None for a code we do not know."""
    gateway = GATEWAY_CODES.get(code)
    if gateway is not None:
        return gateway[0]
    if code == "DP00900001017":
        return "duplicate"
    if code in NOT_FOUND_CODES:
        return "rejected"  # a request about an id Airtel does not know did nothing
    product = STATUSES.get(code)
    if product is None:
        return None
    # A failure code on a refused request proves nothing happened; any other may hide work.
    return "rejected" if product[0] == "failed" else "unknown"


def classify_error(http_status: int, *codes: str) -> ErrorKind:
    """``codes`` in order of preference: response_code, result_code, OAuth error."""
    kinds = [k for k in (code_kind(c) for c in codes if c) if k is not None]
    if "invalid_token" in kinds:
        return "invalid_token"
    if "duplicate" in kinds:
        return "duplicate"
    if http_status == 401 and "rejected" not in kinds:
        return "invalid_token"  # doc §12: an expired token gets HTTP 401
    if http_status in _RETRIABLE_STATUSES:
        return "retriable"
    if kinds:
        return kinds[0]
    if http_status in _AMBIGUOUS_STATUSES or http_status >= 500 or http_status < 400:
        return "unknown"
    return "rejected"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The ``status`` object (doc §3) and ``data.transaction``, read leniently."""

    http_status: int
    success: bool
    message: str
    result_code: str
    response_code: str
    error: str  # OAuth-style ``error`` or ``status_code`` (doc §3, shapes unverified)
    transaction: dict[str, Any] | None
    data: dict[str, Any] | None

    @property
    def code(self) -> str:
        return self.response_code or self.result_code or self.error

    def has(self, codes: frozenset[str]) -> bool:
        return self.response_code in codes or self.result_code in codes


def envelope(resp: HttpResponse) -> Envelope:
    body = resp.json()
    doc = body if isinstance(body, dict) else {}
    status = _object(doc.get("status")) or {}
    data = _object(doc.get("data"))
    txn = data.get("transaction") if data is not None else None
    message = (
        _text(status.get("message"))
        or _text(doc.get("error_description"))
        or _text(doc.get("status_message"))
    )
    return Envelope(
        http_status=resp.status,
        success=_truthy(status.get("success")),
        message=message,
        result_code=_text(status.get("result_code")),
        response_code=_text(status.get("response_code")),
        error=_text(doc.get("error")) or _text(doc.get("status_code")),
        transaction=txn if isinstance(txn, dict) else None,
        data=data,
    )


def parse_error(resp: HttpResponse) -> ProviderError:
    env = envelope(resp)
    kind = classify_error(resp.status, env.response_code, env.result_code, env.error)
    return ProviderError(kind, env.code, env.message or describe_bare(resp), resp.status)


# --- Transactions: callbacks (doc §6), enquiries (doc §5, §8) and payout answers share this ----


def result_from_fields(
    txn: dict[str, Any],
    *,
    status_field: str = "status",
    response_code: str | None = None,
    fallback_id: str | None = None,
) -> TransactionResult:
    """Build a result from a ``transaction`` object; ``fallback_id`` names it when Airtel's
    echo is missing or not a string."""
    txn_id = txn.get("id")
    if not isinstance(txn_id, str) or not txn_id:
        if fallback_id is None:
            raise MalformedCallback("transaction.id is missing or not a string")
        txn_id = fallback_id
    status = _text(txn.get(status_field)).upper()
    outcome, message = transaction_outcome(status, response_code)
    return TransactionResult(
        transaction_id=txn_id,
        status=status,
        outcome=outcome,
        message=message,
        provider_message=_text(txn.get("message")),
        airtel_money_id=_opt_id(txn.get("airtel_money_id")),
        response_code=response_code or None,
        reference_id=_opt_id(txn.get("reference_id")),
    )


def not_found(transaction_id: str, code: str, provider_message: str) -> TransactionResult:
    outcome, message = status_outcome(code)
    return TransactionResult(
        transaction_id, "", outcome, message, provider_message, None, code, found=False
    )


def callback_envelope(body: bytes) -> tuple[dict[str, Any], str | None]:
    """(the ``transaction`` object, the ``hash`` or None) of a callback body (doc §6)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedCallback("callback body is not JSON") from exc
    txn = doc.get("transaction") if isinstance(doc, dict) else None
    if not isinstance(txn, dict):
        raise MalformedCallback("callback body has no transaction object")
    received = doc.get("hash")
    if received is not None and not isinstance(received, str):
        raise MalformedCallback("hash is not a string")
    return txn, received


def parse_callback(body: bytes) -> TransactionResult:
    """Parse Airtel's POST to the portal-configured callback URL, WITHOUT checking the hash
    (use ``AirtelConnector.parse_callback`` for that). ``status_code`` is TS or TF (doc §6)."""
    txn, _ = callback_envelope(body)
    if not isinstance(txn.get("status_code"), str):
        raise MalformedCallback("transaction.status_code is missing or not a string")
    return result_from_fields(txn, status_field="status_code")


def callback_ack() -> bytes:
    """Airtel expects HTTP 200 (doc §6); the body is not specified, so this is conventional."""
    return orjson.dumps({"status": "received"})


# --- small readers -----------------------------------------------------------------------------


def _object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _truthy(value: Any) -> bool:
    # ``success`` is a JSON boolean in every sample; a "true" string is tolerated.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _opt_id(value: Any) -> str | None:
    """airtel_money_id is 'MP210603.1234.L06941' in the portal and numeric in SDK fixtures."""
    return _text(value) or None
