"""What the api handlers share: settings, keys, collections and the per-shard batchers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from actors.ports import ShardPort, SwitchPorts
from api.batcher import MicroBatcher
from connectors.sacco.registry import Sacco
from infra.audit import AuditLog
from infra.keystore import sealer_for
from infra.live import Hub
from infra.ratelimit import InProcessLimiter, RedisLimiter
from infra.storage.mongo import Collections
from routing.shards import shard_for
from switch.config import Settings
from switch.messages import C2bIn, CallbackIn, CallbackVerdict, CreatePayment, Reply
from switch.pii import Sealer


class ShardRouter:
    """The shards by number, with one micro-batcher per shard for each busy operation (named
    as the operation)."""

    def __init__(self, shards: Sequence[ShardPort], settings: Settings) -> None:
        self.shards = shards
        self.count = len(shards)
        opts: dict[str, Any] = {
            "max_items": settings.batch_max,
            "max_delay": settings.batch_delay_ms / 1000,
        }
        self.create_payments = [
            MicroBatcher[CreatePayment, Reply](
                s.create_payments, "create_payments", shard=i, **opts
            )
            for i, s in enumerate(shards)
        ]
        self.get_payments = [
            MicroBatcher[tuple[str, str], Reply](s.get_payments, "get_payments", shard=i, **opts)
            for i, s in enumerate(shards)
        ]
        self.c2b_confirmations = [
            MicroBatcher[C2bIn, CallbackVerdict](
                s.c2b_confirmations, "c2b_confirmations", shard=i, **opts
            )
            for i, s in enumerate(shards)
        ]
        self.apply_callbacks = [
            MicroBatcher[CallbackIn, CallbackVerdict](
                s.apply_callbacks, "apply_callbacks", shard=i, **opts
            )
            for i, s in enumerate(shards)
        ]

    def shard_of_merchant(self, merchant_id: str) -> int:
        return shard_for(merchant_id, self.count)

    def of_merchant(self, merchant_id: str) -> ShardPort:
        """The shard that is the single writer of this merchant's payments."""
        return self.shards[self.shard_of_merchant(merchant_id)]


@dataclass
class AppState:
    settings: Settings
    secret_key: bytes
    cols: Collections
    actors: SwitchPorts  # the Ray actors (app/stack.py), or in-process ports in tests
    hub: Hub | None = None
    # The SACCO registry (connectors/sacco/registry.py): code -> Sacco.
    saccos: Mapping[str, Sacco] = field(default_factory=dict)
    # Security platform (issue 6): made on first use by api.ratelimit / api.audit when None.
    limiter: InProcessLimiter | RedisLimiter | None = None
    audit: AuditLog | None = None
    # Personal data the api stores itself (unmatched C2B payers): made on first use by sealer().
    data_sealer: Sealer | None = None
    router: ShardRouter = field(init=False)

    def __post_init__(self) -> None:
        self.router = ShardRouter(self.actors.shards, self.settings)

    def sealer(self) -> Sealer:
        """This process's sealer (switch/pii.py), with the master keys the actors use."""
        if self.data_sealer is None:
            masters = self.settings.master_keys
            if not masters:  # the stack always sets them: never store personal data in clear
                raise RuntimeError("no master key configured: personal data cannot be sealed")
            current = self.settings.master_key_id or next(iter(masters))
            self.data_sealer = sealer_for(self.cols.keys, masters, current, self.secret_key)
        return self.data_sealer


STATE = web.AppKey("state", AppState)
