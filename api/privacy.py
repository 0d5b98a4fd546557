"""Personal data: ``GET /v1/payments?phone=`` (a customer's payments, found through the keyed
blind index without decrypting anything) and ``POST /v1/privacy/erasures`` (a data subject's
erasure request under the Data Protection Act 2019, honoured as far as payment-record retention
allows). See switch/pii.py."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StrictStr, field_validator

from api import openapi_models as out
from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import error_response
from api.merchant_settings import actor
from api.payments import parse_body, reply_response
from api.routes import Route, json_answer, limit_param, query
from api.state import STATE
from switch.errors import Unavailable
from switch.logs import request_id
from switch.phone import mask_msisdn, normalise_msisdn

log = logging.getLogger(__name__)


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    phone: StrictStr

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_msisdn(value)


async def list_by_phone(request: web.Request) -> web.Response:
    raw = request.query.get("phone")
    if not raw:
        return error_response(
            422,
            "validation_failed",
            "a phone is required",
            [{"field": "phone", "reason": "give ?phone=07XXXXXXXX"}],
        )
    try:
        phone = normalise_msisdn(raw)
    except ValueError as exc:
        details = [{"field": "phone", "reason": str(exc)}]
        return error_response(422, "validation_failed", "invalid phone", details)
    try:
        limit = min(max(int(request.query.get("limit", "50")), 1), 200)
    except ValueError:
        details = [{"field": "limit", "reason": "a whole number, 1 to 200"}]
        return error_response(422, "validation_failed", "invalid limit", details)
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    try:
        reply = await state.actors.by_phone(
            state.router.shard_of_merchant(merchant_id), merchant_id, phone, limit
        )
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    return reply_response(reply)


async def erase(request: web.Request) -> web.Response:
    body = await parse_body(request, ErasureIn)
    if isinstance(body, web.Response):
        return body
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    try:
        reply = await state.actors.erase(
            state.router.shard_of_merchant(merchant_id), merchant_id, body.phone
        )
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    if reply.status == 200:
        await _audit(request, merchant_id, body.phone, reply.body)
    return reply_response(reply)


async def _audit(request: web.Request, merchant_id: str, phone: str, done: dict[str, Any]) -> None:
    """Every erasure is in the audit trail: who asked, for which (masked) number, what was
    erased. Unrecorded, the request is answered 503: repeating it is harmless (what is erased
    stays erased) and records it; the number itself is never written there."""
    try:
        await audit_log(request.app[STATE]).append(
            actor(request[CLAIMS]),
            "privacy.erasure",
            f"merchant:{merchant_id}",
            after={
                "phone": mask_msisdn(phone),
                "erased": done.get("erased"),
                "batch_items": done.get("batch_items"),
                "in_flight": done.get("in_flight"),
            },
            request_id=request_id.get(None) or None,
        )
    except Exception as exc:
        log.exception("erasure for %s not recorded in the audit log", merchant_id)
        raise Unavailable("the erasure is done but not recorded yet; repeat the request") from exc


SEALING_OFF = "Personal data sealing is off"
ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/payments",
        list_by_phone,
        "Payments",
        "A customer's payments, newest first (found by phone through a blind index)",
        {200: json_answer("The payments", out.PaymentList)},
        errors=(422, 501, 503),
        params=(
            query(
                "phone",
                {"type": "string", "minLength": 1},
                "The customer's phone, any Kenyan form.",
                required=True,
            ),
            limit_param(200, 50),
        ),
        error_texts={422: "A missing or invalid phone or limit", 501: SEALING_OFF},
    ),
    Route(
        "POST",
        "/v1/privacy/erasures",
        erase,
        "Personal data",
        "Erase a customer's personal data (as far as record retention allows)",
        {200: json_answer("What was erased", out.Erasure)},
        body=ErasureIn,
        errors=(501, 503),
        error_texts={501: SEALING_OFF},
    ),
)
