"""What the shard hands the Airtel gateway for a stored payment (pure)."""

from __future__ import annotations

from collections.abc import Callable

from switch.messages import Order, WalletOrder
from switch.payments import Payment

CallbackUrl = Callable[[str, str], str]  # unused: Airtel calls one portal-configured URL


def order_for(payment: Payment, _url: CallbackUrl) -> Order:
    collect = payment.method == "airtel_ussd"
    return WalletOrder(
        payment.id,
        "collect" if collect else "payout",
        payment.amount_minor,
        payment.phone,
        payment.reference,
    )
