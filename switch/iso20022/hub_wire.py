"""The hub's own transfers on the ISO 20022 wire (pure): the pacs.008 the hub sends an
``iso20022`` payee, how that payee's pacs.002 answers the transfer, and a transfer's current
state as a pacs.002.

* The hub names its transfers ``htr_...`` (derived from the payer and its Idempotency-Key); on
  the wire the transfer id is the ``EndToEndId`` and its UETR is derived from it
  (:func:`uetr_of`), so a bank's pacs.002 is matched by ``OrgnlEndToEndId`` and checked by
  ``OrgnlUETR`` without a lookup table.
* A bank's status is read through :mod:`.codes`: accepted or settled commits, rejected aborts
  with the hub reason of its code, anything else waits (the house rule: only a clear answer
  moves money).
* A transfer's state as a ``TxSts``: RESERVED is ``ACSP`` (accepted, settlement in process),
  COMMITTED ``ACSC``, ABORTED ``RJCT`` with the reason code of its FSPIOP error.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from switch.iso20022 import codes
from switch.iso20022 import values as v
from switch.iso20022.pacs002 import Pacs002, TxStatus
from switch.iso20022.pacs008 import MESSAGE as PACS008
from switch.iso20022.pacs008 import CreditTransfer, Pacs008

NOT_PROVIDED = "NOTPROVIDED"  # ISO's own filler where a party's name is not known


def new_msg_id() -> str:
    """A MsgId of the hub's own (Max35Text): ``HUB`` and 24 random hex digits."""
    return f"HUB{secrets.token_hex(12).upper()}"


def uetr_of(transfer_id: str) -> str:
    """The UETR of a hub transfer: a version-4-shaped UUID from a hash of its id."""
    h = hashlib.sha256(f"hub-uetr:{transfer_id}".encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) % 4]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


@dataclass(frozen=True, slots=True)
class Banks:
    """The bank codes of a transfer's payer and payee participants."""

    payer: str
    payee: str


def notice(transfer: dict[str, Any], banks: Banks, msg_id: str, created: datetime) -> Pacs008:
    """The pacs.008 telling the payee's bank of a reserved transfer (the API's view of it)."""
    party = transfer.get("party") or {}
    account = party.get("id", "")
    if party.get("type") == "ACCOUNT":
        account = account.partition(":")[2]
    tx = CreditTransfer(
        end_to_end_id=transfer["id"],
        amount=Decimal(transfer["amount"]),
        currency=transfer["currency"],
        debtor_name=transfer["payer"],
        debtor_account=transfer["payer"],  # the payer participant's position at the hub
        # A payer without a bank code (a wallet) is named by its participant id.
        debtor_agent=v.Agent(member_id=banks.payer or transfer["payer"]),
        creditor_agent=v.Agent(member_id=banks.payee),
        creditor_name=NOT_PROVIDED,
        creditor_account=account or NOT_PROVIDED,
        uetr=uetr_of(transfer["id"]),
        remittance=transfer.get("note"),
    )
    return Pacs008(msg_id, created, (tx,))


@dataclass(frozen=True, slots=True)
class Answer:
    """A payee bank's final answer to one transfer: what :func:`api.hub.answer_transfer` takes."""

    transfer_id: str
    accept: bool
    reason: str = ""  # a hub reason (codes.REASONS' ``hub``) when refused


def answer_of(status: TxStatus) -> Answer | None:
    """A bank's status of a hub transfer as an answer; None while it is not final. ValueError
    when its UETR is not the transfer's (a status about something else)."""
    tid = status.original_end_to_end_id
    if status.original_uetr is not None and status.original_uetr != uetr_of(tid):
        raise ValueError(f"OrgnlUETR: not the UETR of {tid}")
    outcome = status.outcome
    if outcome in ("accepted", "committed"):
        return Answer(tid, True)
    if outcome == "rejected":
        return Answer(tid, False, codes.hub_reason(status.reason))
    return None


_MOJALOOP: dict[str, str] = {}
for _r in codes.REASONS:  # the first reason of a code wins: 3303 (expired) is AB05, the payee's
    for _code in _r.mojaloop:
        _MOJALOOP.setdefault(_code, _r.code)


def reason_code(error: dict[str, Any] | None) -> str:
    """The ISO reason code of an aborted transfer's error (FSPIOP code and reason)."""
    if not error:
        return "NARR"
    known = codes.BY_HUB.get(str(error.get("reason", "")))
    if known is not None:  # a bank's refusal: its hub reason was recorded as given
        return known.code
    return _MOJALOOP.get(str(error.get("code", "")), "NARR")


def status_of(transfer: dict[str, Any], end_to_end_id: str, uetr: str) -> TxStatus:
    """A transfer's current state (the API's view) as one pacs.002 status."""
    state = transfer["state"]
    if state == "COMMITTED":
        return TxStatus("ACSC", end_to_end_id, uetr)
    if state == "RESERVED":
        return TxStatus("ACSP", end_to_end_id, uetr)
    error = transfer.get("error")
    code = reason_code(error)
    info = (error or {}).get("reason") or codes.reason_text(code)
    return TxStatus("RJCT", end_to_end_id, uetr, reason=code, info=str(info)[:105])


def report(
    transfer: dict[str, Any], original_msg_id: str, msg_id: str, created: datetime
) -> Pacs002:
    """A pacs.002 of a hub transfer's current state, under the hub's own ids."""
    tid = transfer["id"]
    status = status_of(transfer, tid, uetr_of(tid))
    return Pacs002(msg_id, created, original_msg_id, PACS008, (status,))
