"""Every Ray call of the switch lives here: starting Ray, creating or finding the named actors,
and the thin actor shells that forward to the plain classes in :mod:`actors.shard` and
:mod:`actors.mpesa_gateway`.

Money-moving actor methods run at most once (``max_task_retries=0``): a failed call may hide one
that happened, so callers check state instead of resending. Actors restart after a crash
(``max_restarts=-1``) and rebuild themselves from MongoDB.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path
from typing import Any

import ray
from prometheus_client import Metric

from actors.batches import BatchCore
from actors.compliance import Compliance
from actors.mpesa_gateway import MpesaGatewayCore
from actors.shard import MongoPaymentStore, ShardCore
from connectors.mpesa import C2bRegistration, DarajaAccount, DarajaConnector
from connectors.transport import AiohttpTransport
from routing.shards import shard_for
from switch.batches import BatchItem
from switch.breaker import Breaker
from switch.config import Settings
from switch.ids import shard_of
from switch.live import Publisher
from switch.logs import quiet_ray_console, setup_logging
from switch.messages import (
    B2cOrderMsg,
    BankOrder,
    C2bIn,
    CallbackIn,
    CallbackVerdict,
    CreatePayment,
    CreateReversal,
    CreateTransfer,
    Order,
    ProviderOutcome,
    QueryRequest,
    QueryResult,
    Reply,
    ReversalOrderMsg,
    StatusCheck,
    StatusRequest,
    StkOrder,
    SubmitResult,
    WalletOrder,
)
from switch.metrics import REGISTRY
from switch.netguard import GuardedTransport
from switch.pii import Sealer, sealer_for
from switch.rails import provider_of
from switch.states import Event
from switch.storage.mongo import Collections, collections, connect

log = logging.getLogger(__name__)

# Reads, duplicate-safe callbacks and status queries may be retried across an actor restart;
# everything that can move money stays at most once.
IDEMPOTENT_RETRIES = 3

GATEWAYS: tuple[str, ...] = tuple(
    p
    for p in ("airtel", "pesalink", "sacco")
    if importlib.util.find_spec(f"actors.{p}_gateway") is not None
)

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
        setup_logging(settings.log_level, mpesa_name(settings))
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


def gateway_name(provider: str) -> str:
    return f"gateway-{provider}"


def _build_gateway(provider: str, settings: Settings) -> Any:
    """The plain gateway core of a provider (imported here so each stays a plain module)."""
    if provider == "airtel":
        from actors.airtel_gateway import airtel_gateway_from

        return airtel_gateway_from(settings)
    if provider == "pesalink":
        from actors.pesalink_gateway import pesalink_gateway_from

        return pesalink_gateway_from(settings)
    if provider == "sacco":
        from actors.sacco_gateway import sacco_gateway_from

        return sacco_gateway_from(settings, _deliver_to_shards)
    raise ValueError(f"no gateway for {provider}")


async def _deliver_to_shards(items: list[CallbackIn]) -> list[str]:
    """Results a gateway learnt by itself (SACCO result files): each to its payment's shard."""
    by_shard: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        shard = shard_of(item.payment_id)
        if shard is not None:
            by_shard.setdefault(shard, []).append(i)
    verdicts: list[str] = ["unknown_payment"] * len(items)
    for shard, positions in by_shard.items():
        handle = ray.get_actor(shard_name(shard))
        answers = await handle.apply_callbacks.remote([items[i] for i in positions])
        for i, verdict in zip(positions, answers, strict=True):
            verdicts[i] = verdict
    return verdicts


