"""What the shard's gauges and its created-to-final histogram show (pure): computed from the
shard's memory on its sweep tick, or from the payment that just reached a final state, never
from a database read.

- In flight, per rail: payments not final yet (held ones included: they wait for reviewers).
- Past expiry, per rail: in flight although older than the rail's expiry
  (``stk_expire_after``). A collection past it should be expired at the next sweep (after one
  last ask), so one that stays is stuck: the provider's answer never comes and the sweeper
  cannot settle it. A payout never expires by the clock (its money may have moved: only the
  provider's answer settles it), so one past the deadline is one the provider has not answered
  for that long. A payment held for review was never sent: not counted.
- Created to final: seconds from a payment's creation to the history entry that first made it
  final; a late success after an expiry (expired -> succeeded) is not observed a second time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from switch.payments import Payment
from switch.states import FINAL, State

_FINAL_NAMES = frozenset(s.value for s in FINAL)


@dataclass(frozen=True, slots=True)
class RailLoad:
    in_flight: int = 0
    past_expiry: int = 0


def rail_load(
    payments: Iterable[Payment], methods: Iterable[str], now: float, expire_after: float
) -> dict[str, RailLoad]:
    """Per rail in ``methods`` (every one, zeros included, so a gauge goes back to 0), the
    payments in flight and those past expiry, from ``payments`` (those in flight); ``now`` in
    epoch seconds."""
    counts = {m: [0, 0] for m in methods}
    for p in payments:
        if p.state in FINAL:
            continue
        row = counts.setdefault(p.method, [0, 0])
        row[0] += 1
        if p.state != State.HELD and now - p.created_at.timestamp() >= expire_after:
            row[1] += 1
    return {m: RailLoad(flying, past) for m, (flying, past) in counts.items()}


def created_to_final(payment: Payment) -> tuple[str, float] | None:
    """(outcome, seconds) when ``payment``'s last history entry made it final for the first
    time; None otherwise (not final, or final already before that entry)."""
    if payment.state not in FINAL or not payment.history:
        return None
    last = payment.history[-1]
    if last.from_state in _FINAL_NAMES:
        return None
    seconds = max(0.0, (last.at - payment.created_at).total_seconds())
    return payment.status.value, seconds
