"""The bodies the simulated Airtel Open API receives and sends, as the doc shows them. Pure.

Inbound: a bad field raises :class:`Refusal` with the gateway code of doc §10 (``ESB000008``
field validation, ``ESB000033``/``ESB000036`` msisdn length/format, ``ESB000034``/``ESB000035``
country/currency). Outbound: the ``data`` + ``status`` envelope of doc §3, the callback of §6.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import web

from connectors.airtel.security import HashForm, callback_hash
from connectors.airtel.simulator.state import Collection, Disbursement, Refund
from connectors.airtel.transformers import COUNTRY, CURRENCY

SUCCESS_CODE = "ESB000010"
FAILED_CODE = "ESB000011"


class Refusal(Exception):
    """An Airtel error answer, raised by a check deep in a handler and returned by it."""

    def __init__(
        self,
        http_status: int,
        message: str,
        *,
        result_code: str | None = None,
        response_code: str | None = None,
        oauth_error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.result_code = result_code
        self.response_code = response_code
        self.oauth_error = oauth_error

    def body(self) -> dict[str, Any]:
        if self.oauth_error is not None:
            # Gateway auth errors in OAuth style (doc §3: field names from one SDK, unverified).
            return {"error": self.oauth_error, "error_description": self.message}
        return {
            "status": status_block(
                self.http_status,
                self.message,
                success=False,
                result_code=self.result_code,
                response_code=self.response_code,
            )
        }

    def response(self) -> web.Response:
        return json_response(self.body(), self.http_status)


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def status_block(
    http_status: int,
    message: str,
    *,
    success: bool,
    result_code: str | None = None,
    response_code: str | None = None,
) -> dict[str, Any]:
    """The ``status`` object, keys in the order of the doc §3 sample; absent codes left out."""
    block: dict[str, Any] = {"code": str(http_status), "message": message}
    if result_code is not None:
        block["result_code"] = result_code
    if response_code is not None:
        block["response_code"] = response_code
    block["success"] = success
    return block


# --- Inbound ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushRequest:
    reference: str
    msisdn: str
    amount: int  # KES
    transaction_id: str


@dataclass(frozen=True, slots=True)
class DisbursementRequest:
    reference: str
    msisdn: str
    pin: str
    amount: int
    transaction_id: str


def invalid(field_name: str) -> Refusal:
    return Refusal(400, f"Field validation error: {field_name}", result_code="ESB000008")


def parse_push(body: dict[str, Any]) -> PushRequest:
    """Mandatory: reference, subscriber.msisdn, transaction.amount and id (doc §4 table)."""
    subscriber = _object(body, "subscriber")
    txn = _object(body, "transaction")
    _market(subscriber, "subscriber")
    _market(txn, "transaction")
    return PushRequest(
        reference=_text(body, "reference", "reference"),
        msisdn=msisdn(subscriber.get("msisdn"), "subscriber.msisdn"),
        amount=_amount(txn.get("amount"), "transaction.amount"),
        transaction_id=_text(txn, "id", "transaction.id"),
    )


def parse_disbursement(body: dict[str, Any]) -> DisbursementRequest:
    """v1 (doc §8): payee.msisdn, reference, pin, transaction.amount and id."""
    payee = _object(body, "payee")
    txn = _object(body, "transaction")
    return DisbursementRequest(
        reference=_text(body, "reference", "reference"),
        msisdn=msisdn(payee.get("msisdn"), "payee.msisdn"),
        pin=_text(body, "pin", "pin"),
        amount=_amount(txn.get("amount"), "transaction.amount"),
        transaction_id=_text(txn, "id", "transaction.id"),
    )


def parse_refund(body: dict[str, Any]) -> str:
    """The ``airtel_money_id`` to refund (doc §7)."""
    txn = _object(body, "transaction")
    value = txn.get("airtel_money_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(txn, "airtel_money_id", "transaction.airtel_money_id")


def msisdn(value: Any, name: str) -> str:
    """9 digits, no country code (doc §1): wrong length ESB000033, not digits ESB000036."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise invalid(name)
    if not value.isdigit() or not value.isascii():
        raise Refusal(400, "Invalid MSISDN format", result_code="ESB000036")
    if len(value) != 9:
        raise Refusal(400, "Invalid MSISDN length", result_code="ESB000033")
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise invalid(name)
    return value


