"""What the shard hands the PesaLink gateway for a stored payment (pure)."""

from __future__ import annotations

from collections.abc import Callable

from switch.messages import BankOrder, Order
from switch.payments import Payment

CallbackUrl = Callable[[str, str], str]  # (kind, payment id) -> URL with its token


def order_for(payment: Payment, url: CallbackUrl) -> Order:
    """To a bank account, or to the account a phone is linked to in the PesaLink directory."""
    d = payment.destination
    return BankOrder(
        payment_id=payment.id,
        amount_minor=payment.amount_minor,
        bank_code=d.get("bank_code"),
        account_number=d.get("account_number"),
        phone=payment.phone or None,
        recipient_name=d.get("account_name"),
        reference=payment.reference,
        narration=payment.description,
        callback_url=url("pesalink", payment.id),
    )
