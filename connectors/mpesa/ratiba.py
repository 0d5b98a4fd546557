"""Daraja M-Pesa Ratiba (standing orders): the create request, its answer and callbacks. Pure.

Safaricom's Ratiba page (developer.safaricom.co.ke/APIs/MpesaRatiba, 2025 copy): ``POST
/standingorder/v1/createStandingOrderExternal`` with a Bearer token only. M-Pesa sends the customer
a PIN prompt for consent, creates the order and calls ``CallBackURL``. The synchronous answer's
success code is ``"200"`` (not ``"0"``); the callback's is ``"0"``.

The callback's casing differs by outcome: success uses camelCase containers and lower-case
``name``/``value`` pairs, failure PascalCase and ``Name``/``Value``; so every key is read without
regard to case. Two request generations exist: the 2025 page (frequencies 1-8, ``Standing Order
Customer Pay Bill``) and a later revision SDK authors transcribe (frequencies 1-9 with Bi-weekly,
``Standing Order Pay Bill External Third Party``, a ``CustomStoId``) (unverified). We send the
2025 one and read both.

How each execution is reported is not documented: the money of a run reaches the paybill as a
C2B payment (account = ``AccountReference``), which the switch verifies as any other C2B. The
simulator also calls ``CallBackURL`` per run in the callback's envelope, with the run's number in
a ``RunNumber`` pair (unverified: our own convention, so the failure of a run can be reported).

Exceptions::

    ValueError
    └── MalformedCallback       (transformers)
        └── MalformedRatiba     the body is not a Ratiba callback
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from connectors.common import text as _text
from connectors.mpesa.transformers import MalformedCallback
from switch.standing_orders import Frequency

PATH = "/standingorder/v1/createStandingOrderExternal"
# 2025 page codes; "biweekly" exists only in the later revision (code 4 there).
FREQUENCY_CODES: dict[Frequency, str] = {
    "one_off": "1",
    "daily": "2",
    "weekly": "3",
    "monthly": "4",
    "bimonthly": "5",
    "quarterly": "6",
    "half_yearly": "7",
    "yearly": "8",
}
LATER_FREQUENCY_CODES: dict[Frequency, str] = {
    "one_off": "1",
    "daily": "2",
    "weekly": "3",
    "biweekly": "4",
    "monthly": "5",
    "bimonthly": "6",
    "quarterly": "7",
    "half_yearly": "8",
    "yearly": "9",
}
PAYBILL_TYPES = ("Standing Order Customer Pay Bill", "Standing Order Pay Bill External Third Party")
TILL_TYPES = (
    "Standing Order Customer Pay Marchant",  # sic, the 2025 page
    "Standing Order Customer Pay Merchant",
    "Standing Order Pay Merchant External Third Party",
)
MAX_ACCOUNT_REFERENCE = 12
MAX_DESCRIPTION = 13
# Codes from the docs' sample (1037) and error-page compilations (unverified).
RESULT_TEXTS = {
    "0": "created",
    "1037": "the customer did not answer the prompt",
    "1025": "the prompt could not be sent",
    "1032": "the customer cancelled",
    "1001": "the subscriber is locked",
    "2001": "wrong PIN",
    "1050": "a standing order with this name exists",
    "1051": "a field is invalid",
    "1": "insufficient balance",
}


class MalformedRatiba(MalformedCallback):
    """The body is not a Ratiba callback."""


@dataclass(frozen=True, slots=True)
class StandingOrderRequest:
    name: str  # unique per customer
    start: date
    end: date
    shortcode: str
    till: bool
    amount_minor: int  # whole shillings per run
    msisdn: str  # 2547XXXXXXXX
    callback_url: str
    account_reference: str
    description: str
    frequency: Frequency

    def body(self) -> dict[str, str]:
        if self.frequency not in FREQUENCY_CODES:
            raise ValueError(f"{self.frequency} has no code on the 2025 Ratiba page")
        if self.amount_minor <= 0 or self.amount_minor % 100:
            raise ValueError("the amount must be a positive whole number of shillings")
        return {
            "StandingOrderName": self.name,
            "StartDate": self.start.strftime("%Y%m%d"),
            "EndDate": self.end.strftime("%Y%m%d"),
            "BusinessShortCode": self.shortcode,
            "TransactionType": TILL_TYPES[0] if self.till else PAYBILL_TYPES[0],
            "ReceiverPartyIdentifierType": "2" if self.till else "4",
            "Amount": str(self.amount_minor // 100),
            "PartyA": self.msisdn,
            "CallBackURL": self.callback_url,
            "AccountReference": self.account_reference[:MAX_ACCOUNT_REFERENCE],
            "TransactionDesc": self.description[:MAX_DESCRIPTION],
            "Frequency": FREQUENCY_CODES[self.frequency],
        }


def frequency_of(code: str, *, later: bool = False) -> Frequency:
    table = LATER_FREQUENCY_CODES if later else FREQUENCY_CODES
    for frequency, value in table.items():
        if value == code:
            return frequency
    raise ValueError(f"unknown Frequency {code!r}")


@dataclass(frozen=True, slots=True)
class Accepted:
    ok: bool
    code: str
    message: str
    ref_id: str


def parse_accepted(status: int, raw: bytes) -> Accepted:
    """The synchronous answer: ``ResponseHeader.responseCode`` ``"200"``; the sandbox refuses in
    an envelope of its own (``responseCode`` 400, ``responseMessage``), gateways in the usual
    ``errorCode`` one."""
    try:
        body = _lower(orjson.loads(raw)) if raw else {}
    except orjson.JSONDecodeError:
        return Accepted(False, str(status), f"HTTP {status} with a body that is not JSON", "")
    if not isinstance(body, dict):
        return Accepted(False, str(status), f"HTTP {status} with an unexpected body", "")
    header = body.get("responseheader")
    if isinstance(header, dict):
        code = _text(header.get("responsecode"))
        message = _text(header.get("responsedescription"))
        ok = code == "200" and status < 300
        return Accepted(ok, code, message, _text(header.get("responserefid")))
    code = _text(body.get("responsecode")) or _text(body.get("errorcode")) or str(status)
    message = _text(body.get("responsemessage")) or _text(body.get("errormessage"))
    return Accepted(False, code, message, _text(body.get("requestrefid")))


@dataclass(frozen=True, slots=True)
class RatibaCallback:
    """A callback: the order's creation (``run`` None) or one run (``run`` its number)."""

    request_ref_id: str
    code: str
    description: str
    transaction_id: str
    status: str
    run: int | None

    @property
    def ok(self) -> bool:
        return self.code == "0"


