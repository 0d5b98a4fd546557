"""What the shard hands the provider gateway for a stored payment (pure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from switch.messages import (
    B2cOrderMsg,
    BankOrder,
    Order,
    ReversalOrderMsg,
    SaccoOrder,
    StkOrder,
    WalletOrder,
)
from switch.money import to_whole_shillings
from switch.payments import Payment

Purpose = Literal["deposit", "loan_disbursement", "withdrawal", "loan_repayment"]
CallbackUrl = Callable[[str, str], str]  # (kind, payment id) -> URL with its token


def order_for(payment: Payment, url: CallbackUrl) -> Order:
    if payment.method in ("airtel_ussd", "airtel_payout"):
        return WalletOrder(
            payment.id,
            "collect" if payment.method == "airtel_ussd" else "payout",
            payment.amount_minor,
            payment.phone,
            payment.reference,
        )
    if payment.method == "bank_transfer":
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
    if payment.method in ("sacco", "sacco_withdrawal", "sacco_posting"):
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
    amount = to_whole_shillings(payment.amount_minor)
    if payment.method == "mpesa_reversal":
        return ReversalOrderMsg(
            payment_id=payment.id,
            receipt=str(payment.metadata["receipt"]),
            amount=amount,
            receiver_party=str(payment.metadata["shortcode"]),
            remarks=payment.description,
            result_url=url("reversal/result", payment.id),
            timeout_url=url("reversal/timeout", payment.id),
        )
    if payment.method == "mpesa_b2c":
        return B2cOrderMsg(
            payment_id=payment.id,
            amount=amount,
            phone=payment.phone,
            command=payment.command or "BusinessPayment",
            remarks=payment.description,
            occasion=payment.reference,
            result_url=url("b2c/result", payment.id),
            timeout_url=url("b2c/timeout", payment.id),
        )
    return StkOrder(
        payment_id=payment.id,
        amount=amount,
        phone=payment.phone,
        account_reference=payment.reference,
        description=payment.description,
        callback_url=url("stk", payment.id),
    )
