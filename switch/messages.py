"""What travels between the api processes and the actors (plain, picklable values)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from switch.payments import Failure, ProviderRefs
from switch.states import Event


@dataclass(frozen=True, slots=True)
class CreatePayment:
    merchant_id: str
    idem_key: str
    request_hash: str
    method: str
    amount_minor: int
    phone: str
    reference: str
    description: str
    metadata: dict[str, Any]


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


CallbackVerdict = Literal["applied", "duplicate", "mismatch", "unknown_payment", "pending"]