def _text(body: dict[str, Any], key: str, name: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise invalid(name)
    return value


def _amount(value: Any, name: str) -> int:
    # A JSON number (doc §4); whole shillings only: decimals are unverified upstream.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid(name)
    try:
        exact = Decimal(str(value))
    except InvalidOperation as exc:
        raise invalid(name) from exc
    if not exact.is_finite() or exact != exact.to_integral_value() or exact < 1:
        raise invalid(name)
    return int(exact)


def _market(obj: dict[str, Any], name: str) -> None:
    """country/currency are optional in bodies (doc §4), but must be Kenya's when present."""
    if "country" in obj and obj["country"] != COUNTRY:
        raise Refusal(400, f"Invalid country in {name}", result_code="ESB000034")
    if "currency" in obj and obj["currency"] != CURRENCY:
        raise Refusal(400, f"Invalid currency in {name}", result_code="ESB000035")


# --- Outbound --------------------------------------------------------------------------------


def token(access_token: str, ttl: float) -> dict[str, str]:
    """doc §2: ``expires_in`` as a string, like the portal sample."""
    lifetime = str(int(ttl)) if ttl == int(ttl) else str(ttl)
    return {"access_token": access_token, "expires_in": lifetime, "token_type": "bearer"}


def _ok(data: dict[str, Any], response_code: str, message: str = "SUCCESS") -> dict[str, Any]:
    status = status_block(
        200, message, success=True, result_code=SUCCESS_CODE, response_code=response_code
    )
    return {"data": data, "status": status}


def push_accepted(transaction_id: str) -> dict[str, Any]:
    """doc §4: the prompt is out; ``DP00800001006`` "in process"."""
    return _ok({"transaction": {"id": transaction_id, "status": "SUCCESS"}}, "DP00800001006")


def collection_enquiry(record: Collection) -> dict[str, Any]:
    """doc §5: TIP/TA while the customer has not acted, then TS (with airtel_money_id) or TF/TE."""
    status, code = record.status, record.response_code
    txn: dict[str, Any] = {}
    if record.airtel_money_id is not None:  # only on TS (doc §12)
        txn["airtel_money_id"] = record.airtel_money_id
    txn["id"] = record.transaction_id
    if status in ("TIP", "TA"):
        txn["message"] = "Transaction in progress" if status == "TIP" else "Transaction ambiguous"
        txn["status"] = status
        return _ok({"transaction": txn}, code)
    txn["message"] = record.outcome.message
    txn["status"] = status
    if status == "TS":
        return _ok({"transaction": txn}, code)
    block = status_block(200, "FAILED", success=False, result_code=FAILED_CODE, response_code=code)
    return {"data": {"transaction": txn}, "status": block}


def callback_transaction(record: Collection, merchant: str) -> dict[str, Any]:
    """``transaction`` of the callback, keys in the doc §6 sample's order."""
    if record.outcome.paid:
        message = f"Paid KES {record.amount} to {merchant}, Trans ID {record.airtel_money_id}."
    else:
        message = record.outcome.message
    txn: dict[str, Any] = {
        "id": record.transaction_id,
        "message": message,
        "status_code": record.outcome.callback_status,
    }
    if record.airtel_money_id is not None:
        txn["airtel_money_id"] = record.airtel_money_id
    return txn


def callback(
    record: Collection, merchant: str, key: str | None, form: HashForm = "fixed_order"
) -> dict[str, Any]:
    """doc §6: ``{"transaction": ...}``, plus ``hash`` when callback authentication is on."""
    txn = callback_transaction(record, merchant)
    body: dict[str, Any] = {"transaction": txn}
    if key is not None:
        body["hash"] = callback_hash(txn, key, form)
    return body


def disbursement(record: Disbursement) -> dict[str, Any]:
    """The payout answer and its enquiry (doc §8): same ``transaction`` fields."""
    outcome = record.outcome
    txn = {
        "reference_id": record.reference_id,
        "airtel_money_id": record.airtel_money_id,
        "id": record.transaction_id,
        "message": outcome.message,
        "status": outcome.status,
    }
    if outcome.status == "TS":
        message = (
            f"You have deposited KES {record.amount} to {record.msisdn}. "
            f"Trans ID: {record.reference_id}"
        )
        return _ok({"transaction": txn}, outcome.response_code, message)
    success = outcome.status == "TIP"
    result_code = FAILED_CODE if outcome.status == "TF" else None
    block = status_block(
        200,
        outcome.message,
        success=success,
        result_code=result_code,
        response_code=outcome.response_code,
    )
    return {"data": {"transaction": txn}, "status": block}


def refunded(refund: Refund) -> dict[str, Any]:
    """doc §7 sample, verbatim in shape (including ``DP00800001006``)."""
    txn = {"airtel_money_id": refund.airtel_money_id, "status": "SUCCESS"}
    return _ok({"transaction": txn}, "DP00800001006")


def encryption_keys(key_id: str, key: str) -> dict[str, Any]:
    """doc §8 (portal copy): ``data{key_id, key, valid_upto}`` with ``DP02010001001``."""
    data = {"key_id": key_id, "key": key, "valid_upto": "2125-01-01 00:00:00"}
    return _ok(data, "DP02010001001")


def not_found(response_code: str) -> Refusal:
    """An enquiry or refund for an id Airtel does not know (doc §5)."""
    return Refusal(
        404, "Transaction not found", result_code="ESB000045", response_code=response_code
    )
