"""MongoDB storage of benefit programmes (switch/benefits.py).

Collections:

- ``benefit_programmes``: one document per programme;
- ``beneficiaries``: one per person and programme, personal fields sealed (switch/pii.py, bound
  to the beneficiary id) with keyed blind indexes of the national ID, the phone and the account
  paid into (bank or SACCO member); unique indexes on them (per programme) make a second
  registration of any impossible, even from two uploads at once;
- ``benefit_runs``: one per disbursement run: its plan (who, how much, which version of each
  beneficiary was checked), its exceptions and its payout batches (one per attempt);
- ``benefit_claims``: ``_id`` = (programme, cycle, beneficiary) (:func:`switch.benefits.claim_key`):
  stored before any money moves, the unique ``_id`` lets one run pay a beneficiary per cycle; its
  ``attempt`` moves on (under a guard) only after the last attempt's payout failed;
- ``benefit_refusals``: registrations refused as duplicates, for the auditors' report.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

Doc = dict[str, Any]
PERSONAL = ("national_id", "phone", "name")


def personal_paths(doc: Doc) -> Iterator[tuple[dict[str, Any], str]]:
    """The sealed fields of a beneficiary document (the paths switch/pii.py's Sealer takes)."""
    for key in PERSONAL:
        if key in doc:
            yield doc, key
    payout = doc.get("payout")
    for key in ("account_number", "member_number"):
        if isinstance(payout, dict) and key in payout:
            yield payout, key


def run_paths(doc: Doc) -> Iterator[tuple[dict[str, Any], str]]:
    """The sealed fields of a run's exception entries: the name a destination is registered
    under (kept for auditors, bound to the run id)."""
    for entry in doc.get("exceptions") or ():
        if "registered_name" in entry:
            yield entry, "registered_name"


async def _insert_new(col: AsyncCollection[Doc], docs: list[Doc]) -> set[int]:
    """Insert ``docs`` (unordered: one refused stops none of the others); the positions of
    those a unique index refused. Any other error is raised."""
    if not docs:
        return set()
    try:
        await col.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        return {int(e["index"]) for e in errors}
    return set()


class BenefitsStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.programmes: AsyncCollection[Doc] = db["benefit_programmes"]
        self.people: AsyncCollection[Doc] = db["beneficiaries"]
        self.runs: AsyncCollection[Doc] = db["benefit_runs"]
        self.claims: AsyncCollection[Doc] = db["benefit_claims"]
        self.refusals: AsyncCollection[Doc] = db["benefit_refusals"]
        self.journal: AsyncCollection[Doc] = db["journal"]
        self._ready = False

    async def ensure_indexes(self) -> None:
        if self._ready:
            return
        await self.people.create_indexes(
            [
                IndexModel(
                    [("programme_id", ASCENDING), ("national_id_bidx", ASCENDING)],
                    name="national_id",
                    unique=True,
                ),
                IndexModel(
                    [("programme_id", ASCENDING), ("phone_bidx", ASCENDING)],
                    name="phone",
                    unique=True,
                ),
                # The account paid into (bank, SACCO member): the blind index holds the
                # programme, and wallet beneficiaries have none (sparse).
                IndexModel(
                    [("destination_bidx", ASCENDING)], name="destination", unique=True, sparse=True
                ),
            ]
        )
        await self.claims.create_indexes([IndexModel([("run_id", ASCENDING)], name="run")])
        await self.refusals.create_indexes(
            [IndexModel([("programme_id", ASCENDING)], name="programme")]
        )
        await self.runs.create_indexes(
            [IndexModel([("programme_id", ASCENDING), ("cycle", ASCENDING)], name="cycle")]
        )
        self._ready = True

    # --- programmes ------------------------------------------------------------------------

    async def insert_once(self, col: AsyncCollection[Doc], doc: Doc) -> Doc | None:
        """Insert ``doc``; the stored document instead when its ``_id`` exists (a replay)."""
        try:
            await col.insert_one(doc)
        except DuplicateKeyError:
            return await col.find_one({"_id": doc["_id"]})
        return None

    async def programme(self, merchant_id: str, programme_id: str) -> Doc | None:
        return await self.programmes.find_one({"_id": programme_id, "merchant_id": merchant_id})

    # --- beneficiaries ---------------------------------------------------------------------

    async def holders(self, programme_id: str, field: str, bidxs: list[str]) -> dict[str, str]:
        """Blind index -> the beneficiary holding it, of those given."""
        found: dict[str, str] = {}
        for start in range(0, len(bidxs), 1000):
            query = {"programme_id": programme_id, field: {"$in": bidxs[start : start + 1000]}}
            async for doc in self.people.find(query, {field: 1}):
                found[doc[field]] = doc["_id"]
        return found

    async def insert_people(self, docs: list[Doc]) -> set[str]:
        """Insert new beneficiaries; the ids refused by a unique index (registered meanwhile by
        another upload, or already there: a replay)."""
        return {docs[n]["_id"] for n in await _insert_new(self.people, docs)}

    async def person(self, programme_id: str, beneficiary_id: str) -> Doc | None:
        return await self.people.find_one({"_id": beneficiary_id, "programme_id": programme_id})

    async def people_of(self, programme_id: str) -> list[Doc]:
        return [d async for d in self.people.find({"programme_id": programme_id}).sort("_id", 1)]

    async def people_by_id(self, ids: list[str]) -> dict[str, Doc]:
        found: dict[str, Doc] = {}
        for start in range(0, len(ids), 1000):
            async for doc in self.people.find({"_id": {"$in": ids[start : start + 1000]}}):
                found[doc["_id"]] = doc
        return found

    async def update_person(
        self, doc: Doc, fields: Doc, push: Doc | None = None, unset: Doc | None = None
    ) -> Doc | None:
        """Set ``fields`` (and unset ``unset``) if the beneficiary is still at the version read
        (None: it changed)."""
        update: Doc = {"$set": fields, "$inc": {"version": 1}}
        if push:
            update["$push"] = push
        if unset:
            update["$unset"] = unset
        return await self.people.find_one_and_update(
            {"_id": doc["_id"], "version": doc["version"]},
            update,
            return_document=ReturnDocument.AFTER,
        )

    async def refuse(self, docs: list[Doc]) -> None:
        """Record refused registrations; one refused before is left as it was."""
        await _insert_new(self.refusals, docs)

    async def refusals_of(self, programme_id: str) -> list[Doc]:
        query = {"programme_id": programme_id}
        return [d async for d in self.refusals.find(query).sort("at", 1)]

    # --- runs and claims -------------------------------------------------------------------

    async def run(self, merchant_id: str, run_id: str) -> Doc | None:
        return await self.runs.find_one({"_id": run_id, "merchant_id": merchant_id})

    async def runs_of(self, programme_id: str) -> list[Doc]:
        fields = {"planned": 0, "exceptions": 0}
        cursor = self.runs.find({"programme_id": programme_id}, fields).sort("created_at", 1)
        return [d async for d in cursor]

    async def set_run(self, run_id: str, guard: Doc, fields: Doc) -> Doc | None:
        """Set ``fields`` on the run if it matches ``guard``; the run after, or None."""
        return await self.runs.find_one_and_update(
            {"_id": run_id, **guard}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )

    async def claimed(self, keys: list[str]) -> dict[str, Doc]:
        found: dict[str, Doc] = {}
        for start in range(0, len(keys), 1000):
            async for doc in self.claims.find({"_id": {"$in": keys[start : start + 1000]}}):
                found[doc["_id"]] = doc
        return found

    async def claim(self, docs: list[Doc]) -> None:
        """Store claims; those that exist already are left as they are (read them after)."""
        await _insert_new(self.claims, docs)

    async def claims_of(self, run_id: str) -> list[Doc]:
        return [d async for d in self.claims.find({"run_id": run_id}).sort("_id", 1)]

    async def next_attempt(self, key: str, run_id: str, attempt: int, batch: str) -> bool:
        """Move a claim from ``attempt`` to the next, naming the batch that will carry it; False
        when another retry moved it first."""
        moved = await self.claims.update_one(
            {"_id": key, "run_id": run_id, "attempt": attempt},
            {"$set": {"attempt": attempt + 1, "batch_id": batch}},
        )
        return moved.modified_count == 1

    async def journal_of(self, payment_ids: list[str]) -> list[Doc]:
        """The journal entries of payouts (ids ``<payment id>:reserve|settle|release``)."""
        ids = [f"{p}:{k}" for p in payment_ids for k in ("reserve", "settle", "release")]
        found: list[Doc] = []
        for start in range(0, len(ids), 1500):
            found += [
                d async for d in self.journal.find({"_id": {"$in": ids[start : start + 1500]}})
            ]
        return found
