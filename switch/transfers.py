"""Transfers between account kinds as a saga (pure): take from the source, credit the
destination, and give the money back to the source if the credit fails.

A transfer is not a record of its own: it is its legs, ordinary payments of the merchant whose ids
are derived from the transfer id (``<transfer id>:debit`` and so on, through the same keyed hash
as every payment id), so each leg is created at most once however often a step is retried, and a
restarted shard rebuilds the transfer from its legs. The debit leg carries the whole transfer
(source and destination), so nothing else is needed to drive the next step.

Money path: the debit leg is a collection credited to the merchant's balance; the credit leg is a
payout reserved from that balance; the refund leg, a payout back to the source. Legs carry no fee,
so the merchant's balance ends where it started and the journal shows every movement. A bank
account source (its bank a hub participant) is debited by a request to pay: the bank's hub
transfer to the merchant's collection account pays the debit leg (switch/hub/requests.py), and
a refund goes back to the account as a PesaLink payout, as any payout to a bank account.

    debit pending/processing -> (succeeded) -> credit -> (succeeded) -> transfer succeeded
                 \\-> (failed/expired): transfer failed, nothing moved
                                             \\-> (failed) -> refund -> (succeeded) -> refunded
                                                                     \\-> (failed) -> refund_failed
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from switch.hub import requests as bank_requests
from switch.idempotency import scoped_key
from switch.ids import payment_id_for
from switch.money import format_minor
from switch.payments import Payment, iso, masked_destination, view
from switch.phone import mask_msisdn
from switch.rails import RAILS
from switch.states import State, Status

Leg = Literal["debit", "credit", "refund"]


def _routable(direction: str, destination: str, provider: str | None = None) -> str | None:
    for method, rail in RAILS.items():
        if (rail.routable, rail.direction, rail.destination) == (True, direction, destination) and (
            provider is None or rail.provider == provider
        ):
            return method
    return None


# Account types: a wallet of each provider that collects from phones ("mpesa", "airtel", ...),
# then a bank account and a SACCO member account. For each, the rail that takes money from it
# (a debit) and the one that pays it (a credit), from the provider registry.
WALLETS = tuple(
    dict.fromkeys(
        r.provider for r in RAILS.values() if _routable("collection", "phone", r.provider)
    )
)
ACCOUNT_TYPES = (*WALLETS, "bank", "sacco")


def _rail_for(account_type: str, direction: str) -> str | None:
    if account_type in WALLETS:
        return _routable(direction, "phone", account_type)
    return _routable(direction, account_type)


# A bank account is debited by a request to pay through the hub (switch/hub/requests.py): its
# rail is no routable one (only a transfer's debit leg makes it), so it is named here.
DEBIT_METHODS = {
    **{t: m for t in ACCOUNT_TYPES if (m := _rail_for(t, "collection"))},
    "bank": bank_requests.METHOD,
}
CREDIT_METHODS = {t: m for t in ACCOUNT_TYPES if (m := _rail_for(t, "payout"))}
NOT_A_PARTICIPANT = (
    "bank {code} is not an active participant of the interoperability hub, so it cannot be sent "
    "a request to pay (PesaLink only pushes money). Send from the bank to a destination with a "
    "bank_transfer payout, or collect from a wallet or SACCO"
)


def leg_key(transfer_id: str, leg: Leg) -> str:
    """The Idempotency-Key of a leg: the leg's payment id is derived from it."""
    return f"{transfer_id}:{leg}"


def transfer_id_from(payment_like_id: str) -> str:
    """A transfer id has the shape of a payment id with the ``trf`` prefix."""
    return "trf_" + payment_like_id.split("_", 1)[1]


def transfer_id_for(shard: int, secret_key: bytes, merchant_id: str, idem_key: str) -> str:
    """The id of the transfer a merchant's Idempotency-Key names (the same key, the same id)."""
    key = scoped_key(merchant_id, f"transfer:{idem_key}")
    return transfer_id_from(payment_id_for(shard, secret_key, key))


@dataclass(frozen=True, slots=True)
class LegSpec:
    """What the shard needs to create a leg (a CreatePayment without the merchant's fields)."""

    leg: Leg
    method: str
    phone: str
    destination: dict[str, Any]


