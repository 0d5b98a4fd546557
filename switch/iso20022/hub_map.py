"""The seam between ISO 20022 messages and the hub's JSON transfers (pure).

The hub's API takes transfers as JSON; a participant speaking ISO 20022 sends a pacs.008 and
expects a pacs.002. These functions map one onto the other, so that putting XML on the hub's
resources is a thin step: parse, :func:`transfers_of`, hand each dict to the hub, then
:func:`status_report` of the outcomes.

* A transfer's ``transfer_id`` is the pacs.008's UETR (a UUID, unique end to end, as Mojaloop's
  transfer ids are); the participant's own ``end_to_end_id`` rides along for its
  reconciliation.
* Amounts stay decimal strings (``"1500.00"``), as everywhere on the switch's wire.
* A party's ``bank_code`` is the agent's clearing member id (the CBK bank code), its ``bic`` the
  BICFI; either may be missing, not both.
* A hub outcome (``committed``, ``accepted``, ``pending``, ``rejected`` with a hub reason)
  becomes a ``TxSts`` and reason code through :mod:`.codes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switch.iso20022 import codes
from switch.iso20022 import values as v
from switch.iso20022.pacs002 import Pacs002, TxStatus
from switch.iso20022.pacs008 import MESSAGE as PACS008
from switch.iso20022.pacs008 import CreditTransfer, Pacs008


def _party(agent: v.Agent, account: str, name: str) -> dict[str, Any]:
    return {"bank_code": agent.member_id, "bic": agent.bic, "account": account, "name": name}


def transfer_of(tx: CreditTransfer, msg_id: str) -> dict[str, Any]:
    """One credit transfer as the hub's JSON transfer."""
    return {
        "transfer_id": tx.uetr,
        "end_to_end_id": tx.end_to_end_id,
        "msg_id": msg_id,
        "amount": v.format_amount(tx.amount, tx.currency),
        "currency": tx.currency,
        "payer": _party(tx.debtor_agent, tx.debtor_account, tx.debtor_name),
        "payee": _party(tx.creditor_agent, tx.creditor_account, tx.creditor_name),
        "remittance": tx.remittance,
    }


def transfers_of(msg: Pacs008) -> list[dict[str, Any]]:
    return [transfer_of(tx, msg.msg_id) for tx in msg.transfers]


@dataclass(frozen=True, slots=True)
class HubOutcome:
    """What the hub decided for one transfer."""

    transfer_id: str  # the UETR
    outcome: codes.Outcome
    reason: str | None = None  # a hub reason (codes.REASONS' ``hub``) when rejected
    detail: str | None = None  # shown to the participant in AddtlInf (cut to 105 characters)
    at: datetime | None = None  # when the payee accepted or the hub committed


def status_of(tx: CreditTransfer, result: HubOutcome) -> TxStatus:
    """A hub outcome for ``tx`` as a pacs.002 transaction status."""
    status = codes.OUTCOME_STATUS[result.outcome]
    reason = None
    info = result.detail
    if result.outcome == "rejected":
        reason = codes.reason_code(result.reason or "other")
        info = info or codes.reason_text(reason)
    return TxStatus(
        status=status,
        original_end_to_end_id=tx.end_to_end_id,
        original_uetr=tx.uetr,
        original_instruction_id=tx.instruction_id,
        original_transaction_id=tx.transaction_id,
        reason=reason,
        info=None if info is None else info[:105],
        accepted_at=result.at if result.outcome in ("accepted", "committed") else None,
    )


def status_report(
    original: Pacs008, results: Sequence[HubOutcome], msg_id: str, created: datetime
) -> Pacs002:
    """The pacs.002 answering ``original``: one status per transfer, in its order. A transfer
    the hub gave no outcome for is reported ``PDNG`` (more will follow), never guessed."""
    by_id = {r.transfer_id: r for r in results}
    unknown = set(by_id) - {tx.uetr for tx in original.transfers}
    if unknown:
        raise ValueError(f"results: not transfers of {original.msg_id}: {sorted(unknown)}")
    statuses = tuple(
        status_of(tx, by_id.get(tx.uetr) or HubOutcome(tx.uetr, "pending"))
        for tx in original.transfers
    )
    return Pacs002(msg_id, created, original.msg_id, PACS008, statuses)


def outcome_of(status: TxStatus) -> HubOutcome:
    """A participant's pacs.002 status as the hub reads it (the UETR is required: it is the
    transfer's id)."""
    if status.original_uetr is None:
        raise ValueError("OrgnlUETR: required to find the hub's transfer")
    outcome = status.outcome
    return HubOutcome(
        transfer_id=status.original_uetr,
        outcome=outcome,
        reason=codes.hub_reason(status.reason) if outcome == "rejected" else None,
        detail=status.info,
        at=status.accepted_at,
    )
