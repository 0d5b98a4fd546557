"""Signed, expiring download links of export files (pure). The signature (HMAC-SHA256 with a key
the switch derives from its secret key) covers the export, the merchant it belongs to and the
expiry, so a link cannot be stretched, moved to another export or used for another merchant's
file; it is checked in constant time."""

from __future__ import annotations

import hashlib
import hmac

LINK_SECONDS = 900  # a link works for 15 minutes; asking for the export again gives a new one


def signature(key: bytes, export_id: str, merchant_id: str, expires: int) -> str:
    msg = f"{export_id}|{merchant_id}|{expires}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def link(key: bytes, export_id: str, merchant_id: str, now: int) -> str:
    expires = now + LINK_SECONDS
    sig = signature(key, export_id, merchant_id, expires)
    return f"/v1/exports/{export_id}/download?expires={expires}&signature={sig}"


def refusal(
    key: bytes, export_id: str, merchant_id: str, expires: str, sig: str, now: int
) -> str | None:
    """Why the link may not be followed (``bad_signature``, ``link_expired``), or None."""
    if not expires.isdigit():
        return "bad_signature"
    wanted = signature(key, export_id, merchant_id, int(expires))
    if not hmac.compare_digest(wanted, sig):
        return "bad_signature"
    return "link_expired" if int(expires) < now else None
