"""Access tokens, self-contained and HMAC-signed, so every api process verifies them with no
database read: ``sk1.<base64url claims>.<base64url mac>``.

Two kinds share the format: ``client`` tokens (OAuth 2.0 client credentials, scope = the client's
scopes) and ``session`` tokens (a person's login, scope = the role's permissions, ``role`` and
``mfa`` set). ``gen`` is the subject's token generation when the token was minted: rotating or
revoking a client, or changing a password, raises the generation, and each api process refuses
tokens of an older one (see :mod:`infra.clients`). A client token's ``issuer`` is the person who
issued the client's current secret (``user:<id>``; empty when no person did): a payment it
creates is that person's for the four-eyes review (switch/reviews.py). Tokens minted before these
claims existed read as ``kind=client, gen=0, issuer=None`` (not known: look it up).
"""

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
    kind: str = "client"
    gen: int = 0
    role: str = ""
    mfa: bool = False
    issuer: str | None = None
    x5t: str | None = None  # bound to this certificate (switch/mtls.py)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def mint(
    key: bytes,
    merchant_id: str,
    client_id: str,
    scope: str,
    expires_at: int,
    *,
    kind: str = "client",
    gen: int = 0,
    role: str = "",
    mfa: bool = False,
    issuer: str | None = None,
    x5t: str | None = None,
) -> str:
    claims: dict[str, object] = {
        "m": merchant_id,
        "c": client_id,
        "s": scope,
        "e": expires_at,
        "i": random_token(9),
        "k": kind,
        "g": gen,
    }
    if kind == "session":
        claims |= {"r": role, "f": mfa}
    elif issuer is not None:
        claims["o"] = issuer
    if x5t is not None:
        claims["x"] = x5t
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
        claims = Claims(
            raw["m"],
            raw["c"],
            raw["s"],
            int(raw["e"]),
            raw["i"],
            kind=str(raw.get("k", "client")),
            gen=int(raw.get("g", 0)),
            role=str(raw.get("r", "")),
            mfa=raw.get("f") is True,
            issuer=str(raw["o"]) if "o" in raw else None,
            x5t=str(raw["x"]) if "x" in raw else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return claims if claims.expires_at > now else None