@ray.remote
class GatewayActor:
    """Gateway for one Airtel, PesaLink or SACCO account (M-Pesa has its own, richer shell)."""

    def __init__(self, provider: str, settings: Settings) -> None:
        setup_logging(settings.log_level, provider)
        self.provider = provider
        self.core = _build_gateway(provider, settings)
        self.started = False

    async def _ready(self) -> Any:
        if not self.started and hasattr(self.core, "start"):
            await self.core.start()
        self.started = True
        return self.core

    async def start(self) -> None:
        await self._ready()

    async def submit(self, orders: list[Order]) -> list[SubmitResult]:
        result: list[SubmitResult] = await (await self._ready()).submit(orders)
        return result

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]:
        result: list[QueryResult] = await (await self._ready()).check(requests)
        return result

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def lookup(self, *args: str | None) -> dict[str, str]:
        result: dict[str, str] = await (await self._ready()).lookup(*args)
        return result

    async def metrics(self) -> list[Metric]:
        await self._ready()
        return _metrics_snapshot(gateway_name(self.provider))

    def node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


_MPESA_ORDERS = (StkOrder, B2cOrderMsg, ReversalOrderMsg)


def _provider_of_order(order: Order) -> str:
    if isinstance(order, _MPESA_ORDERS):
        return "mpesa"
    if isinstance(order, WalletOrder):
        return "airtel"
    return "pesalink" if isinstance(order, BankOrder) else "sacco"


