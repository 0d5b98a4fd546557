"""Money checks of the bills of a ``mixed`` run (bench/bills.py): invoices and government
references, each paid once by its customer by C2B. Pure: the runner gathers the bills' views
(``GET /v1/invoices/{id}``, ``GET /v1/gov/references/{id}``, as their merchant) and the Daraja
simulator's own C2B record (``GET /__sim/c2b``).

A bill is **paid once** when the switch says it is paid with its paid amount equal to its amount,
one payment on it whose receipt is the simulator's, and the simulator's record holds exactly one
completed C2B payment for its account reference (fresh per bill: the load generator never reuses
one). Otherwise it is **not paid** (missing, not credited, or paid a different amount) or **paid
twice** (more than one completed C2B for its reference, or more than one payment on it).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from bench.bills import INVOICE
from bench.checks import Accepted
from bench.ops import kind_of

SAMPLE = 10


def completed_c2b(records: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """The simulator's completed C2B payments by account reference (upper case, as M-Pesa
    matches it): their receipts."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in records:
        if r.get("state") == "completed" and r.get("bill_ref"):
            out[str(r["bill_ref"]).upper()].append(str(r.get("trans_id", "")))
    return dict(out)


def _amount(kind: str, view: Mapping[str, Any]) -> str:
    return str(view.get("amount") if kind == INVOICE else view.get("amount_due"))


def _receipts(kind: str, view: Mapping[str, Any]) -> list[str]:
    field = "receipt" if kind == INVOICE else "mpesa_receipt"
    return [str(p.get(field, "")) for p in view.get("payments") or []]


def verdict(kind: str, view: Mapping[str, Any] | None, sim_receipts: list[str]) -> str:
    """``paid_once``, ``paid_twice: ...`` or ``not_paid: ...`` for one bill."""
    if view is None:
        return "not_paid: missing"
    receipts = _receipts(kind, view)
    if len(sim_receipts) > 1 or len(receipts) > 1:
        return f"paid_twice: {len(sim_receipts)} C2B, {len(receipts)} credited"
    status, paid, amount = view.get("status"), str(view.get("paid")), _amount(kind, view)
    if not sim_receipts:
        return f"not_paid: no completed C2B ({status})"
    if status != "paid" or paid != amount:
        return f"not_paid: {status}, paid {paid} of {amount}"
    if receipts != sim_receipts:
        return f"not_paid: credited {receipts}, M-Pesa says {sim_receipts}"
    return "paid_once"


def bill_report(
    bills: Mapping[str, Accepted],
    views: Mapping[str, Mapping[str, Any] | None],
    c2b: Mapping[str, list[str]],
) -> dict[str, Any]:
    """Per kind: how many were issued, paid once, not paid and paid twice (with samples), and
    ``ok`` when every bill was paid exactly once."""
    kinds: dict[str, dict[str, Any]] = {}
    for bill_id, a in sorted(bills.items()):
        kind = kind_of(a.op) or a.op
        block = kinds.setdefault(
            kind, {"issued": 0, "paid_once": 0, "not_paid": 0, "paid_twice": 0,
                   "verdicts": Counter(), "sample": []},
        )  # fmt: skip
        block["issued"] += 1
        found = verdict(kind, views.get(bill_id), c2b.get(a.phone.upper(), []))
        outcome = found.split(":")[0]
        block[outcome] += 1
        if outcome != "paid_once":
            block["verdicts"][found] += 1
            if len(block["sample"]) < SAMPLE:
                block["sample"].append(f"{bill_id} {a.phone} {found}")
    for block in kinds.values():
        block["verdicts"] = dict(block["verdicts"].most_common(SAMPLE))
    not_paid = sum(b["not_paid"] for b in kinds.values())
    twice = sum(b["paid_twice"] for b in kinds.values())
    return {"kinds": dict(sorted(kinds.items())), "not_paid": not_paid, "paid_twice": twice,
            "ok": not_paid == 0 and twice == 0}  # fmt: skip


def bill_lines(report: Mapping[str, Any]) -> list[str]:
    """One line per kind of bill, for the headline and the markdown report."""
    return [
        f"{kind}: issued {b['issued']}, paid once {b['paid_once']}, not paid {b['not_paid']}, "
        f"paid twice {b['paid_twice']}"
        + (f" ({'; '.join(b['sample'][:3])})" if b["sample"] else "")
        for kind, b in report.get("kinds", {}).items()
    ]
