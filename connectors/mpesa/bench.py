"""M-Pesa in the bench's mixed scenario (bench/mixspec.py): STK Push collections and B2C payouts
to fresh Safaricom numbers, B2B payments to fresh paybills and tills and tax against fresh PRNs,
B2B Express Checkout collections from fresh tills,
M-Pesa wallets in transfers, and the Daraja simulator's own records of the payouts it paid
(bench.checks itself checks STK pushes, per payment and phone)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from bench.mixspec import (
    BenchOp,
    Booking,
    Destinations,
    SimRecord,
    collection_body,
    national,
    payout_body,
    phone_wallet,
)

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


# The simulator's CommandID -> the rail that sent it.
_B2B_RAIL = {
    "BusinessPayBill": "mpesa_b2b_paybill",
    "BusinessBuyGoods": "mpesa_b2b_till",
    "PayTaxToKRA": "mpesa_tax",
}


def b2b_bookings(payments: Iterable[Mapping[str, Any]]) -> list[Booking]:
    """Daraja simulator ``GET /__sim/b2b``: paid B2B and tax payments, by our id; each paybill,
    till or PRN is fresh (tax's PartyB is always KRA's, so its destination is the PRN)."""
    return [
        Booking(
            _B2B_RAIL.get(str(p.get("command_id")), "mpesa_b2b"),
            str(p.get("originator_conversation_id", "")),
            str(p.get("occasion") if p.get("command_id") == "PayTaxToKRA" else p.get("phone")),
            str(p.get("transaction_id", "")),
        )
        for p in payments
        if p.get("paid")
    ]


def express_bookings(prompts: Iterable[Mapping[str, Any]]) -> list[Booking]:
    """Daraja simulator ``GET /__sim/express``: paid Express Checkout prompts, by our
    RequestRefID; each till is fresh."""
    return [
        Booking(
            "mpesa_b2b_express",
            str(p.get("request_ref_id", "")),
            str(p.get("till", "")),
            str(p.get("transaction_id", "")),
        )
        for p in prompts
        if p.get("state") == "paid"
    ]


def _express(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
    """A B2B Express Checkout collection from a fresh till (its operator pays)."""
    till = dest.subscriber()  # ddd7ddd: none of the simulator's Express triggers
    body = {**collection_body("mpesa_b2b_express", "", ref), "till": {"till_number": till}}
    del body["phone"]
    return body, till


def _paybill(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
    number = dest.subscriber()  # seven digits, trigger-free
    body = {"business_number": number, "account_reference": ref[-13:]}
    return payout_body("mpesa_b2b_paybill", ref, paybill=body), number


def _till(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
    number = dest.subscriber()
    return payout_body("mpesa_b2b_till", ref, till={"till_number": number}), number


def _tax(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
    prn = "PRN" + dest.subscriber()
    return payout_body("mpesa_tax", ref, tax={"prn": prn}), prn


_WALLET = phone_wallet(
    "mpesa",
    SAFARICOM,
    ("mpesa_stk", 3),
    ("mpesa_b2c", 2),
    (SimRecord("mpesa_b2c", "/__sim/b2c", b2c_bookings, ("result_statuses", "result_error")),),
)
BENCH = replace(
    _WALLET,
    ops=(
        *_WALLET.ops,
        BenchOp("mpesa_b2b_paybill", "mpesa_b2b_paybill", 1, _paybill),
        BenchOp("mpesa_b2b_till", "mpesa_b2b_till", 1, _till),
        BenchOp("mpesa_tax", "mpesa_tax", 1, _tax),
        BenchOp("mpesa_b2b_express", "mpesa_b2b_express", 1, _express),
    ),
    records=(
        *_WALLET.records,
        SimRecord("mpesa_b2b", "/__sim/b2b", b2b_bookings, ("result_statuses", "result_error")),
        SimRecord("mpesa_b2b_express", "/__sim/express", express_bookings),
    ),
)
