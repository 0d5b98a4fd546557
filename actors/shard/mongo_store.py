"""The shard's payment store on MongoDB: the group-committing writer of actors/writer.py (one
transaction per tick, journal included) and the collections, with reads grouped the same way,
and the webhook port (actors/webhook_port.py). Each method is the query the shard made itself
before the store existed: no extra round trip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo import AsyncMongoClient

from actors.webhook_port import MongoWebhooks
from actors.writer import Committed, ShardWriter
from infra.group_commit import GroupCommit
from infra.storage.mongo import Collections, Doc
from switch.ledger import Entry
from switch.payments import Payment
from switch.platform import effective


class MongoPaymentStore:
    def __init__(self, shard: int, client: AsyncMongoClient[Doc], cols: Collections) -> None:
        self.shard = shard
        self.client = client
        self.cols = cols
        self.versions: dict[str, int] = {}
        self.seqs: dict[str, int] = {}
        self.writer: ShardWriter | None = None
        self._reads: GroupCommit[str, Doc | None] = GroupCommit(self._read_docs)
        self.webhook_port = MongoWebhooks(cols)

    def bind(
        self,
        payment_of: Callable[[str], Payment],
        on_commit: Callable[[Committed], None],
        seal: Callable[[Doc, Payment], Doc] | None,
    ) -> None:
        self.writer = ShardWriter(
            self.shard,
            self.client,
            self.cols,
            payment_of,
            self.versions,
            self.seqs,
            on_commit,
            seal=seal,
        )

    def _writer(self) -> ShardWriter:
        assert self.writer is not None, "bind() first"
        return self.writer

    async def start(self) -> None:
        self._reads.start()
        self.webhook_port.start()
        await self._writer().reclaim()
        self._writer().start()

    async def stop(self) -> None:
        await self._writer().stop()
        await self._reads.stop()
        await self.webhook_port.stop()

    async def insert(self, payment: Payment, entries: list[Entry]) -> str:
        return await self._writer().insert(payment, entries)

    async def post(self, entry: Entry) -> str:
        return await self._writer().post(entry)

    def touch(self, payment_id: str, entries: list[Entry]) -> None:
        self._writer().touch(payment_id, entries)

    def drop_inflight(self, payment_id: str) -> None:
        self._writer().drop_inflight(payment_id)

    def backlog(self) -> int:
        return self.writer.backlog() if self.writer is not None else 0

    async def read(self, payment_id: str) -> Doc | None:
        return await self._reads.submit(payment_id)

    async def _read_docs(self, ids: list[str]) -> list[Doc | None]:
        found = {d["_id"]: d async for d in self.cols.payments.find({"_id": {"$in": ids}})}
        return [found.get(i) for i in ids]

    async def read_many(self, ids: list[str]) -> list[Doc]:
        return [d async for d in self.cols.payments.find({"_id": {"$in": ids}})]

    async def balances(self) -> dict[str, int]:
        found = self.cols.balances.find({"shard": self.shard})
        return {doc["_id"]: int(doc["balance"]) async for doc in found}

    async def inflight(self) -> list[str]:
        return [d["_id"] async for d in self.cols.inflight.find({"shard": self.shard})]

    async def merchant(self, merchant_id: str) -> Doc:
        """As the switch applies it: a sub-merchant's own settings, else its parent's."""
        doc = await self.cols.merchants.find_one({"_id": merchant_id}) or {}
        parent_id = doc.get("parent_id")
        parent = await self.cols.merchants.find_one({"_id": parent_id}) if parent_id else None
        return effective(doc, parent)

    async def by_phone_index(self, merchant_id: str, bidx: str, limit: int | None) -> list[Doc]:
        query = {"merchant_id": merchant_id, "phone_bidx": bidx}
        cursor = self.cols.payments.find(query).sort("created_at", -1)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [doc async for doc in cursor]

    def webhooks(self) -> MongoWebhooks:
        return self.webhook_port

    async def erase(self, payment_id: str, fields: dict[str, Any]) -> None:
        await self.cols.payments.update_one({"_id": payment_id}, {"$set": fields})
