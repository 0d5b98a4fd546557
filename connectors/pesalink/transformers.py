"""PesaLink wire types and the mappings between them and ours. Pure: no I/O.

There is no public IPSL API (doc §1): a business reaches PesaLink through a participant bank's
API, so the wire is the bank's. This package speaks ONE bank-style API, shaped on Equity/Finserve
Jenga v3 as doc §5 suggests, because it is the one whose authentication and transfer body the doc
shows. Cited as "doc §N": §1 IPSL's PesaLink facts (https://ipsl.co.ke/pesalink/pesalink-faqs), §3
the banks' API shapes (Jenga: https://developer.jengahq.io), §5 simulator guidance; "ref §3":
CBK bank codes.

| Flow                         | Wire                                              | Provenance   |
|------------------------------|---------------------------------------------------|--------------|
| token                        | POST /authentication/api/v3/authenticate/merchant | unverified 1 |
| send to account              | POST .../remittance/pesalinkacc                   | doc §3.1     |
| send to phone                | POST .../remittance/pesalinkMobile                | doc §3.1     |
| ``signature`` header         | RSA-SHA256 over concatenated fields               | doc §3.1     |
| answer envelope              | {status, code, message, data{transactionId,...}}  | doc §3.1     |
| phone directory lookup       | POST .../pesalink/inquire {mobileNumber}          | unverified 2 |
| account (name) lookup        | POST .../pesalink/accountLookup                   | unverified 3 |
| status enquiry               | GET .../transactions/details/{reference}          | unverified 4 |
| result callback              | POST transfer.callbackUrl, same envelope          | unverified 5 |
| failure reasons              | ISO 20022 status reason codes (AC04, AM04, ...)   | unverified 6 |

1. Not in the doc. Shape of Jenga v3 as integrators' code uses it: ``Api-Key`` header, body
   ``{merchantCode, consumerSecret}``, answer ``{accessToken, refreshToken, expiresIn, issuedAt,
   tokenType}``; ``expiresIn`` is parsed as seconds or as an ISO timestamp.
2. Jenga's PesaLink inquiry (v2 path ``/transaction/v2/pesalink/inquire``, answer ``{"banks":
   [{bankCode, bankName, customerName}]}`` in client libraries); the v3 path, the ``data``
   wrapper, ``accountNumber`` (masked) and ``isDefault`` are our choice. Both shapes are parsed.
3. Jenga's public docs show no PesaLink name enquiry; its fields follow Credit Bank's documented
   lookup (doc §3.2: bank code + account number -> receiver name) in Jenga's vocabulary.
4. Jenga's "query transaction details" as integrators describe it (``data.status``/``stateCode``
   2 success, 1 failed, -1 awaiting callback), keyed by our ``transfer.reference``.
5. ``transfer.callbackUrl`` appears in integrators' Jenga v3 code; its body is our choice: the
   enquiry's envelope, so one parser serves the answer, the enquiry and the callback.
6. PesaLink runs ISO 20022 since 2021 (doc §1); which pacs.002 reasons a bank passes through is
   not published. ``transfer.reference`` carries our end-to-end id (ISO EndToEndId, Max35Text).

Three kinds of answer leave this module and ``connector``: a value for what was asked
(``AccessToken``, ``AccountName``, ``DirectoryEntry``, ``TransferResult``, ...), a value for a
negative but well-formed answer (``AccountInvalid``, ``PhoneNotLinked``, ``TransferNotFound``) and
a ``ProviderError`` for any refusal. A decline is a value, never an exception. Exceptions are
kept for bodies that break the contract::

    ValueError
    └── MalformedCallback   a callback (or answer) without the fields a transfer result needs
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

import orjson

# The shared types, re-exported: this package names them as its own. EAT: ref §1, UTC+3.
from connectors.common import EAT as EAT
from connectors.common import AccessToken as AccessToken
from connectors.common import ErrorKind as ErrorKind
from connectors.common import ProviderError as ProviderError
from connectors.common import cents, decimal_text, describe_bare
from connectors.common import text as _text
from connectors.http import HttpResponse
from connectors.pesalink.banks import normalise_bank_code

Outcome = Literal["succeeded", "failed", "pending"]
TransferMode = Literal["account", "phone"]

COUNTRY = "KE"
CURRENCY = "KES"  # domestic only (doc §1); the simulator refuses anything else (doc §5)
TRANSFER_TYPE = "PesaLink"  # transfer.type (doc §3.1)

_E2E = re.compile(r"^[A-Za-z0-9_-]{1,35}$")  # ISO 20022 EndToEndId is Max35Text
_ACCOUNT = re.compile(r"^[0-9A-Za-z]{5,20}$")  # banks' are digits; SACCO numbers may not be
_MSISDN = re.compile(r"^254[17][0-9]{8}$")
_INT = re.compile(r"^-?[0-9]{1,9}$")
MAX_NAME = 100  # destination.name; no length is published (unverified)
MAX_DESCRIPTION = 100  # transfer.description; idem


class MalformedCallback(ValueError):
    """The body is not a transfer result we can trust."""


# --- Gateway codes ------------------------------------------------------------------------------
# Every answer is the envelope {"status": bool, "code": int, "message": str, "data": {...}} (doc
# §3.1 shows the success form: status true, code 0). The error codes below are this package's
# and its simulator's (unverified), except 900100 "invalid signature", which integrators report.

CODE_OK = 0
CODE_ACKNOWLEDGED = -1  # accepted, not final: await the callback (Jenga's async answers)
CODE_BAD_CREDENTIALS = 401100  # token request: wrong Api-Key, merchantCode or consumerSecret
CODE_INVALID_TOKEN = 401101  # missing, unknown or expired bearer token
CODE_SOURCE_NOT_ALLOWED = 403100  # source.accountNumber is not the merchant's
CODE_INVALID_FIELD = 400100
CODE_UNKNOWN_BANK = 400101
CODE_LIMIT = 400102  # below the bank's minimum or above KES 999,999
CODE_CURRENCY = 400103
CODE_DAILY_LIMIT = 400104
CODE_INVALID_SIGNATURE = 900100
CODE_ACCOUNT_INVALID = 104101  # lookup: the account cannot receive; data.reasonCode says why
CODE_PHONE_NOT_LINKED = 104102  # the phone has no PesaLink link (doc §2): nothing sent
CODE_NOT_FOUND = 404100  # no transfer with this reference
CODE_DUPLICATE = 409100  # a transfer with this reference exists: enquire, never resend
CODE_THROTTLED = 429100
CODE_INTERNAL = 500100
CODE_UNAVAILABLE = 503100
CODE_UPSTREAM_TIMEOUT = 504100  # the bank gave up waiting for PesaLink: it may have paid

_REJECTED_CODES = frozenset(
    {
        CODE_BAD_CREDENTIALS,
        CODE_SOURCE_NOT_ALLOWED,
        CODE_INVALID_FIELD,
        CODE_UNKNOWN_BANK,
        CODE_LIMIT,
        CODE_CURRENCY,
        CODE_DAILY_LIMIT,
        CODE_INVALID_SIGNATURE,
        CODE_ACCOUNT_INVALID,
        CODE_PHONE_NOT_LINKED,
        CODE_NOT_FOUND,
    }
)
_RETRIABLE_CODES = frozenset({CODE_THROTTLED, CODE_UNAVAILABLE})
_RETRIABLE_STATUSES = frozenset({429, 503})


# --- The one status table ------------------------------------------------------------------------

TRANSFER_STATUSES: dict[str, tuple[Outcome, str]] = {
    # Jenga's words ("SUCCESS" in its answers; the full list is unverified, doc §3.1).
    "SUCCESS": ("succeeded", "Paid: the money was credited to the recipient's account."),
    "COMPLETED": ("succeeded", "Paid: the money was credited to the recipient's account."),
    "FAILED": ("failed", "The transfer failed; the recipient was not credited."),
    "REJECTED": ("failed", "The transfer was rejected; the recipient was not credited."),
    "PENDING": ("pending", "PesaLink has not given a final answer yet."),
    "PROCESSING": ("pending", "PesaLink has not given a final answer yet."),
    # ISO 20022 pacs.002 transaction statuses, should a bank pass PesaLink's own through
    # (doc §1: ISO 20022 platform; the message set is not published, unverified).
    "ACSC": ("succeeded", "Paid: PesaLink settled the transfer."),
    "ACCC": ("succeeded", "Paid: the money was credited to the recipient's account."),
    "RJCT": ("failed", "PesaLink rejected the transfer; the recipient was not credited."),
    "ACSP": ("pending", "PesaLink accepted the transfer; settlement is in progress."),
    "ACTC": ("pending", "PesaLink accepted the transfer for checks; no final answer yet."),
    "ACCP": ("pending", "PesaLink accepted the transfer; no final answer yet."),
    "PDNG": ("pending", "PesaLink has not given a final answer yet."),
    "RCVD": ("pending", "PesaLink received the transfer; no final answer yet."),
}

# Jenga's transaction details carry a numeric stateCode beside (or instead of) the word.
STATE_CODES: dict[int, str] = {2: "SUCCESS", 1: "FAILED", -1: "PENDING", 0: "PENDING"}

# ISO 20022 ExternalStatusReason1Code values a failed transfer or a lookup may carry; the
# messages are for a merchant's support person. Which codes banks really send: unverified.
REASONS: dict[str, str] = {
    "AC01": "The account number does not exist at the receiving bank.",
    "AC04": "The receiving account is closed.",
    "AC06": "The receiving account is blocked or dormant.",
    "AB05": "The receiving bank did not answer in time; nothing was credited. Try again later.",
    "AB08": "The receiving bank is offline; nothing was credited. Try again later.",
    "AG01": "The receiving bank does not allow this transfer on the account.",
    "AM04": "Our account at the sending bank had too little money; nothing was sent.",
    "AM13": "The amount is above PesaLink's maximum of KES 999,999 per transaction.",
    "BE01": "The recipient's name does not match the account holder's name at the bank.",
    "DUPL": "A transfer with this reference already exists.",
    "MS03": "The transfer failed; the bank gave no reason.",
    "RC01": "The bank code is not a PesaLink participant.",
}
# Reasons that say "not now" rather than "never": a lookup with one of them is retriable.
RETRY_LATER_REASONS = frozenset({"AB05", "AB08"})


def transfer_outcome(status: str, reason_code: str | None = None) -> tuple[Outcome, str]:
    """Not explicitly success or failure means still pending (house style)."""
    known = TRANSFER_STATUSES.get(status.strip().upper())
    if known is None:
        return "pending", f"Unrecognised PesaLink status {status!r}: treated as not final yet."
    outcome, message = known
    if outcome == "failed" and reason_code:
        message = REASONS.get(reason_code, f"{message} (reason {reason_code})")
    return outcome, message


# --- Values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountName:
    """Name enquiry: the account exists and can receive; this is its holder's name."""

    bank_code: str  # 2 digits
    bank_name: str
    account_number: str
    account_name: str


