"""The bodies the simulated bank receives and sends (``transformers`` says where each comes from).

Inbound: a bad field raises :class:`InvalidField`, answered ``400 {"status": false, "code":
400100, "message": "Invalid request: <field>"}``. A bank code may come in 1, 2 or 4 digits (doc
§5); the signature is checked over the fields exactly as they were sent.

Outbound: the envelope ``{"status", "code", "message", "data"}`` (doc §3.1), the transfer object
shared by the answer, the enquiry and the callback, and the error bodies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from connectors.pesalink.banks import BANKS, bank_code_form
from connectors.pesalink.signature import signed_string
from connectors.pesalink.simulator.directory import Link
from connectors.pesalink.simulator.state import STATE_CODE, TransferRecord
from connectors.pesalink.transformers import (
    CODE_ACCOUNT_INVALID,
    CODE_ACKNOWLEDGED,
    CODE_INVALID_FIELD,
    CODE_OK,
    CODE_PHONE_NOT_LINKED,
    EAT,
    MAX_DESCRIPTION,
    MAX_NAME,
    TransferMode,
    format_amount,
    mask_account,
    national_msisdn,
    normalise_msisdn,
    parse_amount,
)

_ACCOUNT = re.compile(r"^[0-9A-Za-z]{5,20}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9_-]{1,35}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

# ISO 20022 ExternalStatusReason1Code names: the bank's reasonDescription text.
REASON_NAMES = {
    "AC01": "IncorrectAccountNumber",
    "AC04": "ClosedAccountNumber",
    "AC06": "BlockedAccount",
    "AB05": "TimeoutCreditorAgent",
    "AB08": "OfflineCreditorAgent",
    "AM04": "InsufficientFunds",
    "BE01": "InconsistentWithEndCustomer",
}


class InvalidField(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Invalid request: {name}")
        self.name = name


class Refusal(Exception):
    """An error answer, raised by a check deep in a handler and returned by it."""

    def __init__(
        self, status: int, code: int, message: str, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def response(self) -> web.Response:
        return json_response(error_body(self.code, self.message, self.data), self.status)


def refusal_response(exc: Refusal | InvalidField) -> web.Response:
    if isinstance(exc, Refusal):
        return exc.response()
    return json_response(error_body(CODE_INVALID_FIELD, str(exc)), 400)


# --- Inbound -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountLookupIn:
    bank_code: str  # 2 digits; membership in BANKS is the caller's check
    account_number: str
    signed: str  # countryCode + bankCode + accountNumber, as sent


@dataclass(frozen=True, slots=True)
class PhoneLookupIn:
    phone: str  # 2547XXXXXXXX
    signed: str  # mobileNumber, as sent


@dataclass(frozen=True, slots=True)
class TransferIn:
    mode: TransferMode
    source_account: str
    bank_code: str | None  # 2 digits; None only for a phone transfer without one
    account_number: str | None
    phone: str | None
    given_name: str
    amount_cents: int
    currency: str
    reference: str
    description: str
    callback_url: str | None
    signed: str  # amount + currencyCode + reference + destination.name + source.accountNumber


def parse_account_lookup(body: dict[str, Any]) -> AccountLookupIn:
    country = _required(body, "countryCode")
    raw_bank = _required(body, "bankCode")
    account = _matching(body, "accountNumber", _ACCOUNT)
    return AccountLookupIn(_bank(raw_bank, "bankCode"), account, country + raw_bank + account)


def parse_phone_lookup(body: dict[str, Any]) -> PhoneLookupIn:
    raw = _required(body, "mobileNumber")
    try:
        phone = normalise_msisdn(raw)
    except ValueError as exc:
        raise InvalidField("mobileNumber") from exc
    return PhoneLookupIn(phone, raw)


def parse_transfer(body: dict[str, Any], mode: TransferMode) -> TransferIn:
    """Fields checked source, destination, transfer; the first bad one is reported."""
    source, dest, transfer = (_object(body, k) for k in ("source", "destination", "transfer"))
    source_account = _matching(source, "source.accountNumber", _ACCOUNT, "accountNumber")
    name = _required(dest, "destination.name", "name")
    if len(name) > MAX_NAME:
        raise InvalidField("destination.name")
    raw_amount = transfer.get("amount")
    amount = _amount(raw_amount)
    currency = _required(transfer, "transfer.currencyCode", "currencyCode")
    reference = _matching(transfer, "transfer.reference", _REFERENCE, "reference")
    date = transfer.get("date")
    if date is not None and not (isinstance(date, str) and _DATE.match(date) and _is_date(date)):
        raise InvalidField("transfer.date")
    description = transfer.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise InvalidField("transfer.description")
    bank, account, phone = _destination(dest, mode)
    return TransferIn(
        mode=mode,
        source_account=source_account,
        bank_code=bank,
        account_number=account,
        phone=phone,
        given_name=name,
        amount_cents=amount,
        currency=currency,
        reference=reference,
        description=description,
        callback_url=_callback_url(transfer),
        signed=signed_string(str(raw_amount), currency, reference, name, source_account),
    )


def _destination(
    dest: dict[str, Any], mode: TransferMode
) -> tuple[str | None, str | None, str | None]:
    expected = "mobile" if mode == "phone" else "bank"
    if dest.get("type") != expected:
        raise InvalidField("destination.type")
    if mode == "account":
        raw = _required(dest, "destination.bankCode", "bankCode")
        account = _matching(dest, "destination.accountNumber", _ACCOUNT, "accountNumber")
        return _bank(raw, "destination.bankCode"), account, None
    try:
        phone = normalise_msisdn(_required(dest, "destination.mobileNumber", "mobileNumber"))
    except ValueError as exc:
        raise InvalidField("destination.mobileNumber") from exc
    raw_bank = dest.get("bankCode")
    if raw_bank is None or raw_bank == "":
        return None, None, phone
    if not isinstance(raw_bank, str):
        raise InvalidField("destination.bankCode")
    return _bank(raw_bank, "destination.bankCode"), None, phone


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise InvalidField(name)
    return value


def _required(body: dict[str, Any], name: str, key: str | None = None) -> str:
    value = body.get(key or name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidField(name)
    return value


def _matching(
    body: dict[str, Any], name: str, pattern: re.Pattern[str], key: str | None = None
) -> str:
    value = _required(body, name, key)
    if not pattern.match(value):
        raise InvalidField(name)
    return value


def _bank(raw: str, name: str) -> str:
    try:
        return bank_code_form(raw)
    except ValueError as exc:
        raise InvalidField(name) from exc


def _amount(value: Any) -> int:
    # doc §3.1 sends "500.00"; a JSON number is tolerated, more than two decimals is not.
    try:
        cents = parse_amount(value)
    except ValueError as exc:
        raise InvalidField("transfer.amount") from exc
    if cents <= 0:
        raise InvalidField("transfer.amount")
    return cents


def _is_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _callback_url(transfer: dict[str, Any]) -> str | None:
    value = transfer.get("callbackUrl")
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField("transfer.callbackUrl")
    return str(value)


# --- Outbound ----------------------------------------------------------------------------------


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def envelope(data: dict[str, Any], code: int = CODE_OK, message: str = "success") -> dict[str, Any]:
    """The success envelope of doc §3.1."""
    return {"status": True, "code": code, "message": message, "data": data}


def error_body(code: int, message: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": False, "code": code, "message": message}
    if data is not None:
        body["data"] = data
    return body


def token_body(token: str, refresh: str, issued: float, expires: float) -> dict[str, str]:
    return {
        "accessToken": token,
        "refreshToken": refresh,
        "expiresIn": _iso(expires),
        "issuedAt": _iso(issued),
        "tokenType": "Bearer",
    }


def account_found(bank_code: str, account_number: str, holder: str) -> dict[str, Any]:
    data = {
        "bankCode": bank_code,
        "bankName": BANKS[bank_code],
        "accountNumber": account_number,
        "accountName": holder,
    }
    return envelope(data)


def account_invalid(reason: str) -> dict[str, Any]:
    data = {"reasonCode": reason, "reasonDescription": REASON_NAMES.get(reason, "")}
    return error_body(CODE_ACCOUNT_INVALID, "Account validation failed", data)


def phone_not_linked() -> dict[str, Any]:
    return error_body(CODE_PHONE_NOT_LINKED, "Mobile number is not registered on PesaLink")


def directory_entry(phone: str, links: tuple[Link, ...], names: list[str]) -> dict[str, Any]:
    banks = [
        {
            "bankCode": link.bank_code,
            "bankName": BANKS[link.bank_code],
            "customerName": name,
            "accountNumber": mask_account(link.account_number),
            "isDefault": link.is_default,
        }
        for link, name in zip(links, names, strict=True)
    ]
    return envelope({"mobileNumber": national_msisdn(phone), "banks": banks})


def transfer_data(record: TransferRecord) -> dict[str, Any]:
    """The transfer object of the answer, the enquiry and the callback."""
    destination: dict[str, Any] = {"type": "mobile" if record.phone else "bank"}
    destination["bankCode"] = record.bank_code
    if record.phone:
        destination["mobileNumber"] = national_msisdn(record.phone)
        destination["accountNumber"] = mask_account(record.account_number)
    else:
        destination["accountNumber"] = record.account_number
    destination["name"] = record.holder_name
    data: dict[str, Any] = {
        "transactionId": record.transaction_id,
        "reference": record.reference,
        "status": record.status,
        "stateCode": STATE_CODE[record.status],
        "amount": format_amount(record.amount_cents),
        "currencyCode": "KES",
        "destination": destination,
        "date": _iso(record.created_at),
    }
    if record.reason_code and record.status == "FAILED":
        data["reasonCode"] = record.reason_code
        data["reasonDescription"] = REASON_NAMES.get(record.reason_code, "")
    if record.completed_at is not None:
        data["completedAt"] = _iso(record.completed_at)
    return data


def transfer_answer(record: TransferRecord) -> dict[str, Any]:
    """The synchronous answer: final at once (code 0) or acknowledged, pending (code -1)."""
    if record.status == "PENDING":
        message = "Transaction acknowledged, await final transaction status on callback"
        return envelope(transfer_data(record), CODE_ACKNOWLEDGED, message)
    return envelope(transfer_data(record))


def callback(record: TransferRecord) -> dict[str, Any]:
    """The POST to callbackUrl: the enquiry's envelope plus its kind (our choice, unverified)."""
    return {"callbackType": "PesaLinkTransfer", **envelope(transfer_data(record))}


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, EAT).isoformat(timespec="seconds")
