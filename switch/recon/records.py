"""What reconciliation compares (pure): a provider's line about one transaction, the switch's
payment, and the sources a provider line may come from.

A source says which rails it can see: M-Pesa's Pull Transactions lists only C2B payments into a
paybill or till (its docs); the organisation statement shows every movement of a shortcode; a
bank statement of the PesaLink sending account shows every PesaLink transfer. A switch payment
is expected in a source only if the source covers its method, so a run over Pull Transactions
never calls an STK payment missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Direction = Literal["in", "out"]  # money into or out of the switch's provider account


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    source: str  # a key of SOURCES
    receipt: str  # the provider's own id of the transaction (M-Pesa receipt, bank reference)
    amount: int  # cents, positive
    direction: Direction
    at: datetime  # UTC
    reference: str = ""  # our payment id, when the provider carries it (end-to-end id)
    account: str = ""  # what the payer typed (BillRefNumber / A/C No.)
    shortcode: str = ""  # the paybill or till credited (M-Pesa)
    party: str = ""  # the other party as the provider shows it (masked or hashed)
    day_only: bool = False  # the source gives a booking date, no time: ``at`` is its start

    @property
    def provider(self) -> str:
        return SOURCES[self.source].provider

    @property
    def key(self) -> str:
        """What identifies the transaction: our id when the provider echoes it, else its own."""
        return self.reference or self.receipt

    def to_doc(self) -> dict[str, object]:
        return {
            "source": self.source,
            "receipt": self.receipt,
            "amount": self.amount,
            "direction": self.direction,
            "at": self.at,
            "reference": self.reference,
            "account": self.account,
            "shortcode": self.shortcode,
            "party": self.party,
            "day_only": self.day_only,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, object]) -> ProviderRecord:
        at = doc["at"]
        assert isinstance(at, datetime)
        return cls(
            source=str(doc["source"]),
            receipt=str(doc["receipt"]),
            amount=int(str(doc["amount"])),
            direction="in" if doc["direction"] == "in" else "out",
            at=at,
            reference=str(doc.get("reference") or ""),
            account=str(doc.get("account") or ""),
            shortcode=str(doc.get("shortcode") or ""),
            party=str(doc.get("party") or ""),
            day_only=bool(doc.get("day_only")),
        )


@dataclass(frozen=True, slots=True)
class SwitchTxn:
    """A payment as the switch has it (from the payments collection; nothing sealed is needed)."""

    payment_id: str
    merchant_id: str
    method: str
    status: str  # the public status: succeeded, failed, expired, processing, ...
    amount: int  # cents
    at: datetime  # created, UTC
    receipt: str = ""  # the provider's receipt, once known

    @property
    def settled(self) -> bool:
        """Money moved, as far as the switch knows."""
        return self.status == "succeeded"


@dataclass(frozen=True, slots=True)
class Source:
    provider: str
    methods: frozenset[str]  # the switch methods this source shows
    role: Literal["provider", "bank", "switch"]
    label: str


SOURCES: dict[str, Source] = {
    "mpesa_pull": Source("mpesa", frozenset({"mpesa_c2b"}), "provider", "M-Pesa Pull Transactions"),
    "mpesa_statement": Source(
        "mpesa",
        frozenset({"mpesa_c2b", "mpesa_stk", "mpesa_b2c", "mpesa_reversal"}),
        "provider",
        "M-Pesa organisation statement (CSV)",
    ),
    "airtel_statement": Source(
        "airtel", frozenset({"airtel_ussd", "airtel_payout"}), "provider", "Airtel Money statement"
    ),
    "bank_mt940": Source(
        "pesalink", frozenset({"bank_transfer"}), "bank", "bank statement (SWIFT MT940)"
    ),
    "bank_camt053": Source(
        "pesalink", frozenset({"bank_transfer"}), "bank", "bank statement (ISO 20022 camt.053)"
    ),
    # The switch's own collection account, where M-Pesa and Airtel settle their floats: checked
    # against the run's matched records (switch/recon/settlement.py), not against payments.
    "bank_settlement": Source(
        "bank", frozenset(), "bank", "bank statement of the switch's collection account"
    ),
    # No provider's record: transfers whose refund leg failed, from the switch's own payments.
    "transfers": Source("switch", frozenset(), "switch", "transfers left refund_failed"),
}
