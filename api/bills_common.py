"""What invoices and standing orders share over HTTP: their store, ids, URL tokens, views and the
webhook outbox (events are stored with the change they report and sent by api/bills_worker.py)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator, Field

from api.state import STATE, AppState
from infra.bills_store import BillsStore
from switch.invoices import Invoice, event_type
from switch.money import format_minor, parse_whole_shillings
from switch.payments import iso, now_utc
from switch.phone import normalise_msisdn

Doc = dict[str, Any]


def _positive(value: str) -> str:
    if parse_whole_shillings(value) <= 0:
        raise ValueError("must be at least 1 shilling")
    return value


# Request fields both resources take: whole shillings ("800") and a Safaricom number.
Shillings = Annotated[str, AfterValidator(_positive), Field(description='Whole KES, e.g. "800".')]
Phone = Annotated[str, AfterValidator(normalise_msisdn), Field(description="A Safaricom number.")]


class Bills:
    """Holds the store, made on first use: the app is built before MongoDB runs."""

    def __init__(self) -> None:
        self.store: BillsStore | None = None


BILLS = web.AppKey("bills_store", Bills)


async def bills_of(app: web.Application) -> BillsStore:
    holder = app[BILLS]
    if holder.store is None:
        holder.store = BillsStore(app[STATE].cols.payments.database)
    await holder.store.ensure_indexes()
    return holder.store


def digest(state: AppState, text: str) -> str:
    return hmac.new(state.secret_key, text.encode(), hashlib.sha256).hexdigest()


def invoice_id(state: AppState, merchant_id: str, key: str, n: int) -> str:
    """The same key (and position in a bulk request) always names the same invoice."""
    return "inv_" + digest(state, f"invoice:{merchant_id}:{key}:{n}")[:26]


def order_id(state: AppState, merchant_id: str, key: str) -> str:
    return "sto_" + digest(state, f"standing-order:{merchant_id}:{key}")[:26]


def url_token(state: AppState, name: str) -> str:
    """A callback URL's secret part (hex: Safaricom refuses URLs spelling "exe", "sql", ...)."""
    return digest(state, f"bills-url:v1:{name}")[:40]


def as_invoice(doc: Doc) -> Invoice:
    return Invoice(
        id=doc["_id"],
        merchant_id=doc["merchant_id"],
        external_reference=doc["external_reference"],
        account_reference=doc["account_reference"],
        amount_minor=doc["amount_minor"],
        due_date=date.fromisoformat(doc["due_date"]),
        created_seq=doc.get("seq", 0),
        payments=tuple(doc.get("payments", {}).items()),
        cancelled=doc.get("cancelled", False),
        past_due=doc.get("past_due", False),
    )


def invoice_view(doc: Doc) -> Doc:
    invoice = as_invoice(doc)
    return {
        "id": invoice.id,
        "object": "invoice",
        "status": invoice.status,
        "external_reference": invoice.external_reference,
        "account_reference": invoice.account_reference,
        "shortcode": doc["shortcode"],
        "amount": format_minor(invoice.amount_minor),
        "paid": format_minor(invoice.paid_minor),
        "outstanding": format_minor(invoice.outstanding_minor),
        "currency": "KES",
        "due_date": doc["due_date"],
        "name": doc["name"],
        "period": doc["period"],
        "items": doc.get("items", []),
        "payments": [{"receipt": r, "amount": format_minor(a)} for r, a in invoice.payments],
        "created_at": iso(doc["created_at"]),
    }


async def note_event(store: BillsStore, doc: Doc, kind: str, data: Doc | None = None) -> None:
    """Queue the webhook for a change already persisted; its id is stable, so a change noted
    twice (a retried pass) is one event."""
    view = data if data is not None else invoice_view(doc)
    marker = view.get("status", "") if data is None else view.get("seq", "")
    event_id = f"evt_{doc['_id']}_{kind}_{marker}_{len(view.get('payments', []))}"
    event = {"_id": event_id, "merchant_id": doc["merchant_id"], "type": kind,
             "created_at": now_utc(), "data": view, "attempts": 0}  # fmt: skip
    await store.add_event(event)


async def refresh_status(store: BillsStore, doc: Doc) -> Doc:
    """Store the status the amounts and facts now give, and queue its webhook if it changed."""
    after = as_invoice(doc).status
    before = doc.get("status")
    if before == after:
        return doc
    updated = await store.set_invoice(doc["_id"], {}, {"status": after}) or doc
    kind = event_type(before, after)
    if kind:
        await note_event(store, updated, kind)
    return updated
