"""C2B confirmations and member postings (pure).

A C2B confirmation credits nobody: the provider signs nothing, so the payment is stored as
awaiting the provider's own record and only that record settles it (actors/shard/callbacks.py).
Its key comes from the receipt, so a repeated confirmation is refused by the primary key. A
settled payment naming a member's account (``metadata.member``: a paybill of a member
institution) is then posted to that institution's core on the registry's posting rail, under a
key from the receipt too, so a repeated confirmation or a restart never posts twice.
"""

from __future__ import annotations

from switch.messages import C2bIn, CreatePayment
from switch.payments import Payment
from switch.rails import RAILS, display_name, provider_of
from switch.states import State

# The rail postings go on: the registry's one rail of direction "posting".
POSTING_METHOD = next((m for m, r in RAILS.items() if r.direction == "posting"), "")


def c2b_key(item: C2bIn) -> str:
    """The (unscoped) idempotency key of a confirmation: one payment per receipt."""
    return f"c2b:{item.trans_id}"


def member_posting(paid: Payment) -> CreatePayment | None:
    """The posting a settled member's payment calls for (a loan repayment or a deposit), or
    None. The money is already in the institution's balance, so the posting moves nothing on
    the switch's books."""
    member = paid.metadata.get("member") or {}
    if paid.state != State.SUCCEEDED or not member.get("member_number") or not POSTING_METHOD:
        return None
    purpose = "loan_repayment" if member.get("product") == "loan_repayment" else "deposit"
    receipt = paid.provider.receipt
    name = display_name(provider_of(paid.method))
    return CreatePayment(
        merchant_id=paid.merchant_id,
        idem_key=f"{receipt}:posting",
        request_hash="c2b-posting",
        method=POSTING_METHOD,
        amount_minor=paid.amount_minor,
        phone="",
        reference=str(receipt),
        description=f"{name} {receipt} {member.get('product', '')}",
        metadata={"c2b_payment": paid.id},
        # The member's account as the confirmation's routing found it, and what to post.
        destination={**{k: v for k, v in member.items() if k != "product"}, "purpose": purpose},
    )
