"""Check a webhook from the switch: Standard Webhooks (base64 HMAC-SHA256 of
``"{webhook-id}.{webhook-timestamp}.{body}"`` keyed with the base64 part of ``webhook_secret``),
refusing timestamps more than five minutes away (replays)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_S = 300


def verify_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> bool:
    """True if ``body`` (the raw bytes received) is signed with ``secret`` and recent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp = lowered.get("webhook-id", ""), lowered.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(digest).decode()
    offered = lowered.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected.encode(), sig.encode()) for sig in offered)
