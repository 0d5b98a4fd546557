"""C2B confirmations and SACCO postings (pure).

A C2B confirmation credits nobody: Daraja signs nothing, so the payment is stored as awaiting
M-Pesa's record and only that record settles it (actors/shard/callbacks.py). Its key comes from
the receipt, so a repeated confirmation is refused by the primary key. A settled payment to a
SACCO member's account is then posted to the SACCO's core, under a key from the receipt too, so a
repeated confirmation or a restart never posts twice.
"""

from __future__ import annotations

from switch.messages import C2bIn, CreatePayment
from switch.payments import Payment
from switch.states import State


def c2b_key(item: C2bIn) -> str:
    """The (unscoped) idempotency key of a confirmation: one payment per receipt."""
    return f"c2b:{item.trans_id}"


def sacco_posting(paid: Payment) -> CreatePayment | None:
    """The posting a settled SACCO member's paybill payment calls for (a loan repayment or a
    deposit), or None. The money is already in the SACCO's balance, so the posting moves
    nothing on the switch's books."""
    member = paid.metadata.get("member") or {}
    if paid.state != State.SUCCEEDED or not member.get("member_number"):
        return None
    purpose = "loan_repayment" if member.get("product") == "loan_repayment" else "deposit"
    return CreatePayment(
        merchant_id=paid.merchant_id,
        idem_key=f"{paid.provider.receipt}:posting",
        request_hash="c2b-posting",
        method="sacco_posting",
        amount_minor=paid.amount_minor,
        phone="",
        reference=str(paid.provider.receipt),
        description=f"M-Pesa {paid.provider.receipt} {member.get('product', '')}",
        metadata={"c2b_payment": paid.id},
        destination={
            "sacco_code": member["sacco_code"],
            "member_number": member["member_number"],
            "purpose": purpose,
        },
    )
