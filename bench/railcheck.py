"""Money checks per rail after a ``mixed`` run (pure: every input is plain data the runner
gathered).

- **Nothing lost, per rail**: every accepted object reached a final state, or is listed as still
  in flight with a reason (the lost ones themselves are :mod:`bench.checks`' findings, split by
  rail here).
- **Nothing paid twice**, against each simulator's own record: the Daraja simulator's B2C
  payouts (``/__sim/b2c``), the Airtel simulator's ledger (``/__sim/ledger``: disbursements and
  collections), the PesaLink bank's transfers (``/__sim/transfers``), the API SACCO's ledger
  (``/__sim/ledger``) and the file SACCO's result files (what it booked, by its own transaction
  reference). A payment counts twice when one of our ids has several bookings, or when one
  destination (phone, account, member: the load generator never reuses one) received several.
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
from bench.ops import rail_of

SAMPLE = 10
TRANSFER_OK = frozenset({"succeeded", "refunded", "failed"})  # failed: the debit, nothing moved


@dataclass(frozen=True, slots=True)
class Booking:
    """One money movement in a simulator's own record."""

    book: str  # which record: mpesa_b2c, airtel_payout, airtel_ussd, bank_transfer, sacco
    ref: str  # our id as the provider knows it (payout id, transaction id, externalId)
    destination: str  # phone (last nine digits), account number, or SACCO:member
    booking: str  # the provider's own id of the movement (receipt, transaction id)


def national(phone: str) -> str:
    digits = "".join(ch for ch in str(phone) if ch.isdigit())
    return digits[-9:]


# --- the simulators' records -> bookings ---------------------------------------------------------


def b2c_bookings(payouts: Iterable[Mapping[str, Any]]) -> list[Booking]:
    """Daraja simulator ``GET /__sim/b2c``: paid payouts, by OriginatorConversationID."""
    return [
        Booking(
            "mpesa_b2c",
            str(p.get("originator_conversation_id", "")),
            national(str(p.get("phone", ""))),
            str(p.get("transaction_id", "")),
        )
        for p in payouts
        if p.get("paid")
    ]


def airtel_bookings(ledger: Mapping[str, Any]) -> list[Booking]:
    """Airtel simulator ``GET /__sim/ledger``: every disbursement and collection entry."""
    books = {"disbursement": "airtel_payout", "collection": "airtel_ussd"}
    return [
        Booking(
            books[str(e.get("kind"))],
            str(e.get("transaction_id", "")),
            national(str(e.get("msisdn", ""))),
            str(e.get("airtel_money_id", "")),
        )
        for e in ledger.get("entries") or []
        if e.get("kind") in books
    ]


def pesalink_bookings(transfers: Iterable[Mapping[str, Any]]) -> list[Booking]:
    """PesaLink simulator ``GET /__sim/transfers``: transfers that paid, by our reference."""
    return [
        Booking(
            "bank_transfer",
            str(t.get("reference", "")),
            f"{t.get('bank_code', '')}:{t.get('account_number', '')}",
            str(t.get("transaction_id", "")),
        )
        for t in transfers
        if t.get("paid")
    ]


def sacco_api_bookings(rows: Iterable[Mapping[str, Any]]) -> list[Booking]:
    """API SACCO simulator ``GET /__sim/ledger``: every booked transaction, by externalId."""
    return [
        Booking(
            "sacco",
            str(r.get("external_id", "")),
            f"{r.get('sacco_code', '')}:{r.get('member_number', '')}",
            f"{r.get('sacco_code', '')}:{r.get('transaction_id', '')}",
        )
        for r in rows
        if not r.get("reversed")
    ]


def sacco_file_bookings(sacco_code: str, paid: Iterable[tuple[str, str, str]]) -> list[Booking]:
    """The file SACCO's result files: (payment id, member number, SACCO reference) of each PAID
    line. One booking may be reported in several files (a follow-up, a repeated answer): it is
    one booking, so lines are deduplicated by (payment, reference)."""
    seen = {(pid, member, ref) for pid, member, ref in paid}
    return [
        Booking("sacco", pid, f"{sacco_code}:{member}", f"{sacco_code}:{ref}")
        for pid, member, ref in sorted(seen)
    ]


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
    if op == "sacco_file":
        return f"{status}: waiting for the file SACCO's result file"
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


# Which simulator records hold the money of each rail the report shows.
BOOKS_OF_RAIL: dict[str, tuple[str, ...]] = {
    "mpesa_stk": (),  # STK pushes: bench.checks counts them per payment and per phone
    "airtel_ussd": ("airtel_ussd",),
    "auto": ("airtel_ussd",),
    "mpesa_b2c": ("mpesa_b2c",),
    "airtel_payout": ("airtel_payout",),
    "bank_transfer": ("bank_transfer",),
    "sacco": ("sacco",),
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
        books = BOOKS_OF_RAIL.get(rail, ())
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
