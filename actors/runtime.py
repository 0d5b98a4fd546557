"""Every Ray call of the switch lives here: starting Ray, creating or finding the named actors,
and the thin actor shells that forward to the plain classes in :mod:`actors.shard` and
:mod:`actors.mpesa_gateway`.

Money-moving actor methods run at most once (``max_task_retries=0``): a failed call may hide one
that happened, so callers check state instead of resending. Actors restart after a crash
(``max_restarts=-1``) and rebuild themselves from MongoDB.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import ray
from prometheus_client import Metric

from actors.mpesa_gateway import MpesaGatewayCore
from actors.shard import ShardCore
from connectors.mpesa import C2bRegistration, DarajaAccount, DarajaConnector
from connectors.transport import AiohttpTransport
from switch.breaker import Breaker
from switch.config import Settings
from switch.live import Publisher
from switch.logs import setup_logging
from switch.messages import (
    C2bIn,
    CallbackIn,
    CallbackVerdict,
    CreatePayment,
    CreateReversal,
    Order,
    QueryRequest,
    QueryResult,
    Reply,
    StatusRequest,
    SubmitResult,
)
from switch.metrics import REGISTRY
from switch.storage.mongo import collections, connect

log = logging.getLogger(__name__)

# Reads, duplicate-safe callbacks and status queries may be retried across an actor restart;
# everything that can move money stays at most once.
IDEMPOTENT_RETRIES = 3

ACTOR_OPTIONS: dict[str, Any] = {
    "get_if_exists": True,
    "max_restarts": -1,
    "max_task_retries": 0,
    "num_cpus": 0,
    "max_concurrency": 10_000,
    # Spread the actors over the nodes of a cluster (a local Ray has one node: no effect).
    "scheduling_strategy": "SPREAD",
}


def init_ray(settings: Settings) -> None:
    if ray.is_initialized():
        return
    ray.init(
        # "local": start our own instance unless RAY_ADDRESS says which cluster to join, rather
        # than silently joining whatever cluster `ray start` last left on this machine.
        address=settings.ray_address or "local",
        namespace=settings.ray_namespace,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=True,
    )


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def ray_address() -> str:
    """The address other processes use to join this Ray instance."""
    return str(ray.get_runtime_context().gcs_address)


def shutdown_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()


def shard_name(shard: int) -> str:
    return f"shard-{shard}"


def mpesa_name(settings: Settings) -> str:
    return f"mpesa-{settings.mpesa_shortcode}"


def _metrics_snapshot(label: str) -> list[Metric]:
    families = []
    for family in REGISTRY.collect():
        for sample in family.samples:
            sample.labels["actor"] = label
        families.append(family)
    return families


@ray.remote
class MpesaActor:
    """Gateway for one Daraja account."""

    def __init__(self, settings: Settings) -> None:
        setup_logging(settings.log_level)
        account = DarajaAccount(
            base_url=settings.mpesa_base_url,
            consumer_key=settings.mpesa_consumer_key,
            consumer_secret=settings.mpesa_consumer_secret,
            shortcode=settings.mpesa_shortcode,
            passkey=settings.mpesa_passkey,
            transaction_type=settings.mpesa_transaction_type,
            party_b=settings.mpesa_till,
            initiator_name=settings.mpesa_initiator_name,
            initiator_password=settings.mpesa_initiator_password,
            certificate_pem=_read(settings.mpesa_certificate_file),
            b2c_shortcode=settings.mpesa_b2c_shortcode,
        )
        self.core = MpesaGatewayCore(
            DarajaConnector(account, timeout=settings.provider_timeout),
            AiohttpTransport(limit=settings.provider_concurrency),
            concurrency=settings.provider_concurrency,
            retries=settings.provider_retries,
            breaker=Breaker(settings.breaker_threshold, settings.breaker_cool_down),
        )
        self.label = mpesa_name(settings)

    async def submit(self, orders: list[Order]) -> list[SubmitResult]:
        return await self.core.submit(orders)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]:
        return await self.core.ask_status(requests)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def query_balance(self, result_url: str, timeout_url: str) -> bool:
        return await self.core.query_balance(result_url, timeout_url)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def register_c2b(self, registration: C2bRegistration) -> dict[str, str]:
        return await self.core.register_c2b(registration)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def query(self, requests: list[QueryRequest]) -> list[QueryResult]:
        return await self.core.query(requests)

    async def metrics(self) -> list[Metric]:
        return _metrics_snapshot(self.label)

    def node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


class RayProviderPort:
    """The shard's way to the provider gateway actor."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def submit(self, orders: list[Order]) -> list[SubmitResult]:
        handle = ray.get_actor(self.name)
        result: list[SubmitResult] = await handle.submit.remote(orders)
        return result

    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]:
        handle = ray.get_actor(self.name)
        result: list[bool] = await handle.ask_status.remote(requests)
        return result

    async def query(self, requests: list[QueryRequest]) -> list[QueryResult]:
        handle = ray.get_actor(self.name)
        result: list[QueryResult] = await handle.query.remote(requests)
        return result


