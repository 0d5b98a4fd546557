"""The simulated Dynamic QR API (``POST /mpesa/qrcode/v1/generate``): the body checked as
Daraja's page describes it, and a real QR code (segno) answered as a base64 PNG, as the live
sandbox answers (``ResponseCode`` ``"00"``).

What Safaricom's codes hold is not published (unverified): the simulator's carry
:func:`qr_text`, its own plain format, so a test can decode one and find the request in it.
``GET /__sim/qr`` lists what was generated. Faults: ``error_burst`` (as every Daraja route).
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import segno
from aiohttp import web

from connectors.mpesa.simulator.answers import Refusal, json_response, refusal_response
from connectors.mpesa.simulator.wire import SHORTCODE, InvalidField, _amount, _matching
from connectors.simkit.admin import tail

if TYPE_CHECKING:
    from connectors.mpesa.simulator.app import Simulator

TRX_CODES = frozenset({"BG", "WA", "PB", "SM", "SB"})  # Daraja's Dynamic QR page
SUCCESS = "The service request is processed successfully."
BORDER = 4  # quiet-zone modules around the symbol (ISO/IEC 18004's minimum)


def parse(body: dict[str, Any]) -> dict[str, Any]:
    """The fields in the order of the page's table; numbers and numeric strings both taken."""
    name = body.get("MerchantName")
    if not isinstance(name, str) or not name.strip():
        raise InvalidField("MerchantName")
    ref = body.get("RefNo")
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidField("RefNo")
    amount = _amount(body)
    code = body.get("TrxCode")
    if code not in TRX_CODES:
        raise InvalidField("TrxCode")
    cpi = _matching(body, "CPI", SHORTCODE) if code in ("BG", "PB") else str(body.get("CPI"))
    size = str(body.get("Size", "300"))
    if not size.isdigit() or not 50 <= int(size) <= 1000:
        raise InvalidField("Size")
    return {"name": name, "ref": ref, "amount": amount, "code": code, "cpi": cpi, "size": int(size)}


def qr_text(fields: dict[str, Any]) -> str:
    """The simulator's own content: ``MPESA|<TrxCode>|<CPI>|<Amount>|<RefNo>|<MerchantName>``."""
    parts = ("MPESA", fields["code"], fields["cpi"], str(fields["amount"]), fields["ref"])
    return "|".join((*parts, fields["name"]))


def qr_png(text: str, size: int) -> bytes:
    """A PNG of the QR code, each module a whole number of pixels, as close to ``size`` as that
    allows (never above it, never below one pixel a module)."""
    code = segno.make(text, error="m", micro=False)
    modules = code.symbol_size(border=BORDER)[0]
    out = io.BytesIO()
    code.save(out, kind="png", scale=max(1, size // modules), border=BORDER)
    return out.getvalue()


class QrSim:
    def __init__(self, core: Simulator) -> None:
        self.core = core
        self.made: list[dict[str, Any]] = []

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/mpesa/qrcode/v1/generate", self.generate)
        router.add_get("/__sim/qr", self.list_qr)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        core = self.core
        try:
            core._take_burst("qr")
            fields = parse(await core._authorised_body(request, "MerchantName", "stk"))
        except (Refusal, InvalidField) as exc:
            await core._lag()
            return refusal_response(exc)
        text = qr_text(fields)
        png = qr_png(text, fields["size"])
        self.made.append({**fields, "text": text, "png_bytes": len(png)})
        del self.made[: -core.config.max_records]
        await core._lag()
        return json_response(
            {
                "ResponseCode": "00",
                "ResponseDescription": SUCCESS,
                "QRCode": base64.b64encode(png).decode("ascii"),
            }
        )

    async def list_qr(self, request: web.Request) -> web.Response:
        return json_response(tail(self.made, request.query.get("limit", "")))
