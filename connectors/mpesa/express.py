"""Daraja B2B Express Checkout: a vendor's paybill pushes a USSD prompt to a merchant's till
operator, who pays the paybill from the till with an operator ID and PIN. Pure (no I/O).

Provider docs: Daraja 3.0 "B2B Express Checkout" (developer.safaricom.co.ke/apis/
B2BExpressCheckout) and the sandbox capture an SDK committed (GitHub newtonmunene99/mpesa-api,
``__tests__/fixtures/sandbox/b2b-express-checkout.json``):

- ``POST /v1/ussdpush/get-msisdn`` (no ``/mpesa/`` prefix), OAuth bearer only (no initiator or
  SecurityCredential), a camelCase body: ``primaryShortCode`` (the till debited),
  ``receiverShortCode`` (the paybill credited), ``amount``, ``paymentRef`` (shown in the prompt),
  ``callbackUrl``, ``partnerName`` (the vendor's name in the prompt) and ``RequestRefID`` (the
  caller's unique id: ours is the payment id, so every attempt carries the same one).
- The acknowledgement has no ``ResponseCode``: ``{"code": "0", "status": "USSD Initiated
  Successfully"}``.
- The result comes to ``callbackUrl`` as a flat object of strings (no ``Result`` wrapper):
  ``resultCode``, ``resultDesc``, ``requestId`` (our ``RequestRefID``), ``amount`` ("71.0"),
  and on success ``transactionId`` (the receipt), ``conversationID``, ``status``.

**Unverified** (the pages do not say): the result codes beyond ``0`` and ``4001`` (``4102``,
``4104``, ``4201``, ``4203`` are from a compilation of Daraja's error page); what the vendor
must answer to the callback (``{"ResultCode": 0, "ResultDesc": "Accepted"}`` is sent, as for
other Daraja callbacks); whether Transaction Status finds the payment by our ``RequestRefID`` as
``OriginalConversationID`` (the switch asks that way: the callback is unsigned, so nobody is
credited before M-Pesa's record confirms it, and a lost callback is found the same way). The
callback is answered as every Daraja callback is (api/callbacks.py).

Exceptions::

    ValueError
    └── MalformedCallback      (transformers)
        └── MalformedExpress   the body is not an Express Checkout result
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson

from connectors.mpesa.transformers import MalformedCallback

PATH = "/v1/ussdpush/get-msisdn"
SUCCESS = "0"
# resultCode -> (outcome, message). Anything not listed is still pending (house rule).
RESULT_CODES: dict[str, tuple[Literal["succeeded", "failed"], str]] = {
    "0": ("succeeded", "The till operator paid."),
    "4001": ("failed", "The till operator cancelled the payment."),
    "4102": ("failed", "The till failed M-Pesa's merchant KYC check."),  # unverified
    "4104": ("failed", "The till has no nominated number to prompt."),  # unverified
    "4201": ("failed", "The USSD prompt failed on the network."),  # unverified
    "4203": ("failed", "The USSD prompt failed."),  # unverified
}
_SHORTCODE = re.compile(r"^\d{5,7}$")
MAX_PAYMENT_REF = 20  # unverified: the page gives no limit; the C2B account number's is used
MAX_PARTNER_NAME = 40  # unverified likewise


class MalformedExpress(MalformedCallback):
    """The body is not an Express Checkout result."""


@dataclass(frozen=True, slots=True)
class ExpressOrder:
    request_ref_id: str  # our payment id
    till: str  # primaryShortCode: debited
    paybill: str  # receiverShortCode: credited
    amount: int  # whole shillings
    payment_ref: str
    partner_name: str
    callback_url: str

    def __post_init__(self) -> None:
        for name in ("till", "paybill"):
            if not _SHORTCODE.match(getattr(self, name)):
                raise ValueError(f"{name} must be 5 to 7 digits")
        if self.amount < 1:
            raise ValueError("amount must be at least 1 shilling")
        if not 1 <= len(self.payment_ref) <= MAX_PAYMENT_REF:
            raise ValueError(f"paymentRef must be 1 to {MAX_PAYMENT_REF} characters")
        if not 1 <= len(self.partner_name) <= MAX_PARTNER_NAME:
            raise ValueError(f"partnerName must be 1 to {MAX_PARTNER_NAME} characters")

    def body(self) -> dict[str, str]:
        return {
            "primaryShortCode": self.till,
            "receiverShortCode": self.paybill,
            "amount": str(self.amount),
            "paymentRef": self.payment_ref,
            "callbackUrl": self.callback_url,
            "partnerName": self.partner_name,
            "RequestRefID": self.request_ref_id,
        }


@dataclass(frozen=True, slots=True)
class ExpressAck:
    ok: bool
    code: str
    status: str


def parse_ack(status: int, body: bytes) -> ExpressAck:
    """The synchronous answer: ``code`` ``"0"`` is a prompt sent; anything else (or a gateway
    error envelope, ``errorCode``) is a refusal with its code."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        return ExpressAck(False, str(status), body[:200].decode(errors="replace"))
    if "code" in doc:
        code = str(doc["code"])
        return ExpressAck(status == 200 and code == SUCCESS, code, str(doc.get("status", "")))
    return ExpressAck(False, str(doc.get("errorCode", status)), str(doc.get("errorMessage", "")))


@dataclass(frozen=True, slots=True)
class ExpressResult:
    request_id: str
    result_code: str
    result_desc: str
    outcome: Literal["succeeded", "failed", "pending"]
    message: str
    amount_cents: int | None
    transaction_id: str | None


def parse_result(body: bytes) -> ExpressResult:
    """The callback (flat, every value a string; ``amount`` with one decimal)."""
    try:
        doc: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedExpress("not JSON") from exc
    if not isinstance(doc, dict):
        raise MalformedExpress("not a JSON object")
    code, request_id = doc.get("resultCode"), doc.get("requestId")
    if code is None or not isinstance(request_id, str) or not request_id:
        raise MalformedExpress("resultCode and requestId are required")
    code = str(code)
    known = RESULT_CODES.get(code)
    outcome: Literal["succeeded", "failed", "pending"] = known[0] if known else "pending"
    message = known[1] if known else ""
    return ExpressResult(
        request_id=request_id,
        result_code=code,
        result_desc=str(doc.get("resultDesc", "")),
        outcome=outcome,
        message=message or str(doc.get("resultDesc", "")),
        amount_cents=_cents(doc.get("amount")),
        transaction_id=str(doc["transactionId"]) if doc.get("transactionId") else None,
    )


def _cents(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise MalformedExpress(f"amount {value!r} is not a number") from exc
    return int(amount * 100)
