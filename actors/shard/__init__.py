"""The merchant shard (see :mod:`actors.shard.core`), its ports and the modules it is wired
from: admission and idempotency, callbacks, reversals, C2B and SACCO postings, reviews,
sweeping, notifications and personal data."""

from actors.shard.core import ShardCore
from actors.shard.memory_store import MemoryPaymentStore
from actors.shard.mongo_store import MongoPaymentStore
from actors.shard.ports import Clock, PaymentStore, ProviderPort

__all__ = [
    "Clock",
    "MemoryPaymentStore",
    "MongoPaymentStore",
    "PaymentStore",
    "ProviderPort",
    "ShardCore",
]
