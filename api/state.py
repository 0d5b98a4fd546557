"""What the api handlers share: settings, keys, collections and the per-shard batchers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

from actors.runtime import Actors
from api.batcher import MicroBatcher
from connectors.sacco.registry import Sacco
from routing.shards import shard_for
from switch.config import Settings
from switch.live import Hub
from switch.messages import C2bIn, CallbackIn, CallbackVerdict, CreatePayment, Reply
from switch.pii import Sealer, sealer_for
from switch.security.audit import AuditLog
from switch.security.ratelimit import InProcessLimiter, RedisLimiter
from switch.storage.mongo import Collections


class ShardRouter:
    """One micro-batcher per shard actor and per kind of call."""

    def __init__(self, actors: Actors, settings: Settings) -> None:
        self.count = settings.shards
        opts: dict[str, Any] = {
            "max_items": settings.batch_max,
            "max_delay": settings.batch_delay_ms / 1000,
        }
        self.creates = [
            MicroBatcher[CreatePayment, Reply](partial(actors.create, i), "create", **opts)
            for i in range(self.count)
        ]
        self.gets = [
            MicroBatcher[tuple[str, str], Reply](partial(actors.get, i), "get", **opts)
            for i in range(self.count)
        ]
        self.c2b = [
            MicroBatcher[C2bIn, CallbackVerdict](partial(actors.c2b, i), "c2b", **opts)
            for i in range(self.count)
        ]
        self.callbacks = [
            MicroBatcher[CallbackIn, CallbackVerdict](partial(actors.callbacks, i), "cb", **opts)
            for i in range(self.count)
        ]

    def shard_of_merchant(self, merchant_id: str) -> int:
        return shard_for(merchant_id, self.count)


@dataclass
class AppState:
    settings: Settings
    secret_key: bytes
    cols: Collections
    actors: Actors
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
        self.router = ShardRouter(self.actors, self.settings)

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
