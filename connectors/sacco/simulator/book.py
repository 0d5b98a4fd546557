"""The simulated SACCO's books (pure): members, their savings and loan accounts, and a ledger of
every transaction keyed by the switch's externalId, so nothing is ever booked twice and tests
can check balances against what the switch believes.

Members exist for any member number (a name is derived from it) except the triggers below,
chosen by the LAST THREE digits of the member number; the API and the file simulator share
them:

| Ends in | Member / account                   | Deposit | Withdrawal | Disburse | Repay   |
|---------|------------------------------------|---------|------------|----------|---------|
| ``404`` | no such member                     | refused | refused    | refused  | refused |
| ``403`` | savings account dormant            | refused | refused    | paid     | paid    |
| ``402`` | savings balance 0                  | paid    | no funds   | paid     | paid    |
| ``405`` | no loan at all                     | paid    | paid       | refused  | refused |
| ``406`` | loan approved, nothing owed yet    | paid    | paid       | paid     | refused |
| ``407`` | KES 1,000 outstanding (overpay it) | paid    | paid       | paid     | paid    |
| ``504`` | slow: API answers after slow_delay | paid    | paid       | paid     | paid    |
| other   | KES 50,000 savings; one multi-tranche loan: KES 60,000 outstanding from     |
|         | earlier tranches and KES 1,000,000 approved, still to disburse              |

A disbursement adds to the outstanding balance; a repayment takes from it. A repayment larger
than the balance is booked and the loan becomes ``Overpaid`` with the excess as a credit
balance (Fineract's default), unless the SACCO refuses overpayments (``refuse_overpayment``:
a 403, code ours, unverified). A loan with nothing outstanding is not active: repayments are
refused as Fineract refuses them on a loan that is not open.

Example members: ``10001`` (ordinary), ``10404`` (unknown), ``10403`` (dormant).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["deposit", "withdrawal", "disbursement", "repayment"]
KINDS: tuple[Kind, ...] = ("deposit", "withdrawal", "disbursement", "repayment")

UNKNOWN, DORMANT, NO_FUNDS, NO_LOAN, SLOW = "404", "403", "402", "405", "504"
NOTHING_OWED, SMALL_LOAN = "406", "407"
OPENING_SAVINGS_MINOR = 5_000_000  # KES 50,000.00
APPROVED_LOAN_MINOR = 100_000_000  # KES 1,000,000.00
OUTSTANDING_LOAN_MINOR = 6_000_000  # KES 60,000.00
SMALL_LOAN_MINOR = 100_000  # KES 1,000.00
NOT_ACTIVE = "error.msg.loan.repayment.or.waiver.account.is.not.active"  # Fineract's code
OVERPAYMENT_REFUSED = "error.msg.loan.repayment.overpayment.not.allowed"  # ours, unverified

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
    outstanding_minor: int = 0  # loan balance owed
    overpaid_minor: int = 0  # credit balance after an overpayment (the SACCO refunds it)

    def savings_no(self) -> str:
        return f"S{self.savings_id:09d}"

    def loan_no(self) -> str:
        return f"L{self.loan_id or 0:09d}"

    def loan_active(self) -> bool:
        return self.loan_id is not None and self.outstanding_minor > 0


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
                outstanding_minor=_opening_outstanding(t),
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
        *,
        refuse_overpayment: bool = False,
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
        if kind == "repayment":
            _check_repayment(member, amount_minor, refuse_overpayment)
        _apply(kind, member, amount_minor)
        account = member.savings_no() if kind in ("deposit", "withdrawal") else member.loan_no()
        txn = Txn(
            external_id, self._id(), kind, amount_minor, member.member_number, account, channel, now
        )
        self.ledger[external_id] = txn
        return txn, True

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = dict.fromkeys(KINDS, 0)
        for txn in self.ledger.values():
            out[txn.kind] += txn.amount_minor
        return out


def _opening_outstanding(t: str) -> int:
    if t in (NO_LOAN, NOTHING_OWED):
        return 0
    return SMALL_LOAN_MINOR if t == SMALL_LOAN else OUTSTANDING_LOAN_MINOR


def _check_repayment(member: Member, amount_minor: int, refuse_overpayment: bool) -> None:
    if member.loan_id is None:
        raise Refused(404, "error.msg.loan.id.invalid", "The member has no loan.")
    if not member.loan_active():
        raise Refused(
            400,
            NOT_ACTIVE,
            "Loan Repayment (or its types) or Waiver is not allowed. Loan Account is not active.",
        )
    if refuse_overpayment and amount_minor > member.outstanding_minor:
        raise Refused(
            403,
            OVERPAYMENT_REFUSED,
            "Repayment exceeds the outstanding loan balance; overpayments are not allowed.",
        )


def _apply(kind: Kind, member: Member, amount_minor: int) -> None:
    if kind == "deposit":
        member.savings_minor += amount_minor
    elif kind == "withdrawal":
        member.savings_minor -= amount_minor
    elif kind == "disbursement":
        member.undisbursed_minor -= amount_minor
        offset = min(amount_minor, member.overpaid_minor)  # a credit balance is used up first
        member.overpaid_minor -= offset
        member.outstanding_minor += amount_minor - offset
    else:  # repayment: owed first, the rest becomes the credit balance
        paid_off = min(amount_minor, member.outstanding_minor)
        member.outstanding_minor -= paid_off
        member.overpaid_minor += amount_minor - paid_off
