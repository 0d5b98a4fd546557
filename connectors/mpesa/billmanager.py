"""Daraja Bill Manager (e-invoicing): request bodies, answers and the payment push. Pure.

Safaricom's Bill Manager pages (developer.safaricom.co.ke/APIs/BillManager): a paybill opts in
(``/v1/billmanager-invoice/optin``), then sends invoices one at a time or in bulk (at most 1000,
a top-level JSON array), cancels unpaid ones, and acknowledges each payment it is told of
(``/reconciliation``), after which the customer receives an e-receipt by SMS. Bill Manager pushes
each payment to the opt-in ``callbackurl``; like C2B's, the push is unsigned, so the switch
believes only the C2B payment it has checked against M-Pesa's record (README "C2B").

Success is ``rescode`` ``"200"`` (a string), with messages in ``resmsg`` / ``Status_Message``;
whether a refusal comes as HTTP 409 or as HTTP 200 with ``rescode`` ``"409"`` is not documented,
so the body's ``rescode`` decides (unverified). Keys are camelCase except ``shortcode`` and
``callbackurl`` at opt-in, and the push's ``shortCode``.

Exceptions::

    ValueError
    └── MalformedCallback      (transformers)
        └── MalformedPush      the body is not a Bill Manager payment push
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from connectors.common import cents
from connectors.common import text as _text
from connectors.mpesa.transformers import MalformedCallback

BASE = "/v1/billmanager-invoice"
PATHS = {
    "optin": f"{BASE}/optin",
    "change_optin": f"{BASE}/change-optin-details",
    "single": f"{BASE}/single-invoicing",
    "bulk": f"{BASE}/bulk-invoicing",
    "cancel": f"{BASE}/cancel-single-invoice",
    "cancel_bulk": f"{BASE}/cancel-bulk-invoices",
    "reconciliation": f"{BASE}/reconciliation",
}
APP_KEY_HEADER = "appKey"  # the docs do not name the header; SDKs send appKey (unverified)
OK = "200"


class MalformedPush(MalformedCallback):
    """The body is not a Bill Manager payment push."""


@dataclass(frozen=True, slots=True)
class OptIn:
    shortcode: str
    email: str
    official_contact: str  # 07XXXXXXXX
    send_reminders: bool  # 7 and 3 days before, and on, the due date
    callback_url: str
    logo: str = ""

    def body(self) -> dict[str, str]:
        return {
            "shortcode": self.shortcode,
            "email": self.email,
            "officialContact": self.official_contact,
            "sendReminders": "1" if self.send_reminders else "0",
            "logo": self.logo,
            "callbackurl": self.callback_url,
        }


@dataclass(frozen=True, slots=True)
class InvoiceOrder:
    external_reference: str
    billed_full_name: str
    billed_phone_number: str  # 07XXXXXXXX
    billed_period: str  # "August 2021"
    invoice_name: str
    due_date: date
    account_reference: str
    amount_minor: int  # whole shillings only: Bill Manager takes whole KES
    items: tuple[tuple[str, int], ...] = ()

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "externalReference": self.external_reference,
            "billedFullName": self.billed_full_name,
            "billedPhoneNumber": self.billed_phone_number,
            "billedPeriod": self.billed_period,
            "invoiceName": self.invoice_name,
            "dueDate": self.due_date.isoformat(),
            "accountReference": self.account_reference,
            "amount": _whole_kes(self.amount_minor),
        }
        if self.items:
            doc["invoiceItems"] = [
                {"itemName": name, "amount": _whole_kes(amount)} for name, amount in self.items
            ]
        return doc


def bulk_body(orders: list[InvoiceOrder]) -> list[dict[str, Any]]:
    """Bulk invoicing takes a top-level array (docs); one SDK wraps it in {"invoices": [...]}."""
    if not 1 <= len(orders) <= 1000:
        raise ValueError("a bulk request carries 1 to 1000 invoices")
    return [o.body() for o in orders]


def cancel_body(external_reference: str) -> dict[str, str]:
    return {"externalReference": external_reference}


def local_phone(msisdn: str) -> str:
    """2547XXXXXXXX -> 07XXXXXXXX, the form Bill Manager's fields show."""
    return "0" + msisdn[3:] if msisdn.startswith("254") else msisdn


@dataclass(frozen=True, slots=True)
class Answer:
    ok: bool
    code: str
    message: str
    app_key: str = ""


def parse_answer(status: int, raw: bytes) -> Answer:
    """Any Bill Manager answer: ``rescode`` decides; an Apigee fault or another envelope is a
    refusal with its text (a 504 ``fault`` body has been seen in the sandbox)."""
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return Answer(False, str(status), f"HTTP {status} with a body that is not JSON")
    if not isinstance(body, dict):
        return Answer(False, str(status), f"HTTP {status} with an unexpected body")
    if "fault" in body and isinstance(body["fault"], dict):
        return Answer(False, str(status), _text(body["fault"].get("faultstring")) or "fault")
    code = _text(body.get("rescode")) or _text(body.get("errorCode")) or str(status)
    message = (
        _text(body.get("Status_Message"))
        or _text(body.get("resmsg"))
        or _text(body.get("errorMessage"))
    )
    return Answer(code == OK and status < 300, code, message, _text(body.get("app_key")))


@dataclass(frozen=True, slots=True)
class PaymentPush:
    """Bill Manager telling the paybill a customer paid (believed only once C2B agrees)."""

    transaction_id: str
    paid_minor: int
    msisdn: str
    account_reference: str
    shortcode: str
    date_created: str


def parse_push(raw: bytes) -> PaymentPush:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedPush("the push is not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedPush("the push is not a JSON object")
    receipt = _text(body.get("transactionId"))
    if not receipt.isalnum():
        raise MalformedPush("transactionId is missing or not alphanumeric")
    try:
        paid = cents(body.get("paidAmount"))
    except ValueError as exc:
        raise MalformedPush(f"paidAmount: {exc}") from exc
    return PaymentPush(
        transaction_id=receipt,
        paid_minor=paid,
        msisdn=_text(body.get("msisdn")),
        account_reference=_text(body.get("accountReference")),
        # shortCode here, shortcode at opt-in (docs); accept either.
        shortcode=_text(body.get("shortCode")) or _text(body.get("shortcode")),
        date_created=_text(body.get("dateCreated")),
    )


def push_ack() -> bytes:
    return orjson.dumps({"resmsg": "Success", "rescode": OK})


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The switch telling Bill Manager it recorded a payment (the customer gets an e-receipt)."""

    payment_date: date
    paid_minor: int
    account_reference: str
    transaction_id: str
    phone_number: str
    full_name: str
    invoice_name: str
    external_reference: str

    def body(self) -> dict[str, str]:
        return {
            "paymentDate": self.payment_date.isoformat(),
            "paidAmount": _whole_kes(self.paid_minor),
            "accountReference": self.account_reference,
            "transactionId": self.transaction_id,
            "phoneNumber": self.phone_number,
            "fullName": self.full_name,
            "invoiceName": self.invoice_name,
            "externalReference": self.external_reference,
        }


def _whole_kes(minor: int) -> str:
    if minor <= 0 or minor % 100:
        raise ValueError(f"{minor} cents is not a positive whole number of shillings")
    return str(minor // 100)
