"""Signatures and secrets: Standard Webhooks signing, per-payment callback tokens, hashed client
secrets. All pure; keys come in as bytes from configuration."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

WEBHOOK_TOLERANCE_S = 300


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def webhook_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">`` per the Standard Webhooks scheme."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(secret, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def verify_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> bool:
    """What a merchant's receiver does: check the signature and refuse stale timestamps."""
    msg_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > WEBHOOK_TOLERANCE_S:
        return False
    expected = webhook_signature(secret, msg_id, int(stamp), body)
    offered = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected.encode(), sig.encode()) for sig in offered)


def callback_token(key: bytes, payment_id: str) -> str:
    """Daraja signs nothing, so each callback URL carries this token; verifying it needs no
    database read."""
    digest = hmac.new(key, b"callback:" + payment_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def verify_callback_token(key: bytes, payment_id: str, token: str) -> bool:
    return hmac.compare_digest(callback_token(key, payment_id).encode(), token.encode())


def hash_client_secret(secret: str) -> str:
    """Client secrets are 192-bit random values, so a fast hash is enough (as for API tokens at
    GitHub or Stripe); slow password hashes are for human passwords."""
    return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


def check_client_secret(secret: str, stored: str) -> bool:
    return hmac.compare_digest(hash_client_secret(secret).encode(), stored.encode())
