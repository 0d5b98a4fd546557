"""Deferred multilateral net settlement over closed windows (pure), as Mojaloop central-settlement
does it for a ``DEFERRED_NET`` model (sections 3.3 to 3.5 of its documents):

- each participant's net is the sum of the position changes of the windows' committed transfers
  (+ paid, - received; positive: it owes, a ``NET_SENDER``); the nets sum to zero, or the ledger
  is at fault and no settlement is made (:class:`LedgerFault`);
- the report shows, per participant, what it sent and received in gross, bilaterally per
  counterparty, and its multilateral net; the same counted from the transfers' payer, payee and
  amount must give the same nets, a second check of the ledger;
- transfers settled gross at commit (:func:`switch.hub.ledger.gross`) are not in the nets, the
  flows or the instruction (their money already moved); the report lists them per window;
- the instruction file tells the central bank's RTGS (KEPSS) what to move: each net sender pays
  its net to the hub's settlement account, each net recipient is paid from it.

States of a settlement (Mojaloop's PS_TRANSFERS_RECORDED, _RESERVED and _COMMITTED are one step
here: the settlement entries are written in one transaction at the acknowledgement)::

    PENDING_SETTLEMENT --acknowledge--> SETTLED
            \\--abort--> ABORTED   (its windows go back to CLOSED)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from switch.hub.positions import amount_text
from switch.spreadsheet import csv_bytes


class SettlementState(StrEnum):
    PENDING_SETTLEMENT = "PENDING_SETTLEMENT"
    SETTLED = "SETTLED"
    ABORTED = "ABORTED"


MEANING: dict[SettlementState, str] = {
    SettlementState.PENDING_SETTLEMENT: "nets computed and instructed; awaiting the RTGS",
    SettlementState.SETTLED: "the RTGS moved the money; positions reset by settlement entries",
    SettlementState.ABORTED: "abandoned before the acknowledgement; its windows are CLOSED again",
}


class LedgerFault(ValueError):
    """The windows' nets do not sum to zero, or disagree with their transfers: never settled."""


@dataclass(frozen=True, slots=True)
class Flow:
    """What one payer paid one payee over the windows (committed transfers only)."""

    payer: str
    payee: str
    count: int
    amount: int


def direction(net: int) -> str:
    if net > 0:
        return "NET_SENDER"
    return "NET_RECIPIENT" if net < 0 else "NET_ZERO"


def check_nets(nets: Mapping[str, int], flows: Iterable[Flow]) -> None:
    """Raise :class:`LedgerFault` unless the nets sum to zero and equal sent - received."""
    total = sum(nets.values())
    if total != 0:
        raise LedgerFault(f"net positions sum to {amount_text(total)}, not zero")
    counted: dict[str, int] = {}
    for f in flows:
        counted[f.payer] = counted.get(f.payer, 0) + f.amount
        counted[f.payee] = counted.get(f.payee, 0) - f.amount
    wrong = sorted(p for p in set(nets) | set(counted) if nets.get(p, 0) != counted.get(p, 0))
    if wrong:
        raise LedgerFault(f"net positions disagree with the transfers for {', '.join(wrong)}")


def participants(nets: Mapping[str, int], flows: Iterable[Flow]) -> list[dict[str, Any]]:
    """Per participant: gross sent and received, bilateral per counterparty, multilateral net
    (cents), sorted by participant id."""
    rows: dict[str, dict[str, Any]] = {}

    def row(pid: str) -> dict[str, Any]:
        return rows.setdefault(
            pid, {"sent": 0, "sent_count": 0, "received": 0, "received_count": 0, "pairs": {}}
        )

    for f in flows:
        payer, payee = row(f.payer), row(f.payee)
        payer["sent"] += f.amount
        payer["sent_count"] += f.count
        payee["received"] += f.amount
        payee["received_count"] += f.count
        payer["pairs"].setdefault(f.payee, [0, 0])[0] += f.amount
        payee["pairs"].setdefault(f.payer, [0, 0])[1] += f.amount
    for pid in nets:
        row(pid)
    out = []
    for pid in sorted(rows):
        r = rows[pid]
        bilateral = [
            {"counterparty": other, "sent": s, "received": rc, "net": s - rc}
            for other, (s, rc) in sorted(r.pop("pairs").items())
        ]
        net = nets.get(pid, 0)
        out.append({"participant": pid, **r, "net": net, "bilateral": bilateral})
    return out


