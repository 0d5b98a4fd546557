"""The rails the switch moves money on, as one table built from the provider registry
(:mod:`switch.providers`): for each payment method, the provider that carries it, its
direction, what its destination looks like and its per-transaction limits.

Everything that branches on a method (orders, sweeps, postings, views, routing) asks this table
instead of naming methods, so a new rail is a row in its provider's description.
"""

from __future__ import annotations

from switch.fees import Fee
from switch.providers import Destination, Direction, Rail, providers, rails

__all__ = [
    "COLLECTION_METHODS",
    "PAYOUT_METHODS",
    "PROVIDERS",
    "RAILS",
    "REVERSIBLE",
    "Destination",
    "Direction",
    "Rail",
    "customer_initiated",
    "default_fees",
    "display_name",
    "provider_of",
    "rail",
    "recovered_by",
    "takes_command",
]

RAILS: dict[str, Rail] = rails()
PAYOUT_METHODS = frozenset(m for m, r in RAILS.items() if r.direction in ("payout", "reversal"))
COLLECTION_METHODS = frozenset(m for m, r in RAILS.items() if r.direction == "collection")
PROVIDERS: tuple[str, ...] = tuple(p.name for p in providers())
_NAMES = {p.name: p.display_name for p in providers()}


def rail(method: str) -> Rail:
    return RAILS[method]


def provider_of(method: str) -> str:
    return RAILS[method].provider


def default_fees() -> dict[str, Fee]:
    """Each rail's default fee, from its provider's description; a rail without one is free
    (a transfer's legs, a SACCO posting, a reversal)."""
    return {m: r.fee for m, r in RAILS.items() if r.fee is not None}


REVERSIBLE = frozenset(m for m, r in RAILS.items() if r.reversal)


def recovered_by(recovery: str) -> str:
    """The first rail whose missed results are recovered so ("stk_query": the STK Push rail)."""
    return next(m for m, r in RAILS.items() if r.recovery == recovery)


def customer_initiated() -> str:
    """The rail of payments customers make on their own (a paybill's C2B)."""
    return next(m for m, r in RAILS.items() if r.customer_initiated)


def takes_command(method: str) -> bool:
    """The rail sends a command the caller may name (Daraja's CommandID of a B2C payout)."""
    found = RAILS.get(method)
    return found is not None and found.default_command is not None


def display_name(provider: str) -> str:
    """How messages to merchants name a provider ("M-Pesa", "Airtel Money", ...)."""
    return _NAMES.get(provider, "the provider")
