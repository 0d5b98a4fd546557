"""The simulated M-Pesa books behind the initiator APIs and C2B: payouts, C2B payments, reversals,
paybill utility balances, URL registrations. Pure: times are passed in (``now`` is the event loop's
clock, ``wall`` epoch seconds); nothing here reads a clock or touches the network.

Money moves when a request is accepted (a payout debits the float at once; its Result is sent
``callback_delay`` later), so ``GET /__sim/b2c`` always tells exactly what was paid.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from connectors.mpesa.simulator.triggers import registered_name
from connectors.mpesa.transformers import EAT

PayoutState = Literal["processing", "completed", "failed", "timed_out"]
C2bState = Literal["validating", "completed", "rejected", "cancelled"]
RequestKind = Literal["status", "reversal", "balance"]


@dataclass(slots=True)
class Delivery:
    """Where a Result goes and what happened to each copy (None: no HTTP answer)."""

    url: str
    copies: int
    lost: bool = False  # lose_result_callbacks or a "no Result" trigger: never sent
    statuses: list[int | None] = field(default_factory=list)
    error: str | None = None


@dataclass(slots=True)
class Payout:
    """One B2C request the gateway accepted."""

    originator_conversation_id: str
    conversation_id: str
    command_id: str
    amount: int
    phone: str
    party_a: str
    remarks: str
    occasion: str
    result_code: int | str
    result_desc: str
    transaction_id: str  # the receipt when paid, else a placeholder such as 'SG70000000'
    receiver_name: str
    paid: bool
    timed_out: bool  # queue timeout: nothing processed, QueueTimeOutURL called
    utility_after_cents: int  # the float right after this payout
    delivery: Delivery
    created_at: float  # wall
    due_at: float  # loop time the Result is sent
    answer_dropped: bool = False

    def state(self, now: float) -> PayoutState:
        if self.timed_out:
            return "timed_out"
        if self.due_at > now:
            return "processing"
        return "completed" if self.paid else "failed"

    def to_json(self, now: float) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state(now)
        out["receipt"] = self.transaction_id if self.paid else None
        out["created_at"] = _iso(self.created_at)
        out.update(_delivery_json(out.pop("delivery")))
        del out["due_at"]
        return out


@dataclass(slots=True)
class InitiatorRequest:
    """A Transaction Status, Reversal or Account Balance request the gateway accepted."""

    kind: RequestKind
    originator_conversation_id: str
    conversation_id: str
    fields: dict[str, str]  # the request's interesting fields, for the record
    delivery: Delivery
    created_at: float
    result_code: int | str | None = None  # known once the Result is built
    result_desc: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["created_at"] = _iso(self.created_at)
        out.update(_delivery_json(out.pop("delivery")))
        return out


@dataclass(slots=True)
class Registration:
    shortcode: str
    version: int  # 1: SHA-256 MSISDN in callbacks, 2: masked (doc §6)
    response_type: str  # Completed | Cancelled
    confirmation_url: str
    validation_url: str  # '' when none was given

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class C2bPayment:
    trans_id: str
    trans_time: str  # YYYYMMDDHHmmss, EAT
    shortcode: str
    command_id: str
    amount: int
    msisdn: str
    bill_ref: str
    first_name: str
    middle_name: str
    last_name: str
    created_at: float
    state: C2bState = "validating"
    registered_version: int | None = None  # None: no URLs registered, no notification at all
    validation: str | None = None  # 'accepted', 'rejected', 'no answer: Completed', ...
    validation_result_code: str | None = None
    validation_status: int | None = None
    third_party_trans_id: str = ""
    confirmation_statuses: list[int | None] = field(default_factory=list)
    confirmation_error: str | None = None
    reversed_by: str | None = None  # the reversal's receipt

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["created_at"] = _iso(self.created_at)
        return out


@dataclass(slots=True)
class Reversal:
    original: str  # the receipt reversed
    receipt: str
    shortcode: str
    amount: int


@dataclass(slots=True)
class Ledger:
    payouts: dict[str, Payout] = field(default_factory=dict)  # by OriginatorConversationID
    payouts_by_receipt: dict[str, str] = field(default_factory=dict)
    payouts_by_conversation: dict[str, str] = field(default_factory=dict)
    requests: dict[str, InitiatorRequest] = field(default_factory=dict)  # by ConversationID
    registrations: dict[str, Registration] = field(default_factory=dict)  # by shortcode
    c2b: dict[str, C2bPayment] = field(default_factory=dict)  # by TransID
    reversals: dict[str, Reversal] = field(default_factory=dict)  # by original receipt
    utility: dict[str, int] = field(default_factory=dict)  # paybill utility balances, cents
    names: dict[str, str] = field(default_factory=dict)  # phone -> registered name override

    def add_payout(self, payout: Payout, max_records: int) -> None:
        while len(self.payouts) >= max_records:  # oldest first, as for STK records
            old = self.payouts.pop(next(iter(self.payouts)))
            self.payouts_by_conversation.pop(old.conversation_id, None)
            self.payouts_by_receipt.pop(old.transaction_id, None)
        self.payouts[payout.originator_conversation_id] = payout
        self.payouts_by_conversation[payout.conversation_id] = payout.originator_conversation_id
        if payout.paid:
            self.payouts_by_receipt[payout.transaction_id] = payout.originator_conversation_id

    def add_request(self, request: InitiatorRequest, max_records: int) -> None:
        while len(self.requests) >= max_records:
            self.requests.pop(next(iter(self.requests)))
        self.requests[request.conversation_id] = request

    def add_c2b(self, payment: C2bPayment, max_records: int) -> None:
        while len(self.c2b) >= max_records:
            self.c2b.pop(next(iter(self.c2b)))
        self.c2b[payment.trans_id] = payment

    def payout(self, conversation_or_originator_id: str) -> Payout | None:
        key = conversation_or_originator_id
        found = self.payouts.get(key)
        if found is None and key in self.payouts_by_conversation:
            found = self.payouts.get(self.payouts_by_conversation[key])
        return found

    def payout_by_receipt(self, receipt: str) -> Payout | None:
        ocid = self.payouts_by_receipt.get(receipt)
        return self.payouts.get(ocid) if ocid is not None else None

    def name_of(self, phone: str) -> str:
        """The customer's M-Pesa registered name: an override, else the trigger table's."""
        return self.names.get(phone) or registered_name(phone)

    def credit(self, shortcode: str, cents: int) -> int:
        self.utility[shortcode] = self.utility.get(shortcode, 0) + cents
        return self.utility[shortcode]


# --- identifiers (formats observed, not contractual: doc §7) -----------------------------------


def conversation_id(wall: float) -> str:
    """``AG_`` + YYYYMMDD + ``_`` + 20 hex characters (doc §7, observed)."""
    return f"AG_{datetime.fromtimestamp(wall, EAT):%Y%m%d}_{secrets.token_hex(10)}"


def gateway_originator_id(seq: int) -> str:
    """The gateway's own OriginatorConversationID, older shape: ``5118-111210482-1``."""
    return f"{secrets.randbelow(90000) + 10000}-{secrets.randbelow(10**9)}-{seq}"


def placeholder(receipt: str) -> str:
    """The TransactionID of a failure: a receipt head and zeros, e.g. ``NLJ0000000`` (doc §7)."""
    return receipt[:3] + "0000000"


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, EAT).isoformat()


def _delivery_json(delivery: dict[str, Any]) -> dict[str, Any]:
    return {
        "result_url": delivery["url"],
        "result_lost": delivery["lost"],
        "result_statuses": delivery["statuses"],
        "results_sent": len(delivery["statuses"]),
        "result_error": delivery["error"],
    }
