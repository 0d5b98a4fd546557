"""MongoDB storage of invoices (Bill Manager) and standing orders (Ratiba).

Collections:

- ``bill_optins``: _id = paybill -> the merchant that opted it in and Bill Manager's app key;
- ``invoices``: one document per invoice, its verified payments as ``payments.<receipt>`` ->
  cents, so a receipt is counted at most once by the update's own filter (no read first);
- ``invoice_matches``: _id = M-Pesa receipt -> a C2B payment that may pay an invoice (or, kind
  ``gov``, a government payment reference: infra/gov_store.py), ``pending`` until the C2B payment
  is final, then ``applied`` or ``refused``;
- ``standing_orders``: one document per order, with its runs (written under a version guard);
- ``standing_order_reports``: Ratiba's callbacks about runs, ``pending`` until believed;
- ``bill_events``: the webhook outbox of both (invoice.*, standing_order.*, and gov_reference.*
  and gov_receipt.* of government collections), deleted once
  delivered (or abandoned).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Doc = dict[str, Any]


class BillsStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.optins: AsyncCollection[Doc] = db["bill_optins"]
        self.invoices: AsyncCollection[Doc] = db["invoices"]
        self.matches: AsyncCollection[Doc] = db["invoice_matches"]
        self.orders: AsyncCollection[Doc] = db["standing_orders"]
        self.events: AsyncCollection[Doc] = db["bill_events"]
        self.reports: AsyncCollection[Doc] = db["standing_order_reports"]
        self.payments: AsyncCollection[Doc] = db["payments"]
        self._ready = False

    async def ensure_indexes(self) -> None:
        if self._ready:
            return
        await self.invoices.create_indexes(
            [
                IndexModel([("merchant_id", ASCENDING), ("account_norm", ASCENDING)], name="acct"),
                IndexModel([("merchant_id", ASCENDING), ("created_at", DESCENDING)], name="list"),
                IndexModel(
                    [("merchant_id", ASCENDING), ("external_reference", ASCENDING)],
                    name="ext_ref",
                    unique=True,
                ),
            ]
        )
        waiting = [IndexModel([("state", ASCENDING), ("checked", ASCENDING)], name="waiting")]
        await self.matches.create_indexes(waiting)
        await self.reports.create_indexes(waiting)
        await self.orders.create_indexes(
            [
                IndexModel([("merchant_id", ASCENDING), ("created_at", DESCENDING)], name="list"),
                IndexModel([("request_ref", ASCENDING)], name="ref", sparse=True),
            ]
        )
        self._ready = True

    # --- invoices ------------------------------------------------------------------------------

    async def insert_invoices(self, docs: list[Doc]) -> list[str]:
        """Insert the new ones; the ids that already existed (a replayed key) are returned."""
        existing = []
        for doc in docs:
            try:
                await self.invoices.insert_one(doc)
            except DuplicateKeyError:
                existing.append(doc["_id"])
        return existing

    async def invoice(self, merchant_id: str, invoice_id: str) -> Doc | None:
        """A sent invoice (one stored but never sent exists for its key's retry only)."""
        query = {"_id": invoice_id, "merchant_id": merchant_id, "sent": True}
        return await self.invoices.find_one(query)

    async def list_invoices(self, merchant_id: str, status: str | None, limit: int) -> list[Doc]:
        query: Doc = {"merchant_id": merchant_id, "sent": True}
        if status:
            query["status"] = status
        cursor = self.invoices.find(query).sort("created_at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def of_account(self, merchant_id: str, account_norm: str) -> list[Doc]:
        query = {"merchant_id": merchant_id, "account_norm": account_norm, "sent": True}
        cursor = self.invoices.find(query)
        return [doc async for doc in cursor]

    async def add_payment(self, invoice_id: str, receipt: str, amount: int) -> Doc | None:
        """Count ``receipt`` on the invoice unless it already is or the invoice is cancelled."""
        return await self.invoices.find_one_and_update(
            {"_id": invoice_id, f"payments.{receipt}": {"$exists": False}, "cancelled": False},
            {"$set": {f"payments.{receipt}": amount}},
            return_document=ReturnDocument.AFTER,
        )

    async def set_invoice(self, invoice_id: str, guard: Doc, changes: Doc) -> Doc | None:
        return await self.invoices.find_one_and_update(
            {"_id": invoice_id, **guard}, {"$set": changes}, return_document=ReturnDocument.AFTER
        )

    async def overdue(self, today: str, limit: int = 500) -> list[Doc]:
        query = {"due_date": {"$lt": today}, "past_due": False, "cancelled": False}
        return [doc async for doc in self.invoices.find(query).limit(limit)]

    # --- matches of C2B payments to invoices ---------------------------------------------------

    async def note_match(
        self,
        receipt: str,
        merchant_id: str,
        account_norm: str,
        at: datetime,
        kind: str = "invoice",
        shortcode: str = "",
    ) -> None:
        """``kind``: what the payment may pay, an ``invoice`` or a government reference
        (``gov``, on ``shortcode``: api/gov_worker.py)."""
        doc = {"merchant_id": merchant_id, "account_norm": account_norm, "state": "pending",
               "at": at, "kind": kind, "shortcode": shortcode}  # fmt: skip
        await self.matches.update_one({"_id": receipt}, {"$setOnInsert": doc}, upsert=True)

    async def pending_matches(self, limit: int = 200) -> list[Doc]:
        """The least recently looked at first, so rows that wait long (a confirmation that never
        came) cannot starve new ones."""
        cursor = self.matches.find({"state": "pending"}).sort("checked", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def looked_at(self, collection: str, doc_id: str, at: datetime) -> None:
        target = self.matches if collection == "matches" else self.reports
        await target.update_one({"_id": doc_id}, {"$set": {"checked": at}})

    async def close_match(self, receipt: str, state: str, detail: str) -> None:
        await self.matches.update_one(
            {"_id": receipt, "state": "pending"}, {"$set": {"state": state, "detail": detail}}
        )

    async def payment(self, payment_id: str) -> Doc | None:
        return await self.payments.find_one(
            {"_id": payment_id}, {"state": 1, "amount_minor": 1, "merchant_id": 1}
        )

    # --- the webhook outbox --------------------------------------------------------------------

    async def add_event(self, event: Doc) -> None:
        await self.events.update_one({"_id": event["_id"]}, {"$setOnInsert": event}, upsert=True)

    async def due_events(self, limit: int = 100) -> list[Doc]:
        cursor = self.events.find().sort("created_at", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def event_done(self, event_id: str) -> None:
        await self.events.delete_one({"_id": event_id})

    async def event_failed(self, event_id: str) -> int:
        doc = await self.events.find_one_and_update(
            {"_id": event_id}, {"$inc": {"attempts": 1}}, return_document=ReturnDocument.AFTER
        )
        return int((doc or {}).get("attempts", 0))

    # --- standing orders -----------------------------------------------------------------------

    async def order(self, merchant_id: str | None, order_id: str) -> Doc | None:
        query = {"_id": order_id, **({"merchant_id": merchant_id} if merchant_id else {})}
        return await self.orders.find_one(query)

    async def list_orders(self, merchant_id: str, limit: int) -> list[Doc]:
        cursor = self.orders.find({"merchant_id": merchant_id}, {"runs": 0})
        return [doc async for doc in cursor.sort("created_at", DESCENDING).limit(limit)]

    async def insert_order(self, doc: Doc) -> bool:
        try:
            await self.orders.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    async def replace_order(self, doc: Doc, changes: Doc) -> Doc | None:
        """Write ``changes`` if nobody changed the order since ``doc`` was read."""
        return await self.orders.find_one_and_update(
            {"_id": doc["_id"], "version": doc["version"]},
            {"$set": changes, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    async def note_report(self, report: Doc) -> None:
        await self.reports.update_one({"_id": report["_id"]}, {"$setOnInsert": report}, upsert=True)

    async def pending_reports(self, limit: int = 200) -> list[Doc]:
        cursor = self.reports.find({"state": "pending"}).sort("checked", ASCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def close_report(self, report_id: str, state: str) -> None:
        await self.reports.update_one(
            {"_id": report_id, "state": "pending"}, {"$set": {"state": state}}
        )
