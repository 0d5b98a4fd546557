"""The rail a new payment goes on: as named, or chosen for its destination (``auto``) from the
merchant's routing preferences (read from the store, cached for a minute) and the providers
whose circuit is open."""

from __future__ import annotations

from collections.abc import Callable

from actors.shard.notify import MERCHANT_TTL
from actors.shard.ports import Clock, PaymentStore
from routing.router import NoRoute, Preferences, Route, choose
from switch.messages import CreatePayment


class Routes:
    def __init__(self, store: PaymentStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.prefs: dict[str, tuple[float, Preferences]] = {}  # merchant -> (until, prefs)

    async def route(self, req: CreatePayment, down: Callable[[], set[str]]) -> Route | NoRoute:
        """``down``: the providers to avoid (asked only when choosing)."""
        if req.method != "auto":
            return Route(req.method, "requested", req.method)
        prefs = await self.preferences(req.merchant_id)
        return choose(
            req.method, req.direction, req.destination, req.phone, req.amount_minor, prefs, down()
        )

    async def preferences(self, merchant_id: str) -> Preferences:
        cached = self.prefs.get(merchant_id)
        if cached and cached[0] > self.clock.monotonic():
            return cached[1]
        doc = await self.store.merchant(merchant_id)
        prefs = Preferences.from_doc(doc.get("routing"))
        self.prefs[merchant_id] = (self.clock.monotonic() + MERCHANT_TTL, prefs)
        return prefs
