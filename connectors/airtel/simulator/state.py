"""The simulator's in-memory books: tokens, collections, disbursements, refunds, the ledger of
money movements and the counters.

Pure: every method takes the time it needs (``now`` is the event loop's monotonic clock, ``wall``
is epoch seconds), so nothing here reads a clock or touches the network.
"""

from __future__ import annotations

import secrets
import string
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from connectors.airtel.simulator.triggers import CollectionOutcome, DisbursementOutcome

EAT = timezone(timedelta(hours=3), "EAT")  # Kenya, no DST
_TOKEN_CHARS = string.ascii_letters + string.digits
_UPPER = string.ascii_uppercase + string.digits

EntryKind = Literal["collection", "disbursement", "refund"]


@dataclass(slots=True)
class Collection:
    transaction_id: str
    msisdn: str
    amount: int  # KES
    reference: str
    outcome: CollectionOutcome
    created_at: float  # wall
    due_at: float  # loop time the simulated customer acts
    copies: int  # 1 + duplicate_callbacks, fixed when the push was accepted
    callback_lost: bool  # lose_callbacks took this one
    settled: bool = False
    airtel_money_id: str | None = None  # set when paid
    refund_id: str | None = None  # Airtel's id of the refund, once refunded
    answer_dropped: bool = False
    callback_statuses: list[int | None] = field(default_factory=list)  # None: no HTTP answer
    callback_error: str | None = None

    @property
    def status(self) -> str:
        return self.outcome.status if self.settled else self.outcome.pending_status

    @property
    def response_code(self) -> str:
        if self.settled:
            return self.outcome.response_code
        return "DP00800001000" if self.outcome.pending_status == "TA" else "DP00800001006"

    @property
    def paid(self) -> bool:
        return self.settled and self.outcome.paid

    def to_json(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "msisdn": self.msisdn,
            "amount": self.amount,
            "reference": self.reference,
            "status": self.status,
            "response_code": self.response_code,
            "message": self.outcome.message,
            "airtel_money_id": self.airtel_money_id,
            "paid": self.paid,
            "refund_id": self.refund_id,
            "sends_callback": self.outcome.sends_callback and not self.callback_lost,
            "callbacks_sent": len(self.callback_statuses),
            "callback_statuses": list(self.callback_statuses),
            "callback_error": self.callback_error,
            "answer_dropped": self.answer_dropped,
            "created_at": iso(self.created_at),
        }


@dataclass(slots=True)
class Disbursement:
    transaction_id: str
    msisdn: str
    amount: int  # KES
    reference: str
    outcome: DisbursementOutcome  # the current one; a pending payout's changes when it settles
    airtel_money_id: str
    reference_id: str
    created_at: float
    due_at: float  # loop time a pending payout settles
    answer_dropped: bool = False

    @property
    def paid(self) -> bool:
        return self.outcome.paid

    def to_json(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "msisdn": self.msisdn,
            "amount": self.amount,
            "reference": self.reference,
            "status": self.outcome.status,
            "response_code": self.outcome.response_code,
            "message": self.outcome.message,
            "airtel_money_id": self.airtel_money_id,
            "reference_id": self.reference_id,
            "paid": self.paid,
            "answer_dropped": self.answer_dropped,
            "created_at": iso(self.created_at),
        }


@dataclass(slots=True)
class Refund:
    refund_id: str
    airtel_money_id: str  # the collection refunded
    transaction_id: str  # the collection's id (ours)
    amount: int
    created_at: float
    answer_dropped: bool = False

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["created_at"] = iso(self.created_at)
        return out


@dataclass(frozen=True, slots=True)
class Entry:
    """One money movement. Each (kind, transaction_id) appears at most once: tests check it."""

    seq: int
    kind: EntryKind
    transaction_id: str
    airtel_money_id: str
    msisdn: str
    amount_cents: int  # + into the merchant's wallets, - out of them
    at: float  # wall

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["at"] = iso(self.at)
        return out


@dataclass(slots=True)
class Ledger:
    entries: list[Entry] = field(default_factory=list)
    collected_cents: int = 0  # the merchant's collection wallet

    def record(
        self, kind: EntryKind, txn_id: str, airtel_id: str, msisdn: str, cents: int, wall: float
    ) -> Entry:
        entry = Entry(len(self.entries) + 1, kind, txn_id, airtel_id, msisdn, cents, wall)
        self.entries.append(entry)
        if kind != "disbursement":  # payouts come out of the float (SimConfig.float_cents)
            self.collected_cents += cents
        return entry

    def to_json(self, float_cents: int) -> dict[str, Any]:
        return {
            "collected_cents": self.collected_cents,
            "float_cents": float_cents,
            "entries": [e.to_json() for e in self.entries],
        }


