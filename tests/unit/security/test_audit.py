"""The hash-chained audit trail: pure chaining and verification, and the log's appends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.audit import AuditLog
from switch.security.audit import GENESIS, canonical, chain, new_record, record_hash, verify

from .fakes import FakeCollection

AT = datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC)


def make_log(n: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        rec = chain(
            prev,
            new_record(
                seq,
                AT + timedelta(seconds=seq),
                f"user:u_{seq % 3}",
                "merchant.limits.update",
                "mch_1",
                before={"daily_max": "1000.00"},
                after={"daily_max": f"{seq}000.00"},
                request_id=f"req_{seq}",
            ),
        )
        records.append(rec)
        prev = rec["hash"]
    return records


def test_an_untouched_log_verifies() -> None:
    result = verify(make_log(10))
    assert result.ok and result.checked == 10 and result.first_bad_seq is None


def test_record_shape_and_hash() -> None:
    first = make_log(1)[0]
    assert set(first) == {
        "seq", "at", "actor", "action", "target", "before", "after", "request_id", "prev_hash",
        "hash",
    }  # fmt: skip
    assert first["prev_hash"] == GENESIS
    assert first["at"] == "2026-11-27T12:00:01.123Z"
    assert len(first["hash"]) == 64
    assert first["hash"] == record_hash({k: v for k, v in reversed(list(first.items()))})


def test_canonical_form_ignores_key_order_and_the_id() -> None:
    a = {"b": 1, "a": {"y": 2, "x": 1}, "hash": "h"}
    b = {"_id": 7, "a": {"x": 1, "y": 2}, "b": 1}
    assert canonical(a) == canonical(b) == b'{"a":{"x":1,"y":2},"b":1}'


def test_an_altered_record_is_found_at_its_seq() -> None:
    log = make_log(10)
    log[4]["after"] = {"daily_max": "999999999.00"}
    result = verify(log)
    assert not result.ok
    assert result.first_bad_seq == 5
    assert result.checked == 4
    assert "altered" in result.reason


def test_an_altered_and_rehashed_record_is_still_found_at_its_seq() -> None:
    log = make_log(10)
    log[4]["actor"] = "user:someone_else"
    log[4] = chain(log[4]["prev_hash"], log[4])  # the forger recomputes its hash
    result = verify(log)
    assert not result.ok and result.first_bad_seq == 5


def test_a_removed_record_is_found() -> None:
    log = make_log(10)
    del log[6]
    result = verify(log)
    assert not result.ok and result.first_bad_seq == 7
    assert "expected record 7" in result.reason


def test_swapped_records_are_found() -> None:
    log = make_log(10)
    log[2], log[3] = log[3], log[2]
    assert verify(log).first_bad_seq == 3


def test_a_cut_tail_needs_an_anchor() -> None:
    log = make_log(10)
    anchor = (10, log[9]["hash"])
    assert verify(log[:8]).ok  # a chain alone cannot see a missing tail
    result = verify(log[:8], anchor=anchor)
    assert not result.ok and result.first_bad_seq == 10
    assert verify(log, anchor=anchor).ok


def test_values_are_stored_as_plain_json() -> None:
    rec = new_record(1, AT, "system", "key.rotate", "ring", after={"when": AT})
    assert rec["after"] == {"when": "2026-11-27T12:00:00.123456+00:00"}
    with pytest.raises(ValueError, match="actor"):
        new_record(1, AT, "", "x", "y")


async def test_concurrent_appenders_build_one_chain() -> None:
    """Three api processes (three AuditLog objects on one collection) append at once."""
    col = FakeCollection()
    logs = [AuditLog(col, clock=lambda: AT) for _ in range(3)]  # type: ignore[arg-type]

    async def append_many(log: AuditLog, who: int) -> None:
        for i in range(20):
            await log.append(f"user:u_{who}", "payout.approve", f"pay_{who}_{i}")

    await asyncio.gather(*(append_many(log, n) for n, log in enumerate(logs)))
    assert sorted(col.docs) == list(range(1, 61))
    assert col.inserts > 60  # they did collide, and recovered
    result = await logs[0].verify()
    assert result.ok and result.checked == 60
    assert len({d["target"] for d in col.docs.values()}) == 60


async def test_log_verify_finds_tampering_in_the_store() -> None:
    col = FakeCollection()
    log = AuditLog(col, clock=lambda: AT)  # type: ignore[arg-type]
    for i in range(6):
        await log.append("client:cli_1", "client.rotate", f"cli_{i}", before={"v": i})
    head = await log.head()
    assert head[0] == 6
    col.docs[3]["before"] = {"v": 42}
    result = await log.verify()
    assert not result.ok and result.first_bad_seq == 3


async def test_list_pages_and_filters() -> None:
    col = FakeCollection()
    log = AuditLog(col, clock=lambda: AT)  # type: ignore[arg-type]
    for i in range(10):
        await log.append("system" if i % 2 else "user:u_1", "a.b", f"t{i}", request_id=f"r{i}")
    page = await log.list(after_seq=2, limit=3)
    assert [r["seq"] for r in page] == [3, 4, 5]
    assert "_id" not in page[0]
    mine = await log.list(filters={"actor": "user:u_1"})
    assert [r["seq"] for r in mine] == [1, 3, 5, 7, 9]


async def test_list_refuses_operator_injection() -> None:
    log = AuditLog(FakeCollection())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="string"):
        await log.list(filters={"actor": {"$ne": None}})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="cannot filter"):
        await log.list(filters={"$where": "1"})
