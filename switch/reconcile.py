"""Proof that the journal, the balances and the payments agree (pure). ``python -m switch ledger
check`` feeds it the database and exits non-zero on any finding."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from switch.rails import COLLECTION_METHODS, PAYOUT_METHODS


@dataclass
class Report:
    entries: int = 0
    accounts: int = 0
    payments: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check(
    entries: Iterable[dict[str, Any]],
    balances: Iterable[dict[str, Any]],
    payments: Iterable[dict[str, Any]],
) -> Report:
    report = Report()
    by_payment: dict[str, list[str]] = defaultdict(list)
    computed: dict[str, int] = defaultdict(int)
    for doc in entries:
        report.entries += 1
        total = sum(int(line["amount"]) for line in doc["lines"])
        if total:
            report.problems.append(f"entry {doc['_id']} does not balance ({total})")
        for line in doc["lines"]:
            computed[line["account"]] += int(line["amount"])
        by_payment[doc["payment_id"]].append(doc["kind"])
    stored = {b["_id"]: int(b["balance"]) for b in balances}
    report.accounts = len(stored)
    for account in sorted(set(stored) | set(computed)):
        if stored.get(account, 0) != computed.get(account, 0):
            report.problems.append(
                f"balance of {account} is {stored.get(account, 0)}, "
                f"the journal says {computed.get(account, 0)}"
            )
        if account.endswith(":available") and computed.get(account, 0) < 0:
            report.problems.append(f"{account} is below zero")
    for p in payments:
        report.payments += 1
        report.problems.extend(_payment_problems(p, sorted(by_payment.get(p["_id"], []))))
    return report


def _payment_problems(p: dict[str, Any], kinds: list[str]) -> list[str]:
    pid, status, method = p["_id"], p["status"], p["method"]
    if method in COLLECTION_METHODS:
        want = ["collection"] if status == "succeeded" else []
        if want and int((p.get("platform") or {}).get("fee_minor", 0)) > 0:
            want = ["collection", "platform_fee"]  # a sub-merchant's (switch/platform.py)
        if "reversal" in kinds:
            want = sorted([*want, "reversal"])
        return [] if kinds == want else [f"{pid} ({method}, {status}) has entries {kinds}"]
    if method in PAYOUT_METHODS:
        finals = {
            "succeeded": ["payout_reserve", "payout_settle"],
            "failed": ["payout_release", "payout_reserve"],
        }
        want = finals.get(status, ["payout_reserve"])
        return [] if kinds == want else [f"{pid} ({method}, {status}) has entries {kinds}"]
    return []


def merchant_totals(stored: dict[str, int]) -> dict[str, dict[str, int]]:
    """Per merchant: available and reserved, for the report."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for account, value in stored.items():
        parts = account.split(":")
        if parts[0] == "merchant":
            out[parts[1]][parts[2]] = value
    return dict(out)
