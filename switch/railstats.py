"""Success rate and latency per rail, and provider call latency, read from the switch's own
Prometheus samples (``switch_payments`` counted and ``switch_payment_duration_seconds`` observed
by the shards, ``switch_provider_call_seconds`` observed by the gateways). Pure: the api gathers
the samples, this turns them into the console's figures.

The counters live in each process since it started, so the figures are "since the switch
started": a restarted actor starts counting again. A payment counts once it is final
(succeeded, failed or expired); the success rate is succeeded over final, None before any. A
rail's latency is created to final over the payments the provider answered (succeeded or
failed: an expired one's time is the expiry itself), as the alert rules take it.
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
DURATION_BUCKETS = "switch_payment_duration_seconds_bucket"
ANSWERED = ("succeeded", "failed")
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
    over every process, the success rate, and created to final at p50 and p99 (seconds; None
    before any answered payment)."""
    counts: dict[tuple[str, str], float] = {}
    durations: dict[str, dict[float, float]] = {}
    for s in samples:
        if s.name == PAYMENTS:
            key = (s.labels.get("method", ""), s.labels.get("status", ""))
            counts[key] = counts.get(key, 0.0) + s.value
        elif s.name == DURATION_BUCKETS and s.labels.get("outcome") in ANSWERED:
            _add_bucket(durations.setdefault(s.labels.get("method", ""), {}), s)
    rows = []
    for method, provider in methods.items():
        final = {status: int(counts.get((method, status), 0)) for status in FINAL}
        done = sum(final.values())
        pairs = list(durations.get(method, {}).items())
        rows.append(
            {
                "method": method,
                "provider": provider,
                **final,
                "final": done,
                "success_rate": round(final["succeeded"] / done, 4) if done else None,
                "p50_s": _s(quantile(0.5, pairs)),
                "p99_s": _s(quantile(0.99, pairs)),
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
        _add_bucket(buckets.setdefault(key, {}), s)
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


def _add_bucket(per: dict[float, float], s: Sample) -> None:
    """The same bucket of another process (or another outcome) adds up."""
    bound = float(s.labels.get("le", "+Inf"))
    per[bound] = per.get(bound, 0.0) + s.value


def _s(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 2)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)
