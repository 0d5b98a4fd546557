"""The merchant shard, cut as "commands in, effects out".

- :mod:`actors.shard.machine`: :class:`ShardMachine`, every decision, synchronous and without
  I/O. It holds what the shard knows (cached payments, the in-flight set, idempotency keys,
  committed balances and reservations being committed, circuits, the sweeper's asks) and takes
  commands (create, reverse, review), provider events (answers, callbacks, query results, C2B
  confirmations), commits and ticks (sweeps), with whatever the shell loaded first (the stored
  payment, the route, the screening); it returns effects and, for commands, a reply. The rules
  are in the small pure modules it calls: admission (idempotency, refusals, reservations),
  callbacks, reversals, postings (C2B and member postings), reviews, sweeping; and in switch/.
- :mod:`actors.shard.effects`: the effects, as values (Touch, StatusChanged, Durable, Send,
  Notify, Publish, Settled, Query, AskStatus, Check, Post, Record, Illegal).
- :mod:`actors.shard.shell` and :mod:`actors.shard.core`: the asyncio shell. It loads, calls
  the machine and carries effects out in order through the ports (:mod:`actors.shard.ports`:
  the payment store, in MongoDB or in memory; the provider; the clock) and the notifier
  (webhooks, live events). Store before send is in the effect order: a Send follows the insert
  that stored its payment, or a Durable barrier. What is asynchronous by nature stays in the
  shell: claims concurrent copies of a request wait on (claims), commit waiters, the order
  batch and the loops; so do the I/O-bound helpers (screening, routes, notify, personal).

The cut is at the decision, not at every await: a command that needs several loads (routing
preferences, then screening, then the balance) calls the machine once per decision rather than
running as a resumable coroutine inside it, which keeps the machine plain and the hot path as
short as before (no extra awaits, effects run without a task).
"""

from actors.shard.core import ShardCore
from actors.shard.machine import ShardMachine
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
    "ShardMachine",
]
