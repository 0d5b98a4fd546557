"""The simulated SACCO's books (pure): members, their savings and loan accounts, and a ledger of
every transaction keyed by the switch's externalId, so nothing is ever booked twice and tests
can check balances against what the switch believes.

Members exist for any member number (a name is derived from it) except the triggers below,
chosen by the LAST THREE digits of the member number; the API and the file simulator share
them:

| Ends in | Member / account                     | Deposit   | Withdrawal          | Disbursement |
|---------|--------------------------------------|-----------|---------------------|--------------|
| ``404`` | no such member                       | refused   | refused             | refused      |
| ``403`` | savings account dormant              | refused   | refused             | paid         |
| ``402`` | savings balance 0                    | paid      | insufficient funds  | paid         |
| ``405`` | no loan waiting for disbursal        | paid      | paid                | refused      |
| ``504`` | slow: API answers after slow_delay   | paid      | paid                | paid         |
| other   | KES 50,000 savings, KES 1,000,000 approved loan (multi-tranche)              |

Example members: ``10001`` (ordinary), ``10404`` (unknown), ``10403`` (dormant).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["deposit", "withdrawal", "disbursement"]

UNKNOWN, DORMANT, NO_FUNDS, NO_LOAN, SLOW = "404", "403", "402", "405", "504"
OPENING_SAVINGS_MINOR = 5_000_000  # KES 50,000.00
APPROVED_LOAN_MINOR = 100_000_000  # KES 1,000,000.00

_FIRST = (
    "Wanjiru", "Achieng", "Kamau", "Otieno", "Mwangi", "Njeri", "Kiprop", "Chebet", "Mutua",
    "Atieno", "Wafula", "Nyambura", "Omondi", "Jeptoo", "Kariuki", "Akinyi",
)  # fmt: skip
_LAST = (
    "Mwangi", "Odhiambo", "Kipchoge", "Wambui", "Mutiso", "Ochieng", "Njoroge", "Cherono",
    "Kilonzo", "Onyango", "Gathoni", "Barasa",
)  # fmt: skip


class Refused(Exception):
    """The SACCO refuses: Fineract's globalisation code, its message and the HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def trigger(member_number: str) -> str:
    return member_number[-3:]


def member_name(member_number: str) -> str:
    digest = hashlib.sha256(member_number.encode()).digest()
    return f"{_FIRST[digest[0] % len(_FIRST)]} {_LAST[digest[1] % len(_LAST)]}"


@dataclass(slots=True)
class Member:
    client_id: int
    member_number: str
    name: str
    savings_id: int
    loan_id: int | None
    savings_minor: int
    undisbursed_minor: int
    dormant: bool

    def savings_no(self) -> str:
        return f"S{self.savings_id:09d}"

    def loan_no(self) -> str:
        return f"L{self.loan_id or 0:09d}"


@dataclass(slots=True)
class Txn:
    external_id: str
    transaction_id: int
    kind: Kind
    amount_minor: int
    member_number: str
    account_no: str
    channel: str  # api | file
    booked_at: float  # epoch seconds
    reversed: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Book:
    """One SACCO (one Fineract tenant)."""

    code: str
    members: dict[str, Member] = field(default_factory=dict)
    ledger: dict[str, Txn] = field(default_factory=dict)  # by externalId
    _next_id: int = 1

    def _id(self) -> int:
        self._next_id += 1
        return self._next_id

    def member(self, member_number: str) -> Member | None:
        """The member (opened on first sight), or None for the unknown-member trigger."""
        if trigger(member_number) == UNKNOWN:
            return None
        found = self.members.get(member_number)
        if found is None:
            t = trigger(member_number)
            found = self.members[member_number] = Member(
                client_id=self._id(),
                member_number=member_number,
                name=member_name(member_number),
                savings_id=self._id(),
                loan_id=None if t == NO_LOAN else self._id(),
                savings_minor=0 if t == NO_FUNDS else OPENING_SAVINGS_MINOR,
                undisbursed_minor=0 if t == NO_LOAN else APPROVED_LOAN_MINOR,
                dormant=t == DORMANT,
            )
        return found

    def by_client(self, client_id: int) -> Member | None:
        return next((m for m in self.members.values() if m.client_id == client_id), None)

    def by_savings(self, account_id: int) -> Member | None:
        return next((m for m in self.members.values() if m.savings_id == account_id), None)

    def by_loan(self, loan_id: int) -> Member | None:
        return next((m for m in self.members.values() if m.loan_id == loan_id), None)

    def post(
        self,
        kind: Kind,
        member: Member,
        amount_minor: int,
        external_id: str,
        channel: str,
        now: float,
    ) -> tuple[Txn, bool]:
        """Book a transaction; a known externalId returns the first one (and False): money is
        never moved twice. Refused says why nothing was booked."""
        first = self.ledger.get(external_id)
        if first is not None:
            return first, False
        if amount_minor <= 0:
            raise Refused(
                400,
                "validation.msg.transactionAmount.not.greater.than.zero",
                "The parameter transactionAmount must be greater than 0.",
            )
        if kind in ("deposit", "withdrawal") and member.dormant:
            raise Refused(
                403,
                "error.msg.savingsaccount.transaction.account.is.dormant",
                "Savings account is dormant; transactions are not allowed.",
            )
        if kind == "withdrawal" and amount_minor > member.savings_minor:
            raise Refused(
                403,
                "error.msg.savingsaccount.transaction.insufficient.account.balance",
                "Insufficient account balance.",
            )
        if kind == "disbursement" and (
            member.loan_id is None or amount_minor > member.undisbursed_minor
        ):
            raise Refused(
                403,
                "error.msg.loan.disbursal.not.allowed",
                "No approved loan amount is waiting for disbursal.",
            )
        if kind == "deposit":
            member.savings_minor += amount_minor
        elif kind == "withdrawal":
            member.savings_minor -= amount_minor
        else:
            member.undisbursed_minor -= amount_minor
        account = member.loan_no() if kind == "disbursement" else member.savings_no()
        txn = Txn(
            external_id, self._id(), kind, amount_minor, member.member_number, account, channel, now
        )
        self.ledger[external_id] = txn
        return txn, True

    def totals(self) -> dict[str, int]:
        out = {"deposit": 0, "withdrawal": 0, "disbursement": 0}
        for txn in self.ledger.values():
            out[txn.kind] += txn.amount_minor
        return out
