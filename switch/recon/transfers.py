"""Transfers left ``refund_failed`` (pure): the debit was taken, the credit failed and the refund
to the source failed too, so the money sits in the merchant's balance but is owed to the payer.
A run over the ``transfers`` source lists each as a break (the switch's own books are the only
record), until a retried refund succeeds or an operator marks it refunded by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from switch.rails import provider_of
from switch.recon.matching import Finding

SOURCE = "transfers"


@dataclass(frozen=True, slots=True)
class FailedRefund:
    transfer_id: str
    payment_id: str  # the failed refund leg
    merchant_id: str
    method: str
    amount: int  # cents
    at: datetime  # the refund leg's creation
    retry_status: str = ""  # the latest retried refund's public status, if any


def findings(refunds: Iterable[FailedRefund]) -> list[Finding]:
    """One break per transfer whose money is still owed (a retry that succeeded ends it; one
    that failed reopens a resolving break, as ``switch_status`` says)."""
    out = []
    for r in sorted(refunds, key=lambda r: r.transfer_id):
        if r.retry_status == "succeeded":
            continue
        out.append(
            Finding(
                "refund_failed",
                provider_of(r.method),
                r.transfer_id,
                "the credit and the refund to the source both failed: the money is in the "
                "merchant's balance and owed to the payer",
                r.payment_id,
                r.merchant_id,
                r.method,
                r.amount,
                None,
                "out",
                at=r.at,
                switch_status=r.retry_status or "failed",
            )
        )
    return out


def retry_key(break_id: str, attempt: int) -> str:
    """The Idempotency-Key of a retried refund: one payout per break and attempt, however
    often the operator's request is repeated."""
    return f"recon:{break_id}:refund:{attempt}"
