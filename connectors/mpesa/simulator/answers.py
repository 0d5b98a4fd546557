"""HTTP answers shared by the simulator's handlers: JSON bodies and Daraja error envelopes."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from aiohttp import web

from connectors.mpesa.simulator import wire
from connectors.mpesa.simulator.state import request_id

# Which envelope an invalid token gets depends on the API (doc §2).
TokenStyle = Literal["stk", "b2c", "status", "reversal", "balance", "c2b", "express"]
_TOKEN_ERRORS: dict[str, tuple[int, str, str]] = {
    "stk": (404, "404.001.03", "Invalid Access Token"),
    "reversal": (404, "404.001.03", "Invalid Access Token"),
    "b2c": (401, "401.002.01", "Error Occurred - Invalid Access Token - {token}"),
    "balance": (401, "401.002.01", "Error Occurred - Invalid Access Token - {token}"),
    "status": (400, "400.003.01", "Invalid Access Token"),
    "c2b": (400, "400.003.01", "Invalid Access Token"),
    # B2B Express Checkout's sandbox answer (products doc §2): a non-dotted code.
    "express": (401, "401", "Unauthorized - Invalid Access Token"),
}


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str, rid: str | None = None) -> web.Response:
    """A gateway error envelope (doc §3)."""
    return json_response(wire.envelope(code, message, rid or request_id()), status)


class Refusal(Exception):
    """A Daraja error answer, raised by a check deep in a handler and returned by it."""

    def __init__(self, status: int, code: str, message: str, rid: str | None = None) -> None:
        super().__init__(message)
        self.response = error_response(status, code, message, rid)


def invalid_token(style: TokenStyle, token: str) -> Refusal:
    status, code, message = _TOKEN_ERRORS[style]
    # 401.002.01 echoes the token (doc §2): reproduced, since clients must redact it.
    return Refusal(status, code, message.format(token=token))


def refusal_response(exc: Refusal | wire.InvalidField) -> web.Response:
    if isinstance(exc, Refusal):
        return exc.response
    return error_response(400, "400.002.02", str(exc))
