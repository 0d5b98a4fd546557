"""Money checks per rail after a ``mixed`` run (pure: every input is plain data the runner
gathered).

- **Nothing lost, per rail**: every accepted object reached a final state, or is listed as still
  in flight with a reason (the lost ones themselves are :mod:`bench.checks`' findings, split by
  rail here).
- **Nothing paid twice**, against each simulator's own record (each provider's bench description
  names them and turns them into bookings, ``connectors/<name>/bench.py``: the Daraja
  simulator's B2C payouts, the Airtel simulator's ledger, the PesaLink bank's transfers, the API
  SACCO's ledger and the file SACCO's result files). A payment counts twice when one of our ids
  has several bookings, or when one destination (phone, account, member: the load generator
  never reuses one) received several.
- **Transfers** end succeeded, refunded, or failed at the debit (nothing moved); anything else
  (``refund_failed``, or still moving) is listed.
- **The switch's books** balance: switch/reconcile.py ``check`` over the journal, the balances
  and the payments (the integration suite's end-of-session check).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.checks import FINAL_STATUSES, Accepted, CheckReport, Stored
from bench.mixspec import Booking
from bench.ops import MIX, OPS, rail_of

SAMPLE = 10
TRANSFER_OK = frozenset({"succeeded", "refunded", "failed"})  # failed: the debit, nothing moved


def callback_answers(
    records: Iterable[Mapping[str, Any]], statuses_key: str, error_key: str
) -> dict[str, Any]:
    """How the switch answered a simulator's callbacks, from the simulator's record: HTTP
    statuses (``none``: no answer in the simulator's time) and the errors it noted."""
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for r in records:
        statuses.update("none" if s is None else str(s) for s in r.get(statuses_key) or [])
        if r.get(error_key):
            errors[str(r[error_key]).split(":")[0]] += 1
    return {"statuses": dict(sorted(statuses.items())), "errors": dict(sorted(errors.items()))}


@dataclass
class PaidTwice:
    bookings: int = 0
    extra_per_ref: int = 0  # an id of ours with more than one booking
    extra_per_destination: int = 0  # a destination paid more than once
    sample: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.extra_per_ref + self.extra_per_destination

    def as_json(self) -> dict[str, Any]:
        return {
            "bookings": self.bookings,
            "extra_per_id": self.extra_per_ref,
            "extra_per_destination": self.extra_per_destination,
            "sample": self.sample[:SAMPLE],
        }


def paid_twice(bookings: Sequence[Booking]) -> dict[str, PaidTwice]:
    """Per simulator record: ids booked more than once, destinations paid more than once."""
    out: dict[str, PaidTwice] = {}
    by_book: dict[str, list[Booking]] = defaultdict(list)
    for b in bookings:
        by_book[b.book].append(b)
    for book, items in sorted(by_book.items()):
        found = out[book] = PaidTwice(bookings=len(items))
        per_ref: dict[str, set[str]] = defaultdict(set)
        per_dest: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for b in items:
            if b.ref:
                per_ref[b.ref].add(b.booking)
            per_dest[b.destination].add((b.ref, b.booking))
        for ref, bookings_of_ref in per_ref.items():
            if len(bookings_of_ref) > 1:
                found.extra_per_ref += len(bookings_of_ref) - 1
                found.sample.append(ref)
        for dest, moves in per_dest.items():
            if len(moves) > 1:
                found.extra_per_destination += len(moves) - 1
                found.sample.append(dest)
    return out


# --- per rail ------------------------------------------------------------------------------------


def in_flight_reason(op: str, status: str) -> str:
    """Why an accepted object may legitimately not be final yet (the switch's own states)."""
    if status == "held":
        return "held for review by compliance screening (needs a reviewer)"
    if status == "missing":
        return "not stored"
    found = OPS.get(op)
    if found is not None and found.waiting:
        return f"{status}: {found.waiting}"
    if op == "transfer":
        return f"{status}: a leg is still with its provider"
    if status == "pending":
        return "pending: stored, the provider has not answered yet"
    return f"{status}: sent, waiting for the provider's result (callback or enquiry)"


@dataclass
class RailReport:
    accepted: int = 0
    final: int = 0
    completed: int = 0  # final webhook (or, for transfers, a final leg webhook) seen
    statuses: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)  # the rail the switch chose (auto)
    lost: list[str] = field(default_factory=list)
    in_flight: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "final": self.final,
            "completed": self.completed,
            "lost": len(self.lost),
            "lost_sample": sorted(self.lost)[:SAMPLE],
            "in_flight": len(self.in_flight),
            "in_flight_sample": self.in_flight[:SAMPLE],
            "statuses": dict(sorted(self.statuses.items())),
            "methods": dict(sorted(self.methods.items())),
        }


