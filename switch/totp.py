"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP): SHA-1, 6 digits, 30-second steps,
one step of clock drift either way, as every authenticator app expects by default. Pure.

A code is accepted once: the caller keeps the last step it accepted and passes it back, and a code
whose step is not later is refused (RFC 6238 §5.2). The stored secret is sealed with AES-GCM under
a key derived from the switch's signing key, so a database dump alone cannot mint codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

STEP_S = 30
DIGITS = 6
DRIFT_STEPS = 1
SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length for SHA-1

_HASHES = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def new_secret() -> str:
    """A base32 secret without padding, as authenticator apps take it."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode().rstrip("=")


def secret_bytes(secret: str) -> bytes:
    text = secret.replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, digits: int = DIGITS, algorithm: str = "SHA1") -> str:
    """RFC 4226 §5.3: dynamic truncation of the HMAC of the counter."""
    mac = hmac.new(key, struct.pack(">Q", counter), _HASHES[algorithm]).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def step_at(now: float) -> int:
    return int(now // STEP_S)


def code_at(secret: str, now: float) -> str:
    return hotp(secret_bytes(secret), step_at(now))


def match(secret: str, code: str, now: float, last_step: int | None) -> int | None:
    """The step the code belongs to, if it is valid within the drift and later than
    ``last_step``; None otherwise."""
    code = code.strip()
    if len(code) != DIGITS or not code.isdigit():
        return None
    key = secret_bytes(secret)
    current = step_at(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Compare every candidate so the time taken does not depend on which one matched.
        if hmac.compare_digest(hotp(key, step).encode(), code.encode()):
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def otpauth_uri(secret: str, account: str, issuer: str) -> str:
    """The provisioning URI of the Key URI Format that authenticator apps scan as a QR code."""
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_S,
        }
    )
    return f"otpauth://totp/{label}?{query}"


def _sealing_key(master: bytes) -> bytes:
    return hmac.new(master, b"totp-secret-seal", hashlib.sha256).digest()


def seal(master: bytes, secret: str, user_id: str) -> str:
    """AES-GCM with the user id as associated data, so a sealed secret cannot be moved to
    another user."""
    nonce = secrets.token_bytes(12)
    box = AESGCM(_sealing_key(master)).encrypt(nonce, secret.encode(), user_id.encode())
    return "v1$" + base64.b64encode(nonce + box).decode()


def unseal(master: bytes, sealed: str, user_id: str) -> str | None:
    if not sealed.startswith("v1$"):
        return None
    try:
        raw = base64.b64decode(sealed[3:], validate=True)
        plain = AESGCM(_sealing_key(master)).decrypt(raw[:12], raw[12:], user_id.encode())
    except (ValueError, InvalidTag):
        return None
    return plain.decode()
