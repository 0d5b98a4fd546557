"""Idempotency decisions (pure). A client's key is scoped to its merchant and bound to a hash of
the request: same key and same body replays the first answer; same key, different body: 409."""

from __future__ import annotations

import hashlib
from enum import Enum
from typing import Any

import orjson

MAX_KEY_LENGTH = 255


class Decision(Enum):
    NEW = "new"
    REPLAY = "replay"
    CONFLICT = "conflict"


def request_hash(body: dict[str, Any]) -> str:
    """Hash of the validated request, independent of key order and whitespace."""
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def scoped_key(merchant_id: str, key: str) -> str:
    return f"{merchant_id}:{key}"


def decide(stored_hash: str | None, incoming_hash: str) -> Decision:
    if stored_hash is None:
        return Decision.NEW
    return Decision.REPLAY if stored_hash == incoming_hash else Decision.CONFLICT


def check_key(key: str | None) -> str | None:
    """A reason the Idempotency-Key header is unusable, or None when it is fine."""
    if not key:
        return "the Idempotency-Key header is required for this request"
    if len(key) > MAX_KEY_LENGTH:
        return f"the Idempotency-Key header must be at most {MAX_KEY_LENGTH} characters"
    if not key.isprintable() or not key.isascii():
        return "the Idempotency-Key header must be printable ASCII"
    return None
