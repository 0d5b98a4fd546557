"""C2B routing (pure): which merchant a customer's paybill or till payment belongs to.

Several merchants may share one shortcode (an aggregator's paybill), each owning account numbers
by an exact list or a prefix; a till or a paybill with a single merchant can take any account.
The most specific rule wins: an exact account, then the longest prefix, then "any".
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from switch.messages import C2bIn
from switch.payments import Payment, ProviderRefs, apply, new_payment
from switch.rails import customer_initiated
from switch.states import Event


class AccountRule(BaseModel):
    """Which account numbers (BillRefNumber) a merchant accepts on a shortcode."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["any", "list", "prefix"] = Field(
        "any", description="`any` account, an exact `list`, or every account with a `prefix`."
    )
    accounts: list[str] = Field(default_factory=list, max_length=10_000)
    prefix: str | None = Field(None, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _complete(self) -> AccountRule:
        if self.type == "list" and not self.accounts:
            raise ValueError("accounts: a list rule needs at least one account")
        if self.type == "prefix" and not self.prefix:
            raise ValueError("prefix: a prefix rule needs a prefix")
        return self

    def matches(self, bill_ref: str) -> bool:
        ref = bill_ref.strip().upper()
        if self.type == "list":
            return ref in {a.strip().upper() for a in self.accounts}
        if self.type == "prefix":
            return ref.startswith((self.prefix or "").upper())
        return True

    def specificity(self) -> int:
        if self.type == "list":
            return 1_000
        return len(self.prefix or "") if self.type == "prefix" else 0


def route(rules: list[tuple[str, AccountRule]], bill_ref: str) -> str | None:
    """The merchant whose rule matches ``bill_ref`` most specifically, or None."""
    matching = [
        (rule.specificity(), merchant) for merchant, rule in rules if rule.matches(bill_ref)
    ]
    return max(matching)[1] if matching else None


def conflict(
    rules: list[tuple[str, AccountRule]], merchant_id: str, new: AccountRule
) -> str | None:
    """Why ``new`` cannot join the shortcode's other rules, or None."""
    for other_id, other in rules:
        if other_id == merchant_id:
            continue
        if new.type == "any" or other.type == "any":
            return (
                f"the shortcode already routes every account to {other_id}"
                if (other.type == "any")
                else "another merchant already uses this shortcode"
            )
        if (
            new.type == other.type == "prefix"
            and new.specificity() == other.specificity()
            and ((new.prefix or "").upper() == (other.prefix or "").upper())
        ):
            return f"prefix {new.prefix!r} is already {other_id}'s"
        if new.type == other.type == "list" and {a.upper() for a in new.accounts} & {
            a.upper() for a in other.accounts
        }:
            return f"some accounts are already {other_id}'s"
    return None


def received_payment(item: C2bIn, payment_id: str, key: str, fee: int, at: datetime) -> Payment:
    """A C2B confirmation as a collection awaiting M-Pesa's own record: nobody is credited until
    Transaction Status shows the same receipt, amount and shortcode (the credit is the posting of
    that success, switch/postings.py). Its id comes from the M-Pesa receipt, so a repeated
    confirmation is refused by the primary key."""
    received = new_payment(
        payment_id=payment_id,
        merchant_id=item.merchant_id,
        method=customer_initiated(),
        amount_minor=item.amount_minor,
        phone="",  # Daraja sends the payer's number masked or hashed: see metadata.payer
        reference=item.bill_ref,
        description=item.transaction_type,
        metadata={
            "payer": item.payer,
            "shortcode": item.shortcode,
            **({"member": item.member} if item.member else {}),
        },
        idem_key=key,
        request_hash="c2b",
        at=at,
        fee_minor=fee,
    )
    refs = ProviderRefs(receipt=item.trans_id, transaction_date=item.trans_time)
    verifying = apply(received, Event.QUEUED, source="callback", at=at, provider=refs)
    assert verifying is not None  # submitting -> awaiting_result is in the table
    return verifying
