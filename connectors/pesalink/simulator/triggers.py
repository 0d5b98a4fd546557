"""Deterministic sandbox outcomes, chosen by the LAST FOUR digits of the recipient's account
number (for a transfer to a phone: of the account the phone resolves to; unlisted phones resolve
to an account ending in the phone's own last four digits, see :mod:`.directory`).

| Ends in  | Account lookup                | Transfer                                         |
|----------|-------------------------------|--------------------------------------------------|
| ``1001`` | AccountInvalid AC01 (no such) | FAILED AC01, nothing debited                     |
| ``1004`` | AccountInvalid AC04 (closed)  | FAILED AC04, nothing debited                     |
| ``1006`` | AccountInvalid AC06 (blocked) | FAILED AC06, nothing debited                     |
| ``2001`` | found                         | names checked: FAILED BE01 unless                |
|          |                               | ``destination.name`` matches the holder's        |
| ``3004`` | found                         | FAILED AM04: insufficient funds at the sending   |
|          |                               | bank, nothing debited                            |
| ``3008`` | receiving bank offline, AB08  | FAILED AB08 (receiving bank unavailable)         |
|          | (retriable)                   |                                                  |
| ``4004`` | found                         | PAID, but the answer is HTTP 504 (the bank timed |
|          |                               | out waiting for PesaLink): enquiry says SUCCESS  |
| ``5001`` | found                         | PENDING for ``pending_for`` s, then SUCCESS      |
| ``5002`` | found                         | PENDING for ``pending_for`` s, then FAILED AB05  |
|          |                               | (debited at acceptance, refunded at the failure) |
| other    | found                         | SUCCESS                                          |

Rules that override a payment, checked before the table: a phone ending in ``0404`` is not
linked (the transfer is refused, code 104102); an amount larger than the sending account's
balance (knob ``source_balance_cents``) fails with AM04. Gateway refusals (limits, bank code,
currency, duplicate reference, signature, token) come before any of this and record nothing.
Example accounts: ``0123451004`` (closed), ``0123455001`` (pending then paid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connectors.pesalink.transformers import names_match

FinalStatus = Literal["SUCCESS", "FAILED"]


@dataclass(frozen=True, slots=True)
class Trigger:
    lookup_reason: str | None  # None: the lookup finds the account
    final_status: FinalStatus
    reason_code: str | None = None
    pending: bool = False  # answered PENDING first, final after pending_for
    upstream_timeout: bool = False  # processed, but the answer is an HTTP 504
    checks_name: bool = False


PAID = Trigger(None, "SUCCESS")

TRIGGERS: dict[str, Trigger] = {
    "1001": Trigger("AC01", "FAILED", "AC01"),
    "1004": Trigger("AC04", "FAILED", "AC04"),
    "1006": Trigger("AC06", "FAILED", "AC06"),
    "2001": Trigger(None, "SUCCESS", checks_name=True),
    "3004": Trigger(None, "FAILED", "AM04"),
    "3008": Trigger("AB08", "FAILED", "AB08"),
    "4004": Trigger(None, "SUCCESS", upstream_timeout=True),
    "5001": Trigger(None, "SUCCESS", pending=True),
    "5002": Trigger(None, "FAILED", "AB05", pending=True),
}


def trigger_for(account_number: str) -> Trigger:
    return TRIGGERS.get(account_number[-4:], PAID)


def lookup_reason(account_number: str) -> str | None:
    """Why a name enquiry on this account fails, or None when it finds the holder."""
    return trigger_for(account_number).lookup_reason


def plan_transfer(
    account_number: str, given_name: str, holder: str, amount_cents: int, balance_cents: int
) -> Trigger:
    """What happens to a transfer the gateway accepted."""
    chosen = trigger_for(account_number)
    if chosen.checks_name and not names_match(given_name, holder):
        return Trigger(None, "FAILED", "BE01")
    if (chosen.final_status == "SUCCESS" or chosen.pending) and amount_cents > balance_cents:
        return Trigger(None, "FAILED", "AM04", upstream_timeout=chosen.upstream_timeout)
    return chosen
