"""``python -m bench.find --payments 1000000 --out DIR``: seed an embedded SecantusDB with payment
documents shaped as the shard stores them (switch/payments.py ``to_doc``: history, provider refs,
sealed-size phone, blind index; the switch's own indexes), then time the searches of
GET /v1/payments (infra/finder.py, the very code the api runs) and a day's summary read.

One big merchant holds 90 % of the payments (the hard case: every window is dense), spread
evenly over ``--days``; a second holds the rest. Writes ``find.json`` and ``find.md`` to DIR."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infra.finder import created_between, find, whole
from infra.storage.embedded import EmbeddedMongo
from infra.storage.mongo import collections, connect, ensure_indexes
from switch.payments import ProviderRefs, apply, new_payment, to_doc
from switch.reports import SUMMARY_FIELDS
from switch.search import decode_cursor, encode_cursor, narrowed, parse_filters
from switch.security.crypto import blind_index
from switch.states import Event

KEY = b"b" * 32
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BIG, SMALL = "mch_BIG", "mch_SMALL"


def _doc(i: int, merchant: str, at: datetime) -> dict[str, Any]:
    phone = f"2547{i % 10**8:08d}"
    p = new_payment(
        payment_id=f"pay_s0_{i:010d}",
        merchant_id=merchant,
        method="mpesa_stk",
        amount_minor=(100 + i % 5_000) * 100,
        phone=phone,
        reference=f"INV{i % 100_000}",
        description="Order",
        metadata={"order": i},
        idem_key=f"k{i}",
        request_hash="h" * 64,
        at=at,
        fee_minor=150,
    )
    sent = apply(p, Event.ACCEPTED, source="provider", at=at + timedelta(seconds=1))
    p = sent or p
    outcome = Event.SUCCEED if i % 7 else Event.DECLINE
    refs = ProviderRefs(receipt=f"UKR{i:07d}", result_code="0")
    done = apply(p, outcome, source="callback", at=at + timedelta(seconds=9), provider=refs)
    doc = to_doc(done or p, 0)
    doc["phone"] = "v1.m_" + "x" * 90  # the size of a sealed phone
    doc["phone_bidx"] = blind_index(phone, KEY)
    return doc


async def seed(cols: Any, payments: int, days: int, batch: int = 2_000) -> float:
    began = time.perf_counter()
    span = timedelta(days=days).total_seconds()
    for start in range(0, payments, batch):
        docs = []
        for i in range(start, min(payments, start + batch)):
            merchant = BIG if i % 10 else SMALL
            at = NOW - timedelta(seconds=span * (1 - i / payments))
            docs.append(_doc(i, merchant, at.replace(microsecond=at.microsecond // 1000 * 1000)))
        await cols.payments.insert_many(docs, ordered=False)
        if start % 100_000 == 0:
            print(f"seeded {start:,} in {time.perf_counter() - began:.0f} s", flush=True)
    return time.perf_counter() - began


async def _time(label: str, runs: int, go: Any) -> dict[str, Any]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = await go()
        times.append(1000 * (time.perf_counter() - began))
    print(f"{label}: median {statistics.median(times):.1f} ms {result}", flush=True)
    return {
        "query": label,
        "median_ms": round(statistics.median(times), 1),
        "max_ms": round(max(times), 1),
        "result": result,
    }


async def queries(cols: Any, payments: int) -> list[dict[str, Any]]:
    since = NOW - timedelta(days=400)

    def page(query: dict[str, str], merchant: str = BIG) -> Any:
        async def go() -> str:
            f = parse_filters("payments", query)
            if f.phone:
                f = narrowed(f, blind_index(f.phone, KEY), None)
            found = await find(cols.payments, merchant, f, None, since, NOW)
            await whole(cols.payments, [d["_id"] for d in found.docs])
            return f"{len(found.docs)} found, {found.scanned} read"

        return go

    async def deep() -> str:
        f = parse_filters("payments", {"limit": "50"})
        pos, read = None, 0
        for _ in range(20):
            found = await find(cols.payments, BIG, f, pos, since, NOW)
            read += found.scanned
            cursor = encode_cursor(KEY, BIG, f, found.next) if found.next else None
            pos = decode_cursor(KEY, BIG, replace(f, cursor=cursor))
        return f"20 pages, {read} read"

    async def day_summary() -> str:
        n = 0
        async for w in created_between(
            cols.payments, BIG, NOW - timedelta(days=1), NOW, SUMMARY_FIELDS
        ):
            n += len(w)
        return f"{n} payments read"

    i = payments - 7  # a recent payment of the big merchant
    old = payments // 20  # one from near the start of the range
    day = (NOW - timedelta(days=3)).date().isoformat()
    return [
        await _time("first page, no filter (50)", 5, page({})),
        await _time("status=failed (1 in 7 payments)", 5, page({"status": "failed"})),
        await _time(
            "amount 4,000-4,100 KES", 5, page({"amount_min": "4000", "amount_max": "4100"})
        ),
        await _time(
            "one Nairobi day, 3 days ago", 5, page({"created_since": day, "created_until": day})
        ),
        await _time("phone (blind index), recent", 5, page({"phone": f"07{i % 10**8:08d}"})),
        await _time("receipt of a recent payment", 5, page({"receipt": f"UKR{i:07d}"})),
        await _time(
            "receipt of an old payment (a budgeted scan)", 3, page({"receipt": f"UKR{old:07d}"})
        ),
        await _time("20 pages deep by cursor", 3, deep),
        await _time("small merchant, first page", 5, page({}, SMALL)),
        await _time("a day's summary read (projection)", 3, day_summary),
    ]


async def main(payments: int, days: int, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-find-") as tmp:
        db = EmbeddedMongo(tmp)
        uri = db.start()
        try:
            client = connect(uri)
            await ensure_indexes(client, "bench")
            cols = collections(client, "bench")
            took = await seed(cols, payments, days)
            results = await queries(cols, payments)
        finally:
            db.stop()
    _write(out, payments, days, took, results)


def _write(out: Path, payments: int, days: int, took: float, results: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary = {
        "payments": payments,
        "days": days,
        "seed_seconds": round(took, 1),
        "seed_per_second": round(payments / took),
        "queries": results,
    }
    (out / "find.json").write_text(json.dumps(summary, indent=2))
    lines = [
        f"# Find: {payments:,} payments over {days} days (90 % one merchant)",
        "",
        f"Seeded in {took:.0f} s ({payments / took:,.0f}/s, with the switch's indexes).",
        "",
        "| query | median ms | max ms | result |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {r['query']} | {r['median_ms']} | {r['max_ms']} | {r['result']} |" for r in results
    ]
    (out / "find.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.find", description=__doc__)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--out", type=Path, default=Path("bench/results") / f"{datetime.now(UTC).date()}-find"
    )
    args = parser.parse_args()
    random.seed(1)
    asyncio.run(main(args.payments, args.days, args.out))