@dataclass(frozen=True, slots=True)
class AccountInvalid:
    """Name enquiry: the account cannot receive (does not exist, closed, blocked)."""

    bank_code: str
    account_number: str
    reason_code: str  # ISO 20022 reason, '' if the bank gave none
    message: str


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    bank_code: str
    bank_name: str
    holder_name: str
    account_mask: str | None  # the directory never reveals the full number (our choice)
    is_default: bool


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """Phone lookup: the banks where ``phone`` is linked (doc §2: one default account)."""

    phone: str  # 2547XXXXXXXX
    accounts: tuple[LinkedAccount, ...]

    @property
    def default(self) -> LinkedAccount:
        """Where "send to phone" goes without a bank code: the flagged one, else the first."""
        return next((a for a in self.accounts if a.is_default), self.accounts[0])


@dataclass(frozen=True, slots=True)
class PhoneNotLinked:
    phone: str
    message: str


@dataclass(frozen=True, slots=True)
class TransferOrder:
    """One PesaLink credit transfer. Build with :meth:`to_account` or :meth:`to_phone`.

    ``end_to_end_id`` is ours and stays the same across every resend of this transfer: the bank
    refuses a second transfer with it (doc §5), which is what makes a resend safe.
    """

    end_to_end_id: str
    amount_cents: int
    recipient_name: str  # from the account lookup: it is signed and may be checked (BE01)
    description: str
    bank_code: str | None = None  # required to an account; to a phone it picks the link
    account_number: str | None = None
    phone: str | None = None
    callback_url: str | None = None

    def __post_init__(self) -> None:
        if not _E2E.match(self.end_to_end_id):
            raise ValueError("end_to_end_id must be 1-35 letters, digits, '_' or '-'")
        if isinstance(self.amount_cents, bool) or not isinstance(self.amount_cents, int):
            raise ValueError("amount_cents must be a whole number of cents")
        if self.amount_cents <= 0:
            raise ValueError("amount_cents must be positive")
        if not self.recipient_name.strip() or len(self.recipient_name) > MAX_NAME:
            raise ValueError(f"recipient_name must be 1-{MAX_NAME} characters")
        if len(self.description) > MAX_DESCRIPTION:
            raise ValueError(f"description must be at most {MAX_DESCRIPTION} characters")
        if (self.account_number is None) == (self.phone is None):
            raise ValueError("give exactly one of account_number and phone")
        if self.bank_code is not None:
            object.__setattr__(self, "bank_code", normalise_bank_code(self.bank_code))
        if self.phone is not None:
            object.__setattr__(self, "phone", normalise_msisdn(self.phone))
        elif self.bank_code is None:
            raise ValueError("a transfer to an account needs its bank_code")
        elif not _ACCOUNT.match(self.account_number or ""):
            raise ValueError("account_number must be 5-20 letters or digits")

    @classmethod
    def to_account(
        cls,
        end_to_end_id: str,
        amount_cents: int,
        bank_code: str,
        account_number: str,
        recipient_name: str,
        description: str = "",
        callback_url: str | None = None,
    ) -> TransferOrder:
        return cls(
            end_to_end_id,
            amount_cents,
            recipient_name,
            description,
            bank_code=bank_code,
            account_number=account_number,
            callback_url=callback_url,
        )

    @classmethod
    def to_phone(
        cls,
        end_to_end_id: str,
        amount_cents: int,
        phone: str,
        recipient_name: str,
        description: str = "",
        callback_url: str | None = None,
        bank_code: str | None = None,
    ) -> TransferOrder:
        return cls(
            end_to_end_id,
            amount_cents,
            recipient_name,
            description,
            bank_code=bank_code,
            phone=phone,
            callback_url=callback_url,
        )

    @property
    def mode(self) -> TransferMode:
        return "phone" if self.phone is not None else "account"


