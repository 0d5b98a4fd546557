"""What travels between the api processes and the actors (plain, picklable values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from switch.payments import Failure, ProviderRefs
from switch.states import Event


@dataclass(frozen=True, slots=True)
class CreatePayment:
    """A collection (``mpesa_stk``) or a payout (``mpesa_b2c``: ``description`` holds the remarks
    and ``command`` the B2C CommandID)."""

    merchant_id: str
    idem_key: str
    request_hash: str
    method: str
    amount_minor: int
    phone: str
    reference: str
    description: str
    metadata: dict[str, Any]
    command: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer for the api to send as is."""

    status: int
    body: dict[str, Any]
    replayed: bool = False
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class StkOrder:
    payment_id: str
    amount: int  # whole shillings
    phone: str
    account_reference: str
    description: str
    callback_url: str


@dataclass(frozen=True, slots=True)
class B2cOrderMsg:
    payment_id: str
    amount: int  # whole shillings
    phone: str
    command: str
    remarks: str
    occasion: str | None
    result_url: str
    timeout_url: str


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask Transaction Status about a payout (by our OriginatorConversationID); the answer comes
    to ``result_url``."""

    payment_id: str
    result_url: str
    timeout_url: str


@dataclass(frozen=True, slots=True)
class ReversalOrderMsg:
    payment_id: str  # the reversal's id
    receipt: str  # the M-Pesa receipt of the collection to reverse
    amount: int  # whole shillings
    receiver_party: str  # the shortcode that received the collection
    remarks: str
    result_url: str
    timeout_url: str


@dataclass(frozen=True, slots=True)
class CreateReversal:
    merchant_id: str
    payment_id: str  # the collection to reverse
    idem_key: str
    request_hash: str
    reason: str


Order = StkOrder | B2cOrderMsg | ReversalOrderMsg


@dataclass(frozen=True, slots=True)
class ProviderOutcome:
    """A provider's answer in the switch's terms. ``event`` None means still pending."""

    event: Event | None
    refs: ProviderRefs | None = None
    failure: Failure | None = None
    amount_minor: int | None = None
    phone: str | None = None
    retry_after: float | None = None  # set when the provider's circuit is open


@dataclass(frozen=True, slots=True)
class SubmitResult:
    payment_id: str
    outcome: ProviderOutcome


@dataclass(frozen=True, slots=True)
class QueryRequest:
    payment_id: str
    checkout_request_id: str


@dataclass(frozen=True, slots=True)
class QueryResult:
    payment_id: str
    outcome: ProviderOutcome | None  # None: the query itself failed; ask again later


@dataclass(frozen=True, slots=True)
class CallbackIn:
    payment_id: str
    outcome: ProviderOutcome
    checkout_request_id: str | None
    # Transaction Status answered "no such transaction": a failure only for a payout old enough
    # that it cannot still be queued (the shard decides; it knows the age).
    not_found: bool = False
    originator_conversation_id: str | None = None


@dataclass(frozen=True, slots=True)
class C2bIn:
    """A confirmed C2B payment, routed to its merchant: money already received."""

    merchant_id: str
    trans_id: str  # the M-Pesa receipt
    trans_time: str
    amount_minor: int
    shortcode: str
    bill_ref: str
    transaction_type: str
    payer: dict[str, str]


CallbackVerdict = Literal["applied", "duplicate", "mismatch", "unknown_payment", "pending"]