@dataclass(slots=True)
class Stats:
    tokens_issued: int = 0
    token_refusals: int = 0  # bad credentials at the token endpoint
    unauthorised: int = 0  # product calls with a missing, unknown or expired token
    collection_requests: int = 0
    collections_accepted: int = 0
    collections_rejected: int = 0  # refused before any prompt was sent
    collections_paid: int = 0
    enquiries: int = 0
    callbacks_sent: int = 0  # copies included
    callbacks_failed: int = 0  # no HTTP answer, or a non-2xx one
    callbacks_lost: int = 0
    disbursement_requests: int = 0
    disbursements_accepted: int = 0
    disbursements_rejected: int = 0  # refused before processing (burst, token, fields, id, PIN)
    disbursements_paid: int = 0
    refund_requests: int = 0
    refunds: int = 0
    sync_answers_dropped: int = 0
    bursts_served: int = 0
    outage_refusals: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


class SimState:
    def __init__(self) -> None:
        self.tokens: dict[str, float] = {}  # token -> loop time it expires
        self.collections: dict[str, Collection] = {}  # by our transaction id
        self.by_airtel_id: dict[str, str] = {}  # collection airtel_money_id -> transaction id
        self.disbursements: dict[str, Disbursement] = {}
        self.refunds: dict[str, Refund] = {}  # by the refunded collection's airtel_money_id
        self.ledger = Ledger()
        self.stats = Stats()
        self._seq = secrets.randbelow(90_000)

    def clear(self) -> None:
        """Forget transactions, books and counters; issued tokens stay valid."""
        self.collections.clear()
        self.by_airtel_id.clear()
        self.disbursements.clear()
        self.refunds.clear()
        self.ledger = Ledger()
        self.stats = Stats()

    # --- tokens --------------------------------------------------------------------------------

    def issue_token(self, now: float, ttl: float) -> str:
        if len(self.tokens) > 10_000:
            self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        token = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(32))  # as the doc §2 sample
        self.tokens[token] = now + ttl
        self.stats.tokens_issued += 1
        return token

    def token_valid(self, token: str, now: float) -> bool:
        return self.tokens.get(token, 0.0) > now

    # --- money movements -----------------------------------------------------------------------

    def settle_collection(self, record: Collection, wall: float) -> None:
        """The customer acted: a payment gets its Airtel id and lands in the wallet, once."""
        if record.settled:
            return
        record.settled = True
        if record.outcome.paid:
            record.airtel_money_id = self.collection_id(wall)
            self.by_airtel_id[record.airtel_money_id] = record.transaction_id
            cents = record.amount * 100
            self.ledger.record(
                "collection",
                record.transaction_id,
                record.airtel_money_id,
                record.msisdn,
                cents,
                wall,
            )
            self.stats.collections_paid += 1

    def pay_out(self, record: Disbursement, wall: float) -> None:
        cents = record.amount * 100
        self.ledger.record(
            "disbursement",
            record.transaction_id,
            record.airtel_money_id,
            record.msisdn,
            -cents,
            wall,
        )
        self.stats.disbursements_paid += 1

    def refund(self, record: Collection, wall: float) -> Refund:
        assert record.airtel_money_id is not None, "only paid collections are refunded"
        refund = Refund(
            self.numeric_id(), record.airtel_money_id, record.transaction_id, record.amount, wall
        )
        record.refund_id = refund.refund_id
        self.refunds[record.airtel_money_id] = refund
        self.ledger.record(
            "refund",
            record.transaction_id,
            refund.refund_id,
            record.msisdn,
            -record.amount * 100,
            wall,
        )
        self.stats.refunds += 1
        return refund

    # --- identifiers (formats from the doc's samples, not contractual) -------------------------

    def collection_id(self, wall: float) -> str:
        """``MP210603.1234.L06941``: the portal sample's shape (doc §6)."""
        at = datetime.fromtimestamp(wall, EAT)
        self._seq += 1
        letter = string.ascii_uppercase[self._seq // 100_000 % 26]
        return f"MP{at:%y%m%d}.{at:%H%M}.{letter}{self._seq % 100_000:05d}"

    def numeric_id(self) -> str:
        """``133410367531``: the SDK fixtures' shape (doc §5, §7)."""
        self._seq += 1
        return f"13{secrets.randbelow(10**5):05d}{self._seq % 100_000:05d}"

    @staticmethod
    def disbursement_id() -> str:
        """``disburs-6EJL6CWF1D-ba1451ae-...``: the doc §8 sample's shape."""
        head = "".join(secrets.choice(_UPPER) for _ in range(10))
        return f"disburs-{head}-{uuid.uuid4()}"


def iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, EAT).isoformat()
