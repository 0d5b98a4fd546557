"""The settlement report of a run (pure): what the balance was, the reserve kept, what was held
back, the amount and fee paid, to which account, by which payout, and how it ended; as JSON and as
CSV whose cells a spreadsheet cannot run as formulas."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from switch.money import format_minor
from switch.spreadsheet import csv_bytes

Doc = Mapping[str, Any]

# Run statuses: pending (stored, payout being asked for), paying (payout accepted, in flight),
# succeeded, failed (the payout failed or was refused: its money stayed in the balance), skipped
# (nothing above the reserve to pay).
FINAL = frozenset({"succeeded", "failed", "skipped"})

CSV_COLUMNS = (
    "run_id",
    "settlement_date",
    "trigger",
    "status",
    "attempt",
    "balance_available",
    "reserve",
    "held_back",
    "amount",
    "fee",
    "method",
    "bank_code",
    "account_number",
    "account_name",
    "payout_id",
    "failure_code",
    "failure_message",
    "created_at",
    "updated_at",
)


def _iso(at: Any) -> str | None:
    if isinstance(at, datetime):
        return at.isoformat().replace("+00:00", "Z")
    return None if at is None else str(at)


def report(run: Doc) -> dict[str, Any]:
    """The run as the API shows it (the account number masked)."""
    dest = run.get("destination") or {}
    failure = run.get("failure")
    return {
        "object": "settlement",
        "id": run["_id"],
        "settlement_date": run["settlement_date"],
        "trigger": run["trigger"],
        "status": run["status"],
        "attempt": run.get("attempt", 1),
        "currency": "KES",
        "balance_available": format_minor(run["available_minor"]),
        "reserve": format_minor(run["reserve_minor"]),
        "reserve_basis": {
            "fixed": format_minor(run["reserve_basis"]["fixed_minor"]),
            "percent": run["reserve_basis"]["percent_bps"] / 100,
            "days": run["reserve_basis"]["days"],
            "collections": format_minor(run["reserve_basis"]["collections_minor"]),
        },
        "held_back": format_minor(run["held_back_minor"]),
        "amount": format_minor(run["amount_minor"]),
        "fee": format_minor(run["fee_minor"]),
        "method": run.get("method"),
        "destination": {
            "kind": dest.get("kind"),
            "bank_code": dest.get("bank_code"),
            "account_number": dest.get("account_mask"),
            "account_name": dest.get("account_name"),
        },
        "payout_id": run.get("payout_id"),
        "failure": failure,
        "note": run.get("note") or None,
        "created_at": _iso(run.get("created_at")),
        "updated_at": _iso(run.get("updated_at")),
    }


def reports_csv(runs: Iterable[Doc]) -> bytes:
    """One row per run, every cell defused (switch/spreadsheet.py)."""
    return csv_bytes(CSV_COLUMNS, (_row(report(run)) for run in runs))


def _row(shown: dict[str, Any]) -> tuple[Any, ...]:
    dest, failure = shown["destination"], shown["failure"] or {}
    return (
        shown["id"],
        shown["settlement_date"],
        shown["trigger"],
        shown["status"],
        shown["attempt"],
        shown["balance_available"],
        shown["reserve"],
        shown["held_back"],
        shown["amount"],
        shown["fee"],
        shown["method"],
        dest["bank_code"],
        dest["account_number"],
        dest["account_name"],
        shown["payout_id"],
        failure.get("code"),
        failure.get("message"),
        shown["created_at"],
        shown["updated_at"],
    )
