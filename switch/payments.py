"""The payment record and its pure transitions. The shard actor owns the only mutable copy; this
module turns (payment, event) into a new payment plus a history entry, and payments into the
documents MongoDB stores and the views the API shows."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from switch.money import format_minor
from switch.phone import mask_msisdn
from switch.rails import PAYOUT_METHODS, RAILS
from switch.reviews import summary as review_summary
from switch.states import Event, Outcome, State, Status, advance, status_of


@dataclass(frozen=True, slots=True)
class ProviderRefs:
    merchant_request_id: str | None = None
    checkout_request_id: str | None = None
    receipt: str | None = None
    result_code: str | None = None
    result_desc: str | None = None
    transaction_date: str | None = None
    conversation_id: str | None = None  # initiator APIs (B2C)
    receiver_name: str | None = None  # the payout recipient's registered name


@dataclass(frozen=True, slots=True)
class Failure:
    # ours: declined | rejected | provider_unavailable | timeout | outcome_unknown | review_rejected
    code: str
    message: str  # plain words for a merchant's support person
    provider_code: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    seq: int
    at: datetime
    event: str
    from_state: str | None
    to_state: str
    source: str  # api | provider | callback | query | sweeper | recovery
    status_changed: bool  # the merchant is told (webhook) only about external status changes
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Payment:
    id: str
    merchant_id: str
    method: str
    amount_minor: int
    currency: str
    phone: str
    reference: str
    description: str
    metadata: dict[str, Any]
    idem_key: str
    request_hash: str
    state: State
    created_at: datetime
    updated_at: datetime
    history: tuple[HistoryEntry, ...]
    provider: ProviderRefs = ProviderRefs()
    failure: Failure | None = None
    version: int = 1
    notified_seq: int = 0  # highest history seq whose webhook is delivered (or abandoned)
    fee_minor: int = 0  # the switch's fee: out of the amount (collections), on top (payouts)
    command: str | None = None  # payouts: the B2C CommandID
    # Where the money goes (or comes from) when it is not ``phone``: a bank account
    # {bank_code, account_number, account_name} or a SACCO member account {sacco_code,
    # member_number, purpose}. Empty for mobile money.
    destination: dict[str, Any] = field(default_factory=dict)
    route: dict[str, Any] = field(default_factory=dict)  # routing decision (routing/router.py)
    transfer: dict[str, Any] = field(default_factory=dict)  # a transfer's leg: switch/transfers
    # A sub-merchant's collection: {"merchant_id": its aggregator, "fee_minor": the platform fee}
    # (switch/platform.py), fixed at creation like ``fee_minor``.
    platform: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        return status_of(self.state)

    @property
    def pending_notifications(self) -> list[HistoryEntry]:
        return [h for h in self.history if h.status_changed and h.seq > self.notified_seq]


def now_utc() -> datetime:
    # MongoDB keeps milliseconds; truncate so the cached copy equals the stored one.
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def new_payment(
    *,
    payment_id: str,
    merchant_id: str,
    method: str,
    amount_minor: int,
    phone: str,
    reference: str,
    description: str,
    metadata: dict[str, Any],
    idem_key: str,
    request_hash: str,
    at: datetime,
    fee_minor: int = 0,
    command: str | None = None,
    destination: dict[str, Any] | None = None,
    route: dict[str, Any] | None = None,
    transfer: dict[str, Any] | None = None,
    platform: dict[str, Any] | None = None,
) -> Payment:
    created = HistoryEntry(1, at, "create", None, State.SUBMITTING, "api", False)
    return Payment(
        id=payment_id,
        merchant_id=merchant_id,
        method=method,
        amount_minor=amount_minor,
        currency="KES",
        phone=phone,
        reference=reference,
        description=description,
        metadata=metadata,
        idem_key=idem_key,
        request_hash=request_hash,
        state=State.SUBMITTING,
        created_at=at,
        updated_at=at,
        history=(created,),
        fee_minor=fee_minor,
        command=command,
        destination=destination or {},
        route=route or {},
        transfer=transfer or {},
        platform=platform or {},
    )


def apply(
    payment: Payment,
    event: Event,
    *,
    source: str,
    at: datetime,
    provider: ProviderRefs | None = None,
    failure: Failure | None = None,
    detail: dict[str, Any] | None = None,
) -> Payment | None:
    """The payment after ``event``, or None when the event changes nothing (a duplicate, or an
    illegal event: :func:`offer` says which)."""
    outcome = offer(payment, event)
    if not outcome.changed:
        return None
    kept_failure = failure if outcome.state in _FAILURE_STATES else None
    # The entry records what the event added, so any past state can be shown as it was.
    recorded = dict(detail or {})
    if provider is not None:
        recorded["provider"] = {k: v for k, v in asdict(provider).items() if v is not None}
    if kept_failure is not None:
        recorded["failure"] = asdict(kept_failure)
    entry = HistoryEntry(
        seq=payment.history[-1].seq + 1,
        at=at,
        event=event.value,
        from_state=payment.state.value,
        to_state=outcome.state.value,
        source=source,
        status_changed=status_of(outcome.state) != payment.status,
        detail=recorded,
    )
    return replace(
        payment,
        state=outcome.state,
        updated_at=at,
        history=(*payment.history, entry),
        provider=_merge_refs(payment.provider, provider),
        failure=kept_failure,
        version=payment.version + 1,
    )


def offer(payment: Payment, event: Event) -> Outcome:
    """What ``event`` would do to ``payment`` under the state table (payouts by its payout
    rules)."""
    return advance(payment.state, event, payout=RAILS[payment.method].direction != "collection")


_FAILURE_STATES = (State.DECLINED, State.REJECTED, State.EXPIRED)


def _merge_refs(old: ProviderRefs, new: ProviderRefs | None) -> ProviderRefs:
    if new is None:
        return old
    changes = {k: v for k, v in asdict(new).items() if v is not None}
    return replace(old, **changes)


# --- storage documents -------------------------------------------------------------------------


def to_doc(p: Payment, shard: int) -> dict[str, Any]:
    return {
        "_id": p.id,
        "merchant_id": p.merchant_id,
        "shard": shard,
        "method": p.method,
        "amount_minor": p.amount_minor,
        "fee_minor": p.fee_minor,
        "command": p.command,
        "destination": dict(p.destination),  # a copy: the document is sealed in place
        "route": p.route,
        "transfer": copy.deepcopy(p.transfer),  # copies too: its parties are sealed in place
        "platform": dict(p.platform),
        "currency": p.currency,
        "phone": p.phone,
        "reference": p.reference,
        "description": p.description,
        "metadata": copy.deepcopy(p.metadata),  # (a SACCO member, a C2B payer: switch/pii.py)
        "idem": p.idem_key,
        "request_hash": p.request_hash,
        "state": p.state.value,
        "status": p.status.value,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
        "history": [asdict(h) for h in p.history],
        "provider": asdict(p.provider),
        "failure": asdict(p.failure) if p.failure else None,
        "version": p.version,
        # At least this many history entries were delivered by webhook (it may lag: see
        # actors/webhooks.py); what is still to resume is listed in ``inflight``.
        "notified_seq": p.notified_seq,
    }


def changes_since(p: Payment, seq: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What a stored payment needs to catch up: the fields that can change after creation, and
    the history entries after ``seq``."""
    fields = {
        "state": p.state.value,
        "status": p.status.value,
        "updated_at": p.updated_at,
        "provider": asdict(p.provider),
        "failure": asdict(p.failure) if p.failure else None,
        "version": p.version,
        "notified_seq": p.notified_seq,
    }
    return fields, [asdict(h) for h in p.history if h.seq > seq]


