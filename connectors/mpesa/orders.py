"""What the shard hands the M-Pesa gateway for a stored payment (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from connectors.mpesa.b2b import KRA_SHORTCODE
from switch.messages import Order
from switch.money import to_whole_shillings
from switch.payments import Payment

CallbackUrl = Callable[[str, str], str]  # (kind, payment id) -> URL with its token


@dataclass(frozen=True, slots=True)
class StkOrder:
    provider: ClassVar[str] = "mpesa"  # whose gateway sends it
    payment_id: str
    amount: int  # whole shillings
    phone: str
    account_reference: str
    description: str
    callback_url: str


@dataclass(frozen=True, slots=True)
class B2cOrderMsg:
    provider: ClassVar[str] = "mpesa"  # whose gateway sends it
    payment_id: str
    amount: int  # whole shillings
    phone: str
    command: str
    remarks: str
    occasion: str | None
    result_url: str
    timeout_url: str


@dataclass(frozen=True, slots=True)
class ReversalOrderMsg:
    provider: ClassVar[str] = "mpesa"  # whose gateway sends it
    payment_id: str  # the reversal's id
    receipt: str  # the M-Pesa receipt of the collection to reverse
    amount: int  # whole shillings
    receiver_party: str  # the shortcode that received the collection
    remarks: str
    result_url: str
    timeout_url: str


@dataclass(frozen=True, slots=True)
class B2bOrderMsg:
    """A payment to a paybill or till (B2B) or tax to KRA (Tax Remittance)."""

    provider: ClassVar[str] = "mpesa"  # whose gateway sends it
    payment_id: str
    command: str  # BusinessPayBill | BusinessBuyGoods | PayTaxToKRA
    amount: int  # whole shillings
    party_b: str  # the paybill, till or KRA's shortcode
    account_reference: str  # the paybill account or the PRN; "" for a till
    remarks: str
    occasion: str
    result_url: str
    timeout_url: str


@dataclass(frozen=True, slots=True)
class ExpressOrderMsg:
    """B2B Express Checkout: a USSD prompt to a till's operator to pay our paybill (the
    gateway's account shortcode)."""

    provider: ClassVar[str] = "mpesa"  # whose gateway sends it
    payment_id: str
    amount: int  # whole shillings
    till: str
    payment_ref: str
    partner_name: str
    callback_url: str


EXPRESS = "mpesa_b2b_express"


# The B2B rails and what each sends: Daraja's CommandID, the destination field naming PartyB and
# the one naming AccountReference (PartyB of tax is KRA's shortcode).
B2B_RAILS: dict[str, tuple[str, str, str]] = {
    "mpesa_b2b_paybill": ("BusinessPayBill", "business_number", "account_reference"),
    "mpesa_b2b_till": ("BusinessBuyGoods", "till_number", ""),
    "mpesa_tax": ("PayTaxToKRA", "", "prn"),
}


def _b2b(payment: Payment, url: CallbackUrl) -> B2bOrderMsg:
    command, party_key, ref_key = B2B_RAILS[payment.method]
    dest = payment.destination
    return B2bOrderMsg(
        payment_id=payment.id,
        command=command,
        amount=to_whole_shillings(payment.amount_minor),
        party_b=str(dest[party_key]) if party_key else KRA_SHORTCODE,
        account_reference=str(dest[ref_key]) if ref_key else "",
        remarks=payment.description,
        occasion=payment.reference,
        result_url=url("b2b/result", payment.id),
        timeout_url=url("b2b/timeout", payment.id),
    )


def order_for(payment: Payment, url: CallbackUrl) -> Order:
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
    if payment.method in B2B_RAILS:
        return _b2b(payment, url)
    if payment.method == EXPRESS:
        return ExpressOrderMsg(
            payment_id=payment.id,
            amount=amount,
            till=str(payment.destination["till_number"]),
            payment_ref=payment.reference,
            partner_name=payment.description or payment.reference,
            callback_url=url("b2b-express", payment.id),
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
