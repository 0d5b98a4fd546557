"""Self-contained HMAC access tokens."""

from __future__ import annotations

import base64

import orjson
import pytest

from switch.tokens import Claims, mint, verify

KEY = b"0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000
EXPIRES = NOW + 3600


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def token() -> str:
    return mint(KEY, "mch_1", "cli_1", "payments:read payments:write", EXPIRES)


def test_round_trip(token: str) -> None:
    claims = verify(KEY, token, NOW)
    assert isinstance(claims, Claims)
    assert claims.merchant_id == "mch_1"
    assert claims.client_id == "cli_1"
    assert claims.scope == "payments:read payments:write"
    assert claims.expires_at == EXPIRES
    assert len(claims.token_id) == 12  # 9 random bytes, url-safe base64


def test_shape(token: str) -> None:
    prefix, payload, mac = token.split(".")
    assert prefix == "sk1"
    assert "=" not in payload + mac


def test_each_token_has_its_own_id() -> None:
    a = verify(KEY, mint(KEY, "m", "c", "s", EXPIRES), NOW)
    b = verify(KEY, mint(KEY, "m", "c", "s", EXPIRES), NOW)
    assert a is not None
    assert b is not None
    assert a.token_id != b.token_id


def test_expired(token: str) -> None:
    assert verify(KEY, token, EXPIRES - 1) is not None
    assert verify(KEY, token, EXPIRES) is None
    assert verify(KEY, token, EXPIRES + 1) is None


def test_tampered_payload(token: str) -> None:
    prefix, payload, mac = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["m"] = "mch_2"
    forged = f"{prefix}.{b64(orjson.dumps(claims))}.{mac}"
    assert verify(KEY, forged, NOW) is None


def test_tampered_mac(token: str) -> None:
    prefix, payload, mac = token.split(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    assert verify(KEY, f"{prefix}.{payload}.{flipped}", NOW) is None


def test_wrong_key(token: str) -> None:
    assert verify(b"another key of thirty-two bytes!", token, NOW) is None


def test_wrong_prefix(token: str) -> None:
    assert verify(KEY, "sk2" + token[3:], NOW) is None


@pytest.mark.parametrize(
    "garbage",
    ["", "sk1", "sk1.", "sk1..", "sk1.a.b", "a.b.c", "sk1.a.b.c", "Bearer x", "...."],
)
def test_garbage(garbage: str) -> None:
    assert verify(KEY, garbage, NOW) is None


def test_genuine_mac_over_bad_claims_is_refused() -> None:
    # A correctly signed payload that is not the claims object must not raise.
    import hashlib
    import hmac

    for raw in (b"not json", b"[1, 2]", b'{"m": "x"}'):
        payload = b64(raw)
        mac = b64(hmac.new(KEY, payload.encode(), hashlib.sha256).digest())
        assert verify(KEY, f"sk1.{payload}.{mac}", NOW) is None


def test_non_ascii_garbage() -> None:
    assert verify(KEY, "sk1.abc.é", NOW) is None


def test_a_client_token_names_who_issued_its_secret() -> None:
    issued = verify(KEY, mint(KEY, "m", "c", "s", EXPIRES, issuer="user:u1"), NOW)
    nobody = verify(KEY, mint(KEY, "m", "c", "s", EXPIRES, issuer=""), NOW)
    older = verify(KEY, mint(KEY, "m", "c", "s", EXPIRES), NOW)
    assert issued is not None and issued.issuer == "user:u1"
    assert nobody is not None and nobody.issuer == ""
    assert older is not None and older.issuer is None