@dataclass(frozen=True, slots=True)
class TransferResult:
    """A transfer's state, from the synchronous answer, an enquiry or a callback (one parser)."""

    end_to_end_id: str  # transfer.reference
    transaction_id: str | None  # the bank's id
    status: str  # the bank's word, e.g. 'SUCCESS'; never branch on it, use outcome
    outcome: Outcome
    message: str  # plain English for a merchant's customer-support person
    reason_code: str | None  # ISO 20022 reason of a failure, e.g. 'AC04'
    reason_desc: str  # the bank's own text, '' if none
    amount_cents: int | None
    bank_code: str | None
    account: str | None  # as the bank shows it: masked for a transfer to a phone
    recipient_name: str | None  # the holder's name as the receiving bank has it
    completed_at: str | None  # ISO 8601, once final


@dataclass(frozen=True, slots=True)
class TransferNotFound:
    """The bank has no transfer with this reference: it was never recorded."""

    end_to_end_id: str


# --- Wire helpers ------------------------------------------------------------------------------


def normalise_msisdn(raw: str) -> str:
    """ref §1 rule: 07XXXXXXXX, 01XXXXXXXX, 2547..., +2547... or the 9-digit NSN -> 2547...

    The same rule as ``switch.phone``; repeated because connectors do not import the switch.
    """
    digits = re.sub(r"[\s\-()]", "", raw or "").removeprefix("+")
    if len(digits) == 10 and digits.startswith("0"):
        digits = "254" + digits[1:]
    elif len(digits) == 9:
        digits = "254" + digits
    if not _MSISDN.match(digits):
        raise ValueError("phone must be a Kenyan mobile number such as 0712345678")
    return digits


