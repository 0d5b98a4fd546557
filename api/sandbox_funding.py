"""``POST /v1/sandbox/fund``: a sandbox merchant (or, with ``Switch-Sub-Merchant``, one of an
aggregator's sub-merchants) is given test money in one call, so payouts and transfers can be
tried at once. Refused (403 ``sandbox_only``) by a switch not started with ``--sandbox``.

The merchant's shard posts it (switch/sandbox_funding.py): a balanced entry from the shard's
sandbox funding account, committed by the shard's writer, so the balance it keeps in memory
moves with the commit. The Idempotency-Key names the funding: a repeat funds nothing more."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.merchant_settings import actor
from api.payments import validated
from api.routes import Route, json_answer
from api.state import STATE
from switch.errors import Unavailable
from switch.money import parse_whole_shillings
from switch.sandbox_funding import amount_refusal

FUNDING = {
    "type": "object",
    "required": ["object", "id", "merchant_id", "created", "balance"],
    "properties": {
        "object": {"type": "string", "enum": ["sandbox_funding"]},
        "id": {"type": "string"},
        "merchant_id": {"type": "string"},
        "amount": {"type": ["string", "null"], "description": "null on a repeated key"},
        "created": {"type": "boolean", "description": "false: the key had funded already"},
        "balance": {"type": "object", "description": "The balance after, as GET /v1/balance"},
    },
}


class FundBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    amount: StrictStr = Field(description="Whole shillings, 1 to 1000000.")

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str) -> str:
        refused = amount_refusal(parse_whole_shillings(value))
        if refused:
            raise ValueError(refused)
        return value


async def fund(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if not state.settings.sandbox:
        return error_response(
            403, "sandbox_only", "test money exists only in a switch started with --sandbox"
        )
    parsed = await validated(request, FundBody)
    if isinstance(parsed, web.Response):
        return parsed
    key, _raw, body = parsed
    merchant_id = request[CLAIMS].merchant_id
    amount = parse_whole_shillings(body.amount)
    try:
        reply = await state.router.of_merchant(merchant_id).fund(merchant_id, key, amount)
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    if reply.status == 201:
        await audit_log(state).append(
            actor(request[CLAIMS]),
            "sandbox.fund",
            f"merchant:{merchant_id}",
            before=None,
            after={"id": reply.body["id"], "amount": reply.body["amount"]},
        )
    return json_response(reply.body, reply.status)


ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/sandbox/fund",
        fund,
        "Sandbox",
        "Give your sandbox balance test money (sandbox mode only; one funding per key)",
        {
            201: json_answer("Funded", FUNDING),
            200: json_answer("This Idempotency-Key funded already; nothing more", FUNDING),
        },
        body=FundBody,
        idempotency="required",
        errors=(403, 503),
    ),
)
