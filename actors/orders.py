"""What the shard hands the provider gateway for a stored payment (pure): each provider builds
its own orders (``orders`` in its description, switch/providers.py)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from switch.messages import Order
from switch.payments import Payment
from switch.providers import provider, resolve
from switch.rails import provider_of

CallbackUrl = Callable[[str, str], str]  # (kind, payment id) -> URL with its token
OrderBuilder = Callable[[Payment, CallbackUrl], Order]


@cache
def _builder(name: str) -> OrderBuilder:
    builder: OrderBuilder = resolve(provider(name).orders)
    return builder


def order_for(payment: Payment, url: CallbackUrl) -> Order:
    return _builder(provider_of(payment.method))(payment, url)
