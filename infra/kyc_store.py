"""KYC applications and their documents in MongoDB (the rules are :mod:`switch.kyc`).

Collections of their own: ``kyc_applications`` (``_id`` = ``kya_...``) and ``kyc_documents``
(``_id`` = ``kyd_...``, the sealed bytes in the document itself: files are at most 4 MiB, well
inside MongoDB's 16 MiB). Personal data is sealed before it gets here (api/kyc.py); what stays
clear is what the review lists and searches: legal name, registration number, statuses, keyed
blind indexes of the identifiers (for the duplicate checks) and the review's records.

Every change of an application is a compare-and-set on its ``version``, so two reviewers
deciding at once cannot both be the last approver, and an edit cannot slip in under a decision.
Few writes (onboarding, not payments), so the indexes cost nothing that matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

Doc = dict[str, Any]
# Applications that count for duplicates: anything but a draft (a draft proves nothing and
# anyone could make one to raise a stranger's risk score).
COUNTED = ("submitted", "changes_requested", "approved", "rejected")
_NO_BYTES = {"sealed": 0}


class KycStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.apps: AsyncCollection[Doc] = db["kyc_applications"]
        self.docs: AsyncCollection[Doc] = db["kyc_documents"]

    async def ensure_indexes(self) -> None:
        await self.apps.create_indexes(
            [
                IndexModel([("merchant_id", ASCENDING), ("created_at", DESCENDING)], name="kya_m"),
                IndexModel([("status", ASCENDING), ("created_at", ASCENDING)], name="kya_status"),
                IndexModel([("reg_bidx", ASCENDING)], name="kya_reg"),
                IndexModel([("pin_bidx", ASCENDING)], name="kya_pin"),
                IndexModel([("director_bidx", ASCENDING)], name="kya_dir"),
            ]
        )
        await self.docs.create_indexes(
            [
                IndexModel([("application_id", ASCENDING)], name="kyd_app"),
                IndexModel([("digest_bidx", ASCENDING)], name="kyd_digest"),
            ]
        )

    # --- applications ---------------------------------------------------------------------

    async def insert(self, app: Doc) -> None:
        await self.apps.insert_one(app)

    async def get(self, application_id: str, merchant_id: str | None = None) -> Doc | None:
        query: Doc = {"_id": str(application_id)}
        if merchant_id is not None:
            query["merchant_id"] = str(merchant_id)
        return await self.apps.find_one(query)

    async def open_of(self, merchant_id: str) -> Doc | None:
        """The merchant's application still in progress (draft, submitted, changes requested)."""
        return await self.apps.find_one(
            {
                "merchant_id": str(merchant_id),
                "status": {"$in": ["draft", "submitted", "changes_requested"]},
            }
        )

    async def listing(self, merchant_id: str | None, status: str | None, limit: int) -> list[Doc]:
        query: Doc = {}
        if merchant_id is not None:
            query["merchant_id"] = str(merchant_id)
        if status is not None:
            query["status"] = str(status)
        cursor = self.apps.find(query).sort("created_at", ASCENDING).limit(int(limit))
        return [doc async for doc in cursor]

    async def change(
        self, application_id: str, version: int, changes: Doc, decision: Doc | None = None
    ) -> Doc | None:
        """Apply ``changes`` if the application is still at ``version``; the new document, or
        None when someone changed it meanwhile (read again and decide again)."""
        update: Doc = {"$set": {**changes, "version": version + 1}}
        if decision is not None:
            update["$push"] = {"decisions": decision}
        result = await self.apps.update_one({"_id": application_id, "version": version}, update)
        if result.modified_count != 1:
            return None
        return await self.get(application_id)

    async def others_with(self, merchant_id: str, field: str, values: Iterable[str]) -> Doc:
        """For each value: the other merchants whose counted applications hold it in ``field``
        (a blind index)."""
        wanted = [str(v) for v in values]
        found: dict[str, set[str]] = {v: set() for v in wanted}
        if not wanted:
            return {}
        cursor = self.apps.find(
            {
                field: {"$in": wanted},
                "merchant_id": {"$ne": str(merchant_id)},
                "status": {"$in": list(COUNTED)},
            },
            {field: 1, "merchant_id": 1},
        )
        async for doc in cursor:
            held = doc.get(field)
            for value in held if isinstance(held, list) else [held]:
                if value in found:
                    found[value].add(str(doc["merchant_id"]))
        return {value: sorted(merchants) for value, merchants in found.items()}

    # --- documents ------------------------------------------------------------------------

    async def add_document(self, doc: Doc) -> None:
        await self.docs.insert_one(doc)

    async def documents_of(self, application_id: str) -> list[Doc]:
        """An application's documents without their bytes, oldest first."""
        cursor = self.docs.find({"application_id": str(application_id)}, _NO_BYTES)
        return [doc async for doc in cursor.sort("uploaded_at", ASCENDING)]

    async def document(self, document_id: str, application_id: str) -> Doc | None:
        return await self.docs.find_one(
            {"_id": str(document_id), "application_id": str(application_id)}
        )

    async def reused(self, merchant_id: str, digests: Sequence[str]) -> list[str]:
        """Which of these file digests (blind indexes) another merchant uploaded too."""
        if not digests:
            return []
        cursor = self.docs.find(
            {"digest_bidx": {"$in": list(digests)}, "merchant_id": {"$ne": str(merchant_id)}},
            {"digest_bidx": 1},
        )
        return sorted({str(doc["digest_bidx"]) async for doc in cursor})
