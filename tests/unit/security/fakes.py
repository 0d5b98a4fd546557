"""A tiny in-memory stand-in for the few AsyncCollection calls the audit log makes, yielding to
the event loop between steps so that concurrent appenders interleave as separate processes do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from pymongo.errors import DuplicateKeyError

Doc = dict[str, Any]


def _matches(doc: Doc, query: Doc) -> bool:
    for name, cond in query.items():
        value = doc.get(name)
        if isinstance(cond, dict):
            if set(cond) != {"$gt"}:
                raise NotImplementedError(cond)
            if not (value is not None and value > cond["$gt"]):
                return False
        elif value != cond:
            return False
    return True


class Cursor:
    def __init__(self, docs: list[Doc]) -> None:
        self._docs = docs

    def sort(self, key: str, direction: int) -> Cursor:
        self._docs.sort(key=lambda d: d[key], reverse=direction < 0)
        return self

    def limit(self, n: int) -> Cursor:
        self._docs = self._docs[:n]
        return self

    async def __aiter__(self) -> AsyncIterator[Doc]:  # type: ignore[misc]
        for doc in self._docs:
            await asyncio.sleep(0)
            yield dict(doc)


class FakeCollection:
    def __init__(self) -> None:
        self.docs: dict[Any, Doc] = {}
        self.inserts = 0

    async def insert_one(self, doc: Doc) -> None:
        await asyncio.sleep(0)
        self.inserts += 1
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("E11000 duplicate key")
        self.docs[doc["_id"]] = dict(doc)

    async def find_one(
        self, query: Doc, projection: Doc | None = None, sort: list[tuple[str, int]] | None = None
    ) -> Doc | None:
        await asyncio.sleep(0)
        found = [d for d in self.docs.values() if _matches(d, query)]
        if sort:
            key, direction = sort[0]
            found.sort(key=lambda d: d[key], reverse=direction < 0)
        return dict(found[0]) if found else None

    def find(self, query: Doc, batch_size: int = 0) -> Cursor:
        return Cursor([d for d in self.docs.values() if _matches(d, query)])
