"""Smart routing (pure): which rail carries a payment whose method is ``auto``, and which rail
takes over while a provider's circuit is open.

The destination decides the candidates: a phone's operator (by MSISDN prefix), a bank code, a
SACCO code. A merchant's preferences reorder them or turn failover off. The first candidate whose
provider is up and whose limits admit the amount wins; the decision and its reason are recorded on
the payment. An explicitly named method is never switched to another rail: the merchant chose it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from routing.operators import OPERATOR_NAMES, operator_of
from switch.providers import ACCOUNT_KEYS, providers
from switch.rails import RAILS, Direction, display_name

_OPERATORS_OF = {p.name: frozenset(p.phone_operators) for p in providers()}
_OPERATOR_NAMES = OPERATOR_NAMES
# Who carries money to bank accounts ("PesaLink"): named when one is asked to debit one.
_BANK_CARRIERS = " or ".join(
    dict.fromkeys(display_name(r.provider) for r in RAILS.values() if r.destination == "bank")
)


@dataclass(frozen=True, slots=True)
class Preferences:
    """A merchant's routing choices (stored on the merchant; defaults when absent)."""

    prefer: tuple[str, ...] = ()  # methods to try first, in order
    avoid: frozenset[str] = frozenset()  # methods never chosen by auto
    failover: bool = True  # try the next rail while a provider's circuit is open

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> Preferences:
        doc = doc or {}
        return cls(
            tuple(m for m in doc.get("prefer", ()) if m in RAILS),
            frozenset(m for m in doc.get("avoid", ()) if m in RAILS),
            bool(doc.get("failover", True)),
        )


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    reason: str
    requested: str
    candidates: tuple[str, ...] = field(default=())

    def to_doc(self) -> dict[str, Any]:
        return {
            "requested": self.requested,
            "method": self.method,
            "reason": self.reason,
            "candidates": list(self.candidates),
        }


@dataclass(frozen=True, slots=True)
class NoRoute:
    field: str
    reason: str


def candidates(direction: Direction, destination: dict[str, Any], phone: str) -> tuple[str, ...]:
    """Every rail that can reach this destination, best first (before preferences), as the
    providers describe themselves (switch/providers.py). To a phone: the rails of the phone's
    own operator first, then, for a payout, those that reach any phone through a directory
    (PesaLink's, to the bank account the number is linked to)."""
    for kind, (key, _label) in ACCOUNT_KEYS.items():
        if destination.get(key):
            return _rails(direction, kind)
    operator = operator_of(phone) if phone else "other"
    own = tuple(
        m for m in _rails(direction, "phone") if operator in _OPERATORS_OF[RAILS[m].provider]
    )
    if direction != "payout":
        return own
    return own + tuple(m for m in _rails(direction) if RAILS[m].reaches_any_phone)


def _rails(direction: Direction, destination: str | None = None) -> tuple[str, ...]:
    return tuple(
        m
        for m, r in RAILS.items()
        if r.routable
        and r.direction == direction
        and (destination is None or r.destination == destination)
    )


def choose(
    requested: str,
    direction: Direction,
    destination: dict[str, Any],
    phone: str,
    amount_minor: int,
    prefs: Preferences,
    down: Collection[str],
) -> Route | NoRoute:
    """The rail for a payment. ``down`` names the providers whose circuit is open."""
    if requested != "auto":
        return Route(requested, "requested by the merchant", requested, (requested,))
    found = candidates(direction, destination, phone)
    ordered = _ordered(found, prefs)
    usable = [m for m in ordered if RAILS[m].min_minor <= amount_minor <= RAILS[m].max_minor]
    if not usable:
        return _no_route(direction, destination, phone, amount_minor, found)
    why = _why(destination, phone)
    first = usable[0]
    if RAILS[first].provider not in down:
        return Route(first, f"auto: {why}", requested, tuple(usable))
    if prefs.failover:
        for method in usable[1:]:
            if RAILS[method].provider not in down:
                reason = (
                    f"failover: {RAILS[first].label} is unavailable (circuit open); "
                    f"{RAILS[method].label} reaches the same {why.split(' ')[0]} destination"
                )
                return Route(method, reason, requested, tuple(usable))
    # Nothing else can take it: keep the first choice; the shard answers 503 with Retry-After.
    return Route(
        first, f"auto: {why} (provider unavailable, no failover rail)", requested, tuple(usable)
    )


def _ordered(found: Sequence[str], prefs: Preferences) -> list[str]:
    allowed = [m for m in found if m not in prefs.avoid]
    rank = {m: i for i, m in enumerate(prefs.prefer)}
    return sorted(allowed, key=lambda m: rank.get(m, len(rank) + found.index(m)))


def _why(destination: dict[str, Any], phone: str) -> str:
    for key, label in ACCOUNT_KEYS.values():
        if destination.get(key):
            return f"{label} {destination[key]}"
    return f"phone on {_OPERATOR_NAMES[operator_of(phone)]}"


def _no_route(
    direction: Direction,
    destination: dict[str, Any],
    phone: str,
    amount_minor: int,
    found: Sequence[str],
) -> NoRoute:
    if found:
        limits = ", ".join(
            f"{RAILS[m].label} {RAILS[m].min_minor // 100}-{RAILS[m].max_minor // 100}"
            for m in found
        )
        return NoRoute("amount", f"no rail to this destination takes this amount ({limits} KES)")
    if destination.get(ACCOUNT_KEYS["bank"][0]):
        return NoRoute(
            "bank", f"a bank account cannot be debited: {_BANK_CARRIERS} only pushes money"
        )
    operator = _OPERATOR_NAMES[operator_of(phone)] if phone else "this destination"
    verb = "collect from" if direction == "collection" else "pay"
    return NoRoute("phone", f"the switch cannot {verb} a number on {operator}")
