"""What the shard's decisions ask the world to do (values, no behaviour).

:class:`actors.shard.machine.ShardMachine` returns a list of these from every decision; the
shell (:mod:`actors.shard.core`) carries them out in order through the ports. Order matters:
:class:`Durable` is a barrier (the shell waits until that version of the payment is committed
before the effects after it), so "store before send" is written in the list itself: a
:class:`Send` comes only after the insert that stored its payment, or after a :class:`Durable`.
"""

from __future__ import annotations

from dataclasses import dataclass

from switch.ledger import Entry
from switch.messages import CreatePayment, Order, QueryRequest, StatusCheck, StatusRequest
from switch.payments import Payment


@dataclass(frozen=True, slots=True)
class Touch:
    """The payment changed: write its current version (with these journal entries) in the next
    commit."""

    payment_id: str
    entries: list[Entry]


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """A new payment, or a payment whose status changed: count it; ``released`` (no money
    moved) gives its amount back to today's AML totals."""

    payment: Payment
    released: bool = False


@dataclass(frozen=True, slots=True)
class Illegal:
    """An event the state table refuses as illegal: logged and counted, never silently
    dropped."""

    payment: Payment
    event: str
    source: str
    reason: str


@dataclass(frozen=True, slots=True)
class Durable:
    """Wait until this version of the payment is committed (a barrier)."""

    payment: Payment


@dataclass(frozen=True, slots=True)
class Send:
    """Hand this order to the provider in the next batch."""

    order: Order


@dataclass(frozen=True, slots=True)
class Notify:
    """The payment has webhook events to deliver (only persisted ones go out)."""

    payment_id: str


@dataclass(frozen=True, slots=True)
class Publish:
    """Live events for these committed payments' status changes."""

    payments: list[Payment]


@dataclass(frozen=True, slots=True)
class Settled:
    """Nothing is left to resume: the payment leaves ``inflight``."""

    payment_id: str


@dataclass(frozen=True, slots=True)
class Query:
    """Ask the provider about collections by its request id (STK query), and apply answers."""

    requests: list[QueryRequest]


@dataclass(frozen=True, slots=True)
class AskStatus:
    """Ask Transaction Status; answers arrive later as callbacks. ``background``: not waited
    for."""

    requests: list[StatusRequest]
    background: bool = False


@dataclass(frozen=True, slots=True)
class Check:
    """Synchronous enquiries by our id, applied like callbacks."""

    requests: list[StatusCheck]


@dataclass(frozen=True, slots=True)
class Post:
    """Create a follow-on payment (a SACCO member's posting) through the ordinary create path;
    its key makes a repeat harmless."""

    command: CreatePayment


@dataclass(frozen=True, slots=True)
class Record:
    """Leave a review decision on the compliance record."""

    kind: str
    payment: Payment
    decision: str
    reviewer: str
    note: str | None = None


Effect = (
    Touch
    | StatusChanged
    | Illegal
    | Durable
    | Send
    | Notify
    | Publish
    | Settled
    | Query
    | AskStatus
    | Check
    | Post
    | Record
)