def rail_reports(
    accepted: Mapping[str, Accepted],
    stored: Sequence[Stored],
    report: CheckReport,
    first_final: Mapping[str, float],
) -> dict[str, RailReport]:
    """Accepted objects by rail: final or not in the database (transfers: their view), completed,
    lost (bench.checks' findings) and in flight with a reason."""
    by_id = {s.id: s for s in stored}
    lost = report.lost_ids
    out: dict[str, RailReport] = {}
    for pid, a in accepted.items():
        rail = rail_of(a.op)
        r = out.setdefault(rail, RailReport())
        r.accepted += 1
        s = by_id.get(pid)
        status = s.status if s is not None else "missing"
        r.statuses[status] += 1
        if s is not None and s.method:
            r.methods[s.method] += 1
        if pid in first_final:
            r.completed += 1
        if status in FINAL_STATUSES:
            r.final += 1
        elif s is not None:
            reason = in_flight_reason(a.op, status)
            r.in_flight.append({"id": pid, "status": status, "reason": reason})
        if pid in lost:
            r.lost.append(pid)
    return dict(sorted(out.items()))


def transfer_problems(views: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any]:
    """Transfers that did not end succeeded, refunded or failed-at-the-debit: by status, with a
    sample; and how the legs of the others ended (a check of the saga, from its own view)."""
    statuses: Counter[str] = Counter()
    bad: list[str] = []
    leg_mismatch: list[str] = []
    for tid, view in views.items():
        status = str((view or {}).get("status", "missing"))
        statuses[status] += 1
        if status not in TRANSFER_OK:
            bad.append(f"{tid} {status}")
            continue
        legs = (view or {}).get("legs") or {}
        if not _legs_agree(status, legs):
            leg_mismatch.append(tid)
    return {
        "transfers": len(views),
        "statuses": dict(sorted(statuses.items())),
        "not_settled": len(bad),
        "not_settled_sample": sorted(bad)[:SAMPLE],
        "legs_disagree": len(leg_mismatch),
        "legs_disagree_sample": sorted(leg_mismatch)[:SAMPLE],
    }


def _legs_agree(status: str, legs: Mapping[str, Any]) -> bool:
    def leg(name: str) -> str:
        return str((legs.get(name) or {}).get("status", "none"))

    if status == "succeeded":
        return leg("debit") == "succeeded" and leg("credit") == "succeeded" and "refund" not in legs
    if status == "refunded":
        return leg("credit") == "failed" and leg("refund") == "succeeded"
    return leg("debit") in ("failed", "expired") and "credit" not in legs  # failed


def ledger_json(ok: bool, entries: int, accounts: int, payments: int, problems: Sequence[str]
                ) -> dict[str, Any]:  # fmt: skip
    return {
        "balanced": ok,
        "entries": entries,
        "accounts": accounts,
        "payments": payments,
        "problems": len(problems),
        "problems_sample": list(problems)[:SAMPLE],
    }


def money_summary(
    rails: Mapping[str, RailReport],
    twice: Mapping[str, PaidTwice],
    transfers: Mapping[str, Any] | None,
    ledger: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The per-rail block of the result, and the totals the run's verdict needs."""
    per_rail: dict[str, Any] = {}
    for rail, r in rails.items():
        block = r.as_json()
        books = MIX.books.get(rail, ())
        block["paid_twice"] = sum(twice[b].total for b in books if b in twice)
        per_rail[rail] = block
    paid_twice_total = sum(t.total for t in twice.values())
    not_settled = int((transfers or {}).get("not_settled", 0)) + int(
        (transfers or {}).get("legs_disagree", 0)
    )
    in_flight = sum(len(r.in_flight) for r in rails.values())
    balanced = ledger is None or bool(ledger.get("balanced"))
    return {
        "rails": per_rail,
        "simulator_records": {book: t.as_json() for book, t in twice.items()},
        "transfers": transfers,
        "ledger": ledger,
        "paid_twice": paid_twice_total,
        "in_flight": in_flight,
        "transfers_not_settled": not_settled,
        "ok": paid_twice_total == 0 and not_settled == 0 and balanced,
    }
