"""M-Pesa in the bench's mixed scenario (bench/mixspec.py): STK Push collections and B2C payouts
to fresh Safaricom numbers, M-Pesa wallets in transfers, and the Daraja simulator's own record
of the B2C payouts it paid (bench.checks itself checks STK pushes, per payment and phone)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.mixspec import Booking, SimRecord, national, phone_wallet

SAFARICOM = "071"  # a Safaricom prefix; seven digits follow


def b2c_bookings(payouts: Iterable[Mapping[str, Any]]) -> list[Booking]:
    """Daraja simulator ``GET /__sim/b2c``: paid payouts, by OriginatorConversationID."""
    return [
        Booking(
            "mpesa_b2c",
            str(p.get("originator_conversation_id", "")),
            national(str(p.get("phone", ""))),
            str(p.get("transaction_id", "")),
        )
        for p in payouts
        if p.get("paid")
    ]


BENCH = phone_wallet(
    "mpesa",
    SAFARICOM,
    ("mpesa_stk", 3),
    ("mpesa_b2c", 2),
    (SimRecord("mpesa_b2c", "/__sim/b2c", b2c_bookings, ("result_statuses", "result_error")),),
)
