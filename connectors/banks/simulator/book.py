"""The simulated banks' books: who holds which account, each account's balance and bookings,
and what each bank decided for every credit transfer it received (by UETR, so a repeat is
answered the same way and never credited twice).

Four banks by default, with CBK bank codes (``kenya-reference`` §3: KCB 01, Absa 03,
Co-operative 11, Equity 68) and illustrative BICs. Each has the same account layout, so a test
knows the outcome from the number alone::

    <code>10000001  JANE WANJIKU      open
    <code>10000002  JOHN OTIENO       open
    <code>10000003  MARY AKINYI       open
    <code>10000404  PETER KAMAU       closed    -> RJCT AC04
    <code>10000606  GRACE MUTHONI     blocked   -> RJCT AC06
    any other number                            -> RJCT AC01

A credit whose creditor name is not the holder's (case and spacing aside) is ``BE01`` when the
bank checks names (a knob); one addressed to another bank is ``RC01``; one not in KES ``AM03``.
An accepted credit is held until the hub's final pacs.002 about it: ``ACSC`` books it for the
customer, ``RJCT`` takes it back (:func:`settle`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from switch.iso20022.pacs002 import TxStatus
from switch.iso20022.pacs008 import CreditTransfer

Status = Literal["open", "closed", "blocked"]
REFUSALS: dict[Status, str] = {"closed": "AC04", "blocked": "AC06"}
INFO = {
    "AC01": "No such account at this bank",
    "AC04": "Account closed",
    "AC06": "Account blocked",
    "BE01": "Creditor name does not match the account holder",
    "RC01": "Creditor agent is not this bank",
    "AM03": "Only KES is accepted",
    "AM05": "Same UETR already received with other details",
}
HOLDERS: tuple[tuple[str, str, Status], ...] = (
    ("10000001", "JANE WANJIKU", "open"),
    ("10000002", "JOHN OTIENO", "open"),
    ("10000003", "MARY AKINYI", "open"),
    ("10000404", "PETER KAMAU", "closed"),
    ("10000606", "GRACE MUTHONI", "blocked"),
)
# (code, name, BIC). The BICs are illustrative: a BIC's real owner is not checked here.
DEFAULT_BANKS: tuple[tuple[str, str, str], ...] = (
    ("01", "KCB Bank Kenya", "KCBLKENX"),
    ("03", "Absa Bank Kenya", "BARCKENX"),
    ("11", "Co-operative Bank of Kenya", "KCOOKENA"),
    ("68", "Equity Bank Kenya", "EQBLKENA"),
)


def sandbox_key(code: str) -> str:
    """The sandbox's shared key with bank ``code`` (a public test value, like the other
    simulators' sandbox credentials; a real participant's key is issued at onboarding)."""
    digest = hashlib.sha256(f"sandbox-bank-key-{code}".encode()).digest()
    return "whsec_" + base64.b64encode(digest[:24]).decode()


@dataclass(slots=True)
class Booking:
    at: datetime
    cents: int  # signed: a credit is positive
    bank_reference: str
    end_to_end_id: str
    uetr: str
    counterparty: str
    held: bool = False  # accepted, not yet settled by the hub: not the customer's to spend

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "cents": self.cents,
            "bank_reference": self.bank_reference,
            "end_to_end_id": self.end_to_end_id,
            "uetr": self.uetr,
            "counterparty": self.counterparty,
            "held": self.held,
        }


@dataclass(slots=True)
class Account:
    number: str
    holder: str
    status: Status = "open"
    opening_cents: int = 0
    bookings: list[Booking] = field(default_factory=list)

    @property
    def balance_cents(self) -> int:
        return self.opening_cents + sum(b.cents for b in self.bookings if not b.held)

    @property
    def held_cents(self) -> int:
        return sum(b.cents for b in self.bookings if b.held)

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "holder": self.holder,
            "status": self.status,
            "balance_cents": self.balance_cents,
            "held_cents": self.held_cents,
            "bookings": [b.to_json() for b in self.bookings],
        }


@dataclass(slots=True)
class Decision:
    """What the bank decided for one transfer, kept to answer a repeat or a status query."""

    digest: str  # of the transfer's details: the same UETR with other details is AM05
    status: TxStatus
    original_msg_id: str


@dataclass(slots=True)
class Bank:
    code: str
    name: str
    bic: str
    key: str = field(repr=False)
    accounts: dict[str, Account] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)  # by UETR
    by_end_to_end: dict[str, str] = field(default_factory=dict)  # end-to-end id -> UETR

    def is_me(self, tx: CreditTransfer) -> bool:
        agent = tx.creditor_agent
        return agent.member_id == self.code or (agent.member_id is None and agent.bic == self.bic)

    def decision(self, ref: str) -> Decision | None:
        """By UETR or by the sender's end-to-end id."""
        return self.decisions.get(ref) or self.decisions.get(self.by_end_to_end.get(ref, ""))

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "bic": self.bic,
            "accounts": [a.to_json() for a in self.accounts.values()],
            "transfers_received": len(self.decisions),
        }


