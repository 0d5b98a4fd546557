"""The hub scenario's money checks (bench/hubcheck.py) and the payee's reject share."""

from __future__ import annotations

from typing import Any

from bench.hub import REJECT_EVERY, rejected
from bench.hubcheck import cents, check_hub


def _doc(tid: str, state: str, payer: str, payee: str, amount: int, *events: str) -> dict[str, Any]:
    history = [{"event": "reserve"}, *({"event": e} for e in events)]
    return {"_id": tid, "state": state, "payer": payer, "payee": payee, "amount": amount,
            "history": history}  # fmt: skip


def _pos(position: str, peak: str = "0", reserved: str = "0") -> dict[str, str]:
    return {"position": position, "peak": peak, "reserved": reserved,
            "net_debit_cap": "1000", "liquidity_cover": "800"}  # fmt: skip


GOOD_DOCS = [
    _doc("t1", "committed", "A", "B", 30000, "commit"),
    _doc("t2", "aborted_rejected", "B", "A", 5000, "reject"),
    _doc("t3", "committed", "B", "A", 10000, "commit"),
]
GOOD_POS = {"A": _pos("200", peak="300"), "B": _pos("-200")}


def test_a_clean_run_passes() -> None:
    out = check_hub([("k1", "t1"), ("k2", "t2"), ("k3", "t3")], GOOD_DOCS, GOOD_POS, True)
    assert out.ok, out.as_json()
    assert (out.prepared, out.committed, out.rejected) == (3, 2, 1)


def test_each_fault_is_caught() -> None:
    answered = [("k1", "t1"), ("k2", "t2"), ("k3", "t3")]
    assert check_hub([*answered, ("k4", "t4")], GOOD_DOCS, GOOD_POS, True).missing == ["t4"]
    assert check_hub([*answered, ("k1", "t9")], GOOD_DOCS, GOOD_POS, True).key_with_many_ids
    open_doc = [*GOOD_DOCS[:2], _doc("t3", "reserved", "B", "A", 10000)]
    assert check_hub(answered, open_doc, GOOD_POS, True).not_final == ["t3"]
    twice = [*GOOD_DOCS[:2], _doc("t3", "committed", "B", "A", 10000, "commit", "expire")]
    assert check_hub(answered, twice, GOOD_POS, True).ended_twice == ["t3"]
    skewed = {"A": _pos("201"), "B": _pos("-200")}
    bad = check_hub(answered, GOOD_DOCS, skewed, True)
    assert bad.position_mismatch and bad.positions_sum == 100 and not bad.ok
    assert check_hub(answered, GOOD_DOCS, {**GOOD_POS, "A": _pos("200", "801")}, True).over_cap
    left = check_hub(answered, GOOD_DOCS, {**GOOD_POS, "B": _pos("-200", reserved="5")}, True)
    assert left.reserved_left == {"B": 500}
    assert not check_hub(answered, GOOD_DOCS, GOOD_POS, False).ok


def test_cents_and_the_reject_share() -> None:
    assert [cents(t) for t in ("1500", "-1500.5", "0.05", "-0")] == [150000, -150050, 5, 0]
    share = sum(rejected(f"htr_{i}") for i in range(20_000)) / 20_000
    assert abs(share - 1 / REJECT_EVERY) < 0.01


def test_batches_are_the_distinct_decision_times() -> None:
    from datetime import UTC, datetime, timedelta

    from bench.hubcheck import batch_stats

    t0 = datetime(2026, 12, 6, tzinfo=UTC)
    at = [t0, t0, t0 + timedelta(milliseconds=40), t0 + timedelta(milliseconds=100)]
    docs = [
        {"history": [{"at": at[0]}, {"at": at[2]}]},
        {"history": [{"at": at[1]}, {"at": at[3]}]},
    ]
    out = batch_stats(docs)
    assert out == {"batches": 3, "steps": 4, "steps_per_batch": 1.33, "max_steps_in_a_batch": 2,
                   "gap_ms_p50": 60.0}  # fmt: skip
    assert batch_stats([]) == {"batches": 0}
