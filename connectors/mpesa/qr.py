"""Daraja Dynamic QR (``POST /mpesa/qrcode/v1/generate``): a QR code a customer scans in the
M-Pesa app to pay a till or paybill a fixed amount with a reference. Pure: the order checks, the
request body and the reading of the answer.

Synchronous, with no callback: the payment itself arrives as an ordinary C2B payment. The answer
carries the PNG as base64 in ``QRCode`` (no data-URI prefix). Its ``ResponseCode`` is ``"00"`` in
the live sandbox but a conversation-style id in Daraja's sample, so success is a ``QRCode`` that
decodes to a PNG, whatever the code (Daraja's Dynamic QR page; unverified which is current).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Literal

from connectors.common import text as _text
from connectors.http import HttpResponse
from connectors.mpesa.transformers import ProviderError, parse_error

QR_PATH = "/mpesa/qrcode/v1/generate"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# TrxCode: BG buy goods (till), PB paybill; WA agent withdrawal, SM send money, SB send to
# business are Daraja's others, not offered by the switch.
TrxCode = Literal["BG", "PB"]
_SHORTCODE = re.compile(r"^\d{5,7}$")
_REF = re.compile(r"^[A-Za-z0-9 _.-]{1,20}$")  # RefNo: no length published (unverified)


@dataclass(frozen=True, slots=True)
class QrOrder:
    merchant_name: str  # shown to the payer
    ref_no: str  # the reference (a paybill's account number)
    amount: int  # whole shillings
    trx_code: TrxCode
    cpi: str  # the till or paybill credited
    size: int = 300  # the square's side in pixels

    def __post_init__(self) -> None:
        if not 1 <= len(self.merchant_name.strip()) <= 100:
            raise ValueError("merchant_name must be 1 to 100 characters")
        if not _REF.match(self.ref_no):
            raise ValueError("ref_no must be 1 to 20 letters, digits or ' _.-'")
        if isinstance(self.amount, bool) or not 1 <= self.amount <= 250_000:
            raise ValueError("amount must be 1 to 250,000 shillings")
        if self.trx_code not in ("BG", "PB"):
            raise ValueError("trx_code must be BG (till) or PB (paybill)")
        if not _SHORTCODE.match(self.cpi):
            raise ValueError("cpi must be a till or paybill of 5 to 7 digits")
        if not 100 <= self.size <= 1000:
            raise ValueError("size must be 100 to 1000 pixels")


def qr_payload(order: QrOrder) -> dict[str, Any]:
    """The body in the order of Daraja's sample (``Size`` a string there)."""
    return {
        "MerchantName": order.merchant_name,
        "RefNo": order.ref_no,
        "Amount": order.amount,
        "TrxCode": order.trx_code,
        "CPI": order.cpi,
        "Size": str(order.size),
    }


@dataclass(frozen=True, slots=True)
class QrCode:
    png: bytes
    response_code: str
    description: str
    request_id: str


def parse_qr(resp: HttpResponse) -> QrCode | ProviderError:
    """The answer: a PNG, or the gateway's error envelope. A 200 whose ``QRCode`` is missing or
    not a base64 PNG is an error too (nothing was generated that a customer could scan)."""
    body = resp.json()
    if resp.status != 200 or not isinstance(body, dict):
        return parse_error(resp)
    encoded = body.get("QRCode")
    desc = _text(body.get("ResponseDescription"))
    if not isinstance(encoded, str) or not encoded:
        return ProviderError("rejected", _text(body.get("ResponseCode")), desc or "no QRCode", 200)
    try:
        png = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return ProviderError("unknown", "", "QRCode is not base64", 200)
    if not png.startswith(PNG_SIGNATURE):
        return ProviderError("unknown", "", "QRCode is not a PNG image", 200)
    return QrCode(png, _text(body.get("ResponseCode")), desc, _text(body.get("RequestID")))
