"""The payment methods and providers the API accepts and shows, from the provider registry
(switch/providers.py): a provider added there is accepted here without an edit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from switch.providers import provider, providers
from switch.rails import RAILS

# Collections the API can start (a prompt on the payer's phone): not C2B, not a transfer's debit.
COLLECT = tuple(
    m
    for m, r in RAILS.items()
    if r.routable and r.direction == "collection" and r.destination == "phone"
)
# Collections from a till's operator (B2B Express Checkout): named by the merchant with the
# till, never chosen by ``auto`` (which collects from phones).
COLLECT_FROM_TILL = tuple(
    m for m, r in RAILS.items() if r.direction == "collection" and r.destination == "till"
)
PAYOUT = tuple(m for m, r in RAILS.items() if r.routable and r.direction == "payout")
SHOWN_AS_PAYMENT = tuple(m for m, r in RAILS.items() if r.direction == "collection")
SHOWN_AS_PAYOUT = tuple(m for m, r in RAILS.items() if r.direction == "payout")
PROVIDER_NAMES = tuple(p.name for p in providers())

# A phone rail serves its provider's operators' numbers (none listed: any number).
OPERATORS_OF = {
    m: provider(r.provider).phone_operators for m, r in RAILS.items() if r.destination == "phone"
}
# Whose numbers ``auto`` can collect from.
COLLECTING_OPERATORS = tuple(dict.fromkeys(op for m in COLLECT for op in OPERATORS_OF[m]))


def destinations_of(method: str) -> tuple[str, ...]:
    """What a payout rail pays to: its destination kind, and any phone if it has a directory."""
    rail = RAILS[method]
    return (rail.destination, "phone") if rail.reaches_any_phone else (rail.destination,)


def payout_rails_to(kind: str) -> tuple[str, ...]:
    """The payout rails that can reach a destination of this kind (``auto``'s candidates)."""
    return tuple(m for m in PAYOUT if kind in destinations_of(m))


if TYPE_CHECKING:  # mypy sees plain strings; pydantic and the OpenAPI document see the enums
    CollectMethod = str
    PayoutMethod = str
    PaymentMethod = str
    PayoutShownMethod = str
    ProviderName = str
else:
    CollectMethod = Literal[(*COLLECT, *COLLECT_FROM_TILL, "auto")]
    PayoutMethod = Literal[("auto", *PAYOUT)]
    PaymentMethod = Literal[SHOWN_AS_PAYMENT]
    PayoutShownMethod = Literal[SHOWN_AS_PAYOUT]
    ProviderName = Literal[PROVIDER_NAMES]
