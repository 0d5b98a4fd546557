"""M-Pesa Dynamic QR: the order checks, the request body as Daraja's sample shows it, the reading
of the answer (a base64 PNG, or not), and the simulator's image read back module by module into
the text it encodes. Pure: nothing running."""

from __future__ import annotations

import base64
import io
from dataclasses import replace
from typing import Any

import orjson
import pytest
import segno
from PIL import Image

from connectors.http import HttpResponse
from connectors.mpesa.qr import PNG_SIGNATURE, QrOrder, parse_qr, qr_payload
from connectors.mpesa.simulator import qr as sim
from connectors.mpesa.transformers import ProviderError

ORDER = QrOrder("TEST SUPERMARKET", "Invoice Test", 1, "BG", "373132", 300)


def _answer(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(body), {"Content-Type": "application/json"})


def test_the_request_has_the_doc_sample_fields() -> None:
    assert qr_payload(ORDER) == {
        "MerchantName": "TEST SUPERMARKET",
        "RefNo": "Invoice Test",
        "Amount": 1,
        "TrxCode": "BG",
        "CPI": "373132",
        "Size": "300",
    }
    assert sim.parse(qr_payload(ORDER))["cpi"] == "373132"  # the simulator reads it back


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"amount": 0}, "amount"),
        ({"cpi": "12"}, "cpi"),
        ({"trx_code": "SM"}, "trx_code"),
        ({"ref_no": "x" * 21}, "ref_no"),
        ({"merchant_name": " "}, "merchant_name"),
        ({"size": 20}, "size"),
    ],
)
def test_orders_daraja_would_refuse_are_refused_unsent(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        replace(ORDER, **change)


def test_an_answer_is_a_png_or_an_error() -> None:
    png = sim.qr_png("hello", 300)
    good = parse_qr(_answer(200, {"ResponseCode": "00", "QRCode": base64.b64encode(png).decode()}))
    assert not isinstance(good, ProviderError)
    assert good.png == png and good.png.startswith(PNG_SIGNATURE)
    # Daraja's sample puts a conversation id in ResponseCode: a PNG is success all the same.
    doc = {"ResponseCode": "AG_20191219_000043fdf61864fe9ff5", "QRCode": base64.b64encode(png)}
    assert not isinstance(
        parse_qr(_answer(200, {**doc, "QRCode": doc["QRCode"].decode()})), ProviderError
    )
    for body in (
        {"ResponseCode": "00"},
        {"ResponseCode": "00", "QRCode": "not base64!"},
        {"ResponseCode": "00", "QRCode": base64.b64encode(b"GIF89a").decode()},
    ):
        assert isinstance(parse_qr(_answer(200, body)), ProviderError), body
    refused = parse_qr(
        _answer(400, {"requestId": "1", "errorCode": "400.002.05", "errorMessage": "Invalid"})
    )
    assert isinstance(refused, ProviderError) and refused.code == "400.002.05"


def read_modules(png: bytes, border: int = sim.BORDER) -> list[list[bool]]:
    """The dark modules of a QR code image: the pixel size from the image and the symbol's
    version (its side in modules), each module sampled at its centre."""
    image = Image.open(io.BytesIO(png)).convert("L")
    width, height = image.size
    assert width == height
    dark = [x for x in range(width) if image.getpixel((x, height // 2)) < 128]
    assert dark, "no dark pixel on the middle row"
    scale = None
    for modules in range(21 + 2 * border, 177 + 2 * border + 1, 4):  # versions 1 to 40
        if width % modules == 0:
            scale = width // modules
            side = modules - 2 * border
            break
    assert scale is not None, width
    return [
        [
            image.getpixel(((border + c) * scale + scale // 2, (border + r) * scale + scale // 2))
            < 128
            for c in range(side)
        ]
        for r in range(side)
    ]


def test_the_simulators_image_is_a_real_qr_code_of_its_text() -> None:
    fields = sim.parse(qr_payload(ORDER))
    text = sim.qr_text(fields)
    assert text == "MPESA|BG|373132|1|Invoice Test|TEST SUPERMARKET"
    png = sim.qr_png(text, 300)
    assert png.startswith(PNG_SIGNATURE)
    assert Image.open(io.BytesIO(png)).size[0] <= 300
    expected = [[bool(m) for m in row] for row in segno.make(text, error="m", micro=False).matrix]
    assert read_modules(png) == expected
    other = [[bool(m) for m in row] for row in segno.make(text + "X", error="m").matrix]
    assert read_modules(png) != other
