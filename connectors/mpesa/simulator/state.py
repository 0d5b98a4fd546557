"""The simulator's in-memory record of tokens, STK requests, subscriber locks and counters; the
books of the initiator APIs and C2B are in :mod:`connectors.mpesa.simulator.ledger`.

Pure: every method takes the time it needs (``now`` is the event loop's monotonic clock, ``wall``
is epoch seconds), so nothing here reads a clock or touches the network.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from connectors.mpesa.simulator.ledger import Ledger
from connectors.mpesa.transformers import EAT

_ALNUM = string.ascii_uppercase + string.digits
_TOKEN_CHARS = string.ascii_letters + string.digits
_RECEIPT_SPACE = 36**7
_RECEIPT_STEP = 2_654_435_761  # odd and not a multiple of 3, so n -> n*step is a bijection mod 36^7


@dataclass(slots=True)
class StkRecord:
    checkout_request_id: str
    merchant_request_id: str
    phone: str
    amount: int
    account_reference: str
    callback_url: str
    result_code: int
    result_desc: str
    receipt: str | None  # only for a payment
    transaction_date: int | None  # YYYYMMDDHHmmss (EAT) when the customer acted; payments only
    sends_callback: bool
    copies: int  # 1 + duplicate_callbacks, fixed when the push was accepted
    created_at: float  # epoch seconds
    due_at: float  # loop time when the simulated customer acts
    callback_statuses: list[int | None] = field(default_factory=list)  # None: no HTTP answer
    callback_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["created_at"] = datetime.fromtimestamp(self.created_at, EAT).isoformat()
        out["callbacks_sent"] = len(self.callback_statuses)
        del out["due_at"]  # loop time means nothing outside the process
        return out


@dataclass(slots=True)
class Stats:
    tokens_issued: int = 0
    push_requests: int = 0
    push_accepted: int = 0
    push_rejected: int = 0
    queries: int = 0
    callbacks_sent: int = 0
    callbacks_failed: int = 0  # no HTTP answer, or a non-2xx one
    b2c_requests: int = 0
    b2c_accepted: int = 0
    b2c_rejected: int = 0  # refused at the gateway: nothing processed
    b2c_paid: int = 0
    sync_answers_dropped: int = 0
    initiator_requests: int = 0  # Transaction Status, Reversal, Account Balance
    results_sent: int = 0  # initiator Results (and queue timeouts) POSTed, copies included
    results_failed: int = 0
    results_lost: int = 0
    c2b_registrations: int = 0
    c2b_payments: int = 0
    c2b_validations: int = 0
    c2b_confirmations: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


class SimState:
    def __init__(self) -> None:
        self.records: dict[str, StkRecord] = {}
        self.locks: dict[str, str] = {}  # phone -> CheckoutRequestID of its pending prompt
        self.tokens: dict[str, float] = {}  # token -> loop time it expires
        self.receipts: dict[str, str] = {}  # STK receipt -> CheckoutRequestID
        self.ledger = Ledger()
        self.stats = Stats()
        self._merchant_seq = 0
        self._receipt_seq = secrets.randbelow(_RECEIPT_SPACE)

    def clear(self) -> None:
        """Forget requests, locks, books and counters; issued tokens stay valid."""
        self.records.clear()
        self.locks.clear()
        self.receipts.clear()
        self.ledger = Ledger()
        self.stats = Stats()

    # --- tokens --------------------------------------------------------------------------------

    def issue_token(self, now: float, ttl: float) -> str:
        if len(self.tokens) > 10_000:
            self.tokens = {t: exp for t, exp in self.tokens.items() if exp > now}
        token = "".join(secrets.choice(_TOKEN_CHARS) for _ in range(28))  # as the doc §2 sample
        self.tokens[token] = now + ttl
        self.stats.tokens_issued += 1
        return token

    def token_valid(self, token: str, now: float) -> bool:
        return self.tokens.get(token, 0.0) > now

    # --- STK records and locks -----------------------------------------------------------------

    def add(self, record: StkRecord, max_records: int) -> None:
        while len(self.records) >= max_records:
            old = self.records.pop(next(iter(self.records)))  # oldest first: insert order
            if old.receipt is not None:
                self.receipts.pop(old.receipt, None)
        self.records[record.checkout_request_id] = record
        if record.receipt is not None:
            self.receipts[record.receipt] = record.checkout_request_id
        self.locks[record.phone] = record.checkout_request_id

    def lock_holder(self, phone: str, now: float) -> StkRecord | None:
        """The still-pending request that locks ``phone``, if any (doc §4, subscriber lock)."""
        record = self.records.get(self.locks.get(phone, ""))
        return record if record is not None and record.due_at > now else None

    def release(self, record: StkRecord) -> None:
        if self.locks.get(record.phone) == record.checkout_request_id:
            del self.locks[record.phone]

    # --- identifiers (formats observed, not contractual: doc §4, §13) --------------------------

    def checkout_request_id(self, phone: str, wall: float) -> str:
        """``ws_CO_`` + DDMMYYYYHHmmss + 3-digit ms + the payer's 9-digit national number."""
        ms = int(wall * 1000)
        while True:
            at = datetime.fromtimestamp(ms / 1000, EAT)
            cid = f"ws_CO_{at:%d%m%Y%H%M%S}{ms % 1000:03d}{phone[-9:]}"
            if cid not in self.records:
                return cid
            ms += 1  # same phone in the same millisecond: still a well-formed, unique id

    def merchant_request_id(self) -> str:
        """The newer shape, e.g. ``2654-4b64-97ff-b827b542881d3130``: hex groups plus a counter."""
        self._merchant_seq += 1
        h = secrets.token_hex(12)
        return f"{h[:4]}-{h[4:8]}-{h[8:12]}-{h[12:]}{self._merchant_seq}"

    def receipt(self, wall: float) -> str:
        """10 uppercase alphanumerics: year letter, month letter, day char, then 7 unique chars."""
        at = datetime.fromtimestamp(wall, EAT)
        year = chr(ord("A") + (at.year - 2019 + 13) % 26)  # N in 2019, Q in 2022, S in 2024
        head = year + chr(ord("A") + at.month - 1) + _ALNUM_DAY[at.day]
        self._receipt_seq += 1
        n = (self._receipt_seq * _RECEIPT_STEP) % _RECEIPT_SPACE
        return head + "".join(_ALNUM[(n // 36**i) % 36] for i in range(7))


# Day 1-9 are digits, then A=10 ... (doc §13, inferred from samples).
_ALNUM_DAY = "0" + string.digits[1:] + string.ascii_uppercase


def request_id() -> str:
    """An error envelope ``requestId`` in the newer shape (doc §3)."""
    h = secrets.token_hex(14)
    return f"{h[:4]}-{h[4:8]}-{h[8:12]}-{h[12:]}{secrets.randbelow(10**7)}"
