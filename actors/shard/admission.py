"""Admission of new payments and idempotency (pure).

A request's payment id is derived from its idempotency key, so MongoDB's primary key is the
backstop; the shard's table of keys (:class:`actors.shard.machine.ShardMachine`'s ``idem``) is
the fast path. A key is claimed before the shard's first await, so concurrent copies of one
request wait for the first copy's answer instead of racing it (the shell holds the claims).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from actors.replies import circuit_open, conflict, insufficient_balance, overloaded
from routing.router import Route
from switch.compliance import Stage
from switch.idempotency import Decision, decide, scoped_key
from switch.ids import payment_id_for
from switch.messages import CreatePayment, Reply
from switch.payments import Payment, new_payment
from switch.platform import PlatformFee
from switch.rails import RAILS, takes_command

CACHE_LIMIT = 200_000


def key_and_id(shard: int, secret_key: bytes, merchant_id: str, key: str) -> tuple[str, str]:
    """A request's key scoped to its merchant, and the payment id derived from it."""
    scoped = scoped_key(merchant_id, key)
    return scoped, payment_id_for(shard, secret_key, scoped)


def trim(idem: OrderedDict[str, str], limit: int = CACHE_LIMIT) -> None:
    """Keys never expire in MongoDB (they name the payment); the cache keeps the recent ones."""
    while len(idem) > limit:
        idem.popitem(last=False)


def replay_conflict(stored_hash: str, request_hash: str, conflict_ok: bool) -> Reply | None:
    """A different body under a used key is a 409, unless the object is unique by nature (a
    reversal: one per collection, whatever the body)."""
    if not conflict_ok and decide(stored_hash, request_hash) == Decision.CONFLICT:
        return conflict()
    return None


def refusal(
    circuit_wait: float, backlog: int, max_backlog: int, provider: str = ""
) -> Reply | None:
    """Refused before anything is stored: the provider's circuit is open, or the shard's writer
    is at capacity (refusing at once keeps latency flat; the client retries with its key)."""
    if circuit_wait > 0:
        return circuit_open(circuit_wait, provider)
    if backlog >= max_backlog:
        return overloaded()
    return None


def shortfall(available: int, reserving: int, total: int) -> Reply | None:
    """A payout may not take the balance below zero: the committed balance, less reservations
    still being committed. None when the money is there."""
    left = available - reserving
    return None if left >= total else insufficient_balance(total, left)


def screening_stage(transfer: dict[str, Any] | None) -> Stage:
    """What the screening checks: a new payment, or a transfer's debit or onward leg."""
    if not transfer:
        return "new"
    return "transfer_debit" if transfer.get("leg") == "debit" else "transfer_onward"


def platform_split(
    req: CreatePayment, method: str, fee: int, platform: tuple[str, PlatformFee] | None
) -> dict[str, Any]:
    """A sub-merchant's collection: its aggregator and platform fee (switch/platform.py); empty
    for anything else (payouts and transfer legs carry none)."""
    if platform is None or req.transfer or RAILS[method].direction != "collection":
        return {}
    aggregator, fee_rule = platform
    return {"merchant_id": aggregator, "fee_minor": fee_rule.of(req.amount_minor, fee)}


def payment_for(
    req: CreatePayment,
    payment_id: str,
    key: str,
    route: Route,
    fee: int,
    at: datetime,
    platform: dict[str, Any] | None = None,
) -> Payment:
    """The new payment a request asks for, on the rail it was routed to."""
    method = route.method
    return new_payment(
        payment_id=payment_id,
        merchant_id=req.merchant_id,
        method=method,
        amount_minor=req.amount_minor,
        phone=req.phone,
        reference=req.reference,
        description=req.description,
        metadata=req.metadata,
        idem_key=key,
        request_hash=req.request_hash,
        at=at,
        fee_minor=fee,
        command=req.command if takes_command(method) else None,
        destination=req.destination,
        route=route.to_doc() if req.method == "auto" else None,
        transfer=req.transfer,
        platform=platform,
    )
