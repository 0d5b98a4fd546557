"""Money checks after a run: nothing lost, nothing duplicated. Pure: every input is plain data
gathered by the runner (request records, the sink's arrivals, MongoDB documents, the simulator's
record of pushes).

Lost: an accepted payment (an id the API answered with) that is not in MongoDB, is not final in
MongoDB, or whose final webhook (or Daraja callback) never arrived; or one that went to the wrong
merchant (stored under another of the bench's merchants, or a webhook of it delivered to another
merchant's URL).

Duplicated, counted as extra copies:
- the API answered one Idempotency-Key with more than one payment id;
- MongoDB holds more than one payment for one Idempotency-Key;
- the simulator accepted more than one push for one payment, or for one phone (the load
  generator never reuses a phone);
- more than one final webhook arrived for one payment (deliveries; distinct event ids are
  reported too).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.records import Record
from bench.sink import Arrival

# Payments and payouts; transfers add refunded and refund_failed (switch/transfers.py).
FINAL_STATUSES = frozenset({"succeeded", "failed", "expired", "refunded", "refund_failed"})
SAMPLE = 10


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    key: str
    phone: str
    t: float  # when the request was sent (or due)
    merchant: int = -1  # the index of the bench merchant whose request it was; -1: none
    op: str = ""  # the operation that made it (bench/records.py, bench/ops.py)


@dataclass(frozen=True, slots=True)
class Stored:
    id: str
    idem: str
    status: str
    merchant: int = -1  # the index of the bench merchant it is stored under; -1: unknown
    method: str = ""  # the rail it travels on (auto collections: the one the switch chose)
    transfer_id: str = ""  # set on a transfer's legs


@dataclass(frozen=True, slots=True)
class Push:
    ref: str  # the payment id in the callback URL, or the CheckoutRequestID
    phone: str


def collect_accepted(records: Iterable[Record]) -> tuple[dict[str, Accepted], dict[str, set[str]]]:
    """Accepted payments by id (first answer wins) and the ids answered per Idempotency-Key."""
    by_id: dict[str, Accepted] = {}
    per_key: dict[str, set[str]] = {}
    for r in records:
        if not r.accepted:
            continue
        by_id.setdefault(r.id, Accepted(r.id, r.key, r.phone, r.t, r.merchant, r.op))
        if r.key:
            per_key.setdefault(r.key, set()).add(r.id)
    return by_id, per_key


def push_ref(push: Mapping[str, Any], by_checkout: bool) -> str:
    """The payment a simulator record belongs to: the switch's callback URL ends in
    ``/callbacks/stk/<payment_id>/<token>``; direct Daraja pushes are their CheckoutRequestID."""
    if by_checkout:
        return str(push.get("checkout_request_id", ""))
    parts = urlsplit(str(push.get("callback_url", ""))).path.strip("/").split("/")
    if len(parts) >= 3 and parts[0] == "callbacks":
        return parts[2]
    return ""


@dataclass
class CheckReport:
    accepted: int = 0
    completed: int = 0
    missing_in_db: list[str] = field(default_factory=list)
    not_final_in_db: list[str] = field(default_factory=list)
    no_final_arrival: list[str] = field(default_factory=list)
    wrong_merchant: list[str] = field(default_factory=list)  # stored or delivered elsewhere
    keys_with_several_ids: int = 0  # extra ids answered for one key
    db_payments_per_key: int = 0  # extra stored payments for one key
    pushes_per_payment: int = 0
    pushes_per_phone: int = 0
    final_deliveries: int = 0  # extra final webhook deliveries
    final_events: int = 0  # extra distinct final events (by event id)
    unknown_in_db: int = 0  # stored payments of the merchants no answer told us about
    unknown_pushes: int = 0  # simulator pushes for payments no answer told us about
    db_checked: bool = False
    sim_checked: bool = False
    statuses: dict[str, int] = field(default_factory=dict)  # final status -> payments

    @property
    def lost_ids(self) -> set[str]:
        """Not stored, stored elsewhere, or final without its final webhook. Not final at all is
        in flight (:attr:`not_final_in_db`), not lost; without a database, no final arrival is
        lost."""
        in_flight = set(self.not_final_in_db)
        return {
            *self.missing_in_db,
            *(pid for pid in self.no_final_arrival if pid not in in_flight),
            *self.wrong_merchant,
        }

    @property
    def lost(self) -> int:
        return len(self.lost_ids)

    @property
    def duplicated(self) -> int:
        return (
            self.keys_with_several_ids
            + self.db_payments_per_key
            + self.pushes_per_payment
            + self.pushes_per_phone
            + self.final_deliveries
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "completed": self.completed,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "in_flight": len(self.not_final_in_db),
            "in_flight_sample": self.not_final_in_db[:SAMPLE],
            "lost_detail": {
                "missing_in_db": len(self.missing_in_db),
                "not_final_in_db": len(self.not_final_in_db),  # in flight, not counted as lost
                "no_final_webhook": len(self.no_final_arrival),
                "wrong_merchant": len(self.wrong_merchant),
                "sample_ids": sorted(self.lost_ids)[:SAMPLE],
            },
            "duplicated_detail": {
                "keys_with_several_ids": self.keys_with_several_ids,
                "db_payments_per_key": self.db_payments_per_key,
                "sim_pushes_per_payment": self.pushes_per_payment,
                "sim_pushes_per_phone": self.pushes_per_phone,
                "final_webhook_deliveries": self.final_deliveries,
                "final_webhook_events": self.final_events,
            },
            "unknown_in_db": self.unknown_in_db,
            "unknown_sim_pushes": self.unknown_pushes,
            "db_checked": self.db_checked,
            "sim_checked": self.sim_checked,
            "final_statuses": dict(sorted(self.statuses.items())),
        }


def _extra(counts: Iterable[int]) -> int:
    return sum(n - 1 for n in counts if n > 1)


def check(
    accepted: Mapping[str, Accepted],
    ids_per_key: Mapping[str, set[str]],
    arrivals: Sequence[Arrival],
    stored: Sequence[Stored] | None,
    pushes: Sequence[Push] | None,
) -> CheckReport:
    """``stored`` is None when there is no database to check (the Daraja ceiling)."""
    report = CheckReport(accepted=len(accepted))
    finals = [a for a in arrivals if a.final]
    final_ids = {a.payment_id for a in finals}
    report.completed = sum(1 for pid in accepted if pid in final_ids)
    report.no_final_arrival = sorted(pid for pid in accepted if pid not in final_ids)
    report.final_deliveries = _extra(Counter(a.payment_id for a in finals).values())
    distinct_events = {(a.payment_id, a.event_id or a.type) for a in finals}
    report.final_events = _extra(Counter(pid for pid, _ in distinct_events).values())
    first_type: dict[str, str] = {}
    for a in finals:
        first_type.setdefault(a.payment_id, a.type)
    report.statuses = dict(Counter(t for pid, t in first_type.items() if pid in accepted))
    report.keys_with_several_ids = _extra(len(ids) for ids in ids_per_key.values())
    misplaced = {a.payment_id for a in arrivals if _elsewhere(accepted, a.payment_id, a.merchant)}

    if stored is not None:
        report.db_checked = True
        by_id = {s.id: s for s in stored}
        report.missing_in_db = sorted(pid for pid in accepted if pid not in by_id)
        report.not_final_in_db = sorted(
            pid for pid in accepted if pid in by_id and by_id[pid].status not in FINAL_STATUSES
        )
        report.db_payments_per_key = _extra(Counter(s.idem for s in stored if s.idem).values())
        # Transfer legs are the switch's own payments, not answers the bench got.
        report.unknown_in_db = sum(1 for s in stored if s.id not in accepted and not s.transfer_id)
        misplaced.update(s.id for s in stored if _elsewhere(accepted, s.id, s.merchant))
    report.wrong_merchant = sorted(misplaced)

    if pushes is not None:
        report.sim_checked = True
        report.pushes_per_payment = _extra(Counter(p.ref for p in pushes if p.ref).values())
        report.pushes_per_phone = _extra(Counter(_national(p.phone) for p in pushes).values())
        report.unknown_pushes = sum(1 for p in pushes if p.ref not in accepted)
    return report


def _elsewhere(accepted: Mapping[str, Accepted], payment_id: str, merchant: int) -> bool:
    """Whether a payment the bench knows turned up at another of its merchants."""
    mine = accepted.get(payment_id)
    return mine is not None and mine.merchant >= 0 and merchant >= 0 and merchant != mine.merchant


def callback_summary(pushes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How the simulator's callbacks fared, from its own record: HTTP statuses it got back
    (``none``: no answer), the errors it saw, and pushes whose callback is still to be sent."""
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    unsent = 0
    for p in pushes:
        sent = p.get("callback_statuses") or []
        statuses.update("none" if s is None else str(s) for s in sent)
        if p.get("callback_error"):
            errors[str(p["callback_error"]).split(":")[0]] += 1
        if not sent and p.get("sends_callback", True):
            unsent += 1
    return {"statuses": dict(statuses), "errors": dict(errors), "not_sent_yet": unsent}


def _national(phone: str) -> str:
    """The last nine digits: 0712..., 254712... and +254712... are one subscriber."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[-9:]
