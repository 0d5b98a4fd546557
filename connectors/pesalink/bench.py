"""PesaLink in the bench's mixed scenario (bench/mixspec.py): transfers to fresh bank accounts and
to fresh phones through the directory, bank accounts as transfer destinations (PesaLink only
pushes: never a source), and the PesaLink bank simulator's own record of the transfers it paid."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.mixspec import (
    BenchAccount,
    BenchOp,
    Booking,
    Destinations,
    ProviderBench,
    SimRecord,
    payout_body,
    phone_payout,
)

BANK = "68"  # Equity, on PesaLink
# A Telkom prefix: no wallet the switch pays, but linked to a bank account in the directory.
TELKOM = "077"


def _account(dest: Destinations) -> tuple[dict[str, Any], str]:
    number = dest.account()
    return {"type": "bank", "bank_code": BANK, "account_number": number}, number


def _to_account(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
    number = dest.account()
    bank = {"bank_code": BANK, "account_number": number}
    return payout_body("bank_transfer", ref, bank=bank), number


def pesalink_bookings(transfers: Iterable[Mapping[str, Any]]) -> list[Booking]:
    """PesaLink simulator ``GET /__sim/transfers``: transfers that paid, by our reference."""
    return [
        Booking(
            "bank_transfer",
            str(t.get("reference", "")),
            f"{t.get('bank_code', '')}:{t.get('account_number', '')}",
            str(t.get("transaction_id", "")),
        )
        for t in transfers
        if t.get("paid")
    ]


BENCH = ProviderBench(
    ops=(
        BenchOp("bank_account", "bank_transfer", 2, _to_account),
        BenchOp("bank_phone", "bank_transfer", 1, phone_payout("bank_transfer", TELKOM)),
    ),
    accounts=(BenchAccount("bank", "bank", _account, source=False),),
    records=(
        SimRecord(
            "bank_transfer",
            "/__sim/transfers",
            pesalink_bookings,
            ("callback_statuses", "callback_error"),
        ),
    ),
)
