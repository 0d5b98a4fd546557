"""Merchant -> shard: a stable hash, the same in every api process and across restarts.

A sub-merchant is hashed by its parent's id (switch/platform.py ``family``), so an aggregator
and its sub-merchants share a shard: a platform fee moves between their balances in one
transaction. An ordinary merchant's id is its own family, so its shard is as it always was."""

from __future__ import annotations

import hashlib

from switch.platform import family


def shard_for(merchant_id: str, shard_count: int) -> int:
    digest = hashlib.blake2b(family(merchant_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard_count