def national_msisdn(msisdn: str) -> str:
    """2547XXXXXXXX -> 07XXXXXXXX, the form of ``mobileNumber`` in doc §3.1's example."""
    return "0" + normalise_msisdn(msisdn)[3:]


def format_amount(amount_cents: int) -> str:
    """Cents -> '500.00': a string with two decimals, as doc §3.1's ``transfer.amount``."""
    return decimal_text(amount_cents)


def parse_amount(value: Any) -> int:
    """'500.00', '500', 500 or 500.5 -> cents, exactly; ValueError beyond two decimals or below
    zero (no transfer moves a negative amount)."""
    try:
        return cents(value)
    except ValueError as exc:
        raise ValueError(f"amount: {exc}") from None


def mask_account(number: str) -> str:
    """'0170197176640' -> '*********6640': enough to recognise an account, not to use it."""
    return "*" * max(len(number) - 4, 0) + number[-4:]


def names_match(given: str, holder: str) -> bool:
    """Same words, any order, case, accents or punctuation: 'Doe, John' matches 'JOHN DOE'."""
    return _name_words(given) == _name_words(holder)


def _name_words(name: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return sorted(re.findall(r"[A-Z0-9]+", plain.upper()))


# --- Envelopes ---------------------------------------------------------------------------------


def envelope_data(body: Any) -> dict[str, Any] | None:
    """``data`` of a successful envelope (status true), else None."""
    if not isinstance(body, dict) or body.get("status") is not True:
        return None
    data = body.get("data")
    return data if isinstance(data, dict) else None


def code_number(raw: Any) -> int | None:
    """An envelope ``code`` as an int (a JSON integer or a numeric string), else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    return int(raw) if isinstance(raw, str) and _INT.match(raw.strip()) else None


def classify_error(http_status: int, code: str) -> ErrorKind:
    numeric = code_number(code)
    if numeric == CODE_INVALID_TOKEN:
        return "invalid_token"
    if numeric == CODE_DUPLICATE or http_status == 409:
        return "duplicate"
    if http_status in _RETRIABLE_STATUSES or numeric in _RETRIABLE_CODES:
        return "retriable"
    if numeric in _REJECTED_CODES or 400 <= http_status < 500:
        return "rejected"
    # 500, 502, 504, or a 200 that is neither a result nor a known refusal: may have acted.
    return "unknown"


def parse_error(resp: HttpResponse) -> ProviderError:
    body = resp.json()
    code, message = "", ""
    if isinstance(body, dict):
        raw = body.get("code")
        code = str(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) else ""
        text = body.get("message")
        message = text if isinstance(text, str) else ""
    if not message:
        message = describe_bare(resp)
    return ProviderError(classify_error(resp.status, code), code, message, resp.status)


def read_only(error: ProviderError) -> ProviderError:
    """For a call that moves no money, "the bank may have acted" just means "ask again": lookups
    and enquiries never say ``unknown``. (A lookup's ``code`` may be an ISO 20022 reason.)"""
    if error.kind != "unknown":
        return error
    return ProviderError("retriable", error.code, error.message, error.http_status)


# --- Transfer results: the synchronous answer, the enquiry and the callback share this ---------


def transfer_from_data(data: dict[str, Any], reference: str | None = None) -> TransferResult:
    """Build a result from an envelope's ``data``; ``reference`` names it if ``data`` does not."""
    e2e = _text(data.get("reference")) or reference
    if not e2e:
        raise MalformedCallback("transfer result without a reference")
    status = _status_word(data)
    reason = _text(data.get("reasonCode")) or None
    outcome, message = transfer_outcome(status, reason)
    found = data.get("destination")
    destination: dict[str, Any] = found if isinstance(found, dict) else {}
    return TransferResult(
        end_to_end_id=e2e,
        transaction_id=_text(data.get("transactionId")) or None,
        status=status,
        outcome=outcome,
        message=message,
        reason_code=reason if outcome == "failed" else None,
        reason_desc=_text(data.get("reasonDescription")),
        amount_cents=_optional_amount(data.get("amount")),
        bank_code=_bank(destination.get("bankCode")),
        account=_text(destination.get("accountNumber")) or None,
        recipient_name=_text(destination.get("name")) or None,
        completed_at=_text(data.get("completedAt")) or None,
    )


def parse_callback(body: bytes) -> TransferResult:
    """The bank's POST to ``transfer.callbackUrl``: the enquiry's envelope (see note 5)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedCallback("callback body is not JSON") from exc
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        raise MalformedCallback("callback body has no data object")
    return transfer_from_data(data)


def callback_ack() -> bytes:
    """What to answer the bank's callback with; not specified anywhere (our choice)."""
    return orjson.dumps({"status": True, "code": CODE_OK, "message": "received"})


def _status_word(data: dict[str, Any]) -> str:
    word = _text(data.get("status")).upper()
    if word:
        return word
    state = data.get("stateCode")
    if isinstance(state, int | str) and not isinstance(state, bool):
        try:
            return STATE_CODES.get(int(state), f"STATECODE {state}")
        except ValueError:
            return f"STATECODE {state}"
    return ""


def _optional_amount(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return parse_amount(value)
    except ValueError as exc:
        raise MalformedCallback(str(exc)) from exc


def _bank(value: Any) -> str | None:
    text = _text(value)
    if not text:
        return None
    try:
        return normalise_bank_code(text)
    except ValueError:
        return text  # report what the bank said rather than drop it
