"""Success rate per rail and provider call latency, read from the switch's own Prometheus
samples (``switch_payments`` counted by the shards, ``switch_provider_call_seconds`` observed by
the gateways). Pure: the api gathers the samples, this turns them into the console's figures.

The counters live in each process since it started, so the figures are "since the switch
started": a restarted actor starts counting again. A payment counts once it is final
(succeeded, failed or expired); the success rate is succeeded over final, None before any.
Latency percentiles are estimated from the histogram's buckets the way Prometheus'
``histogram_quantile`` does (linear within the bucket that holds the rank).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PAYMENTS = "switch_payments_total"
BUCKETS = "switch_provider_call_seconds_bucket"
FINAL = ("succeeded", "failed", "expired")


@dataclass(frozen=True, slots=True)
class Sample:
    """One Prometheus sample: its full name (``..._total``, ``..._bucket``), labels, value."""

    name: str
    labels: Mapping[str, str]
    value: float


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a histogram given as (upper bound, cumulative count) pairs, or None
    when it holds no observation. Past the last finite bound it answers that bound."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def rail_rows(samples: Iterable[Sample], methods: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per rail in ``methods`` (method -> provider), in that order: final counts summed
    over every process, and the success rate."""
    counts: dict[tuple[str, str], float] = {}
    for s in samples:
        if s.name == PAYMENTS:
            key = (s.labels.get("method", ""), s.labels.get("status", ""))
            counts[key] = counts.get(key, 0.0) + s.value
    rows = []
    for method, provider in methods.items():
        final = {status: int(counts.get((method, status), 0)) for status in FINAL}
        done = sum(final.values())
        rows.append(
            {
                "method": method,
                "provider": provider,
                **final,
                "final": done,
                "success_rate": round(final["succeeded"] / done, 4) if done else None,
            }
        )
    return rows


def latency_rows(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    """One row per (provider, operation) that was called: calls, p50 and p95 in milliseconds."""
    buckets: dict[tuple[str, str], dict[float, float]] = {}
    for s in samples:
        if s.name != BUCKETS:
            continue
        key = (s.labels.get("provider", ""), s.labels.get("operation", ""))
        bound = float(s.labels.get("le", "+Inf"))
        per = buckets.setdefault(key, {})
        per[bound] = per.get(bound, 0.0) + s.value  # the same bucket of another process
    rows = []
    for (provider, operation), per in sorted(buckets.items()):
        pairs = list(per.items())
        calls = int(max(per.values(), default=0))
        if calls == 0:
            continue
        rows.append(
            {
                "provider": provider,
                "operation": operation,
                "calls": calls,
                "p50_ms": _ms(quantile(0.5, pairs)),
                "p95_ms": _ms(quantile(0.95, pairs)),
            }
        )
    return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
