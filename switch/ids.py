"""Identifiers. Payment ids carry their shard, so a callback or a status read finds the owning
shard actor without a database look-up: ``pay_s3_01JDX4...`` belongs to shard 3.

Other ids end in a ULID-like value (48 bits of milliseconds, 80 random bits, Crockford base32);
payment ids end in a keyed hash of the merchant's Idempotency-Key (see :func:`payment_id_for`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SHARDED = re.compile(r"^(pay|po|trf)_s([0-9]{1,4})_[0-9A-HJKMNP-TV-Z]{26}$")


def ulid(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    return f"{prefix}_{ulid()}"


def new_payment_id(shard: int) -> str:
    return f"pay_s{shard}_{ulid()}"


def payment_id_for(shard: int, key: bytes, scoped_idempotency_key: str) -> str:
    """The payment id of a (merchant, Idempotency-Key) pair: a keyed hash, so the same key always
    names the same payment and the primary key itself is the idempotency guard (no secondary
    unique index to maintain), while ids stay unguessable from keys."""
    return f"pay_s{shard}_{keyed_suffix(key, b'payment:', scoped_idempotency_key)}"


def keyed_suffix(key: bytes, label: bytes, scoped: str) -> str:
    """26 base32 characters of a keyed hash of ``label + scoped``: the same input, the same id."""
    digest = hmac.new(key, label + scoped.encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:16], "big") >> 2  # 126 bits -> 26 base32 characters
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def shard_of(object_id: str) -> int | None:
    """The shard encoded in a sharded id, or None when the text is not such an id."""
    match = _SHARDED.match(object_id)
    return int(match.group(2)) if match else None


def random_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)
