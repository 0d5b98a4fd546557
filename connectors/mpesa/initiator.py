"""Daraja initiator APIs, the asking side (doc §7, §8, §10, §11, §12). Pure.

B2C v3, Transaction Status, Reversal and Account Balance authenticate an M-Pesa portal API
operator through an RSA-encrypted ``SecurityCredential`` (:func:`security_credential`) and answer
synchronously with one acknowledgement shape (:func:`parse_initiator_ack`); their orders are
checked here against the documented limits. The outcome comes later as a ``Result`` envelope
POSTed to ``ResultURL``: :mod:`connectors.mpesa.results` reads it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.common import text as _text
from connectors.http import HttpResponse
from connectors.mpesa.transformers import ProviderError, parse_error

B2cCommand = Literal["BusinessPayment", "SalaryPayment", "PromotionPayment"]
B2C_COMMANDS: frozenset[str] = frozenset(get_args(B2cCommand))
B2C_MIN_AMOUNT = 10  # KES per transaction (doc §8, §13)
B2C_MAX_AMOUNT = 250_000
# Identifier types (doc §7): 1 MSISDN, 2 till, 4 organisation shortcode; 11 for reversals.
IdentifierType = Literal["1", "2", "4", "11"]

_MSISDN = re.compile(r"^254[17]\d{8}$")
_SHORTCODE = re.compile(r"^\d{5,7}$")


# --- SecurityCredential (doc §7) ---------------------------------------------------------------


def security_credential(initiator_password: str, certificate_pem: bytes) -> str:
    """base64(RSA-encrypt(password)) with PKCS#1 v1.5 padding, not OAEP (doc §7).

    ``certificate_pem`` is Safaricom's X.509 certificate (sandbox or production) or, for the local
    simulator, its ``sandbox_cert.pem``; a bare PEM public key is accepted too. PKCS#1 v1.5 is
    randomised, so every call gives a different string; any of them is valid and reusable.
    """
    key = _public_key(certificate_pem)
    cipher = key.encrypt(initiator_password.encode(), padding.PKCS1v15())
    return base64.b64encode(cipher).decode("ascii")


def _public_key(pem: bytes) -> rsa.RSAPublicKey:
    try:
        key: Any = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError:
        key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the certificate does not hold an RSA public key")
    return key


# --- Orders (what the switch asks for) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class B2cOrder:
    """A B2C v3 payout (doc §8). ``originator_conversation_id`` is the idempotency key."""

    originator_conversation_id: str
    command_id: B2cCommand
    amount: int  # whole shillings, 10 to 250,000 (doc §8)
    phone: str  # '2547XXXXXXXX' or '2541XXXXXXXX'
    remarks: str  # 2-100 characters
    occasion: str | None  # optional, 1-100 characters
    result_url: str
    queue_timeout_url: str

    def __post_init__(self) -> None:
        if not self.originator_conversation_id.strip():
            raise ValueError("originator_conversation_id must not be empty")
        if self.command_id not in B2C_COMMANDS:
            raise ValueError(f"command_id must be one of {sorted(B2C_COMMANDS)}")
        _check_amount(self.amount, B2C_MIN_AMOUNT, B2C_MAX_AMOUNT)
        if not _MSISDN.match(self.phone):
            raise ValueError("phone must be 12 digits: 2547XXXXXXXX or 2541XXXXXXXX")
        _check_text("remarks", self.remarks, 2, 100)
        if self.occasion is not None:
            _check_text("occasion", self.occasion, 1, 100)


@dataclass(frozen=True, slots=True)
class StatusQuery:
    """Transaction Status by M-Pesa receipt or by the original OriginatorConversationID (doc §10).

    ``party_a`` is the shortcode that made or received the transaction; the connector uses the
    account's B2C shortcode (else its shortcode) when it is None.
    """

    result_url: str
    queue_timeout_url: str
    transaction_id: str | None = None  # the receipt, e.g. 'NEF61H8J60'
    original_conversation_id: str | None = None
    party_a: str | None = None
    identifier_type: IdentifierType = "4"
    remarks: str = "OK"
    occasion: str = ""

    def __post_init__(self) -> None:
        if not (self.transaction_id or self.original_conversation_id):
            raise ValueError("give transaction_id or original_conversation_id (or both)")
        _check_party(self.party_a)


@dataclass(frozen=True, slots=True)
class ReversalOrder:
    """Reverse a C2B/STK payment received by ``receiver_party`` (doc §11; not B2C payouts)."""

    transaction_id: str  # the receipt of the payment to reverse
    amount: int  # whole shillings
    result_url: str
    queue_timeout_url: str
    receiver_party: str | None = None  # the shortcode that received it; default: the account's
    remarks: str = "Payment reversal"
    occasion: str = ""

    def __post_init__(self) -> None:
        if not self.transaction_id.strip():
            raise ValueError("transaction_id must not be empty")
        _check_amount(self.amount, 1, None)
        _check_party(self.receiver_party)


@dataclass(frozen=True, slots=True)
class BalanceQuery:
    """Account Balance of ``party_a`` (default: the account's B2C shortcode, else its shortcode)."""

    result_url: str
    queue_timeout_url: str
    party_a: str | None = None
    identifier_type: IdentifierType = "4"
    remarks: str = "Balance"

    def __post_init__(self) -> None:
        _check_party(self.party_a)


def _check_amount(amount: int, low: int, high: int | None) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError("amount must be a whole number of shillings")
    if amount < low or (high is not None and amount > high):
        upper = f" and at most {high:,}" if high is not None else ""
        raise ValueError(f"amount must be at least {low}{upper} shillings")


def _check_text(name: str, value: str, low: int, high: int) -> None:
    if not low <= len(value) <= high:
        raise ValueError(f"{name} must be {low} to {high} characters")


def _check_party(party: str | None) -> None:
    if party is not None and not _SHORTCODE.match(party):
        raise ValueError("a shortcode must be 5 to 7 digits")


# --- Synchronous acknowledgement (doc §7) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitiatorAccepted:
    """The request is queued; its outcome arrives as a Result at ResultURL (doc §7)."""

    conversation_id: str  # 'AG_20230420_2010759fd5662ef6d054'
    originator_conversation_id: str  # ours (B2C v3) or the gateway's
    description: str = ""


B2cAccepted = InitiatorAccepted  # the B2C name for the one acknowledgement shape


def parse_initiator_ack(resp: HttpResponse) -> InitiatorAccepted | ProviderError:
    """Any initiator API's synchronous answer. ``500.002.1001 Duplicate OriginatorConversationID``
    comes out as ``ProviderError(kind="duplicate")``: ask Transaction Status, never resend."""
    body = resp.json()
    if resp.status != 200 or not isinstance(body, dict):
        return parse_error(resp)
    conversation = body.get("ConversationID")
    if _text(body.get("ResponseCode")) != "0" or not isinstance(conversation, str):
        # A 200 that is not a clean acceptance: the request may have been queued.
        desc = _text(body.get("ResponseDescription")) or "HTTP 200 without an acceptance"
        return ProviderError("unknown", _text(body.get("ResponseCode")), desc, 200)
    return InitiatorAccepted(
        conversation_id=conversation,
        originator_conversation_id=_text(body.get("OriginatorConversationID")),
        description=_text(body.get("ResponseDescription")),
    )
