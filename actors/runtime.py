"""Every Ray call of the switch lives here: starting Ray, creating or finding the named actors,
the actor shells (the in-process ports of :mod:`actors.local`, run inside actors) and the proxy
that gives each actor's handle back its port (:mod:`actors.ports`).

Money-moving actor methods run at most once (``max_task_retries=0``): a failed call may hide one
that happened, so callers check state instead of resending; the proxy retries the operations each
port lists as retry-safe. Actors restart after a crash (``max_restarts=-1``) and rebuild
themselves from MongoDB.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import ray
from prometheus_client import Metric

from actors.batches import BatchCore
from actors.compliance import Compliance
from actors.hub.core import HubCore, LocalHub
from actors.hub.notify import ParticipantNotifier
from actors.hub.port import HUB_RETRY_SAFE, HubPort
from actors.hub.shell import HubShell
from actors.local import Gateways, LocalBatches, LocalGateway, LocalShard, shard_core
from actors.ports import (
    BATCH_RETRY_SAFE,
    GATEWAY_RETRY_SAFE,
    SHARD_RETRY_SAFE,
    BatchPort,
    GatewayPort,
    ShardPort,
    SwitchPorts,
    ping,
)
from actors.shard import MongoPaymentStore, ShardCore
from infra import cost
from infra.hub_store import HubStore
from infra.keystore import sealer_for
from infra.live import Publisher
from infra.metrics import REGISTRY
from infra.netguard import GuardedTransport
from infra.storage.mongo import MONEY_WRITES, Collections, collections, connect
from routing.shards import shard_for
from switch.config import Settings
from switch.hub.participants import Participant
from switch.ids import shard_of
from switch.logs import quiet_ray_console, setup_logging
from switch.messages import CallbackIn, CreatePayment, Reply
from switch.pii import Sealer
from switch.providers import provider as provider_spec
from switch.providers import providers, resolve

log = logging.getLogger(__name__)

# Reads, duplicate-safe callbacks and status queries may be retried across an actor restart;
# everything that can move money stays at most once.
IDEMPOTENT_RETRIES = 3

# Every provider with a gateway, each in its own actor ("mpesa", "gateway-airtel", ...).
PROVIDERS_WITH_GATEWAYS: tuple[str, ...] = tuple(p.name for p in providers() if p.gateway)

ACTOR_OPTIONS: dict[str, Any] = {
    "get_if_exists": True,
    "max_restarts": -1,
    "max_task_retries": 0,
    "num_cpus": 0,
    "max_concurrency": 10_000,
    # Spread the actors over the nodes of a cluster (a local Ray has one node: no effect).
    "scheduling_strategy": "SPREAD",
}


def shard_options(settings: Settings) -> dict[str, Any]:
    """A shard actor's options: the common ones, and one unit of ``SWITCH_SHARD_RESOURCE`` when
    set, so that on a cluster the shards (the writers, most of the actors' CPU) go to the nodes
    meant for them; SPREAD still spreads them over those nodes."""
    if not settings.shard_resource:
        return ACTOR_OPTIONS
    return {**ACTOR_OPTIONS, "resources": {settings.shard_resource: 1}}


def init_ray(settings: Settings) -> None:
    if ray.is_initialized():
        return
    quiet_ray_console()  # no colour prefix on forwarded JSON lines (switch/logs.py)
    ray.init(
        # "local": start our own instance unless RAY_ADDRESS says which cluster to join, rather
        # than silently joining whatever cluster `ray start` last left on this machine.
        address=settings.ray_address or "local",
        namespace=settings.ray_namespace,
        include_dashboard=False,
        logging_level=logging.WARNING,
        log_to_driver=True,
    )


def ray_address() -> str:
    """The address other processes use to join this Ray instance."""
    return str(ray.get_runtime_context().gcs_address)


def shutdown_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()


def shard_name(shard: int) -> str:
    return f"shard-{shard}"


def _metrics_snapshot(label: str) -> list[Metric]:
    families = []
    for family in REGISTRY.collect():
        for sample in family.samples:
            sample.labels["actor"] = label
        families.append(family)
    return families


def gateway_name(provider: str) -> str:
    return f"gateway-{provider}"


def _build_gateway(provider: str, settings: Settings) -> Any:
    """The plain gateway core of a provider, from its description (switch/providers.py)."""
    factory = resolve(provider_spec(provider).gateway)
    return factory(settings, deliver=_deliver_to_shards)


class _RayProxy:
    """A port over an actor handle: each operation awaits ``handle.<operation>.remote(...)``.
    The operations the port lists as retry-safe may be retried across an actor restart; every
    other runs at most once (the actors' ``max_task_retries=0``)."""

    def __init__(self, handle: Any, retry_safe: frozenset[str]) -> None:
        self._handle = handle
        self._retry_safe = retry_safe

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name.startswith("_"):
            raise AttributeError(name)
        method = getattr(self._handle, name)
        if name in self._retry_safe:
            method = method.options(max_task_retries=IDEMPOTENT_RETRIES)

        async def call(*args: Any) -> Any:
            return await method.remote(*args)

        async def counted(*args: Any) -> Any:  # the bench's cost probe (infra/cost.py)
            answer = await method.remote(*args)
            cost.ray_call(name, args, answer)
            return answer

        return counted if cost.ENABLED else call


def shard_proxy(handle: Any) -> ShardPort:
    """Names match by construction: the shard actor is a LocalShard (tests/unit/actors/
    test_ports.py checks every port operation is one of the actor's methods)."""
    return cast(ShardPort, _RayProxy(handle, SHARD_RETRY_SAFE))


def gateway_proxy(handle: Any) -> GatewayPort:
    return cast(GatewayPort, _RayProxy(handle, GATEWAY_RETRY_SAFE))


def batch_proxy(handle: Any) -> BatchPort:
    return cast(BatchPort, _RayProxy(handle, BATCH_RETRY_SAFE))


def ray_gateways(settings: Settings) -> Gateways:
    """The gateways as one port, each provider's actor found by name when called."""

    def actor_of(provider: str) -> GatewayPort:
        return gateway_proxy(ray.get_actor(gateway_actor_name(provider, settings)))

    return Gateways(PROVIDERS_WITH_GATEWAYS, actor_of)


def gateway_actor_name(provider: str, settings: Settings) -> str:
    """``<provider>-<account>`` for a provider whose gateway serves one account of its own (its
    ``account_setting``: M-Pesa's shortcode), so that two accounts never share an actor;
    ``gateway-<provider>`` otherwise."""
    setting = provider_spec(provider).account_setting
    if setting:
        return f"{provider}-{getattr(settings, setting)}"
    return gateway_name(provider)


def _ready_name(provider: str) -> str:
    """How /readyz lists a gateway actor ("mpesa", "gateway-airtel"...), as it always has."""
    return provider if provider_spec(provider).account_setting else gateway_name(provider)


async def _deliver_to_shards(items: list[CallbackIn]) -> list[str]:
    """Results a gateway learnt by itself (SACCO result files): each to its payment's shard."""
    by_shard: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        shard = shard_of(item.payment_id)
        if shard is not None:
            by_shard.setdefault(shard, []).append(i)
    verdicts: list[str] = ["unknown_payment"] * len(items)
    for shard, positions in by_shard.items():
        port = shard_proxy(ray.get_actor(shard_name(shard)))
        answers = await port.apply_callbacks([items[i] for i in positions])
        for i, verdict in zip(positions, answers, strict=True):
            verdicts[i] = verdict
    return verdicts


class _Observed:
    """What every actor shell adds to its port: its metrics and the node it runs on."""

    label: str

    async def _warm(self) -> None:
        """Start the core, so that its metrics exist."""

    async def metrics(self) -> list[Metric]:
        await self._warm()
        return _metrics_snapshot(self.label)

    def node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


@ray.remote
class GatewayActor(LocalGateway, _Observed):
    """One provider's gateway (a provider with an ``account_setting``: one account of it)."""

    def __init__(self, provider: str, settings: Settings) -> None:
        self.label = gateway_actor_name(provider, settings)
        cost.install(self.label)
        named = provider_spec(provider).account_setting  # the account in its log lines
        setup_logging(settings.log_level, self.label if named else provider)

        async def make() -> Any:
            return _build_gateway(provider, settings)

        super().__init__(make)

    async def _warm(self) -> None:
        await self.start()


def _sealer(settings: Settings, cols: Collections, secret_key: bytes) -> Sealer:
    masters = settings.master_keys
    return sealer_for(cols.keys, masters, settings.master_key_id or next(iter(masters)), secret_key)


async def _erase_batch_items(merchant_id: str, items: list[tuple[str, str, str]]) -> int:
    """Ask the batch actor to erase the copies a person's payments left in batch items."""
    return await batch_proxy(ray.get_actor("batches")).erase_items(merchant_id, items)


async def _start_shard(shard: int, settings: Settings, secret_key: bytes) -> ShardCore:
    client = connect(settings.mongodb_uri or "")
    cols = collections(client, settings.mongodb_db)
    core = shard_core(
        shard,
        settings,
        MongoPaymentStore(shard, client, cols),
        ray_gateways(settings),
        # Webhooks: every URL checked against SSRF at delivery too (DNS rebinding).
        GuardedTransport(allow_private=settings.webhook_allow_private),
        secret_key,
        publisher=Publisher(settings.redis_url) if settings.redis_url else None,
        sealer=_sealer(settings, cols, secret_key),
        compliance=await asyncio.to_thread(Compliance.from_settings, settings, cols, secret_key),
        erase_batch_items=_erase_batch_items,
    )
    await core.start()
    return core


@ray.remote
class ShardActor(LocalShard, _Observed):
    """One merchant shard. Starts (and after a crash, recovers) on its first call."""

    def __init__(self, shard: int, settings: Settings, secret_key: bytes) -> None:
        self.label = shard_name(shard)
        cost.install(self.label)
        setup_logging(settings.log_level, self.label)
        super().__init__(partial(_start_shard, shard, settings, secret_key))

    async def _warm(self) -> None:
        await self.stats()


async def _start_batches(settings: Settings, secret_key: bytes) -> BatchCore:
    client = connect(settings.mongodb_uri or "")
    cols = collections(client, settings.mongodb_db)
    count = settings.shards

    async def create(shard: int, items: list[CreatePayment]) -> list[Reply]:
        return await shard_proxy(ray.get_actor(shard_name(shard))).create_payments(items)

    core = BatchCore(
        cols.batches,
        cols.payments,
        secret_key,
        create,
        lambda merchant_id: shard_for(merchant_id, count),
        sealer=_sealer(settings, cols, secret_key),
        poll_interval=settings.batch_poll_interval,
    )
    await core.start()
    return core


@ray.remote
class BatchActor(LocalBatches, _Observed):
    """Bulk payouts (actors/batches.py): one per switch, resuming running batches on start."""

    def __init__(self, settings: Settings, secret_key: bytes) -> None:
        self.label = "batches"
        cost.install(self.label)
        setup_logging(settings.log_level, self.label)
        super().__init__(partial(_start_batches, settings, secret_key))

    async def _warm(self) -> None:
        await self.stats()


async def _start_hub(settings: Settings) -> HubCore:
    client = connect(settings.mongodb_uri or "")
    store = HubStore(client.get_database(settings.mongodb_db, write_concern=MONEY_WRITES))
    transport = GuardedTransport(allow_private=settings.webhook_allow_private)

    def notifier(participant_of: Callable[[str], Participant | None]) -> ParticipantNotifier:
        return ParticipantNotifier(
            transport, participant_of, settings.webhook_timeout, settings.webhook_retry_base
        )

    shell = HubShell(
        client,
        store,
        notifier,
        sweep_interval=settings.hub_sweep_interval,
        gross_from=settings.hub_gross_from * 100,
    )
    shell.notifier.iso.submit = shell.submit  # an ISO 20022 bank's answer joins the one queue
    await shell.start()
    return HubCore(shell)


@ray.remote
class HubActor(LocalHub, _Observed):
    """The interoperability hub's positions (actors/hub/): the single writer of every
    participant's position, rebuilt from MongoDB on its first call after a (re)start."""

    def __init__(self, settings: Settings) -> None:
        self.label = "hub"
        cost.install(self.label)
        setup_logging(settings.log_level, self.label)
        super().__init__(partial(_start_hub, settings))

    async def _warm(self) -> None:
        await self.stats()


def hub_proxy(handle: Any) -> HubPort:
    return cast(HubPort, _RayProxy(handle, HUB_RETRY_SAFE))


class RaySwitch:
    """:class:`SwitchPorts` over the switch's actors, created on first use and shared by every
    api process."""

    def __init__(self, settings: Settings, secret_key: bytes) -> None:
        gateway_cls: Any = GatewayActor
        shard_cls: Any = ShardActor
        batch_cls: Any = BatchActor
        # Named as /readyz has always listed them ("mpesa", "gateway-airtel", "shard-0"...).
        self._actors: dict[str, Any] = {
            _ready_name(p): gateway_cls.options(
                name=gateway_actor_name(p, settings), **ACTOR_OPTIONS
            ).remote(p, settings)
            for p in PROVIDERS_WITH_GATEWAYS
        }
        shards = [
            shard_cls.options(name=shard_name(i), **shard_options(settings)).remote(
                i, settings, secret_key
            )
            for i in range(settings.shards)
        ]
        batches = batch_cls.options(name="batches", **ACTOR_OPTIONS).remote(settings, secret_key)
        hub_cls: Any = HubActor
        hub = hub_cls.options(name="hub", **ACTOR_OPTIONS).remote(settings)
        self._actors |= {shard_name(i): s for i, s in enumerate(shards)} | {"batches": batches}
        self._actors["hub"] = hub
        self.hub: HubPort | None = hub_proxy(hub)
        self.shards: list[ShardPort] = [shard_proxy(s) for s in shards]
        self.gateways = ray_gateways(settings)
        self.batches = batch_proxy(batches)

    async def start(self) -> None:
        await ping(self)
        if self.hub is not None:
            await self.hub.stats()  # the hub rebuilds its positions and starts its sweep
        await self.gateways.start()  # the SACCO gateway reads result files from the start

    async def placement(self) -> dict[str, str]:
        return {name: await actor.node.remote() for name, actor in self._actors.items()}

    async def metrics(self) -> list[Metric]:
        families: list[Metric] = []
        for actor in self._actors.values():
            try:
                families.extend(await actor.metrics.remote())
            except Exception:
                log.warning("an actor did not answer the metrics call")
        return families


if TYPE_CHECKING:
    _switch: type[SwitchPorts] = RaySwitch
