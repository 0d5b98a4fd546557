"""The rails the switch moves money on, as data: for each payment method, the provider that
carries it, its direction, what its destination looks like and its per-transaction limits.

Everything that branches on a method (orders, sweeps, postings, views, routing) asks this table
instead of naming methods, so a new rail is one row here plus its gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Provider = Literal["mpesa", "airtel", "pesalink", "sacco"]
Direction = Literal["collection", "payout", "reversal", "posting"]
Destination = Literal["phone", "bank", "sacco"]


@dataclass(frozen=True, slots=True)
class Rail:
    method: str
    provider: Provider
    direction: Direction
    destination: Destination
    min_minor: int
    max_minor: int
    # How the switch learns a result it missed: "stk_query" (M-Pesa STK), "transaction_status"
    # (M-Pesa initiator APIs), "resend" (reversals: M-Pesa refuses a second one), "check" (a
    # synchronous enquiry by our id: Airtel, PesaLink, SACCOs).
    recovery: Literal["stk_query", "transaction_status", "resend", "check", "none"]
    label: str


KES = 100
RAILS: dict[str, Rail] = {
    r.method: r
    for r in (
        # Daraja's documentation (M-Pesa Express, B2C): STK 1-250,000; B2C 10-250,000.
        Rail(
            "mpesa_stk",
            "mpesa",
            "collection",
            "phone",
            1 * KES,
            250_000 * KES,
            "stk_query",
            "M-Pesa STK Push",
        ),
        Rail(
            "mpesa_c2b",
            "mpesa",
            "collection",
            "phone",
            1 * KES,
            250_000 * KES,
            # A confirmation credits nobody until Transaction Status shows the receipt.
            "transaction_status",
            "M-Pesa paybill / till (C2B)",
        ),
        Rail(
            "mpesa_b2c",
            "mpesa",
            "payout",
            "phone",
            10 * KES,
            250_000 * KES,
            "transaction_status",
            "M-Pesa B2C",
        ),
        Rail(
            "mpesa_reversal",
            "mpesa",
            "reversal",
            "phone",
            1 * KES,
            250_000 * KES,
            "resend",
            "M-Pesa reversal",
        ),
        # Airtel's Kenya tariffs: wallet caps as M-Pesa's (CBK tier); the minimum is KES 10 for
        # disbursements (unverified: the portal documents none; we follow M-Pesa's B2C).
        Rail(
            "airtel_ussd",
            "airtel",
            "collection",
            "phone",
            1 * KES,
            250_000 * KES,
            "check",
            "Airtel Money USSD push",
        ),
        Rail(
            "airtel_payout",
            "airtel",
            "payout",
            "phone",
            10 * KES,
            250_000 * KES,
            "check",
            "Airtel Money disbursement",
        ),
        # IPSL's PesaLink FAQs: up to KES 999,999 per transaction; the bank's minimum is KES 10.
        Rail(
            "bank_transfer",
            "pesalink",
            "payout",
            "bank",
            10 * KES,
            999_999 * KES,
            "check",
            "PesaLink bank transfer",
        ),
        # SACCO member accounts: no published cap; the switch uses PesaLink's (our choice).
        Rail(
            "sacco",
            "sacco",
            "payout",
            "sacco",
            1 * KES,
            999_999 * KES,
            "check",
            "SACCO member account",
        ),
        # A member's paybill payment (already in the SACCO's balance) posted to the member's
        # account in the SACCO's core system: no money moves on the switch's books.
        Rail(
            "sacco_posting",
            "sacco",
            "posting",
            "sacco",
            1 * KES,
            999_999 * KES,
            "check",
            "SACCO core posting",
        ),
        # The source leg of a transfer out of a SACCO member account (a debit by the SACCO).
        Rail(
            "sacco_withdrawal",
            "sacco",
            "collection",
            "sacco",
            1 * KES,
            999_999 * KES,
            "check",
            "SACCO member account debit",
        ),
    )
}

PAYOUT_METHODS = frozenset(m for m, r in RAILS.items() if r.direction in ("payout", "reversal"))
COLLECTION_METHODS = frozenset(m for m, r in RAILS.items() if r.direction == "collection")
PROVIDERS: tuple[Provider, ...] = ("mpesa", "airtel", "pesalink", "sacco")


def rail(method: str) -> Rail:
    return RAILS[method]


def provider_of(method: str) -> Provider:
    return RAILS[method].provider
