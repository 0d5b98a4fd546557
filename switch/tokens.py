"""OAuth 2.0 access tokens, self-contained and HMAC-signed, so every api process verifies them
with no database or cache read: ``sk1.<base64url claims>.<base64url mac>``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import orjson

from switch.ids import random_token

_PREFIX = "sk1"


@dataclass(frozen=True, slots=True)
class Claims:
    merchant_id: str
    client_id: str
    scope: str
    expires_at: int
    token_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def mint(key: bytes, merchant_id: str, client_id: str, scope: str, expires_at: int) -> str:
    claims = {"m": merchant_id, "c": client_id, "s": scope, "e": expires_at, "i": random_token(9)}
    payload = _b64(orjson.dumps(claims))
    return f"{_PREFIX}.{payload}.{_mac(key, payload)}"


def verify(key: bytes, token: str, now: float) -> Claims | None:
    """The claims of a genuine, unexpired token; None otherwise (never says which check failed)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX:
        return None
    if not hmac.compare_digest(_mac(key, parts[1]).encode(), parts[2].encode()):
        return None
    try:
        raw = orjson.loads(_unb64(parts[1]))
        claims = Claims(raw["m"], raw["c"], raw["s"], int(raw["e"]), raw["i"])
    except (ValueError, KeyError, TypeError):
        return None
    return claims if claims.expires_at > now else None
