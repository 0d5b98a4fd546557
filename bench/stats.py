"""Percentiles and one-second time buckets. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PERCENTILES = (50.0, 95.0, 99.0)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0-100) of already sorted values, linearly interpolated between
    closest ranks (numpy's default); None for no values."""
    if not sorted_values:
        return None
    if not 0.0 <= p <= 100.0:
        raise ValueError("p must be within 0..100")
    rank = (len(sorted_values) - 1) * p / 100.0
    lo, hi = math.floor(rank), math.ceil(rank)
    if lo == hi:
        return float(sorted_values[lo])
    frac = rank - lo
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac)


def summary_ms(seconds: Iterable[float]) -> dict[str, float | int | None]:
    """count, mean, p50, p95, p99 and max of durations given in seconds, in milliseconds."""
    values = sorted(seconds)
    out: dict[str, float | int | None] = {"count": len(values)}
    out["mean"] = _ms(sum(values) / len(values)) if values else None
    for p in PERCENTILES:
        out[f"p{p:g}"] = _ms(percentile(values, p))
    out["max"] = _ms(values[-1]) if values else None
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


@dataclass(frozen=True, slots=True)
class Bucket:
    second: int  # seconds since the start of the run
    sent: int = 0
    accepted: int = 0
    completed: int = 0
    errors: int = 0
    p50_ms: float | None = None  # API answer
    p99_ms: float | None = None
    completion_p50_ms: float | None = None  # request to final webhook, by arrival
    completion_p99_ms: float | None = None


def bucket_index(t: float, t0: float, width: float = 1.0) -> int:
    return math.floor((t - t0) / width)


def timeline(
    t0: float,
    sent: Iterable[float],
    answers: Iterable[tuple[float, float, bool, bool]],
    completions: Iterable[tuple[float, float]],
    width: float = 1.0,
) -> list[Bucket]:
    """Per-``width`` buckets from ``t0``: requests sent (by send time), accepted answers and
    errors and answer latency percentiles (by answer time), completions and their latency
    percentiles (by arrival time). ``answers`` holds (answered_at, latency_s, accepted, error),
    ``completions`` (arrived_at, latency_s). Events before ``t0`` are dropped; empty buckets
    inside the span are kept so the chart shows gaps."""
    sent_n: dict[int, int] = {}
    acc_n: dict[int, int] = {}
    err_n: dict[int, int] = {}
    lat: dict[int, list[float]] = {}
    done_lat: dict[int, list[float]] = {}
    for t in sent:
        _bump(sent_n, t, t0, width)
    for at, latency, accepted, error in answers:
        i = bucket_index(at, t0, width)
        if i < 0:
            continue
        lat.setdefault(i, []).append(latency)
        if accepted:
            acc_n[i] = acc_n.get(i, 0) + 1
        if error:
            err_n[i] = err_n.get(i, 0) + 1
    for at, latency in completions:
        i = bucket_index(at, t0, width)
        if i >= 0:
            done_lat.setdefault(i, []).append(latency)
    last = max([-1, *sent_n, *lat, *done_lat])
    buckets = []
    for i in range(last + 1):
        values = sorted(lat.get(i, []))
        done = sorted(done_lat.get(i, []))
        buckets.append(
            Bucket(
                second=i,
                sent=sent_n.get(i, 0),
                accepted=acc_n.get(i, 0),
                completed=len(done),
                errors=err_n.get(i, 0),
                p50_ms=_ms(percentile(values, 50.0)),
                p99_ms=_ms(percentile(values, 99.0)),
                completion_p50_ms=_ms(percentile(done, 50.0)),
                completion_p99_ms=_ms(percentile(done, 99.0)),
            )
        )
    return buckets


def _bump(counts: dict[int, int], t: float, t0: float, width: float) -> None:
    i = bucket_index(t, t0, width)
    if i >= 0:
        counts[i] = counts.get(i, 0) + 1


def rate(count: int, start: float | None, end: float | None) -> float | None:
    """Events per second over [start, end]; None when the span is unknown or empty."""
    if start is None or end is None or end <= start:
        return None
    return round(count / (end - start), 2)
