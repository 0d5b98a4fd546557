"""What the shard hands the Airtel gateway for a stored payment (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from switch.messages import Order
from switch.payments import Payment

CallbackUrl = Callable[[str, str], str]  # unused: Airtel calls one portal-configured URL


@dataclass(frozen=True, slots=True)
class WalletOrder:
    """Airtel Money: a USSD-push collection (``collect``) or a disbursement (``payout``). Our
    payment id is Airtel's transaction id, the same on every attempt."""

    provider: ClassVar[str] = "airtel"  # whose gateway sends it
    payment_id: str
    kind: Literal["collect", "payout"]
    amount_minor: int
    phone: str  # 2547XXXXXXXX / 2541XXXXXXXX
    reference: str


def order_for(payment: Payment, _url: CallbackUrl) -> Order:
    collect = payment.method == "airtel_ussd"
    return WalletOrder(
        payment.id,
        "collect" if collect else "payout",
        payment.amount_minor,
        payment.phone,
        payment.reference,
    )
