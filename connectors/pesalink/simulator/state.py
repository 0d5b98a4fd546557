"""The simulator's books: tokens, the ledger of transfers (one per reference), daily totals and
counters. Pure: times are passed in (``now`` is the event loop's clock, ``wall`` epoch seconds).

Money moves at acceptance: a paid or pending transfer debits the source account at once (a
pending one that fails is refunded), so ``GET /__sim/transfers`` always tells exactly what left
the account and what reached whom. The ledger is keyed by ``transfer.reference``: a second
transfer with the same reference is refused before it gets here, so nothing is paid twice.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from connectors.pesalink.transformers import EAT, TransferMode

Answer = Literal["answered", "dropped", "upstream_timeout"]
STATE_CODE = {"SUCCESS": 2, "FAILED": 1, "PENDING": -1}  # Jenga-style stateCode (unverified)


@dataclass(slots=True)
class TransferRecord:
    reference: str  # transfer.reference: the client's end-to-end id
    transaction_id: str  # the bank's id
    mode: TransferMode
    amount_cents: int
    source_account: str
    bank_code: str
    account_number: str
    phone: str | None  # 2547XXXXXXXX for a transfer to a phone
    given_name: str  # destination.name as sent
    holder_name: str  # the account holder as the receiving bank has it
    description: str
    callback_url: str | None
    status: str  # SUCCESS | FAILED | PENDING: what an enquiry says now
    reason_code: str | None
    final_status: str  # where a pending transfer ends
    final_reason: str | None
    debited: bool  # the source account was debited (and not refunded)
    balance_after_cents: int  # the source balance right after acceptance
    created_at: float  # wall
    completed_at: float | None = None  # wall, once final
    answer: Answer = "answered"
    callback_lost: bool = False
    callback_statuses: list[int | None] = field(default_factory=list)  # None: no HTTP answer
    callback_error: str | None = None

    @property
    def paid(self) -> bool:
        return self.status == "SUCCESS"

    @property
    def state(self) -> str:
        return {"SUCCESS": "paid", "FAILED": "failed"}.get(self.status, "pending")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state
        out["paid"] = self.paid
        out["created_at"] = _iso(self.created_at)
        out["completed_at"] = _iso(self.completed_at) if self.completed_at else None
        out["callbacks_sent"] = len(self.callback_statuses)
        return out


@dataclass(slots=True)
class Stats:
    tokens_issued: int = 0
    token_refusals: int = 0
    account_lookups: int = 0
    phone_lookups: int = 0
    lookup_refusals: int = 0  # refused at the gateway (token, signature, field, burst)
    transfer_requests: int = 0
    transfers_accepted: int = 0
    transfers_refused: int = 0  # refused at the gateway: nothing recorded, nothing moved
    duplicates_refused: int = 0
    transfers_paid: int = 0
    transfers_failed: int = 0
    enquiries: int = 0
    sync_answers_dropped: int = 0
    upstream_timeouts: int = 0
    callbacks_sent: int = 0  # copies included
    callbacks_failed: int = 0  # no HTTP answer, or a non-2xx one
    callbacks_lost: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


class SimState:
    def __init__(self) -> None:
        self.transfers: dict[str, TransferRecord] = {}  # by reference, oldest first
        self.tokens: dict[str, float] = {}  # token -> loop time it expires
        self.sent_by_day: dict[tuple[str, date], int] = {}  # (source account, EAT day) -> cents
        self.stats = Stats()
        self._txn_seq = 100_000_000_000 + secrets.randbelow(800_000_000_000)

    def clear(self) -> None:
        """Forget transfers, totals and counters; issued tokens stay valid."""
        self.transfers.clear()
        self.sent_by_day.clear()
        self.stats = Stats()

    # --- tokens --------------------------------------------------------------------------------

    def issue_token(self, now: float, ttl: float) -> str:
        if len(self.tokens) > 10_000:
            self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        token = secrets.token_urlsafe(48)
        self.tokens[token] = now + ttl
        self.stats.tokens_issued += 1
        return token

    def token_valid(self, token: str, now: float) -> bool:
        return self.tokens.get(token, 0.0) > now

    # --- ledger --------------------------------------------------------------------------------

    def add(self, record: TransferRecord, max_records: int) -> None:
        while len(self.transfers) >= max_records:
            self.transfers.pop(next(iter(self.transfers)))
        self.transfers[record.reference] = record

    def sent_today(self, source_account: str, wall: float) -> int:
        return self.sent_by_day.get((source_account, _day(wall)), 0)

    def count_sent(self, source_account: str, wall: float, cents: int) -> None:
        """``cents`` may be negative: a refunded transfer no longer counts against the cap."""
        key = (source_account, _day(wall))
        self.sent_by_day[key] = self.sent_by_day.get(key, 0) + cents

    def transaction_id(self) -> str:
        """12 digits, like the Jenga samples' ``transactionId`` (format unverified)."""
        self._txn_seq += 1
        return f"{self._txn_seq % 10**12:012d}"


def _day(wall: float) -> date:
    return datetime.fromtimestamp(wall, EAT).date()


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, EAT).isoformat(timespec="seconds")