class RayProviderPort:
    """The shard's way to the provider gateway actors: each order to its provider's actor."""

    def __init__(self, name: str) -> None:
        self.name = name  # the M-Pesa gateway's actor name

    def _actor_name(self, provider: str) -> str:
        return self.name if provider == "mpesa" else gateway_name(provider)

    async def submit(self, orders: list[Order]) -> list[SubmitResult]:
        groups: dict[str, list[Order]] = {}
        for order in orders:
            groups.setdefault(_provider_of_order(order), []).append(order)
        answers = await asyncio.gather(
            *(
                ray.get_actor(self._actor_name(p)).submit.remote(group)
                for p, group in groups.items()
            ),
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
            handle = ray.get_actor(gateway_name(provider))
            results.extend(await handle.check.remote(group))
        return results

    async def ask_status(self, requests: list[StatusRequest]) -> list[bool]:
        handle = ray.get_actor(self.name)
        result: list[bool] = await handle.ask_status.remote(requests)
        return result

    async def query(self, requests: list[QueryRequest]) -> list[QueryResult]:
        handle = ray.get_actor(self.name)
        result: list[QueryResult] = await handle.query.remote(requests)
        return result


def _sealer(settings: Settings, cols: Collections, secret_key: bytes) -> Sealer:
    masters = settings.master_keys
    return sealer_for(cols.keys, masters, settings.master_key_id or next(iter(masters)), secret_key)


async def _erase_batch_items(merchant_id: str, items: list[tuple[str, str, str]]) -> int:
    """Ask the batch actor to erase the copies a person's payments left in batch items."""
    handle = ray.get_actor("batches")
    erased: int = await handle.erase_items.remote(merchant_id, items)
    return erased


@ray.remote
class ShardActor:
    """One merchant shard. Starts (and after a crash, recovers) on its first call."""

    def __init__(self, shard: int, settings: Settings, secret_key: bytes) -> None:
        setup_logging(settings.log_level, shard_name(shard))
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
            cols = collections(client, self.settings.mongodb_db)
            core = ShardCore(
                self.shard,
                self.settings,
                MongoPaymentStore(self.shard, client, cols),
                RayProviderPort(mpesa_name(self.settings)),
                # Webhooks: every URL checked against SSRF at delivery too (DNS rebinding).
                GuardedTransport(allow_private=self.settings.webhook_allow_private),
                self.secret_key,
                Publisher(self.settings.redis_url) if self.settings.redis_url else None,
                _sealer(self.settings, cols, self.secret_key),
                compliance=await asyncio.to_thread(
                    Compliance.from_settings, self.settings, cols, self.secret_key
                ),
                erase_batch_items=_erase_batch_items,
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

    async def create_transfers(self, requests: list[CreateTransfer]) -> list[Reply]:
        return await (await self._core()).create_transfers(requests)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def by_phone(self, merchant_id: str, phone: str, limit: int) -> Reply:
        return await (await self._core()).by_phone(merchant_id, phone, limit)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def erase(self, merchant_id: str, phone: str) -> Reply:
        return await (await self._core()).erase(merchant_id, phone)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def get_transfers(self, requests: list[tuple[str, str]]) -> list[Reply]:
        return await (await self._core()).get_transfers(requests)

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

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def held(self, merchant_id: str | None, limit: int) -> list[dict[str, Any]]:
        return (await self._core()).held(merchant_id, limit)

    async def review(  # at most once: an approval queues the payment's order
        self,
        merchant_id: str | None,
        payment_id: str,
        decision: str,
        reviewer: str,
        reason: str | None,
    ) -> Reply:
        core = await self._core()
        return await core.review(merchant_id, payment_id, decision, reviewer, reason)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def kyc_changed(self, merchant_id: str) -> None:
        (await self._core()).kyc_changed(merchant_id)

    async def metrics(self) -> list[Metric]:
        await self._core()
        return _metrics_snapshot(shard_name(self.shard))

    def node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


@ray.remote
class BatchActor:
    """Bulk payouts (actors/batches.py): one per switch, resuming running batches on start."""

    def __init__(self, settings: Settings, secret_key: bytes) -> None:
        setup_logging(settings.log_level, "batches")
        self.settings = settings
        self.secret_key = secret_key
        self.core: BatchCore | None = None
        self.starting = asyncio.Lock()

    async def _core(self) -> BatchCore:
        async with self.starting:
            if self.core is None:
                client = connect(self.settings.mongodb_uri or "")
                cols = collections(client, self.settings.mongodb_db)
                count = self.settings.shards

                async def create(shard: int, items: list[CreatePayment]) -> list[Reply]:
                    handle = ray.get_actor(shard_name(shard))
                    result: list[Reply] = await handle.create_payments.remote(items)
                    return result

                core = BatchCore(
                    cols.batches,
                    cols.payments,
                    self.secret_key,
                    create,
                    lambda merchant_id: shard_for(merchant_id, count),
                    sealer=_sealer(self.settings, cols, self.secret_key),
                )
                await core.start()
                self.core = core
            return self.core

    async def create(
        self, merchant_id: str, key: str, request_hash: str, items: list[BatchItem]
    ) -> Reply:
        return await (await self._core()).create(merchant_id, key, request_hash, items)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def ping(self) -> dict[str, Any]:
        """Start the core (resuming unfinished batches) and report its counters."""
        stats: dict[str, Any] = (await self._core()).stats()
        return stats

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def get(self, merchant_id: str, batch_id: str, offset: int, limit: int) -> Reply:
        return await (await self._core()).get(merchant_id, batch_id, offset, limit)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)
    async def results_csv(self, merchant_id: str, batch_id: str) -> bytes | None:
        return await (await self._core()).results_csv(merchant_id, batch_id)

    @ray.method(max_task_retries=IDEMPOTENT_RETRIES)  # erasing twice erases the same
    async def erase_items(self, merchant_id: str, items: list[tuple[str, str, str]]) -> int:
        return await (await self._core()).erase_items(merchant_id, items)

    async def metrics(self) -> list[Metric]:
        await self._core()
        return _metrics_snapshot("batches")

    def node(self) -> str:
        return str(ray.get_runtime_context().get_node_id())


class RayBatches:
    """The api's BatchPort: forwards to the batch actor."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    async def create(
        self, merchant_id: str, key: str, request_hash: str, items: list[BatchItem]
    ) -> Reply:
        result: Reply = await self.handle.create.remote(merchant_id, key, request_hash, items)
        return result

    async def get(self, merchant_id: str, batch_id: str, offset: int, limit: int) -> Reply:
        result: Reply = await self.handle.get.remote(merchant_id, batch_id, offset, limit)
        return result

    async def results_csv(self, merchant_id: str, batch_id: str) -> bytes | None:
        result: bytes | None = await self.handle.results_csv.remote(merchant_id, batch_id)
        return result


class Actors:
    """Handles to the switch's actors, created on first use and shared by every api process."""

    def __init__(self, settings: Settings, secret_key: bytes) -> None:
        provider_cls: Any = MpesaActor
        shard_cls: Any = ShardActor
        self.provider = provider_cls.options(name=mpesa_name(settings), **ACTOR_OPTIONS).remote(
            settings
        )
        gateway_cls: Any = GatewayActor
        self.gateways = {
            p: gateway_cls.options(name=gateway_name(p), **ACTOR_OPTIONS).remote(p, settings)
            for p in GATEWAYS
        }
        self.shards = [
            shard_cls.options(name=shard_name(i), **ACTOR_OPTIONS).remote(i, settings, secret_key)
            for i in range(settings.shards)
        ]
        batch_cls: Any = BatchActor
        self.batch = batch_cls.options(name="batches", **ACTOR_OPTIONS).remote(settings, secret_key)
        self.batches = RayBatches(self.batch)

    def _all(self) -> dict[str, Any]:
        named = {
            "mpesa": self.provider,
            "batches": self.batch,
            **{gateway_name(p): a for p, a in self.gateways.items()},
        }
        return named | {shard_name(i): s for i, s in enumerate(self.shards)}

    async def placement(self) -> dict[str, str]:
        """Actor name -> the Ray node it runs on."""
        return {name: await actor.node.remote() for name, actor in self._all().items()}

    async def start_gateways(self) -> None:
        """Start the gateways that run loops of their own (the SACCO outbox and result files)."""
        await asyncio.gather(*(g.start.remote() for g in self.gateways.values()))

    async def by_phone(self, shard: int, merchant_id: str, phone: str, limit: int) -> Reply:
        result: Reply = await self.shards[shard].by_phone.remote(merchant_id, phone, limit)
        return result

    async def erase(self, shard: int, merchant_id: str, phone: str) -> Reply:
        result: Reply = await self.shards[shard].erase.remote(merchant_id, phone)
        return result

    async def transfer(self, shard: int, items: list[CreateTransfer]) -> list[Reply]:
        result: list[Reply] = await self.shards[shard].create_transfers.remote(items)
        return result

    async def get_transfer(self, shard: int, items: list[tuple[str, str]]) -> list[Reply]:
        result: list[Reply] = await self.shards[shard].get_transfers.remote(items)
        return result

    async def check(self, provider: str, items: list[StatusCheck]) -> list[QueryResult]:
        result: list[QueryResult] = await self.gateways[provider].check.remote(items)
        return result

    async def lookup(self, provider: str, *args: str | None) -> dict[str, str]:
        result: dict[str, str] = await self.gateways[provider].lookup.remote(*args)
        return result

    async def ping_all(self) -> list[dict[str, int]]:
        """Every shard answers (and the batch actor is started: it resumes unfinished batches)."""
        await self.batch.ping.remote()
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

    async def held(self, shard: int | None, merchant_id: str | None, limit: int) -> list[Any]:
        """Held payments of one shard, or of every shard (``shard`` None: an operator)."""
        shards = self.shards if shard is None else [self.shards[shard]]
        found: list[Any] = []
        for handle in shards:
            found.extend(await handle.held.remote(merchant_id, limit))
        return found

    async def review(
        self,
        shard: int,
        merchant_id: str | None,
        payment_id: str,
        decision: str,
        reviewer: str,
        reason: str | None,
    ) -> Reply:
        handle = self.shards[shard]
        result: Reply = await handle.review.remote(
            merchant_id, payment_id, decision, reviewer, reason
        )
        return result

    async def kyc_changed(self, shard: int, merchant_id: str) -> None:
        await self.shards[shard].kyc_changed.remote(merchant_id)

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
        for actor in self._all().values():
            try:
                families.extend(await actor.metrics.remote())
            except Exception:
                log.warning("an actor did not answer the metrics call")
        return families
