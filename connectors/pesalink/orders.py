"""What the shard hands the PesaLink gateway for a stored payment (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from switch.messages import Order
from switch.payments import Payment

CallbackUrl = Callable[[str, str], str]  # (kind, payment id) -> URL with its token


@dataclass(frozen=True, slots=True)
class BankOrder:
    """A PesaLink credit transfer to a bank account (``bank_code`` + ``account_number``) or to
    the account a phone number is linked to in the PesaLink directory (``phone``). Our payment
    id is the end-to-end id. The holder's name is looked up before any money moves; when
    ``recipient_name`` is given, a holder whose name does not match is refused."""

    provider: ClassVar[str] = "pesalink"  # whose gateway sends it
    payment_id: str
    amount_minor: int
    bank_code: str | None
    account_number: str | None
    phone: str | None
    recipient_name: str | None
    reference: str
    narration: str
    callback_url: str


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
