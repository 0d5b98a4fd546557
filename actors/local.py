"""The ports (:mod:`actors.ports`) implemented in this event loop, over the plain cores.

The Ray actor shells of :mod:`actors.runtime` are these classes run inside actors (so the
forwarding to each core is written once); tests and a single-process switch use them directly.
Each core is built and started on first use, which in an actor means again after a restart:
the core rebuilds itself from MongoDB.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from prometheus_client import Metric

from actors.batches import BatchCore
from actors.hub.port import HubPort
from actors.ports import BatchPort, GatewayPort, GatewaysPort, ShardPort, SwitchPorts, ping
from actors.shard import PaymentStore, ProviderPort, ShardCore
from connectors.mpesa import C2bRegistration
from connectors.transport import Transport
from switch.batches import BatchItem
from switch.config import Settings
from switch.messages import (
    C2bIn,
    CallbackIn,
    CallbackVerdict,
    CreatePayment,
    CreateReversal,
    CreateTransfer,
    HubCreditIn,
    Order,
    ProviderOutcome,
    QueryRequest,
    QueryResult,
    Reply,
    StatusCheck,
    StatusRequest,
    SubmitResult,
)
from switch.providers import offering
from switch.rails import provider_of
from switch.states import Event

log = logging.getLogger(__name__)

T = TypeVar("T")


class Started(Generic[T]):
    """A core made and started by ``make`` on the first call, once, however many callers wait."""

    def __init__(self, make: Callable[[], Awaitable[T]]) -> None:
        self._make = make
        self._core: T | None = None
        self._lock = asyncio.Lock()

    @property
    def core(self) -> T | None:
        return self._core

    async def __call__(self) -> T:
        if self._core is not None:
            return self._core
        async with self._lock:
            if self._core is None:
                self._core = await self._make()
            return self._core


def shard_core(
    shard: int,
    settings: Settings,
    store: PaymentStore,
    provider: ProviderPort,
    webhook_transport: Transport,
    secret_key: bytes,
    **parts: Any,
) -> ShardCore:
    """The shard's one wiring, for the switch (actors/runtime.py, over MongoDB and the Ray
    gateways) and for tests (over the in-memory store and a scripted provider). ``parts``: the
    optional ones (publisher, sealer, compliance, erase_batch_items, clock)."""
    return ShardCore(
        shard,
        settings,
        store,
        provider,
        webhook_transport,
        secret_key,
        default_shortcode=settings.mpesa_shortcode,  # a reversal's, if its collection has none
        **parts,
    )


class LocalShard:
    """A :class:`ShardPort` over a ``ShardCore`` (``make`` builds and starts it)."""

    def __init__(self, make: Callable[[], Awaitable[ShardCore]]) -> None:
        self._core = Started(make)

    async def stats(self) -> dict[str, int]:
        return (await self._core()).stats()

    async def create_payments(self, requests: list[CreatePayment]) -> list[Reply]:
        return await (await self._core()).create_payments(requests)

    async def get_payments(self, requests: list[tuple[str, str]]) -> list[Reply]:
        return await (await self._core()).get_payments(requests)

    async def create_reversals(self, requests: list[CreateReversal]) -> list[Reply]:
        return await (await self._core()).create_reversals(requests)

    async def create_transfers(self, requests: list[CreateTransfer]) -> list[Reply]:
        return await (await self._core()).create_transfers(requests)

    async def get_transfers(self, requests: list[tuple[str, str]]) -> list[Reply]:
        return await (await self._core()).get_transfers(requests)

    async def by_phone(self, merchant_id: str, phone: str, limit: int) -> Reply:
        return await (await self._core()).by_phone(merchant_id, phone, limit)

    async def erase(self, merchant_id: str, phone: str) -> Reply:
        return await (await self._core()).erase(merchant_id, phone)

    async def c2b_confirmations(self, items: list[C2bIn]) -> list[CallbackVerdict]:
        return await (await self._core()).c2b_confirmations(items)

    async def apply_callbacks(self, items: list[CallbackIn]) -> list[CallbackVerdict]:
        return await (await self._core()).apply_callbacks(items)

    async def balance(self, merchant_id: str) -> Reply:
        return (await self._core()).balance(merchant_id)

    async def sweep(self) -> None:
        await (await self._core()).sweep()

    async def held(self, merchant_id: str | None, limit: int) -> list[dict[str, Any]]:
        return (await self._core()).held(merchant_id, limit)

    async def review(
        self,
        merchant_id: str | None,
        payment_id: str,
        decision: str,
        reviewer: str,
        reason: str | None,
    ) -> Reply:
        core = await self._core()
        return await core.review(merchant_id, payment_id, decision, reviewer, reason)

    async def kyc_changed(self, merchant_id: str) -> None:
        (await self._core()).kyc_changed(merchant_id)

    async def fund(self, merchant_id: str, idem_key: str, amount_minor: int) -> Reply:
        return await (await self._core()).fund(merchant_id, idem_key, amount_minor)

    async def hub_credits(self, items: list[HubCreditIn]) -> list[Reply]:
        return await (await self._core()).hub_credits(items)


class LocalGateway:
    """A :class:`GatewayPort` over one provider's gateway core. The cores offer the part of the
    port their provider has (typed ``Any`` here for that reason); asking one for an operation
    its provider lacks is a programming error (AttributeError)."""

    def __init__(self, make: Callable[[], Awaitable[Any]]) -> None:
        self._core = Started(make)
        self._started = False

    async def _ready(self) -> Any:
        core = await self._core()
        if not self._started and hasattr(core, "start"):
            await core.start()
        self._started = True
        return core

    async def start(self) -> None:
        await self._ready()

    async def submit(self, orders: list[Order]) -> list[SubmitResult]:
        result: list[SubmitResult] = await (await self._ready()).submit(orders)
        return result

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]:
        result: list[QueryResult] = await (await self._ready()).check(requests)
        return result

    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]:
        result: list[bool] = await (await self._ready()).ask_status(requests)
        return result

    async def query(self, requests: list[QueryRequest]) -> list[QueryResult]:
        result: list[QueryResult] = await (await self._ready()).query(requests)
        return result

    async def lookup(self, *args: str | None) -> dict[str, str]:
        result: dict[str, str] = await (await self._ready()).lookup(*args)
        return result

    async def register_c2b(self, registration: C2bRegistration) -> dict[str, str]:
        result: dict[str, str] = await (await self._ready()).register_c2b(registration)
        return result

    async def query_balance(self, result_url: str, timeout_url: str) -> bool:
        result: bool = await (await self._ready()).query_balance(result_url, timeout_url)
        return result

    async def generate_qr(self, order: Any) -> dict[str, str]:
        result: dict[str, str] = await (await self._ready()).generate_qr(order)
        return result

    async def product_call(
        self, path: str, payload: object, headers: dict[str, str]
    ) -> dict[str, str]:
        result: dict[str, str] = await (await self._ready()).product_call(path, payload, headers)
        return result


def provider_of_order(order: Order) -> str:
    """Each order type names the provider whose gateway sends it (a provider's own order types
    do the same: connectors/<name>/orders.py)."""
    return order.provider


class Gateways:
    """The :class:`GatewaysPort`: each call to its provider's gateway, found by ``gateway_of``
    (the gateway itself, or a proxy to its actor). ``providers``: those ``start`` starts."""

    def __init__(self, providers: Iterable[str], gateway_of: Callable[[str], GatewayPort]) -> None:
        self.providers = tuple(providers)
        self.gateway_of = gateway_of

    async def start(self) -> None:
        await asyncio.gather(*(self.gateway_of(p).start() for p in self.providers))

    async def submit(self, orders: list[Order]) -> list[SubmitResult]:
        groups: dict[str, list[Order]] = {}
        for order in orders:
            groups.setdefault(provider_of_order(order), []).append(order)
        answers = await asyncio.gather(
            *(self.gateway_of(p).submit(group) for p, group in groups.items()),
            return_exceptions=True,
        )
        results: list[SubmitResult] = []
        for (provider, group), answer in zip(groups.items(), answers, strict=True):
            if isinstance(answer, BaseException):
                # The gateway died or the call was lost: any of these may have been sent.
                log.warning("%s gateway call failed: %s", provider, answer)
                lost = ProviderOutcome(Event.ANSWER_LOST)
                results.extend(SubmitResult(o.payment_id, lost) for o in group)
            else:
                results.extend(answer)
        return results

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]:
        groups: dict[str, list[StatusCheck]] = {}
        for r in requests:
            groups.setdefault(provider_of(r.method), []).append(r)
        results: list[QueryResult] = []
        for provider, group in groups.items():
            results.extend(await self.gateway_of(provider).check(group))
        return results

    # Operations one provider offers (its description's ``operations``: M-Pesa's today).
    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]:
        return await self.gateway_of(offering("ask_status")).ask_status(requests)

    async def query(self, requests: list[QueryRequest]) -> list[QueryResult]:
        return await self.gateway_of(offering("query")).query(requests)

    async def lookup(self, provider: str, *args: str | None) -> dict[str, str]:
        return await self.gateway_of(provider).lookup(*args)

    async def register_c2b(self, registration: C2bRegistration) -> dict[str, str]:
        return await self.gateway_of(offering("register_c2b")).register_c2b(registration)

    async def query_balance(self, result_url: str, timeout_url: str) -> bool:
        return await self.gateway_of(offering("query_balance")).query_balance(
            result_url, timeout_url
        )

    async def generate_qr(self, order: Any) -> dict[str, str]:
        return await self.gateway_of(offering("generate_qr")).generate_qr(order)

    async def product_call(
        self, path: str, payload: object, headers: dict[str, str]
    ) -> dict[str, str]:
        gateway = self.gateway_of(offering("product_call"))
        return await gateway.product_call(path, payload, headers)


class LocalBatches:
    """A :class:`BatchPort` over a ``BatchCore`` (``make`` builds and starts it)."""

    def __init__(self, make: Callable[[], Awaitable[BatchCore]]) -> None:
        self._core = Started(make)

    async def stats(self) -> dict[str, Any]:
        """Start the core (resuming unfinished batches) and report its counters."""
        return (await self._core()).stats()

    async def create(
        self, merchant_id: str, key: str, request_hash: str, items: list[BatchItem]
    ) -> Reply:
        return await (await self._core()).create(merchant_id, key, request_hash, items)

    async def get(self, merchant_id: str, batch_id: str, offset: int, limit: int) -> Reply:
        return await (await self._core()).get(merchant_id, batch_id, offset, limit)

    async def results_csv(self, merchant_id: str, batch_id: str) -> bytes | None:
        return await (await self._core()).results_csv(merchant_id, batch_id)

    async def erase_items(self, merchant_id: str, items: list[tuple[str, str, str]]) -> int:
        return await (await self._core()).erase_items(merchant_id, items)


class LocalSwitch:
    """:class:`SwitchPorts` in one process: everything runs here, so metrics are this
    process's own (the api already reports them) and every part is placed ``local``."""

    def __init__(
        self,
        shards: Sequence[ShardPort],
        gateways: GatewaysPort,
        batches: BatchPort,
        hub: HubPort | None = None,
    ) -> None:
        self.shards = shards
        self.gateways = gateways
        self.batches = batches
        self.hub = hub

    async def start(self) -> None:
        await ping(self)
        await self.gateways.start()

    async def placement(self) -> dict[str, str]:
        return {f"shard-{i}": "local" for i in range(len(self.shards))} | {"batches": "local"}

    async def metrics(self) -> list[Metric]:
        return []


if TYPE_CHECKING:  # mypy checks each implementation against its port
    _shard: type[ShardPort] = LocalShard
    _gateway: type[GatewayPort] = LocalGateway
    _gateways: type[GatewaysPort] = Gateways
    _batches: type[BatchPort] = LocalBatches
    _switch: type[SwitchPorts] = LocalSwitch
