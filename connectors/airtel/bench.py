"""Airtel Money in the bench's mixed scenario (bench/mixspec.py): USSD-push collections and
disbursements to fresh Airtel numbers, Airtel wallets in transfers, and the Airtel simulator's
own ledger (disbursements and collections) and record of its collection callbacks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.mixspec import Booking, SimRecord, national, phone_wallet

AIRTEL = "073"  # an Airtel prefix; seven digits follow
# The simulator ledger's kinds of entry -> the rail that moved the money.
_BOOKS = {"disbursement": "airtel_payout", "collection": "airtel_ussd"}


def airtel_bookings(ledger: Mapping[str, Any]) -> list[Booking]:
    """Airtel simulator ``GET /__sim/ledger``: every disbursement and collection entry."""
    return [
        Booking(
            _BOOKS[str(e.get("kind"))],
            str(e.get("transaction_id", "")),
            national(str(e.get("msisdn", ""))),
            str(e.get("airtel_money_id", "")),
        )
        for e in ledger.get("entries") or []
        if e.get("kind") in _BOOKS
    ]


BENCH = phone_wallet(
    "airtel",
    AIRTEL,
    ("airtel_ussd", 2),
    ("airtel_payout", 2),
    (
        SimRecord("airtel_ledger", "/__sim/ledger", airtel_bookings),
        SimRecord(
            "airtel_ussd", "/__sim/collections", None, ("callback_statuses", "callback_error")
        ),
    ),
)
