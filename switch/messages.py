"""What travels between the api processes and the actors (plain, picklable values)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from switch.payments import Failure, ProviderRefs
from switch.states import Event


@dataclass(frozen=True, slots=True)
class CreatePayment:
    """A collection or a payout (``description`` holds a payout's remarks, ``command`` the B2C
    CommandID). ``method`` may be ``auto``: the shard routes it (routing/router.py)."""

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
    # A bank or SACCO account (see switch.payments.Payment.destination); empty for phones.
    destination: dict[str, Any] = field(default_factory=dict)
    # A transfer's leg: {"id", "leg": debit|credit|refund, "source", "destination"} (the saga in
    # switch/transfers.py); None for ordinary payments.
    transfer: dict[str, Any] | None = None
    direction: Literal["collection", "payout"] = "collection"  # what ``auto`` routes
    # Who made it, for the four-eyes review of a hold (switch.reviews.maker_for); "" when the
    # switch itself did (a SACCO posting).
    maker: str = ""


@dataclass(frozen=True, slots=True)
class CreateTransfer:
    """Move money from one account kind to another (switch/transfers.py). ``source`` and
    ``destination`` are accounts: {"type": mpesa|airtel|bank|sacco, "phone" | "bank_code",
    "account_number", "account_name" | "sacco_code", "member_number"}."""

    merchant_id: str
    idem_key: str
    request_hash: str
    amount_minor: int
    source: dict[str, Any]
    destination: dict[str, Any]
    reference: str
    description: str
    metadata: dict[str, Any]
    maker: str = ""  # as CreatePayment's: every leg is the maker's


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer for the api to send as is."""

    status: int
    body: dict[str, Any]
    replayed: bool = False
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask Transaction Status about a payout (by our OriginatorConversationID) or, with
    ``transaction_id``, about a payment a customer made to ``party_a`` (a C2B receipt); the
    answer comes to ``result_url``."""

    payment_id: str
    result_url: str
    timeout_url: str
    transaction_id: str | None = None
    party_a: str | None = None


@dataclass(frozen=True, slots=True)
class CreateReversal:
    merchant_id: str
    payment_id: str  # the collection to reverse
    idem_key: str
    request_hash: str
    reason: str


@dataclass(frozen=True, slots=True)
class StatusCheck:
    """Ask a provider what became of a payment (enquiry by our id); answered synchronously."""

    payment_id: str
    method: str
    provider_ref: str | None = None


class Order(Protocol):
    """What the shard hands a gateway for one stored payment. Each provider declares its own
    order types in ``connectors/<name>/orders.py``; ``provider`` names whose gateway sends it."""

    provider: ClassVar[str]

    @property
    def payment_id(self) -> str: ...


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
    not_found: bool = False  # the provider has no such transaction (yet)


@dataclass(frozen=True, slots=True)
class CallbackIn:
    payment_id: str
    outcome: ProviderOutcome
    checkout_request_id: str | None
    # Transaction Status answered "no such transaction": a failure only for a payout old enough
    # that it cannot still be queued (the shard decides; it knows the age).
    not_found: bool = False
    originator_conversation_id: str | None = None
    # The methods this callback may act on (its provider and kind): a callback never settles a
    # payment of another rail, and "no record" counts only from that payment's own provider.
    methods: frozenset[str] = frozenset()
    # Transaction Status about a C2B receipt: the party credited ("600100 - Org"), checked
    # against the paybill or till the confirmation named.
    credit_party: str | None = None
    # A success the provider's unsigned callback claims (B2B Express Checkout): not an outcome;
    # the shard asks the provider's record (Transaction Status) at once, and only that settles.
    verify: bool = False
    # Transaction Status: the party debited ("500100 - Till"), checked by a rail's settle_check.
    debit_party: str | None = None


@dataclass(frozen=True, slots=True)
class C2bIn:
    """A C2B confirmation, routed to its merchant: M-Pesa says a customer paid. Daraja signs
    nothing, so nobody is credited until M-Pesa's own record (Transaction Status) agrees."""

    merchant_id: str
    trans_id: str  # the M-Pesa receipt
    trans_time: str
    amount_minor: int
    shortcode: str
    bill_ref: str
    transaction_type: str
    payer: dict[str, str]
    # On a SACCO's paybill: the member account the BillRefNumber names (switch/repayments.py),
    # {"sacco_code", "member_number", "product"}; the shard posts it to the SACCO's core.
    member: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class HubCreditIn:
    """A hub transfer to a merchant's collection account, COMMITTED: the switch, as the payee,
    credits the merchant (api/hub_collections.py). Made only from the hub's own record of the
    committed transfer (the switch's database), never from what a caller sent."""

    merchant_id: str
    transfer_id: str  # the hub transfer: the credit's receipt and its idempotency key
    amount_minor: int
    account: str  # the collection account, ``<switch bank code>:<number>``
    payer: dict[str, str]  # the payer participant: {"participant", "name", "bank_code"}
    reference: str  # the payer's note (an ISO 20022 remittance), or ""
    committed_at: str  # ISO time of the commit


CallbackVerdict = Literal["applied", "duplicate", "mismatch", "unknown_payment", "pending"]
