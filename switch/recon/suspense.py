"""The switch's suspense account (pure): money a provider holds for the switch that belongs to no
merchant yet, booked on the journal so it sits inside a balance instead of outside them all.

``switch:suspense`` is a liability like a merchant's balance (positive: the switch owes it to
someone, a merchant or the payer). A run that finds such money books it against the provider
float's correction account (``provider:<name>:float:recon``, where write-offs go too), so the
float equals what the provider holds:

- an unmatched C2B payment (``missing_in_switch`` with no switch payment): its whole amount;
- an over-payment (``amount_mismatch`` into the switch, the provider showing more): the excess;
- a provider's duplicate (one transaction listed twice into the switch): what the copies add
  beyond the one the switch has (or beyond the first copy, if the switch has none).

Why not the shard: the shards keep their own accounts in memory (``merchant:*``, the per-shard
``provider:*:float:s<N>``, ``switch:fees:s<N>``) and load only balance documents marked with
their shard, so a switch-owned account no shard holds can be posted by reconciliation in its own
MongoDB transaction without any shard's memory going stale. Money leaves suspense by entries
whose ids come from the break, so a repeated run, approval or retry never posts twice:

- allocated or confirmed to a merchant: the C2B path's own collection entry credits the merchant
  against the shard's float once M-Pesa's record agrees; the run that then sees the payment
  matched (the break ``resolved``) releases the suspense back to the float correction
  (``<break>:suspense:release``). Until that run the float shows the money twice (never zero):
  releasing earlier would leave nothing booked if M-Pesa's record then disagreed;
- written off: the switch keeps it (``switch:write_offs``) out of suspense;
- no longer found (a corrected statement, the break ``cleared``): the booking is reversed.
"""

from __future__ import annotations

from typing import Any

from switch.ledger import Entry, Line
from switch.recon.breaks import WRITE_OFFS, recon_float

SUSPENSE = "switch:suspense"


def unowned(brk: dict[str, Any]) -> int:
    """Cents of ``brk`` (a finding's document) that belong to nobody, or 0."""
    if brk.get("direction") != "in" or str(brk.get("key", "")).startswith("switch:"):
        return 0  # money out of the switch, or the switch's own double credit
    kind = brk.get("kind")
    shown = int(brk.get("provider_amount") or 0)
    booked = brk.get("switch_amount")
    if kind == "missing_in_switch":
        return shown if not brk.get("switch_status") else 0  # no payment at all
    if kind == "amount_mismatch":
        return max(shown - int(booked or 0), 0)
    if kind == "duplicate":
        records = brk.get("records") or []
        once = int(booked) if booked is not None else int(records[0]["amount"]) if records else 0
        return max(shown - once, 0)
    return 0


def book(brk: dict[str, Any], cents: int) -> Entry:
    """Found: the provider holds ``cents`` more of the switch's money, owed to nobody yet."""
    return _move(brk, "suspense", (recon_float(brk["provider"]), -cents), (SUSPENSE, cents))


def release(brk: dict[str, Any], cents: int) -> Entry:
    """Allocated or confirmed, and settled by the C2B path: suspense gives it back to the float
    correction (the shard's collection entry has booked it against the shard's float)."""
    return _move(brk, "suspense:release", (SUSPENSE, -cents), (recon_float(brk["provider"]), cents))


def unbook(brk: dict[str, Any], cents: int) -> Entry:
    """Cleared: no record shows the money any more; the booking is undone."""
    return _move(brk, "suspense:clear", (SUSPENSE, -cents), (recon_float(brk["provider"]), cents))


def write_off(brk: dict[str, Any], cents: int) -> Entry:
    """Written off: the switch keeps money nobody claims."""
    return _move(brk, "write_off", (SUSPENSE, -cents), (WRITE_OFFS, cents))


def _move(brk: dict[str, Any], kind: str, debit: tuple[str, int], credit: tuple[str, int]) -> Entry:
    return Entry(
        f"{brk['_id']}:{kind}",
        kind.replace(":", "_"),
        brk.get("merchant_id") or "",
        brk["_id"],
        (Line(*debit), Line(*credit)),
    )
