"""MongoDB storage of government collections (switch/gov.py).

Collections:

- ``gov_paybills``: _id = paybill -> the agency (merchant) collecting on it, its name and its
  default partial-payment policy;
- ``gov_references``: one document per payment reference, unique by (paybill, reference); its
  payments (``payments.<receipt>``), validation holds (``holds.<receipt>``) and excess money,
  written only under a version guard, so two api processes racing on one reference cannot both
  count a payment or both take its last balance;
- ``gov_receipts``: _id = the agency's receipt number, one per counted payment (the daily
  collections report reads these by day).

Payments noted for a reference wait in ``invoice_matches`` (kind ``gov``) and its webhooks in
``bill_events``, the invoices' outbox (infra/bills_store.py): one worker resolves both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

Doc = dict[str, Any]


class GovStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.paybills: AsyncCollection[Doc] = db["gov_paybills"]
        self.references: AsyncCollection[Doc] = db["gov_references"]
        self.receipts: AsyncCollection[Doc] = db["gov_receipts"]
        self.journal: AsyncCollection[Doc] = db["journal"]
        self._ready = False

    async def ensure_indexes(self) -> None:
        if self._ready:
            return
        await self.references.create_indexes(
            [
                IndexModel([("shortcode", ASCENDING), ("prn_norm", ASCENDING)], name="prn",
                           unique=True),
                IndexModel([("merchant_id", ASCENDING), ("created_at", DESCENDING)], name="list"),
                IndexModel([("open", ASCENDING), ("expires_at", ASCENDING)], name="expiry"),
            ]
        )  # fmt: skip
        await self.receipts.create_indexes(
            [IndexModel([("merchant_id", ASCENDING), ("paid_at", ASCENDING)], name="day")]
        )
        self._ready = True

    async def paybill(self, shortcode: str) -> Doc | None:
        return await self.paybills.find_one({"_id": shortcode})

    async def insert_reference(self, doc: Doc) -> bool:
        """False when its id (a replayed key) or its reference on the paybill already exists."""
        try:
            await self.references.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    async def reference(self, merchant_id: str | None, reference_id: str) -> Doc | None:
        query = {"_id": reference_id, **({"merchant_id": merchant_id} if merchant_id else {})}
        return await self.references.find_one(query)

    async def by_prn(self, shortcode: str, prn_norm: str) -> Doc | None:
        return await self.references.find_one({"shortcode": shortcode, "prn_norm": prn_norm})

    async def list_references(
        self, merchant_id: str, status: str | None, limit: int, now: datetime
    ) -> list[Doc]:
        """By status as of ``now``: an open reference past its expiry is expired even before
        the worker's pass stores it so."""
        query: Doc = {"merchant_id": merchant_id}
        if status == "expired":
            lapsed = {"open": True, "expires_at": {"$lte": now}}
            query["$or"] = [{"status": "expired"}, lapsed]
        elif status in ("issued", "partially_paid"):
            query.update({"status": status, "expires_at": {"$gt": now}})
        elif status:
            query["status"] = status
        cursor = self.references.find(query).sort("created_at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def replace_reference(self, doc: Doc, changes: Doc) -> Doc | None:
        """Write ``changes`` if nobody changed the reference since ``doc`` was read."""
        return await self.references.find_one_and_update(
            {"_id": doc["_id"], "version": doc["version"]},
            {"$set": changes, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    async def lapsing(self, now: datetime, limit: int = 500) -> list[Doc]:
        """Open references past their expiry (their status still says otherwise)."""
        query = {"open": True, "expires_at": {"$lte": now}}
        return [doc async for doc in self.references.find(query).limit(limit)]

    async def add_receipt(self, doc: Doc) -> None:
        await self.receipts.update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)

    async def receipt(self, merchant_id: str, number: str) -> Doc | None:
        return await self.receipts.find_one({"_id": number, "merchant_id": merchant_id})

    async def receipts_between(self, merchant_id: str, start: datetime, end: datetime) -> list[Doc]:
        query = {"merchant_id": merchant_id, "paid_at": {"$gte": start, "$lt": end}}
        return [doc async for doc in self.receipts.find(query).sort("paid_at", ASCENDING)]

    async def journal_gross(self, payment_ids: list[str]) -> dict[str, int]:
        """What the journal says each collection brought in: the gross of its
        ``<payment>:collection`` entry (switch/ledger.py), the provider float's debit."""
        ids = [f"{p}:collection" for p in payment_ids]
        gross: dict[str, int] = {}
        async for entry in self.journal.find({"_id": {"$in": ids}}):
            debit = sum(-int(line["amount"]) for line in entry["lines"] if int(line["amount"]) < 0)
            gross[entry["payment_id"]] = debit
        return gross