def new_bank(code: str, name: str, bic: str, key: str) -> Bank:
    """A bank with the usual account layout (the module's table)."""
    accounts = {
        code + suffix: Account(code + suffix, holder, status, opening_cents=100_000_00)
        for suffix, holder, status in HOLDERS
    }
    return Bank(code, name, bic, key, accounts)


def default_banks(keys: dict[str, str] | None = None) -> dict[str, Bank]:
    return {
        code: new_bank(code, name, bic, (keys or {}).get(code) or sandbox_key(code))
        for code, name, bic in DEFAULT_BANKS
    }


def digest(tx: CreditTransfer) -> str:
    """The details a repeat must match: ids, amount, parties."""
    fields = (
        tx.uetr, tx.end_to_end_id, str(tx.amount), tx.currency, tx.creditor_account,
        tx.creditor_name, tx.debtor_account, tx.debtor_agent.key,
    )  # fmt: skip
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.upper().split()) == " ".join(b.upper().split())


def refusal(bank: Bank, tx: CreditTransfer, check_names: bool) -> str | None:
    """The reason code the bank refuses ``tx`` with, or None when it takes it."""
    if not bank.is_me(tx):
        return "RC01"
    if tx.currency != "KES":
        return "AM03"
    account = bank.accounts.get(tx.creditor_account)
    if account is None:
        return "AC01"
    if account.status in REFUSALS:
        return REFUSALS[account.status]
    if check_names and not _same_name(account.holder, tx.creditor_name):
        return "BE01"
    return None


def credit(bank: Bank, tx: CreditTransfer, at: datetime, held: bool = True) -> str:
    """Book ``tx`` on the payee's account, held until the hub settles it (:func:`settle`); the
    bank's reference. Accepting a transfer is not yet being paid: the hub may still abort it
    (it expired before the answer arrived), so the customer cannot spend it until then."""
    reference = "FT" + secrets.token_hex(5).upper()
    bank.accounts[tx.creditor_account].bookings.append(
        Booking(
            at, int(tx.amount * 100), reference, tx.end_to_end_id, tx.uetr, tx.debtor_name, held
        )
    )
    return reference


Settled = Literal["booked", "released", "unchanged"]


def settle(bank: Bank, uetr: str, committed: bool) -> Settled:
    """The hub's final word on a transfer this bank accepted: committed books the held credit
    for the customer; aborted takes it back, as if never booked. A repeat, or a word on a
    transfer the bank holds nothing for (it was the payer, or refused it), changes nothing."""
    for account in bank.accounts.values():
        for i, b in enumerate(account.bookings):
            if b.uetr == uetr and b.held:
                if committed:
                    account.bookings[i] = replace(b, held=False)
                    return "booked"
                del account.bookings[i]
                return "released"
    return "unchanged"


def status(
    tx: CreditTransfer, code: str, reason: str | None, at: datetime, ref: str | None
) -> TxStatus:
    return TxStatus(
        status=code,
        original_end_to_end_id=tx.end_to_end_id,
        original_uetr=tx.uetr,
        original_instruction_id=tx.instruction_id,
        original_transaction_id=tx.transaction_id,
        reason=reason,
        info=None if reason is None else INFO.get(reason, "Rejected"),
        accepted_at=at if code == "ACCP" else None,
        bank_reference=ref,
    )


def cents(amount: Decimal) -> int:
    return int(amount * 100)
