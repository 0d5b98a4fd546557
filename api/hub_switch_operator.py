"""The operator's view of the switch as a hub participant (``/v1/operator/hub/switch``): its
participant and position (what the scheme owes it for the wallets and SACCO members it paid),
and the hub float merchant whose balance pays those payouts. The operator may name another
merchant as the float (one it onboarded and funds as any merchant is funded); a transfer whose
payout was started keeps the merchant it was started on (api/hub_switch_payee.py)."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.hub_common import hub, store
from api.routes import Route, json_answer
from api.state import STATE
from api.users import audit, read_model
from switch.errors import NotFound, Unavailable
from switch.hub import participants as parts
from switch.hub.reach import SWITCH_PARTICIPANT

TAG = "Interoperability hub (operator)"


class SwitchFloatIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    float_merchant: Annotated[str, StringConstraints(pattern=r"^mch_[0-9A-Z]{26}$")] = Field(
        description="An active merchant whose balance pays the switch's hub payouts.",
        examples=["mch_01M8FAAYR11EKP1P8RS94YT6M6"],
    )


async def _view(request: web.Request) -> dict[str, Any]:
    doc = await store(request).participants.find_one({"_id": SWITCH_PARTICIPANT})
    if doc is None:
        raise NotFound("the switch is not a hub participant in this switch")
    merchant = str(doc.get("float_merchant", ""))
    try:
        reply = await request.app[STATE].router.of_merchant(merchant).balance(merchant)
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    return {
        **parts.view(doc),
        "position": await hub(request).position(SWITCH_PARTICIPANT),
        "float_merchant": merchant,
        "float_balance": reply.body if reply.status == 200 else None,
    }


async def read_switch(request: web.Request) -> web.Response:
    return json_response(await _view(request))


async def set_float(request: web.Request) -> web.Response:
    body = await read_model(request, SwitchFloatIn)
    merchant = await request.app[STATE].cols.merchants.find_one(
        {"_id": body.float_merchant}, {"status": 1}
    )
    if merchant is None or merchant.get("status") != "active":
        return error_response(
            422,
            "validation_error",
            "the float merchant must be an active merchant",
            [{"field": "float_merchant", "reason": "no such active merchant"}],
        )
    before = await _view(request)
    await store(request).participants.update_one(
        {"_id": SWITCH_PARTICIPANT}, {"$set": {"float_merchant": body.float_merchant}}
    )
    after = await _view(request)
    await audit(
        request,
        "hub.switch.float_merchant",
        f"hub_participant:{SWITCH_PARTICIPANT}",
        before={"float_merchant": before["float_merchant"]},
        after={"float_merchant": after["float_merchant"], "by": request[CLAIMS].client_id},
    )
    return json_response(after)


SWITCH: dict[str, Any] = {
    "type": "object",
    "required": ["id", "object", "status", "position", "float_merchant"],
}
ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/operator/hub/switch",
        read_switch,
        TAG,
        "The switch as a hub participant: its position and its float merchant's balance",
        {200: json_answer("The switch's participant", SWITCH)},
        errors=(404,),
    ),
    Route(
        "PUT",
        "/v1/operator/hub/switch",
        set_float,
        TAG,
        "Name the merchant whose balance pays the switch's hub payouts",
        {200: json_answer("The switch's participant", SWITCH)},
        body=SwitchFloatIn,
        errors=(404,),
    ),
)
