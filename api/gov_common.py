"""What the government-collection routes and their worker share: the store, the documents as
switch/gov.py values and back, the views, and the version-guarded change of a reference with
the webhooks it calls for (queued in the invoices' outbox, sent by api/bills_worker.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api.bills_common import bills_of, note_event
from api.state import STATE
from infra.gov_store import GovStore
from switch import gov
from switch.money import format_minor
from switch.payments import iso

Doc = dict[str, Any]
OPEN: frozenset[gov.Status] = frozenset({"issued", "partially_paid"})
ATTEMPTS = 8  # version-guarded writes retried this often before giving up (a hot reference)


class Holder:
    """The store, made on first use: the app is built before MongoDB runs."""

    def __init__(self) -> None:
        self.store: GovStore | None = None


GOV = web.AppKey("gov_store", Holder)


async def gov_of(app: web.Application) -> GovStore:
    holder = app[GOV]
    if holder.store is None:
        holder.store = GovStore(app[STATE].cols.payments.database)
    await holder.store.ensure_indexes()
    return holder.store


def utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def as_reference(doc: Doc) -> gov.Reference:
    return gov.Reference(
        id=doc["_id"],
        prn=doc["prn"],
        amount_minor=doc["amount_minor"],
        expires_at=utc(doc["expires_at"]),
        policy=gov.policy_of(doc["policy"]),
        payments=tuple((r, p["amount_minor"]) for r, p in doc.get("payments", {}).items()),
        holds=tuple(
            gov.Hold(t, h["amount_minor"], utc(h["until"])) for t, h in doc.get("holds", {}).items()
        ),
        excess=tuple((r, p["amount_minor"]) for r, p in doc.get("excess", {}).items()),
        cancelled=doc.get("cancelled", False),
    )


def changes_of(ref: gov.Reference, now: datetime) -> Doc:
    """The fields a changed reference writes (payment details are added by the caller)."""
    status = ref.status(now)
    return {
        "holds": {h.trans_id: {"amount_minor": h.amount_minor, "until": h.until}
                  for h in ref.holds},
        "cancelled": ref.cancelled,
        "status": status,
        "open": status in OPEN,
    }  # fmt: skip


def reference_view(doc: Doc, now: datetime | None = None) -> Doc:
    ref = as_reference(doc)
    status = ref.status(now or datetime.now(UTC))
    return {
        "id": ref.id,
        "object": "gov_reference",
        "status": status,
        "prn": ref.prn,
        "revenue_head": doc["revenue_head"],
        "paybill": doc["shortcode"],
        "amount_due": format_minor(ref.amount_minor),
        "paid": format_minor(ref.paid_minor),
        "outstanding": format_minor(ref.outstanding_minor if status != "cancelled" else 0),
        "currency": "KES",
        "expires_at": iso(utc(doc["expires_at"])),
        "partial_payments": _policy_view(ref.policy),
        "payer": doc["payer"],
        "payments": [
            {"mpesa_receipt": r, "amount": format_minor(p["amount_minor"]),
             "receipt_number": p["receipt_number"]}
            for r, p in doc.get("payments", {}).items()
        ],
        "excess": [
            {"mpesa_receipt": r, "amount": format_minor(p["amount_minor"]), "reason": p["reason"]}
            for r, p in doc.get("excess", {}).items()
        ],
        "created_at": iso(utc(doc["created_at"])),
    }  # fmt: skip


def _policy_view(policy: gov.Policy) -> Doc:
    view: Doc = {"mode": policy.mode, "allow_overpayment": policy.allow_overpayment}
    if policy.mode == "minimum":
        view["minimum"] = format_minor(policy.minimum_minor)
    if policy.mode == "instalments":
        view["instalments"] = policy.instalments
    return view


def receipt_view(doc: Doc) -> Doc:
    return {
        "object": "gov_receipt",
        "receipt_number": doc["_id"],
        "agency": doc["agency"],
        "paybill": doc["paybill"],
        "revenue_head": doc["revenue_head"],
        "prn": doc["prn"],
        "reference_id": doc["reference_id"],
        "payer_name": doc["payer_name"],
        "amount": format_minor(doc["amount_minor"]),
        "balance_after": format_minor(doc["balance_after_minor"]),
        "currency": "KES",
        "mpesa_receipt": doc["mpesa_receipt"],
        "payment_id": doc["payment_id"],
        "paid_at": iso(utc(doc["paid_at"])),
    }


Step = Callable[[gov.Reference, datetime], tuple[gov.Reference, Doc] | None]


async def change(app: web.Application, reference_id: str, step: Step) -> Doc | None:
    """Read the reference, let ``step`` decide (None: nothing to change), write under the version
    guard, again on a lost race; then queue the status webhook. The written document, or None."""
    store = await gov_of(app)
    for _ in range(ATTEMPTS):
        doc = await store.reference(None, reference_id)
        if doc is None:
            return None
        now = datetime.now(UTC)
        decided = step(as_reference(doc), now)
        if decided is None:
            return None
        ref, extra = decided
        done = await store.replace_reference(doc, {**changes_of(ref, now), **extra})
        if done is not None:
            await note_status(app, doc.get("status"), done)
            return done
    raise RuntimeError(f"reference {reference_id} kept changing; try again")


async def note_status(app: web.Application, before: str | None, doc: Doc) -> None:
    if before == doc["status"]:
        return
    view = reference_view(doc)
    await note_event(await bills_of(app), doc, f"gov_reference.{doc['status']}", view)
