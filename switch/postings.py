"""The money a transition moves (pure): journal entries written in the same transaction as the
transition that causes them."""

from __future__ import annotations

from switch import ledger
from switch.ledger import Entry
from switch.payments import Payment, is_payout
from switch.rails import provider_of, rail
from switch.states import State


def postings(before: Payment, after: Payment, shard: int) -> list[Entry]:
    """A collection that succeeds credits the merchant net of the fee; a payout (or reversal)
    that succeeds spends its reservation, one that fails releases it."""
    if is_payout(after.method):
        return _outgoing(after, shard)
    if rail(after.method).direction != "collection":
        return []  # a posting to a SACCO's core moves nothing on the switch's books
    if after.state == State.SUCCEEDED and before.state != State.SUCCEEDED:
        entries = [
            ledger.collection(
                after.merchant_id,
                after.id,
                after.amount_minor,
                after.fee_minor,
                provider_of(after.method),
                shard,
            )
        ]
        platform_fee = int(after.platform.get("fee_minor", 0))
        if platform_fee > 0:  # a sub-merchant's: its aggregator's share (switch/platform.py)
            aggregator = str(after.platform["merchant_id"])
            entries.append(
                ledger.platform_fee(aggregator, after.merchant_id, after.id, platform_fee)
            )
        return entries
    return []


def _outgoing(p: Payment, shard: int) -> list[Entry]:
    if p.state == State.SUCCEEDED:
        return [
            ledger.payout_settle(
                p.merchant_id, p.id, p.amount_minor, p.fee_minor, provider_of(p.method), shard
            )
        ]
    if p.state in (State.DECLINED, State.REJECTED):
        return [ledger.payout_release(p.merchant_id, p.id, p.amount_minor, p.fee_minor)]
    return []
