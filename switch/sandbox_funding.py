"""Funding a sandbox merchant in one call (pure): a balanced journal entry from the shard's
sandbox funding account to the merchant's available balance, so a test integration can send
payouts and transfers without first collecting money through the simulators.

- Sandbox only: ``serve --sandbox`` (the route refuses otherwise). The money is play money,
  but it is booked like any other: the funding account goes negative by what it gave, so the
  journal still balances and every report adds up.
- Posted by the merchant's shard, through its single writer (actors/writer.py), in the same
  way as a collection: the shard keeps balances in memory and updates them from what each
  commit made durable, so a funding can never leave the shard's view of the balance stale.
- The funding account is per shard (``sandbox:funding:s<N>``), as the switch's own accounts
  are: shards never write the same balance document.
- Idempotent: the entry's id comes from the merchant and the caller's Idempotency-Key, so the
  journal's primary key refuses a repeat; the writer answers it as a duplicate.
"""

from __future__ import annotations

import hashlib

from switch.ledger import Entry, Line, available

KIND = "sandbox_funding"
# At most KES 1,000,000 a call: enough for any test, small enough to spot a typo.
MAX_MINOR = 1_000_000_00


def funding_account(shard: int) -> str:
    return f"sandbox:funding:s{shard}"


def funding_id(merchant_id: str, idem_key: str) -> str:
    """The entry's id (and the funding's): one per merchant and Idempotency-Key."""
    digest = hashlib.sha256(f"{merchant_id}\x00{idem_key}".encode()).hexdigest()[:26]
    return f"fund_{digest}"


def amount_refusal(amount_minor: int) -> str | None:
    """Why ``amount_minor`` may not be funded; None when it may."""
    if amount_minor <= 0:
        return "must be more than 0"
    if amount_minor > MAX_MINOR:
        return "must be at most 1000000 KES per call"
    return None


def funding(merchant_id: str, idem_key: str, amount_minor: int, shard: int) -> Entry:
    """The entry: the shard's funding account gives ``amount_minor`` to the merchant."""
    fid = funding_id(merchant_id, idem_key)
    return Entry(
        f"{fid}:{KIND}",
        KIND,
        merchant_id,
        fid,
        (Line(funding_account(shard), -amount_minor), Line(available(merchant_id), amount_minor)),
    )
