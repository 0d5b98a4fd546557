"""Export jobs kept in MongoDB: the job (``exports``, its status) and the file it made
(``export_chunks``, ~256 KB of CSV each, in order), so any api worker can serve a download
whichever worker ran the job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from infra.storage.mongo import Collections, Doc

CHUNK = 256 * 1024


def jobs(cols: Collections) -> AsyncCollection[Doc]:
    return cols.settings.database["exports"]


def chunks(cols: Collections) -> AsyncCollection[Doc]:
    return cols.settings.database["export_chunks"]


async def create(cols: Collections, job: Doc) -> None:
    await jobs(cols).insert_one(job)


async def get(cols: Collections, job_id: str, merchant_id: str) -> Doc | None:
    return await jobs(cols).find_one({"_id": job_id, "merchant_id": merchant_id})


async def finish(cols: Collections, job_id: str, fields: dict[str, Any]) -> None:
    await jobs(cols).update_one({"_id": job_id}, {"$set": fields})


class ChunkWriter:
    """Collects CSV text and stores it a chunk at a time."""

    def __init__(self, cols: Collections, job_id: str) -> None:
        self.cols, self.job_id = cols, job_id
        self.buffer: list[str] = []
        self.size = self.count = self.bytes = 0

    async def write(self, text: str) -> None:
        self.buffer.append(text)
        self.size += len(text)
        if self.size >= CHUNK:
            await self.flush()

    async def flush(self) -> None:
        if not self.buffer:
            return
        data = "".join(self.buffer).encode()
        doc = {"_id": f"{self.job_id}:{self.count:06d}", "job": self.job_id, "data": data}
        await chunks(self.cols).insert_one(doc)
        self.count += 1
        self.bytes += len(data)
        self.buffer, self.size = [], 0


async def read_chunks(cols: Collections, job_id: str, count: int) -> AsyncIterator[bytes]:
    for n in range(count):
        doc = await chunks(cols).find_one({"_id": f"{job_id}:{n:06d}"})
        if doc is not None:
            yield bytes(doc["data"])


def stamp(at: datetime) -> int:
    return int(at.timestamp())