def account_parts(account: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(phone, destination) of an account as the payment record keeps them."""
    if account["type"] in WALLETS:
        return account["phone"], {}
    keys: tuple[str, ...]
    if account["type"] == "bank":
        # collection_account: the merchant's, that a request to pay names as the creditor (the
        # API adds it to a bank source; a PesaLink leg ignores it).
        keys = ("bank_code", "account_number", "account_name", "collection_account")
    else:
        keys = ("sacco_code", "member_number")
    destination = {k: account[k] for k in keys if account.get(k)}
    if account["type"] == "sacco":
        destination["purpose"] = "deposit"
    return "", destination


def leg_spec(transfer: dict[str, Any], leg: Leg) -> LegSpec:
    if leg == "debit":
        account, method = transfer["source"], DEBIT_METHODS[transfer["source"]["type"]]
    elif leg == "credit":
        account = transfer["destination"]
        method = CREDIT_METHODS[account["type"]]
    else:  # the money goes back where it came from
        account, method = transfer["source"], CREDIT_METHODS[transfer["source"]["type"]]
    phone, destination = account_parts(account)
    return LegSpec(leg, method, phone, destination)


class Step(Enum):
    WAIT = "wait"  # a leg is in flight
    CREDIT = "credit"  # the debit succeeded: pay the destination
    REFUND = "refund"  # the credit failed: give the money back
    DONE = "done"


_FAILED = (State.DECLINED, State.REJECTED, State.EXPIRED)


_IN_FLIGHT = (Status.PENDING, Status.PROCESSING)


def _settled(p: Payment | None) -> bool:
    return p is not None and p.status not in _IN_FLIGHT


def next_step(debit: Payment | None, credit: Payment | None, refund: Payment | None) -> Step:
    """What the saga does next. An expired debit that later succeeds comes back as succeeded."""
    if debit is None or debit.state != State.SUCCEEDED:
        return Step.DONE if _settled(debit) else Step.WAIT  # failed: nothing moved
    if credit is None:
        return Step.CREDIT
    if credit.state in (State.DECLINED, State.REJECTED):
        if refund is None:
            return Step.REFUND
        return Step.DONE if _settled(refund) else Step.WAIT
    return Step.DONE if _settled(credit) else Step.WAIT


TransferStatus = Literal[
    "pending", "processing", "succeeded", "failed", "refunding", "refunded", "refund_failed"
]


def status(debit: Payment, credit: Payment | None, refund: Payment | None) -> TransferStatus:
    """The transfer as the merchant sees it."""
    if debit.state != State.SUCCEEDED:
        in_flight = {Status.PENDING: "pending", Status.PROCESSING: "processing"}
        return in_flight.get(debit.status, "failed")  # type: ignore[return-value]
    if credit is None or credit.status in _IN_FLIGHT:
        return "processing"
    if credit.state == State.SUCCEEDED:
        return "succeeded"
    if refund is None or refund.status in _IN_FLIGHT:
        return "refunding"
    return "refunded" if refund.state == State.SUCCEEDED else "refund_failed"


def masked_account(account: dict[str, Any]) -> dict[str, Any]:
    shown = dict(account)
    if shown.get("phone"):
        shown["phone"] = mask_msisdn(shown["phone"])
    return masked_destination(shown)


def transfer_view(debit: Payment, credit: Payment | None, refund: Payment | None) -> dict[str, Any]:
    spec = debit.transfer
    legs = {"debit": debit, "credit": credit, "refund": refund}
    last = max((p for p in legs.values() if p is not None), key=lambda p: p.updated_at)
    return {
        "id": spec["id"],
        "object": "transfer",
        "status": status(debit, credit, refund),
        "amount": format_minor(debit.amount_minor),
        "currency": debit.currency,
        "source": masked_account(spec["source"]),
        "destination": masked_account(spec["destination"]),
        "reference": debit.reference,
        "description": debit.description,
        "metadata": debit.metadata,
        "created_at": iso(debit.created_at),
        "updated_at": iso(last.updated_at),
        "legs": {name: _leg_view(p) for name, p in legs.items() if p is not None},
    }


def _leg_view(p: Payment) -> dict[str, Any]:
    shown = view(p)
    keys = ("id", "object", "method", "status", "amount", "provider", "failure", "updated_at")
    return {k: shown[k] for k in keys}