def parse_callback(raw: bytes) -> RatibaCallback:
    try:
        body = _lower(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise MalformedRatiba("the callback is not JSON") from exc
    header, payload = body.get("responseheader"), body.get("responsebody")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise MalformedRatiba("responseHeader and responseBody are required")
    pairs = payload.get("responsedata")
    if not isinstance(pairs, list):
        raise MalformedRatiba("responseBody.responseData must be a list")
    data = {
        _text(p.get("name")).lower(): _text(p.get("value")) for p in pairs if isinstance(p, dict)
    }
    code = data.get("responsecode") or _text(header.get("responsecode"))
    if not code:
        raise MalformedRatiba("no responseCode")
    run = data.get("runnumber", "")
    return RatibaCallback(
        request_ref_id=_text(header.get("requestrefid")) or _text(header.get("responserefid")),
        code=code,
        description=_text(header.get("responsedescription")),
        transaction_id=data.get("transactionid", ""),
        status=data.get("status", ""),
        run=int(run) if run.isdigit() else None,
    )


def callback_ack() -> bytes:
    # The reply Ratiba expects is not documented (unverified): C2B's acknowledgement shape.
    return orjson.dumps({"ResultCode": "0", "ResultDesc": "Accepted"})


def _lower(value: Any) -> Any:
    """Keys lower-cased all the way down (the callback's casing differs by outcome)."""
    if isinstance(value, dict):
        return {str(k).lower(): _lower(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lower(v) for v in value]
    return value
