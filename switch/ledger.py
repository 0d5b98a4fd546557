"""Double-entry bookkeeping (pure). Every change to a merchant's money is a journal entry whose
lines sum to zero; a balance is the sum of its account's lines. The shard keeps the balances in
memory and writes each entry in the same MongoDB transaction as the payment change that causes
it, so the journal and the payments can never disagree.

Accounts, signed so that a positive merchant balance is money the switch owes the merchant:

    merchant:<id>:available   spendable (collections net of fees, minus payouts)
    merchant:<id>:reserved    held for payouts in flight
    provider:<name>:float:s<N> the counterpart at the provider (negative: it holds our money)
    switch:fees:s<N>          the switch's fee income

A platform fee (switch/platform.py) is its own entry, on the aggregator (``merchant_id``) with
the sub-merchant as ``counterparty``, so both of their statements show it.

System accounts are kept per shard (``s<N>``) so that shards never write the same balance
document; a report adds them up.

Entry ids are deterministic (``<payment id>:<kind>``), so posting the same event twice is refused
by the primary key: a retried or replayed event can never move money twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Line:
    account: str
    amount: int  # cents, signed


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    kind: str  # collection | payout_reserve | payout_settle | payout_release | reversal
    merchant_id: str
    payment_id: str
    lines: tuple[Line, ...]
    counterparty: str = ""  # another merchant whose account the entry moves (platform fees)

    def __post_init__(self) -> None:
        if sum(line.amount for line in self.lines) != 0:
            raise ValueError(f"journal entry {self.id} does not balance")

    def to_doc(self, at: Any) -> dict[str, Any]:
        doc = {
            "_id": self.id,
            "kind": self.kind,
            "merchant_id": self.merchant_id,
            "payment_id": self.payment_id,
            "lines": [{"account": ln.account, "amount": ln.amount} for ln in self.lines],
            "at": at,
        }
        if self.counterparty:
            doc["counterparty"] = self.counterparty
        return doc


def available(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:available"


def reserved(merchant_id: str) -> str:
    return f"merchant:{merchant_id}:reserved"


def provider_float(provider: str, shard: int) -> str:
    return f"provider:{provider}:float:s{shard}"


def fees(shard: int) -> str:
    return f"switch:fees:s{shard}"


def collection(
    merchant_id: str, payment_id: str, gross: int, fee: int, provider: str, shard: int
) -> Entry:
    """A customer paid ``gross``; the merchant gets it net of the switch's fee."""
    return Entry(
        f"{payment_id}:collection",
        "collection",
        merchant_id,
        payment_id,
        (
            Line(provider_float(provider, shard), -gross),
            Line(available(merchant_id), gross - fee),
            Line(fees(shard), fee),
        ),
    )


def platform_fee(aggregator_id: str, sub_merchant_id: str, payment_id: str, fee: int) -> Entry:
    """The aggregator's share of a sub-merchant's collection, from the sub-merchant's balance
    to the aggregator's (both on one shard: routing/shards.py)."""
    return Entry(
        f"{payment_id}:platform_fee",
        "platform_fee",
        aggregator_id,
        payment_id,
        (Line(available(sub_merchant_id), -fee), Line(available(aggregator_id), fee)),
        counterparty=sub_merchant_id,
    )


def payout_reserve(merchant_id: str, payment_id: str, amount: int, fee: int) -> Entry:
    total = amount + fee
    return Entry(
        f"{payment_id}:reserve",
        "payout_reserve",
        merchant_id,
        payment_id,
        (Line(available(merchant_id), -total), Line(reserved(merchant_id), total)),
    )


def payout_settle(
    merchant_id: str, payment_id: str, amount: int, fee: int, provider: str, shard: int
) -> Entry:
    """The payout reached the recipient: the reservation becomes money out plus the fee."""
    return Entry(
        f"{payment_id}:settle",
        "payout_settle",
        merchant_id,
        payment_id,
        (
            Line(reserved(merchant_id), -(amount + fee)),
            Line(provider_float(provider, shard), amount),
            Line(fees(shard), fee),
        ),
    )


def payout_release(merchant_id: str, payment_id: str, amount: int, fee: int) -> Entry:
    """The payout failed: the reservation goes back to available, fee included."""
    total = amount + fee
    return Entry(
        f"{payment_id}:release",
        "payout_release",
        merchant_id,
        payment_id,
        (Line(reserved(merchant_id), -total), Line(available(merchant_id), total)),
    )


def reversal(merchant_id: str, payment_id: str, amount: int, provider: str, shard: int) -> Entry:
    """A collection is returned to the customer; the switch keeps its fee (policy)."""
    return Entry(
        f"{payment_id}:reversal",
        "reversal",
        merchant_id,
        payment_id,
        (Line(available(merchant_id), -amount), Line(provider_float(provider, shard), amount)),
    )


@dataclass
class Balances:
    """Account -> balance, the sum of every line posted to it."""

    accounts: dict[str, int] = field(default_factory=dict)

    def post(self, entry: Entry) -> None:
        for line in entry.lines:
            self.accounts[line.account] = self.accounts.get(line.account, 0) + line.amount

    def of(self, account: str) -> int:
        return self.accounts.get(account, 0)

    def can_reserve(self, merchant_id: str, total: int) -> bool:
        return self.of(available(merchant_id)) >= total

    @classmethod
    def replay(cls, entries: Iterable[Entry]) -> Balances:
        balances = cls()
        for entry in entries:
            balances.post(entry)
        return balances


def entry_from_doc(doc: dict[str, Any]) -> Entry:
    lines = tuple(Line(ln["account"], int(ln["amount"])) for ln in doc["lines"])
    return Entry(
        doc["_id"],
        doc["kind"],
        doc["merchant_id"],
        doc["payment_id"],
        lines,
        doc.get("counterparty", ""),
    )