def new_settlement(
    settlement_id: str,
    windows: list[str],
    currency: str,
    reason: str,
    by: str,
    at: datetime,
    nets: Mapping[str, int],
    flows: list[Flow],
    gross: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The settlement as stored, after :func:`check_nets` passed. ``gross``: the windows'
    transfers settled gross (stored ``_id``, ``window_id``, ``payer``, ``payee``, ``amount``)."""
    check_nets(nets, flows)
    return {
        "_id": settlement_id,
        "state": SettlementState.PENDING_SETTLEMENT.value,
        "windows": sorted(windows),
        "currency": currency,
        "reason": reason,
        "created_by": by,
        "created_at": at,
        "participants": participants(nets, flows),
        "transfers": sum(f.count for f in flows),
        "gross": [
            {k: g[k] for k in ("_id", "window_id", "payer", "payee", "amount")} for g in gross
        ],
        "history": [{"state": SettlementState.PENDING_SETTLEMENT.value, "by": by, "at": at}],
    }


def nets_of(doc: Mapping[str, Any]) -> dict[str, int]:
    return {p["participant"]: int(p["net"]) for p in doc["participants"] if int(p["net"]) != 0}


def gross_by_window(gross: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Gross-settled transfers per window, as the API shows them (amounts in shillings)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for g in gross:
        out.setdefault(g["window_id"], []).append(
            {
                "id": g["_id"],
                "payer": g["payer"],
                "payee": g["payee"],
                "amount": amount_text(int(g["amount"])),
            }
        )
    return out


def _iso(at: Any) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if isinstance(at, datetime) else None


def view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The settlement report as the API shows it (amounts in shillings)."""
    return {
        "id": doc["_id"],
        "object": "hub_settlement",
        "state": doc["state"],
        "windows": doc["windows"],
        "currency": doc["currency"],
        "reason": doc["reason"],
        "transfers": doc["transfers"],
        "created_by": doc["created_by"],
        "created_at": _iso(doc["created_at"]),
        "acknowledged_by": doc.get("acknowledged_by"),
        "settled_at": _iso(doc.get("settled_at")),
        "gross": gross_by_window(doc.get("gross") or []),
        "participants": [
            {
                "participant": p["participant"],
                "direction": direction(int(p["net"])),
                "sent": amount_text(p["sent"]),
                "sent_count": p["sent_count"],
                "received": amount_text(p["received"]),
                "received_count": p["received_count"],
                "net": amount_text(p["net"]),
                "external_reference": (doc.get("references") or {}).get(p["participant"]),
                "bilateral": [
                    {
                        "counterparty": b["counterparty"],
                        "sent": amount_text(b["sent"]),
                        "received": amount_text(b["received"]),
                        "net": amount_text(b["net"]),
                    }
                    for b in p["bilateral"]
                ],
            }
            for p in doc["participants"]
        ],
    }


REPORT_COLUMNS = (
    "settlement_id",
    "participant",
    "counterparty",
    "sent",
    "received",
    "net",
    "direction",
)


def report_csv(doc: Mapping[str, Any]) -> bytes:
    """One row per participant and counterparty (bilateral), then one per participant with an
    empty counterparty (its multilateral net)."""
    rows: list[tuple[Any, ...]] = []
    for p in doc["participants"]:
        for b in p["bilateral"]:
            rows.append(
                (
                    doc["_id"],
                    p["participant"],
                    b["counterparty"],
                    amount_text(b["sent"]),
                    amount_text(b["received"]),
                    amount_text(b["net"]),
                    "BILATERAL",
                )
            )
        rows.append(
            (
                doc["_id"],
                p["participant"],
                "",
                amount_text(p["sent"]),
                amount_text(p["received"]),
                amount_text(p["net"]),
                direction(int(p["net"])),
            )
        )
    return csv_bytes(REPORT_COLUMNS, rows)


def instruction(doc: Mapping[str, Any], banks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The instruction to the RTGS: one line per participant whose net is not zero, debits
    (senders pay the hub's settlement account) before credits. ``banks``: participant id -> its
    stored record (name, bank code, BIC). KEPSS's own file layout is not public (unverified):
    these are the fields any RTGS credit transfer needs, and the reference the operator quotes
    back in the acknowledgement."""
    lines: list[dict[str, Any]] = []
    nets = nets_of(doc)
    for pid in sorted(nets, key=lambda p: (nets[p] < 0, p)):
        bank = banks.get(pid, {})
        lines.append(
            {
                "seq": len(lines) + 1,
                "participant": pid,
                "name": bank.get("name"),
                "bank_code": bank.get("bank_code"),
                "bic": bank.get("bic"),
                "side": "DEBIT" if nets[pid] > 0 else "CREDIT",
                "amount": amount_text(abs(nets[pid])),
                "currency": doc["currency"],
                "end_to_end_id": f"{doc['_id']}-{len(lines) + 1}",
            }
        )
    total = sum(n for n in nets.values() if n > 0)
    return {
        "object": "hub_settlement_instruction",
        "settlement_id": doc["_id"],
        "state": doc["state"],
        "currency": doc["currency"],
        "lines": lines,
        "total_debits": amount_text(total),
        "total_credits": amount_text(total),
    }


INSTRUCTION_COLUMNS = (
    "seq",
    "participant",
    "name",
    "bank_code",
    "bic",
    "side",
    "amount",
    "currency",
    "end_to_end_id",
)


def instruction_csv(made: Mapping[str, Any]) -> bytes:
    return csv_bytes(
        INSTRUCTION_COLUMNS, ([line[c] for c in INSTRUCTION_COLUMNS] for line in made["lines"])
    )
