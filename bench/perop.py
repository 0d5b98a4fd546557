"""Figures per operation and per rail (pure): accepted/s, completed/s, API answer and completion
p50/p95/p99, errors by code. Rates are over the whole load window (first request to last answer;
completions to the last completion of that operation), so the rows of a mixed run add up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench.checks import Accepted
from bench.ops import rail_of
from bench.records import Record
from bench.stats import rate, summary_ms


def per_group(
    records: Sequence[Record],
    accepted: Mapping[str, Accepted],
    first_final: Mapping[str, float],
    group: Callable[[str], str],
) -> dict[str, dict[str, Any]]:
    """One row per ``group(op)``: requests, accepted, completed, their rates, latencies and
    errors by code."""
    sent = [r for r in records if r.status >= 0]
    t0 = min((r.t for r in sent), default=None)
    t_end = max((r.answered_at for r in sent), default=None)
    rows: dict[str, dict[str, Any]] = {}
    by_group: dict[str, list[Record]] = {}
    for r in records:
        by_group.setdefault(group(r.op), []).append(r)
    done_by_group: dict[str, list[tuple[float, float]]] = {}
    for pid, a in accepted.items():
        if pid in first_final:
            at = first_final[pid]
            done_by_group.setdefault(group(a.op), []).append((at, at - a.t))
    for name, items in sorted(by_group.items()):
        ok = [r for r in items if r.status >= 0 and not r.error]
        n_accepted = sum(1 for r in items if r.accepted)
        done = done_by_group.get(name, [])
        last = max((at for at, _ in done), default=None)
        errors = Counter(r.error for r in items if r.error)
        rows[name] = {
            "requests": sum(1 for r in items if r.status >= 0),
            "accepted": n_accepted,
            "accepted_per_s": rate(n_accepted, t0, t_end),
            "completed": len(done),
            "completed_per_s": rate(len(done), t0, last) if done else None,
            "api_ms": summary_ms(r.latency for r in ok),
            "completion_ms": summary_ms(lat for _, lat in done) if done else None,
            "errors": dict(errors.most_common()),
        }
    return rows


def per_op(
    records: Sequence[Record], accepted: Mapping[str, Accepted], first_final: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    return per_group(records, accepted, first_final, lambda op: op)


def per_rail(
    records: Sequence[Record], accepted: Mapping[str, Accepted], first_final: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    return per_group(records, accepted, first_final, rail_of)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value:,.1f}"


def table(rows: Mapping[str, Mapping[str, Any]], label: str) -> list[str]:
    """A markdown table of :func:`per_group` rows."""
    out = [
        f"| {label} | requests | accepted | accepted/s | completed | completed/s | API p50 / p95 / "
        "p99 ms | completion p50 / p95 / p99 ms | errors by code |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for name, r in rows.items():
        api, done = r["api_ms"], r["completion_ms"] or {}
        errors = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "none"
        out.append(
            f"| {name} | {r['requests']:,} | {r['accepted']:,} | {_rate(r['accepted_per_s'])} | "
            f"{r['completed']:,} | {_rate(r['completed_per_s'])} | {_ms(api['p50'])} / "
            f"{_ms(api['p95'])} / {_ms(api['p99'])} | {_ms(done.get('p50'))} / "
            f"{_ms(done.get('p95'))} / {_ms(done.get('p99'))} | {errors} |"
        )
    return out
