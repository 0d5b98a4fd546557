"""Dynamic QR codes (M-Pesa): ``POST /v1/qr-codes`` makes a QR code a customer scans in the
M-Pesa app to pay one of the merchant's tills or paybills a fixed amount with a reference. The
payment itself arrives later as an ordinary C2B payment (see api/c2b.py), so a code is made only
for a till or paybill account the merchant has claimed: its money then reaches this merchant.

The answer is JSON with the image as base64 and what was asked of Daraja, or the PNG itself with
``Accept: image/png``. Nothing is stored: a code moves no money.
"""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from api.auth import CLAIMS
from api.c2b import ROUTES
from api.errors import error_response, json_response
from api.payments import parse_body
from api.routes import Answer, Route
from api.state import STATE
from connectors.mpesa.qr import QrOrder, qr_payload
from switch.c2b import route
from switch.errors import Unavailable
from switch.money import parse_whole_shillings


class QrCreate(BaseModel):
    """A QR code for one of your tills or paybills, a fixed amount and a reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["till", "paybill"] = Field(description="Buy Goods (till) or Pay Bill.")
    shortcode: Annotated[str, Field(pattern=r"^[0-9]{5,7}$")] = Field(
        description="The till or paybill, claimed by you for C2B (PUT /v1/c2b/registration).",
        examples=["600984"],
    )
    amount: StrictStr = Field(description="Whole shillings, 1 to 250000.", examples=["250"])
    reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9 _.-]{1,20}$")] = Field(
        description="Daraja's RefNo: a paybill's account number; the reference on a till.",
        examples=["INV-1001"],
    )
    merchant_name: Annotated[str, Field(min_length=1, max_length=100)] = Field(
        description="The name the customer sees.", examples=["Duka La Mama"]
    )
    size: int = Field(300, ge=100, le=1000, description="The image's side in pixels.")

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str) -> str:
        shillings = parse_whole_shillings(value) // 100
        if not 1 <= shillings <= 250_000:
            raise ValueError("must be between 1 and 250000 shillings")
        return value


class QrCodeOut(BaseModel):
    object: Literal["qr_code"]
    kind: Literal["till", "paybill"]
    shortcode: str
    amount: str
    reference: str
    payload: dict[str, str | int] = Field(description="What was asked of Daraja (its fields).")
    image_png: str = Field(description="The QR code, a PNG image, base64.")


async def create_qr(request: web.Request) -> web.Response:
    parsed = await parse_body(request, QrCreate)
    if isinstance(parsed, web.Response):
        return parsed
    state, merchant = request.app[STATE], request[CLAIMS].merchant_id
    rules = await request.app[ROUTES].of(state, parsed.shortcode)
    if route(rules, parsed.reference if parsed.kind == "paybill" else "") != merchant:
        details = [
            {
                "field": "shortcode",
                "reason": "claim this till or paybill (and the reference's account) for C2B "
                "first: its payments must reach you",
            }
        ]
        return error_response(422, "validation_failed", "the request has invalid fields", details)
    order = QrOrder(
        merchant_name=parsed.merchant_name,
        ref_no=parsed.reference,
        amount=parse_whole_shillings(parsed.amount) // 100,
        trx_code="BG" if parsed.kind == "till" else "PB",
        cpi=parsed.shortcode,
        size=parsed.size,
    )
    try:
        made = await state.actors.gateways.generate_qr(order)
    except Exception as exc:
        raise Unavailable("M-Pesa could not be asked for a QR code; retry") from exc
    if "error" in made:
        raise Unavailable(f"M-Pesa did not make the QR code: {made['error']}")
    if "image/png" in request.headers.get("Accept", ""):
        return web.Response(body=base64.b64decode(made["png"]), content_type="image/png")
    return json_response(
        {
            "object": "qr_code",
            "kind": parsed.kind,
            "shortcode": parsed.shortcode,
            "amount": parsed.amount,
            "reference": parsed.reference,
            "payload": qr_payload(order),
            "image_png": made["png"],
        }
    )


ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/qr-codes",
        create_qr,
        "Payments",
        "A dynamic M-Pesa QR code for one of your tills or paybills",
        {
            200: Answer(
                "The QR code: JSON, or the PNG itself with `Accept: image/png`",
                {
                    "application/json": QrCodeOut.model_json_schema(),
                    "image/png": {"type": "string", "format": "binary"},
                },
            )
        },
        body=QrCreate,
        errors=(503,),
        error_texts={422: "Invalid fields, or a till or paybill you have not claimed"},
    ),
)
