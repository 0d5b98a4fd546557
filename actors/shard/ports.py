"""What the shard needs from the world, as ports: a payment store, a provider and a clock.

The shard decides; these carry its decisions out. MongoDB (:mod:`actors.shard.mongo_store`) and
memory (:mod:`actors.shard.memory_store`, for unit tests) implement the store; the provider
gateways behind Ray (actors/runtime.py) or a scripted double implement the provider port; the
webhook transport is :class:`connectors.transport.Transport`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from actors.webhook_port import WebhookPort
from actors.writer import Committed
from infra.storage.mongo import Doc
from switch.ledger import Entry
from switch.messages import (
    Order,
    QueryRequest,
    QueryResult,
    StatusCheck,
    StatusRequest,
    SubmitResult,
)
from switch.payments import Payment, now_utc


class ProviderPort(Protocol):
    async def submit(self, orders: list[Order]) -> list[SubmitResult]: ...

    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]: ...

    async def query(self, requests: list[QueryRequest]) -> list[QueryResult]: ...

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]: ...


class Clock:
    """Wall time (ages, the sweeper), monotonic time (caches, circuits) and timestamps (history
    entries). A test drives its own."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return now_utc()


class PaymentStore(Protocol):
    """Everything the shard keeps durable. Writes follow the single-writer rule of
    actors/writer.py: ``insert`` answers once the new payment (its ``inflight`` row and journal
    entries with it) is committed; ``touch`` and ``drop_inflight`` ride in the next commit, which
    takes the payment's current version from ``payment_of``; after every commit ``on_commit``
    gets what became durable, and ``versions``/``seqs`` say, per payment, the version and the
    last history seq now durable."""

    versions: dict[str, int]
    seqs: dict[str, int]

    def bind(
        self,
        payment_of: Callable[[str], Payment],
        on_commit: Callable[[Committed], None],
        seal: Callable[[Doc, Payment], Doc] | None,
    ) -> None:
        """Called once by the shard, before ``start``."""

    async def start(self) -> None:
        """Take over the shard's writes (a dead predecessor's open transaction is aborted)."""

    async def stop(self) -> None: ...

    # --- the writer ----------------------------------------------------------------------------

    async def insert(self, payment: Payment, entries: list[Entry]) -> str:
        """``ok``, ``duplicate`` (the id exists) or ``error`` (not stored)."""

    async def post(self, entry: Entry) -> str:
        """An entry of no payment (a sandbox funding), in the next commit: ``ok``,
        ``duplicate`` (its id is in the journal) or ``error`` (not stored)."""

    def touch(self, payment_id: str, entries: list[Entry]) -> None: ...

    def drop_inflight(self, payment_id: str) -> None: ...

    def backlog(self) -> int:
        """New payments waiting for (or in) a commit."""

    # --- reads -----------------------------------------------------------------------------

    async def read(self, payment_id: str) -> Doc | None:
        """One stored payment (sealed), reads grouped with others arriving meanwhile."""

    async def read_many(self, ids: list[str]) -> list[Doc]:
        """The stored payments among ``ids`` (sealed), in any order."""

    async def balances(self) -> dict[str, int]:
        """The shard's committed account balances."""

    async def inflight(self) -> list[str]:
        """The payments a restart must resume."""

    async def merchant(self, merchant_id: str) -> Doc:
        """The merchant's document (webhook endpoint, routing preferences); ``{}`` if none."""

    async def by_phone_index(self, merchant_id: str, bidx: str, limit: int | None) -> list[Doc]:
        """A merchant's payments whose phone has this blind index, newest first."""

    # --- other writes ----------------------------------------------------------------------

    def webhooks(self) -> WebhookPort:
        """Webhook endpoints, the delivery log and endpoint health (actors/webhook_port.py)."""

    async def erase(self, payment_id: str, fields: Doc) -> None:
        """Overwrite a final payment's personal fields (``$set`` of top-level fields)."""
