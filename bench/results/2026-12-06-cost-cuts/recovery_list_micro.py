"""Run from the repository root: PYTHONPATH=. python bench/results/2026-12-06-cost-cuts/recovery_list_micro.py 2000

Server CPU of the two recovery lists on the embedded SecantusDB: (A) a row per payment in an
``inflight`` collection (inserted with the payment, deleted at settling) against (B) a marker in
the payment (a sparse index), removed by an update at settling. Same payments, same batches
(20 per command, as the shard's ticks), write concern majority + journal."""

import asyncio, os, sys, tempfile
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, DeleteOne, IndexModel, InsertOne, UpdateOne, WriteConcern

from infra.storage.embedded import EmbeddedMongo

N, BATCH = int(sys.argv[1]) if len(sys.argv) > 1 else 3000, 20


def cpu(pid: int) -> float:
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def payment(i: int, scheme: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    doc = {"_id": f"pay_s1_{scheme}{i:08d}", "merchant_id": f"m{i % 8}", "shard": 1, "phone_bidx": f"b{i}",
           "created_at": now, "updated_at": now, "state": "succeeded", "status": "succeeded",
           "version": 3, "notified_seq": 0, "blob": "x" * 2200,
           "history": [{"seq": s, "at": now, "event": "e", "to_state": "s", "detail": {}} for s in (1, 2, 3)]}
    if scheme == "B":
        doc["inflight"] = 1
    return doc


async def main() -> None:
    tmp = tempfile.mkdtemp(prefix="bench-micro-")
    server = EmbeddedMongo(tmp)
    uri = server.start()
    assert server._proc is not None
    pid = server._proc.pid
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    db = client.get_database("micro", write_concern=WriteConcern(w="majority", j=True))
    base = [IndexModel([("merchant_id", ASCENDING), ("phone_bidx", ASCENDING)], sparse=True),
            IndexModel([("merchant_id", ASCENDING), ("created_at", DESCENDING)])]
    await db["payA"].create_indexes(base)
    await db["payB"].create_indexes([*base, IndexModel([("inflight", ASCENDING)], sparse=True)])
    out: dict[str, tuple[float, float]] = {}
    for scheme in ("A", "B", "A", "B"):
        pay = db[f"pay{scheme}"]
        docs = [payment(i + len(out) * N, scheme) for i in range(N)]
        c0 = cpu(pid)
        for k in range(0, N, BATCH):
            chunk = docs[k:k + BATCH]
            if scheme == "A":
                await db["inflight"].bulk_write([InsertOne({"_id": d["_id"], "shard": 1}) for d in chunk])
            await pay.insert_many(chunk)
        c1 = cpu(pid)
        for k in range(0, N, BATCH):
            ids = [d["_id"] for d in docs[k:k + BATCH]]
            if scheme == "A":
                await db["inflight"].bulk_write([DeleteOne({"_id": i}) for i in ids], ordered=False)
            else:
                await pay.bulk_write([UpdateOne({"_id": i}, {"$unset": {"inflight": ""}, "$set": {"notified_seq": 3}}) for i in ids], ordered=False)
        c2 = cpu(pid)
        out[f"{scheme}{len(out)}"] = (c1 - c0, c2 - c1)
        print(f"{scheme}: insert {1e3 * (c1 - c0) / N:.3f} ms/payment, settle {1e3 * (c2 - c1) / N:.3f} ms/payment, total {1e3 * (c2 - c0) / N:.3f}", flush=True)
    await client.close()
    server.stop()


asyncio.run(main())