def from_doc(doc: dict[str, Any]) -> Payment:
    return Payment(
        id=doc["_id"],
        merchant_id=doc["merchant_id"],
        method=doc["method"],
        amount_minor=doc["amount_minor"],
        currency=doc["currency"],
        phone=doc["phone"],
        reference=doc["reference"],
        description=doc["description"],
        metadata=doc.get("metadata") or {},
        idem_key=doc["idem"],
        request_hash=doc["request_hash"],
        state=State(doc["state"]),
        created_at=_utc(doc["created_at"]),
        updated_at=_utc(doc["updated_at"]),
        history=tuple(HistoryEntry(**{**h, "at": _utc(h["at"])}) for h in doc.get("history", [])),
        provider=ProviderRefs(**(doc.get("provider") or {})),
        failure=Failure(**doc["failure"]) if doc.get("failure") else None,
        version=doc.get("version", 1),
        notified_seq=doc.get("notified_seq", 0),
        fee_minor=doc.get("fee_minor", 0),
        command=doc.get("command"),
        destination=doc.get("destination") or {},
        route=doc.get("route") or {},
        transfer=doc.get("transfer") or {},
        platform=doc.get("platform") or {},
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- API view ----------------------------------------------------------------------------------


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_OBJECTS = {
    "payout": "payout",
    "reversal": "reversal",
    "collection": "payment",
    "posting": "posting",
}


ERASED = "[erased]"  # what an erasure request leaves of personal data (switch/pii.py)


def is_payout(method: str) -> bool:
    """Money going out of the merchant's balance: reserved first, settled or released after."""
    return method in PAYOUT_METHODS


def view(p: Payment, upto_seq: int | None = None) -> dict[str, Any]:
    """The payment object of the public API (phone masked); with ``upto_seq``, the payment as it
    was right after that history entry (what a webhook for that entry shows)."""
    entries = [h for h in p.history if upto_seq is None or h.seq <= upto_seq]
    last = entries[-1]
    state = State(last.to_state)
    refs: dict[str, Any] = {}
    for h in entries:
        refs.update(h.detail.get("provider", {}))
    failure = last.detail.get("failure") if state in _FAILURE_STATES else None
    rail = RAILS[p.method]
    provider: dict[str, Any] = {"name": rail.provider}
    for ref in rail.refs:
        provider[ref] = refs.get(ref)
    if "checkout_request_id" in provider:
        # Daraja's CheckoutRequestID carries the customer's number: shown masked, like the phone
        # (the switch keeps it sealed, for STK queries and matching callbacks).
        provider["checkout_request_id"] = mask_reference(provider["checkout_request_id"])
    provider["receipt"] = refs.get("receipt")
    provider["result_code"] = refs.get("result_code")
    body: dict[str, Any] = {
        "id": p.id,
        "object": _OBJECTS[rail.direction],
        "status": status_of(state).value,
        "method": p.method,
        "amount": format_minor(p.amount_minor),
        "fee": format_minor(p.fee_minor),
        "currency": p.currency,
        "phone": mask_msisdn(p.phone) if p.phone and p.phone != ERASED else (p.phone or None),
        "reference": p.reference,
        "description": p.description,
        "metadata": p.metadata,
        "created_at": iso(p.created_at),
        "updated_at": iso(last.at),
        "provider": provider,
        "failure": failure,
        "history": [
            {"at": iso(h.at), "status": status_of(State(h.to_state)).value, "state": h.to_state}
            for h in entries
            if h.status_changed or h.seq == 1
        ],
    }
    if rail.default_command is not None:
        body["command"] = p.command
    if rail.direction == "payout":
        body["recipient_name"] = refs.get("receiver_name")
    if p.destination:
        body["destination"] = masked_destination(p.destination)
    if p.route:
        body["routing"] = {k: p.route[k] for k in ("requested", "method", "reason")}
    if p.transfer:
        body["transfer_id"] = p.transfer["id"]
    if rail.direction == "reversal":
        body["reverses"] = p.reference
    review = review_summary(entries)  # held for review, now or before (switch/reviews.py)
    if review is not None:
        body["review"] = review
    return body


def mask_reference(value: str | None) -> str | None:
    """A provider reference that may embed a phone number: its first six and last two
    characters (``ws_CO_****************78``), enough to match a support ticket."""
    if not value or value == ERASED:
        return value
    if len(value) <= 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 8) + value[-2:]


def masked_destination(destination: dict[str, Any]) -> dict[str, Any]:
    """A bank or SACCO account as list views and webhooks show it: the last four digits only."""
    shown = dict(destination)
    for key in ("account_number", "member_number"):
        value = shown.get(key)
        if isinstance(value, str) and len(value) > 4 and value != ERASED:
            shown[key] = "*" * (len(value) - 4) + value[-4:]
    return shown
