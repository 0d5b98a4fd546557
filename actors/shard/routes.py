"""The rail a new payment goes on: as named, or chosen for its destination (``auto``) from the
merchant's routing preferences (read from the store, cached for a minute) and the providers
whose circuit is open; and, from the same cached document, a sub-merchant's platform fee."""

from __future__ import annotations

from collections.abc import Callable

from actors.shard.notify import MERCHANT_TTL
from actors.shard.ports import Clock, PaymentStore
from infra.storage.mongo import Doc
from routing.router import NoRoute, Preferences, Route, choose
from switch.messages import CreatePayment
from switch.platform import PlatformFee, platform_of


class Routes:
    def __init__(self, store: PaymentStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.docs: dict[str, tuple[float, Doc]] = {}  # merchant -> (until, its document)

    async def route(self, req: CreatePayment, down: Callable[[], set[str]]) -> Route | NoRoute:
        """``down``: the providers to avoid (asked only when choosing)."""
        if req.method != "auto":
            return Route(req.method, "requested", req.method)
        prefs = await self.preferences(req.merchant_id)
        return choose(
            req.method, req.direction, req.destination, req.phone, req.amount_minor, prefs, down()
        )

    async def _merchant(self, merchant_id: str) -> Doc:
        cached = self.docs.get(merchant_id)
        if cached and cached[0] > self.clock.monotonic():
            return cached[1]
        doc = await self.store.merchant(merchant_id)
        self.docs[merchant_id] = (self.clock.monotonic() + MERCHANT_TTL, doc)
        return doc

    async def preferences(self, merchant_id: str) -> Preferences:
        return Preferences.from_doc((await self._merchant(merchant_id)).get("routing"))

    async def platform(self, merchant_id: str) -> tuple[str, PlatformFee] | None:
        """A sub-merchant's aggregator and platform fee (None for any other merchant)."""
        return platform_of(await self._merchant(merchant_id))
