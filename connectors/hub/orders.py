"""What the shard hands the hub gateway for a stored debit leg of a bank source (pure): a request
to pay to the payer's bank (switch/hub/requests.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from switch.messages import Order
from switch.payments import Payment

CallbackUrl = Callable[[str, str], str]  # (kind, payment id) -> URL with its token


@dataclass(frozen=True, slots=True)
class RequestToPay:
    """Ask ``bank_code``'s customer (``account_number``) to pay ``amount_minor`` to the
    merchant's collection account, quoting the leg's id."""

    provider: ClassVar[str] = "hub"  # whose gateway sends it
    payment_id: str
    amount_minor: int
    bank_code: str
    account_number: str
    creditor_account: str
    description: str
    created_at: datetime


def order_for(payment: Payment, url: CallbackUrl) -> Order:
    d = payment.destination
    return RequestToPay(
        payment_id=payment.id,
        amount_minor=payment.amount_minor,
        bank_code=str(d.get("bank_code") or ""),
        account_number=str(d.get("account_number") or ""),
        creditor_account=str(d.get("collection_account") or ""),
        description=payment.description,
        created_at=payment.created_at,
    )
