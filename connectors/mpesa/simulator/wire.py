"""The bodies the simulated Daraja receives and sends, as the doc shows them (§3, §4, §5). Pure.

Inbound: every numeric field accepts a JSON number or a numeric string, because official samples
and SDKs send both (doc §1). A bad field raises :class:`InvalidField`, answered as
``400.002.02 Bad Request - Invalid <Field>``.

Outbound: the push acknowledgement, the callback and the query answer, with Daraja's own type
quirks (a numeric ResultCode in callbacks, a string one in queries, ``successsfully``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from connectors.mpesa.simulator.state import StkRecord

MSISDN = re.compile(r"^254[17]\d{8}$")
SHORTCODE = re.compile(r"^\d{5,7}$")
TIMESTAMP = re.compile(r"^\d{14}$")
TRANSACTION_TYPES = frozenset({"CustomerPayBillOnline", "CustomerBuyGoodsOnline"})
MAX_ACCOUNT_REFERENCE = 12
MAX_TRANSACTION_DESC = 13


class InvalidField(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Bad Request - Invalid {name}")
        self.name = name


@dataclass(frozen=True, slots=True)
class Credentials:
    shortcode: str
    password: str
    timestamp: str


@dataclass(frozen=True, slots=True)
class PushRequest:
    credentials: Credentials
    transaction_type: str
    amount: int
    party_a: str
    party_b: str
    phone: str
    callback_url: str
    account_reference: str
    description: str


@dataclass(frozen=True, slots=True)
class QueryRequest:
    credentials: Credentials
    checkout_request_id: str


def parse_push(body: dict[str, Any]) -> PushRequest:
    """Fields checked in the order of the doc §4 table; the first bad one is reported."""
    return PushRequest(
        credentials=_credentials(body),
        transaction_type=_choice(body, "TransactionType", TRANSACTION_TYPES),
        amount=_amount(body),
        party_a=_matching(body, "PartyA", MSISDN),
        party_b=_matching(body, "PartyB", SHORTCODE),
        phone=_matching(body, "PhoneNumber", MSISDN),
        callback_url=_url(body, "CallBackURL"),
        account_reference=_text(body, "AccountReference", MAX_ACCOUNT_REFERENCE, required=True),
        # The only optional field (doc §4).
        description=_text(body, "TransactionDesc", MAX_TRANSACTION_DESC, required=False),
    )


def parse_query(body: dict[str, Any]) -> QueryRequest:
    cid = body.get("CheckoutRequestID")
    if not isinstance(cid, str) or not cid:
        raise InvalidField("CheckoutRequestID")
    return QueryRequest(_credentials(body), cid)


def _credentials(body: dict[str, Any]) -> Credentials:
    shortcode = _matching(body, "BusinessShortCode", SHORTCODE)
    pwd = body.get("Password")
    if not isinstance(pwd, str) or not pwd:
        raise InvalidField("Password")
    ts = _matching(body, "Timestamp", TIMESTAMP)
    try:
        datetime.strptime(ts, "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise InvalidField("Timestamp") from exc
    return Credentials(shortcode, pwd, ts)


def _digits(value: Any) -> str | None:
    """A JSON integer or a string, as text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else None


def _matching(body: dict[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    text = _digits(body.get(name))
    if text is None or not pattern.match(text):
        raise InvalidField(name)
    return text


def _choice(body: dict[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = body.get(name)
    if value not in allowed:
        raise InvalidField(name)
    return str(value)


def _amount(body: dict[str, Any]) -> int:
    # Whole shillings, minimum 1 (doc §4). Decimals are unverified upstream: we accept 10.0 but
    # refuse 10.5, which is what SDKs that send integers would never notice.
    value = body.get("Amount")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidField("Amount")
    try:
        exact = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidField("Amount") from exc
    if not exact.is_finite() or exact != exact.to_integral_value() or exact < 1:
        raise InvalidField("Amount")
    return int(exact)


def _url(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise InvalidField(name)
    parts = urlsplit(value)
    # HTTPS in production; plain HTTP is tolerated by the sandbox (doc §4).
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField(name)
    return value


def _text(body: dict[str, Any], name: str, limit: int, *, required: bool) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    text = _digits(value)  # an account number may arrive as a JSON number
    if text is None or len(text) > limit or (required and not text):
        raise InvalidField(name)
    return text


# --- Outbound ---------------------------------------------------------------------------------

ACCEPTED = "Success. Request accepted for processing"  # doc §4
# Three "s": the spelling of real query answers (doc §1, "Field-name spellings").
QUERY_ACCEPTED = "The service request has been accepted successsfully"


def envelope(code: str, message: str, request_id: str) -> dict[str, str]:
    """The gateway's error body (doc §3)."""
    return {"requestId": request_id, "errorCode": code, "errorMessage": message}


def push_accepted(record: StkRecord) -> dict[str, str]:
    return {
        "MerchantRequestID": record.merchant_request_id,
        "CheckoutRequestID": record.checkout_request_id,
        "ResponseCode": "0",  # a string here (doc §4)
        "ResponseDescription": ACCEPTED,
        "CustomerMessage": ACCEPTED,
    }


def callback(record: StkRecord) -> dict[str, Any]:
    """The POST to CallBackURL, as captured from real callbacks (doc §4)."""
    cb: dict[str, Any] = {
        "MerchantRequestID": record.merchant_request_id,
        "CheckoutRequestID": record.checkout_request_id,
        "ResultCode": record.result_code,  # a JSON number in callbacks
        "ResultDesc": record.result_desc,
    }
    if record.result_code == 0:  # metadata only on success
        cb["CallbackMetadata"] = {"Item": _items(record)}
    return {"Body": {"stkCallback": cb}}


def _items(record: StkRecord) -> list[dict[str, Any]]:
    return [
        {"Name": "Amount", "Value": float(record.amount)},  # a number with decimals: 150.0
        {"Name": "MpesaReceiptNumber", "Value": record.receipt},
        {"Name": "Balance"},  # no Value: real 2019-2022 captures carry it like this
        {"Name": "TransactionDate", "Value": record.transaction_date},  # a number
        {"Name": "PhoneNumber", "Value": int(record.phone)},  # a number
    ]


def query_result(record: StkRecord) -> dict[str, str]:
    """The query answer once the customer has acted (doc §5): every value a string."""
    return {
        "ResponseCode": "0",
        "ResponseDescription": QUERY_ACCEPTED,
        "MerchantRequestID": record.merchant_request_id,
        "CheckoutRequestID": record.checkout_request_id,
        "ResultCode": str(record.result_code),
        "ResultDesc": record.result_desc,
    }
