"""What the shard hands the SACCO gateway for a stored payment (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

from switch.messages import Order
from switch.payments import Payment

Purpose = Literal["deposit", "loan_disbursement", "withdrawal", "loan_repayment"]
CallbackUrl = Callable[[str, str], str]  # (kind, payment id) -> URL with its token


@dataclass(frozen=True, slots=True)
class SaccoOrder:
    """Money into (``deposit``, ``loan_disbursement``) or out of (``withdrawal``: the source leg
    of a transfer) a SACCO member account."""

    provider: ClassVar[str] = "sacco"  # whose gateway sends it
    payment_id: str
    sacco_code: str
    member_number: str
    amount_minor: int
    purpose: Purpose
    reference: str
    callback_url: str


def order_for(payment: Payment, url: CallbackUrl) -> Order:
    """A payout to a member (a deposit or a loan disbursement), a transfer's debit of a member
    (a withdrawal), or a paybill payment posted to the member (a repayment or a deposit)."""
    d = payment.destination
    purpose: Purpose = "withdrawal"
    if payment.method == "sacco":
        purpose = "loan_disbursement" if d["purpose"] == "loan_disbursement" else "deposit"
    elif payment.method == "sacco_posting":
        purpose = "loan_repayment" if d["purpose"] == "loan_repayment" else "deposit"
    return SaccoOrder(
        payment_id=payment.id,
        sacco_code=d["sacco_code"],
        member_number=d["member_number"],
        amount_minor=payment.amount_minor,
        purpose=purpose,
        reference=payment.reference,
        callback_url=url("sacco", payment.id),
    )
