"""Personal data: ``POST /v1/privacy/erasures`` (a data subject's
erasure request under the Data Protection Act 2019, honoured as far as payment-record retention
allows). See switch/pii.py. A customer's payments are found by phone through the keyed blind
index, without decrypting anything, by ``GET /v1/payments?phone=`` (api/search.py)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StrictStr, field_validator

from api import openapi_models as out
from api.audit import audit_log
from api.auth import CLAIMS
from api.merchant_settings import actor
from api.payments import parse_body, reply_response
from api.routes import Route, json_answer
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


async def erase(request: web.Request) -> web.Response:
    body = await parse_body(request, ErasureIn)
    if isinstance(body, web.Response):
        return body
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    try:
        reply = await state.router.of_merchant(merchant_id).erase(merchant_id, body.phone)
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