@ray.remote
class ShardActor:
    """One merchant shard. Starts (and after a crash, recovers) on its first call."""

    def __init__(self, shard: int, settings: Settings, secret_key: bytes) -> None:
        setup_logging(settings.log_level)
        self.shard = shard
        self.settings = settings
        self.secret_key = secret_key
        self.core: ShardCore | None = None
        self.starting = asyncio.Lock()

    async def _core(self) -> ShardCore:
        if self.core is not None:
            return self.core
        async with self.starting:
            if self.core is not None:
                return self.core
            client = connect(self.settings.mongodb_uri or "")
            core = ShardCore(
                self.shard,
                self.settings,
                client,
                collections(client, self.settings.mongodb_db),
                RayProviderPort(mpesa_name(self.settings)),
                AiohttpTransport(),
                self.secret_key,
                Publisher(self.settings.redis_url) if self.settings.redis_url else None,
            )
            await core.start()
            self.core = core
            return core

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def ping(self) -> dict[str, int]:
        return (await self._core()).stats()

    async def create_payments(self, requests: list[CreatePayment]) -> list[Reply]:
        return await (await self._core()).create_payments(requests)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def get_payments(self, requests: list[tuple[str, str]]) -> list[Reply]:
        return await (await self._core()).get_payments(requests)

    async def create_reversals(self, requests: list[CreateReversal]) -> list[Reply]:
        return await (await self._core()).create_reversals(requests)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def c2b_confirmations(self, items: list[C2bIn]) -> list[CallbackVerdict]:
        return await (await self._core()).c2b_confirmations(items)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def apply_callbacks(self, items: list[CallbackIn]) -> list[CallbackVerdict]:
        return await (await self._core()).apply_callbacks(items)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def balance(self, merchant_id: str) -> Reply:
        return (await self._core()).balance(merchant_id)

    async def sweep(self) -> None:
        await (await self._core()).sweep()

    async def metrics(self) -> list[Metric]:
        await self._core()
        return _metrics_snapshot(shard_name(self.shard))

    def node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


class Actors:
    """Handles to the switch's actors, created on first use and shared by every api process."""

    def __init__(self, settings: Settings, secret_key: bytes) -> None:
        provider_cls: Any = MpesaActor
        shard_cls: Any = ShardActor
        self.provider = provider_cls.options(name=mpesa_name(settings), **ACTOR_OPTIONS).remote(
            settings
        )
        self.shards = [
            shard_cls.options(name=shard_name(i), **ACTOR_OPTIONS).remote(i, settings, secret_key)
            for i in range(settings.shards)
        ]

    async def placement(self) -> dict[str, str]:
        """Actor name -> the Ray node it runs on."""
        names = ["mpesa", *(shard_name(i) for i in range(len(self.shards)))]
        nodes = [await a.node.remote() for a in (self.provider, *self.shards)]
        return dict(zip(names, nodes, strict=True))

    async def ping_all(self) -> list[dict[str, int]]:
        return [await s.ping.remote() for s in self.shards]

    async def create(self, shard: int, items: list[CreatePayment]) -> list[Reply]:
        result: list[Reply] = await self.shards[shard].create_payments.remote(items)
        return result

    async def get(self, shard: int, items: list[tuple[str, str]]) -> list[Reply]:
        result: list[Reply] = await self.shards[shard].get_payments.remote(items)
        return result

    async def balance(self, shard: int, merchant_id: str) -> Reply:
        result: Reply = await self.shards[shard].balance.remote(merchant_id)
        return result

    async def reverse(self, shard: int, items: list[CreateReversal]) -> list[Reply]:
        result: list[Reply] = await self.shards[shard].create_reversals.remote(items)
        return result

    async def c2b(self, shard: int, items: list[C2bIn]) -> list[CallbackVerdict]:
        result: list[CallbackVerdict] = await self.shards[shard].c2b_confirmations.remote(items)
        return result

    async def register_c2b(self, registration: C2bRegistration) -> dict[str, str]:
        result: dict[str, str] = await self.provider.register_c2b.remote(registration)
        return result

    async def query_balance(self, result_url: str, timeout_url: str) -> bool:
        result: bool = await self.provider.query_balance.remote(result_url, timeout_url)
        return result

    async def callbacks(self, shard: int, items: list[CallbackIn]) -> list[CallbackVerdict]:
        result: list[CallbackVerdict] = await self.shards[shard].apply_callbacks.remote(items)
        return result

    async def metrics(self) -> list[Metric]:
        families: list[Metric] = []
        for actor in (self.provider, *self.shards):
            try:
                families.extend(await actor.metrics.remote())
            except Exception:
                log.warning("an actor did not answer the metrics call")
        return families
