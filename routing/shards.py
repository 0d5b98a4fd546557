"""Merchant -> shard: a stable hash, the same in every api process and across restarts."""

from __future__ import annotations

import hashlib


def shard_for(merchant_id: str, shard_count: int) -> int:
    digest = hashlib.blake2b(merchant_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count
