"""The console's rail figures from Prometheus samples (switch/railstats.py)."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from switch.railstats import Sample, latency_rows, quantile, rail_rows


def _samples(registry: CollectorRegistry, actor: str) -> list[Sample]:
    return [
        Sample(s.name, {**s.labels, "actor": actor}, s.value)
        for family in registry.collect()
        for s in family.samples
    ]


def test_quantile_interpolates_within_the_bucket_like_prometheus() -> None:
    # 10 observations up to 0.1, 10 more up to 0.2: the median is the first bucket's top.
    buckets = [(0.1, 10.0), (0.2, 20.0), (float("inf"), 20.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.75, buckets) == pytest.approx(0.15)
    assert quantile(0.25, buckets) == pytest.approx(0.05)


def test_quantile_past_the_last_bound_answers_that_bound_and_none_when_empty() -> None:
    assert quantile(0.95, [(0.5, 1.0), (float("inf"), 10.0)]) == 0.5
    assert quantile(0.5, [(0.5, 0.0), (float("inf"), 0.0)]) is None
    assert quantile(0.5, []) is None


def test_rail_rows_count_final_statuses_of_every_process() -> None:
    shards = []
    for actor, outcomes in (("shard-0", ["succeeded"] * 3 + ["failed"]), ("shard-1", ["expired"])):
        registry = CollectorRegistry()
        payments = Counter("switch_payments", "", ["method", "status"], registry=registry)
        for status in ["pending", "processing", *outcomes]:
            payments.labels("mpesa_stk", status).inc()
        payments.labels("mpesa_b2c", "processing").inc()  # not final: not counted
        shards.extend(_samples(registry, actor))
    rows = rail_rows(shards, {"mpesa_stk": "mpesa", "mpesa_b2c": "mpesa", "sacco": "sacco"})
    assert rows[0] == {
        "method": "mpesa_stk",
        "provider": "mpesa",
        "succeeded": 3,
        "failed": 1,
        "expired": 1,
        "final": 5,
        "success_rate": 0.6,
        "p50_s": None,  # no duration observed in these samples
        "p99_s": None,
    }
    assert [(r["method"], r["final"], r["success_rate"]) for r in rows[1:]] == [
        ("mpesa_b2c", 0, None),
        ("sacco", 0, None),
    ]


def test_rail_latency_is_created_to_final_over_answered_payments_of_every_shard() -> None:
    merged: list[Sample] = []
    for actor, seconds in (("shard-0", [3.0] * 90), ("shard-1", [15.0] * 10)):
        registry = CollectorRegistry()
        duration = Histogram(
            "switch_payment_duration_seconds",
            "",
            ["method", "outcome"],
            registry=registry,
            buckets=(5, 10, 20, 300),
        )
        for s in seconds:
            duration.labels("mpesa_stk", "succeeded" if s < 10 else "failed").observe(s)
        duration.labels("mpesa_stk", "expired").observe(300)  # the expiry: left out
        merged.extend(_samples(registry, actor))
    (row,) = rail_rows(merged, {"mpesa_stk": "mpesa"})
    assert row["p50_s"] == pytest.approx(2.78, abs=0.01)  # rank 50 of 90 in (0, 5]
    assert row["p99_s"] == pytest.approx(19.0)  # rank 99 of 100: 9 of 10 in (10, 20]


def test_latency_rows_merge_processes_and_estimate_percentiles() -> None:
    bounds = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
    rng = random.Random(7)
    merged: list[Sample] = []
    observed: list[float] = []
    for actor in ("gateway-a", "gateway-b"):
        registry = CollectorRegistry()
        latency = Histogram(
            "switch_provider_call_seconds",
            "",
            ["provider", "operation"],
            registry=registry,
            buckets=bounds,
        )
        for _ in range(500):
            seconds = rng.uniform(0.01, 0.05)
            observed.append(seconds)
            latency.labels("mpesa", "stk_push").observe(seconds)
        latency.labels("airtel", "collection")  # a child never observed: no row
        merged.extend(_samples(registry, actor))
    (row,) = latency_rows(merged)
    assert (row["provider"], row["operation"], row["calls"]) == ("mpesa", "stk_push", 1000)
    observed.sort()
    # Within the bucket that holds the true value (interpolation, not the exact figure).
    assert 25.0 <= row["p50_ms"] <= 50.0
    assert abs(row["p50_ms"] - observed[500] * 1000) < 10
    assert 25.0 <= row["p95_ms"] <= 50.0
