"""ISO 20022 status and reason codes, and what each means to the hub: one table each.

Transaction statuses (``ExternalPaymentTransactionStatus1Code``, pacs.002 ``TxSts``) map to a
hub outcome; anything not explicitly final is ``pending`` (the house rule: only a clear answer
moves money). Reason codes (``ExternalStatusReason1Code``, ``StsRsnInf/Rsn/Cd``; the same codes
serve pacs.004 ``RtrRsnInf``) map both ways to the hub's reason names and, where Mojaloop has
one, its FSPIOP error code (the hub copies Mojaloop's positions and errors). A reason code the
table does not know still reads: as reason ``other``, keeping its code.

Code names are those of the ISO external code sets (ExternalCodeSets, 2024 edition).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["accepted", "committed", "pending", "rejected"]
"""``accepted``: the payee's bank took it (a reservation may now commit); ``committed``:
settled or credited; ``pending``: a further status will follow; ``rejected``: refused."""

TX_STATUS: dict[str, tuple[Outcome, str]] = {
    "ACTC": ("pending", "AcceptedTechnicalValidation: syntax checked, nothing more"),
    "ACCP": ("accepted", "AcceptedCustomerProfile: the payee's bank accepts the transfer"),
    "ACSP": ("accepted", "AcceptedSettlementInProcess: accepted, settlement under way"),
    "ACSC": ("committed", "AcceptedSettlementCompleted: settled (debtor side)"),
    "ACCC": ("committed", "AcceptedCreditSettlementCompleted: the payee's account is credited"),
    "PDNG": ("pending", "Pending: a further status will follow"),
    "RJCT": ("rejected", "Rejected"),
}
OUTCOME_STATUS: dict[Outcome, str] = {
    "accepted": "ACCP",
    "committed": "ACSC",
    "pending": "PDNG",
    "rejected": "RJCT",
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str  # the ISO code
    name: str  # its ISO name
    hub: str  # the hub's reason
    mojaloop: tuple[str, ...]  # the FSPIOP error codes of the hub's ledger that it stands for
    text: str  # a sentence for people (AddtlInf is at most 105 characters)


REASONS: tuple[Reason, ...] = (
    Reason("AC01", "IncorrectAccountNumber", "payee_account_unknown", ("3204",),
           "The payee's account number is not known at its bank"),
    Reason("AC04", "ClosedAccountNumber", "payee_account_closed", (),
           "The payee's account is closed"),
    Reason("AC06", "BlockedAccount", "payee_account_blocked", (),
           "The payee's account is blocked"),
    Reason("AM04", "InsufficientFunds", "payer_insufficient_liquidity", ("4001", "4200"),
           "The payer's participant is short of liquidity or at its net debit cap"),
    Reason("AM05", "Duplication", "duplicate", ("3106",),
           "A transfer with this id was already received with other details"),
    Reason("AB05", "TimeoutCreditorAgent", "payee_timeout", ("3303",),
           "The payee's bank did not answer in time"),
    Reason("AB06", "TimeoutInstructedAgent", "timeout", ("3303",),
           "The instructed agent did not answer in time"),
    Reason("BE01", "InconsistentWithEndCustomer", "payee_name_mismatch", (),
           "The payee's name does not match the account holder"),
    Reason("FF01", "InvalidFileFormat", "invalid_message", ("3100",),
           "The message is not valid against its schema"),
    Reason("AG01", "TransactionForbidden", "payee_refused", (),
           "The payee's bank does not accept this transfer"),
    Reason("RC01", "BankIdentifierIncorrect", "payee_bank_wrong", (),
           "The creditor agent is not the bank that received it"),
    Reason("AM03", "NotAllowedCurrency", "currency_not_allowed", (),
           "The currency is not accepted"),
    Reason("NARR", "Narrative", "other", (),
           "Other; see the additional information"),
)  # fmt: skip
BY_CODE: dict[str, Reason] = {r.code: r for r in REASONS}
BY_HUB: dict[str, Reason] = {r.hub: r for r in REASONS}
# Mojaloop's two refusals at reserve time (liquidity cover, net debit cap) are both AM04.
BY_HUB["payer_limit"] = BY_CODE["AM04"]


def outcome_of(status: str) -> Outcome:
    """The hub outcome of a ``TxSts``; an unknown status is ``pending`` (a status query
    settles it), never a success or a failure."""
    known = TX_STATUS.get(status)
    return known[0] if known else "pending"


def hub_reason(code: str | None) -> str:
    """The hub's reason for an ISO reason code (``other`` when unknown or absent)."""
    if code is None:
        return "other"
    known = BY_CODE.get(code)
    return known.hub if known else "other"


def reason_code(hub: str) -> str:
    """The ISO reason code for a hub reason; ``NARR`` when it has none (say why in AddtlInf)."""
    known = BY_HUB.get(hub)
    return known.code if known else "NARR"


def reason_text(code: str) -> str:
    known = BY_CODE.get(code)
    return known.text if known else "Rejected"
