"""Export jobs kept in MongoDB: the job (``exports``, its status) and the file it made
(``export_chunks``, ~256 KB of CSV each, in order), so any api worker can serve a download
whichever worker ran the job.

The worker running a job beats its ``heartbeat``; a job whose heartbeat stopped (its worker died)
is claimed by the next worker asked about it, which makes the file again as a new ``attempt``.
Chunks are named by attempt, and only the current attempt may finish the job, so a worker thought
dead that wakes up cannot mix its chunks into the new file or overwrite the outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
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


async def finish(cols: Collections, job_id: str, attempt: int, fields: dict[str, Any]) -> None:
    """The outcome of ``attempt``; nothing when a later attempt has taken the job over."""
    await jobs(cols).update_one({"_id": job_id, "attempt": attempt}, {"$set": fields})


async def beat(cols: Collections, job_id: str, attempt: int, now: datetime) -> None:
    await jobs(cols).update_one(
        {"_id": job_id, "attempt": attempt, "status": "running"}, {"$set": {"heartbeat": now}}
    )


async def claim_stale(cols: Collections, job_id: str, now: datetime, stale: datetime) -> Doc | None:
    """Take over a running job whose heartbeat is older than ``stale`` (its worker died): the
    job as claimed, with its new attempt number; None when it is not stale or another took it."""
    return await jobs(cols).find_one_and_update(
        {"_id": job_id, "status": "running", "heartbeat": {"$lt": stale}},
        {"$set": {"heartbeat": now}, "$inc": {"attempt": 1}},
        return_document=ReturnDocument.AFTER,
    )


def chunk_id(job_id: str, attempt: int | None, n: int) -> str:
    if attempt is None:  # a job made before attempts were counted
        return f"{job_id}:{n:06d}"
    return f"{job_id}:{attempt}:{n:06d}"


class ChunkWriter:
    """Collects CSV text and stores it a chunk at a time."""

    def __init__(self, cols: Collections, job_id: str, attempt: int) -> None:
        self.cols, self.job_id, self.attempt = cols, job_id, attempt
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
        doc = {
            "_id": chunk_id(self.job_id, self.attempt, self.count),
            "job": self.job_id,
            "data": data,
        }
        await chunks(self.cols).insert_one(doc)
        self.count += 1
        self.bytes += len(data)
        self.buffer, self.size = [], 0


async def read_chunks(job: Doc, cols: Collections) -> AsyncIterator[bytes]:
    for n in range(int(job.get("chunks", 0))):
        doc = await chunks(cols).find_one({"_id": chunk_id(job["_id"], job.get("attempt"), n)})
        if doc is not None:
            yield bytes(doc["data"])


def stamp(at: datetime) -> int:
    return int(at.timestamp())
