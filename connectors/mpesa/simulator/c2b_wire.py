"""Bodies of the simulated C2B API (doc §6). Pure.

Inbound: register URL and simulate requests; the validation answer from the business.
Outbound: the acknowledgements (``OriginatorCoversationID``, sic) and the all-strings validation/
confirmation payload, with the MSISDN disguised as the registration version dictates: SHA-256 hex
for v1, masked ``2547 ***** 126`` for v2.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from connectors.mpesa.c2b import C2B_COMMANDS, MAX_BILL_REF, RESPONSE_TYPES, check_c2b_url
from connectors.mpesa.simulator.initiator_wire import kes
from connectors.mpesa.simulator.wire import MSISDN, SHORTCODE, InvalidField, _amount, _matching
from connectors.mpesa.transformers import EAT

MAX_AMOUNT = 250_000  # KES (doc §13)
REGISTERED = {1: "success", 2: "Success"}  # lower case in the v1 docs sample (doc §6)
SIMULATED = "Accept the service request successfully."
TRANSACTION_TYPES = {"CustomerPayBillOnline": "Pay Bill", "CustomerBuyGoodsOnline": "Buy Goods"}


@dataclass(frozen=True, slots=True)
class RegisterRequest:
    shortcode: str
    response_type: str
    confirmation_url: str
    validation_url: str  # '' when none was given (external validation off)


@dataclass(frozen=True, slots=True)
class SimulateRequest:
    shortcode: str
    command_id: str
    amount: int
    msisdn: str
    bill_ref: str


def parse_register(body: dict[str, Any]) -> RegisterRequest:
    """doc §6. A URL breaking the word rules is refused as ``Invalid <Field>`` (the doc does not
    say which error Daraja gives; this is the simulator's choice)."""
    shortcode = _matching(body, "ShortCode", SHORTCODE)
    response_type = body.get("ResponseType")
    if response_type not in RESPONSE_TYPES:  # exactly Completed or Cancelled, sentence case
        raise InvalidField("ResponseType")
    confirmation = _c2b_url(body, "ConfirmationURL", required=True)
    validation = _c2b_url(body, "ValidationURL", required=False)
    return RegisterRequest(shortcode, str(response_type), confirmation, validation)


def _c2b_url(body: dict[str, Any], name: str, *, required: bool) -> str:
    value = body.get(name)
    if not required and value in (None, ""):
        return ""
    if not isinstance(value, str) or check_c2b_url(value) is not None:
        raise InvalidField(name)
    return value


def parse_simulate(body: dict[str, Any]) -> SimulateRequest:
    shortcode = _matching(body, "ShortCode", SHORTCODE)
    command = body.get("CommandID")
    if command not in C2B_COMMANDS:
        raise InvalidField("CommandID")
    amount = _amount(body)
    if amount > MAX_AMOUNT:
        raise InvalidField("Amount")
    msisdn = _matching(body, "Msisdn", MSISDN)
    ref = body.get("BillRefNumber")
    if isinstance(ref, int) and not isinstance(ref, bool):
        ref = str(ref)
    if ref is None:
        ref = ""
    if not isinstance(ref, str) or len(ref) > MAX_BILL_REF:
        raise InvalidField("BillRefNumber")
    return SimulateRequest(shortcode, str(command), amount, msisdn, ref)


# --- Outbound ----------------------------------------------------------------------------------


def ack(originator_conversation_id: str, description: str) -> dict[str, str]:
    """Register/simulate answer, with Daraja's ``OriginatorCoversationID`` spelling (doc §6)."""
    return {
        "OriginatorCoversationID": originator_conversation_id,
        "ResponseCode": "0",
        "ResponseDescription": description,
    }


def disguise(msisdn: str, version: int | None) -> str:
    """v1: SHA-256 hex digest; v2: ``2547 ***** 126`` (doc §6)."""
    if version == 1:
        return hashlib.sha256(msisdn.encode()).hexdigest()
    return f"{msisdn[:4]} ***** {msisdn[-3:]}"


def payload(
    *,
    command_id: str,
    trans_id: str,
    trans_time: str,
    amount: int,
    shortcode: str,
    bill_ref: str,
    balance_cents: int | None,
    third_party_trans_id: str,
    msisdn: str,
    names: tuple[str, str, str],
) -> dict[str, str]:
    """The validation/confirmation body: every value a string (doc §6)."""
    return {
        "TransactionType": TRANSACTION_TYPES[command_id],
        "TransID": trans_id,
        "TransTime": trans_time,
        "TransAmount": f"{amount}.00",
        "BusinessShortCode": shortcode,
        "BillRefNumber": bill_ref,
        "InvoiceNumber": "",
        "OrgAccountBalance": "" if balance_cents is None else kes(balance_cents),
        "ThirdPartyTransID": third_party_trans_id,
        "MSISDN": msisdn,
        "FirstName": names[0],
        "MiddleName": names[1],
        "LastName": names[2],
    }


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a validation answer said: accepted, rejected (with its code), or nothing usable."""

    answered: bool
    accepted: bool
    result_code: str | None = None
    third_party_trans_id: str = ""


NO_ANSWER = Verdict(answered=False, accepted=False)


def read_validation(status: int | None, body: bytes) -> Verdict:
    """A 2xx JSON answer with a ResultCode decides; anything else counts as no answer (doc §6)."""
    if status is None or not 200 <= status < 300:
        return NO_ANSWER
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return NO_ANSWER
    code = doc.get("ResultCode") if isinstance(doc, dict) else None
    if isinstance(code, bool) or not isinstance(code, str | int) or str(code).strip() == "":
        return NO_ANSWER
    third = doc.get("ThirdPartyTransID")
    text = str(code).strip()
    return Verdict(True, text == "0", text, third if isinstance(third, str) else "")


def trans_time(wall: float) -> str:
    return f"{datetime.fromtimestamp(wall, EAT):%Y%m%d%H%M%S}"
