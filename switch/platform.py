"""Aggregators and their sub-merchants (pure), after Stripe Connect's connected accounts.

An aggregator is a merchant whose ``kind`` the operator set to ``aggregator``. It creates
sub-merchants, acts on behalf of one with its own credentials and a ``Switch-Sub-Merchant``
header, and takes a platform fee on each of their collections.

- A sub-merchant's id carries its parent's (``mch_<parent>_<own>``), so both are on the same
  shard (routing/shards.py hashes the family): the platform fee then moves between the two
  balances in the same transaction as the collection that earns it.
- The platform fee is split at collection, not at settlement (the issue's first idea): the
  aggregator earns it when the customer pays, one shard holds both balances, so the split is
  one more balanced entry in the collection's own transaction, with an id derived from the
  payment (``<payment>:platform_fee``): it can neither be lost between two steps nor posted
  twice, and settlement stays one merchant's balance paid to that merchant's account.
- What a sub-merchant does not set (webhook endpoint, limits, routing preferences) is its
  parent's: :func:`effective` resolves it, in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from switch.errors import ValidationFailed

SUB_MERCHANT_HEADER = "Switch-Sub-Merchant"
KINDS = ("standard", "aggregator", "government")
# Operator bounds when the operator sets none on an aggregator: at most 5 % and KES 100.
DEFAULT_MAX_BPS = 500
DEFAULT_MAX_FIXED_MINOR = 100_00
# What a sub-merchant inherits from its parent when it has none of its own; the webhook endpoint
# is inherited as a pair (URL and secret), so a receiver always gets signatures it can verify.
INHERITED = ("limits", "routing")
_SUB_ID = re.compile(r"^(mch_[0-9A-Z]{26})_[0-9A-Z]{26}$")


def family(merchant_id: str) -> str:
    """The id a merchant's shard is chosen by: its parent's for a sub-merchant, its own else."""
    match = _SUB_ID.match(merchant_id)
    return match.group(1) if match else merchant_id


def endpoint_owners(merchant_id: str) -> tuple[str, ...]:
    """Whose webhook endpoints receive a merchant's events, in order of preference: a
    sub-merchant's own, else its aggregator's (as its webhook URL and limits default to the
    aggregator's); a merchant without a parent only its own."""
    parent = family(merchant_id)
    return (merchant_id,) if parent == merchant_id else (merchant_id, parent)


def sub_merchant_id(parent_id: str, own: str) -> str:
    """A sub-merchant's id from its parent's and a fresh ULID (``own``)."""
    return f"{parent_id}_{own}"


@dataclass(frozen=True, slots=True)
class PlatformFee:
    """What the aggregator takes from each collection of a sub-merchant: basis points of the
    amount plus a fixed part, in cents."""

    bps: int = 0
    fixed_minor: int = 0

    def of(self, amount_minor: int, switch_fee_minor: int) -> int:
        """The fee on a collection of ``amount_minor``, rounded half up, never more than what
        the sub-merchant is credited (the amount less the switch's own fee)."""
        share = (amount_minor * self.bps + 5_000) // 10_000 + self.fixed_minor
        return max(0, min(share, amount_minor - switch_fee_minor))

    def to_doc(self) -> dict[str, int]:
        return {"bps": self.bps, "fixed_minor": self.fixed_minor}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> PlatformFee:
        doc = doc or {}
        return cls(int(doc.get("bps", 0)), int(doc.get("fixed_minor", 0)))


def fee_bounds(aggregator: Mapping[str, Any]) -> PlatformFee:
    """The most an aggregator may charge its sub-merchants, as its operator set it."""
    bounds = aggregator.get("platform_fee_bounds") or {}
    return PlatformFee(
        int(bounds.get("bps", DEFAULT_MAX_BPS)),
        int(bounds.get("fixed_minor", DEFAULT_MAX_FIXED_MINOR)),
    )


def check_fee(fee: PlatformFee, bounds: PlatformFee) -> None:
    """Refuse a platform fee outside the operator's bounds, naming the part at fault."""
    details = []
    if not 0 <= fee.bps <= bounds.bps:
        details.append({"field": "platform_fee.bps", "reason": f"must be 0 to {bounds.bps}"})
    if not 0 <= fee.fixed_minor <= bounds.fixed_minor:
        most = f"{bounds.fixed_minor // 100}.{bounds.fixed_minor % 100:02d}"
        details.append({"field": "platform_fee.fixed", "reason": f"must be 0 to {most} KES"})
    if details:
        raise ValidationFailed("the platform fee is outside the operator's bounds", details)


def effective(own: Mapping[str, Any], parent: Mapping[str, Any] | None) -> dict[str, Any]:
    """A merchant's configuration as the switch applies it: a sub-merchant's own settings,
    its parent's for those it has not set (``None`` or absent). A merchant without a parent is
    itself. The parent's KYC state caps the child's: a suspended aggregator's sub-merchants
    take no payments either."""
    doc = dict(own)
    if parent is None:
        return doc
    for name in INHERITED:
        if doc.get(name) is None and parent.get(name) is not None:
            doc[name] = parent[name]
    if doc.get("webhook_url") is None:
        doc["webhook_url"] = parent.get("webhook_url")
        doc["webhook_secret"] = parent.get("webhook_secret")
    if parent.get("kyc_status") == "suspended":
        doc["kyc_status"] = "suspended"
    if parent.get("status") in ("suspended", "closed"):
        doc["status"] = parent["status"]
    return doc


def settlement_settings(
    merchant_id: str, own: Mapping[str, Any] | None, parent: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """A merchant's settlement settings as settlement applies them: a sub-merchant that has
    nominated no account of its own is paid to its aggregator's confirmed account (with the
    aggregator's cooling-off), keeping its own schedule and reserve; one that nominated its own
    is paid there. Nothing is inherited by a merchant without a parent."""
    if family(merchant_id) == merchant_id or (own or {}).get("account"):
        return dict(own) if own is not None else None
    account = (parent or {}).get("account")
    if not account:
        return dict(own) if own is not None else None
    return {**(own or {}), "account": dict(account), "account_of": family(merchant_id)}


def acting_refusal(aggregator_id: str, sub: Mapping[str, Any] | None) -> str | None:
    """Why the aggregator may not act on behalf of ``sub``; None when it may."""
    if sub is None or sub.get("parent_id") != aggregator_id:
        return "the sub-merchant is not one of yours"
    if sub.get("status") == "closed":
        return "the sub-merchant is closed"
    return None


# What an aggregator may do to its own sub-merchants' status: closing is the operator's alone
# (a closed merchant's money must be settled first, which the operator oversees).
AGGREGATOR_ACTIONS = ("suspend", "reactivate")


def aggregator_status_refusal(action: str, sub: Mapping[str, Any]) -> str | None:
    """Why an aggregator may not ``action`` its sub-merchant ``sub``; None when it may. It
    suspends and reactivates, never closes, and never lifts a suspension the operator made
    (``status_by``; a suspension that does not say who made it is taken as the operator's)."""
    if action not in AGGREGATOR_ACTIONS:
        return (
            f"an aggregator may only {' or '.join(AGGREGATOR_ACTIONS)}; closing is the operator's"
        )
    lifted = action == "reactivate" and sub.get("status") == "suspended"
    if lifted and sub.get("status_by") != "aggregator":
        return "the operator suspended this sub-merchant; only the operator lifts it"
    return None


def platform_of(doc: Mapping[str, Any]) -> tuple[str, PlatformFee] | None:
    """A sub-merchant's aggregator and platform fee; None when it has none (or a zero fee)."""
    parent = doc.get("parent_id")
    fee = PlatformFee.from_doc(doc.get("platform_fee"))
    if not parent or (fee.bps == 0 and fee.fixed_minor == 0):
        return None
    return str(parent), fee
