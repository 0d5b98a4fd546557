"""One typed port per actor kind: what the api, the micro-batchers and the actors ask of a
shard, of the provider gateways and of the batch executor. Each operation has one name, the
same in the plain core (``ShardCore``, the gateway cores, ``BatchCore``), in the in-process
implementation (:mod:`actors.local`), in the Ray actor shells and their proxy
(:mod:`actors.runtime`) and in the api.

Beside each port, the operations that may be retried across an actor restart: reads and
duplicate-safe callbacks. Everything else can move money and runs at most once: a failed call
may hide one that happened, so callers check state instead of resending.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from prometheus_client import Metric

from actors.hub.port import HubPort
from actors.shard import ProviderPort
from connectors.mpesa import C2bRegistration
from switch.batches import BatchItem
from switch.messages import (
    C2bIn,
    CallbackIn,
    CallbackVerdict,
    CreatePayment,
    CreateReversal,
    CreateTransfer,
    HubCreditIn,
    Reply,
)


class ShardPort(Protocol):
    """One merchant shard (``actors.shard.ShardCore``), every operation awaitable."""

    async def stats(self) -> dict[str, int]: ...

    async def create_payments(self, requests: list[CreatePayment]) -> list[Reply]: ...

    async def get_payments(self, requests: list[tuple[str, str]]) -> list[Reply]: ...

    async def create_reversals(self, requests: list[CreateReversal]) -> list[Reply]: ...

    async def create_transfers(self, requests: list[CreateTransfer]) -> list[Reply]: ...

    async def get_transfers(self, requests: list[tuple[str, str]]) -> list[Reply]: ...

    async def by_phone(self, merchant_id: str, phone: str, limit: int) -> Reply: ...

    async def erase(self, merchant_id: str, phone: str) -> Reply: ...

    async def c2b_confirmations(self, items: list[C2bIn]) -> list[CallbackVerdict]: ...

    async def apply_callbacks(self, items: list[CallbackIn]) -> list[CallbackVerdict]: ...

    async def balance(self, merchant_id: str) -> Reply: ...

    async def sweep(self) -> None: ...

    async def held(self, merchant_id: str | None, limit: int) -> list[dict[str, Any]]: ...

    async def review(
        self,
        merchant_id: str | None,
        payment_id: str,
        decision: str,
        reviewer: str,
        reason: str | None,
    ) -> Reply: ...

    async def kyc_changed(self, merchant_id: str) -> None: ...

    async def fund(self, merchant_id: str, idem_key: str, amount_minor: int) -> Reply: ...

    async def hub_credits(self, items: list[HubCreditIn]) -> list[Reply]: ...


# Callbacks and C2B confirmations are duplicate-safe (the state table ignores a repeat); an
# erasure repeated finds nothing left to erase. A review approval queues an order: at most once.
SHARD_RETRY_SAFE = frozenset(
    {
        "stats",
        "get_payments",
        "get_transfers",
        "by_phone",
        "erase",
        "c2b_confirmations",
        "apply_callbacks",
        "balance",
        "held",
        "kyc_changed",
        "fund",  # its entry's id comes from the Idempotency-Key: a retry funds once
        "hub_credits",  # each payment's id comes from its hub transfer: a retry credits once
    }
)


class GatewayPort(ProviderPort, Protocol):
    """One provider's gateway (``connectors.mpesa.gateway``, ``connectors.airtel.gateway``...). A
    provider offers a part of these: M-Pesa answers status asynchronously (``ask_status``,
    ``query``) and registers C2B URLs; the others are checked synchronously (``check``); PesaLink
    and the SACCOs look accounts up (``lookup``: the provider's own arguments)."""

    async def start(self) -> None:
        """Start the gateway's own loops (the SACCO outbox and result files), if it has any."""

    async def lookup(self, *args: str | None) -> dict[str, str]: ...

    async def register_c2b(self, registration: C2bRegistration) -> dict[str, str]: ...

    async def query_balance(self, result_url: str, timeout_url: str) -> bool: ...

    async def generate_qr(self, order: Any) -> dict[str, str]: ...

    async def product_call(
        self, path: str, payload: object, headers: dict[str, str]
    ) -> dict[str, str]: ...


# Only ``submit`` (and ``start``, which starts loops that send) may move money.
GATEWAY_RETRY_SAFE = frozenset(
    {"check", "ask_status", "query", "lookup", "register_c2b", "query_balance", "generate_qr"}
)


class GatewaysPort(ProviderPort, Protocol):
    """Every provider gateway at once, each call to the gateway of its provider: ``submit`` by
    the order's type, ``check`` by the method's provider, ``lookup`` by ``provider``, and
    ``ask_status``, ``query``, ``register_c2b`` and ``query_balance`` to M-Pesa. The shard sees
    it as its ``ProviderPort``."""

    async def start(self) -> None: ...

    async def lookup(self, provider: str, *args: str | None) -> dict[str, str]: ...

    async def register_c2b(self, registration: C2bRegistration) -> dict[str, str]: ...

    async def query_balance(self, result_url: str, timeout_url: str) -> bool: ...

    async def generate_qr(self, order: Any) -> dict[str, str]: ...

    async def product_call(
        self, path: str, payload: object, headers: dict[str, str]
    ) -> dict[str, str]:
        """A Bill Manager or Ratiba request to M-Pesa (api/invoices.py, api/standing_orders.py)."""
        ...


class BatchPort(Protocol):
    """Bulk payouts (``actors.batches.BatchCore``)."""

    async def stats(self) -> dict[str, Any]: ...

    async def create(
        self, merchant_id: str, key: str, request_hash: str, items: list[BatchItem]
    ) -> Reply: ...

    async def get(self, merchant_id: str, batch_id: str, offset: int, limit: int) -> Reply: ...

    async def results_csv(self, merchant_id: str, batch_id: str) -> bytes | None: ...

    async def erase_items(self, merchant_id: str, items: list[tuple[str, str, str]]) -> int: ...


# Erasing twice erases the same.
BATCH_RETRY_SAFE = frozenset({"stats", "get", "results_csv", "erase_items"})


class SwitchPorts(Protocol):
    """Everything the api reaches: the shards (by number), the gateways and the batches."""

    @property
    def shards(self) -> Sequence[ShardPort]: ...

    @property
    def gateways(self) -> GatewaysPort: ...

    @property
    def batches(self) -> BatchPort: ...

    @property
    def hub(self) -> HubPort | None:
        """The interoperability hub's position actor (actors/hub/); None where not run."""

    async def start(self) -> None:
        """Every shard recovered, unfinished batches resumed, the gateways' own loops running."""

    async def placement(self) -> dict[str, str]:
        """Actor name -> where it runs."""

    async def metrics(self) -> list[Metric]:
        """The metric families of every actor, each sample labelled with its actor."""


async def ping(ports: SwitchPorts) -> None:
    """Every shard and the batch executor answer (readiness)."""
    await ports.batches.stats()
    for shard in ports.shards:
        await shard.stats()
