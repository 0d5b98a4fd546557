"""``python -m bench sweep --shards 1,2,4 --workers 1,2 ...``: one ``bench run`` per shard count
and api worker count, each into ``<out>/s<shards>-w<workers>/``, then one table of them all in
``<out>/sweep.md`` (``--table-only`` rebuilds it from the folders). The table is pure:
:func:`sweep_row` and :func:`sweep_table`."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.config import RunConfig

# Process roles (bench/cpu.py) grouped as the sizing counts them (docs/sizing.md).
CPU_GROUPS: dict[str, str] = {
    "api": "api",
    "ray:ShardActor": "shards",
    "ray:GatewayActor": "gateways",
    "secantusdb": "database",
    "redis-server": "redis",
    "locust": "client",
    "runner+sink": "client",
}
COLUMNS = ("api", "shards", "gateways", "database", "redis", "ray+other", "client")


def parse_counts(text: str) -> list[int]:
    """``1,2,4`` -> [1, 2, 4]; each at least 1."""
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise ValueError(f"expected counts of at least 1, like 1,2,4 (got {text!r})")
    return counts


def run_dir(out: Path, shards: int, workers: int) -> Path:
    return out / f"s{shards}-w{workers}"


def cpu_groups(per_payment_s: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds per payment by process role -> milliseconds by :data:`COLUMNS` group."""
    out = dict.fromkeys(COLUMNS, 0.0)
    for role, seconds in per_payment_s.items():
        out[CPU_GROUPS.get(role, "ray+other")] += seconds * 1000.0
    return {k: round(v, 2) for k, v in out.items()}


def sweep_row(shards: int, workers: int, result: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of one run that the table shows. ``other_cores``: the machine's CPU spent on
    work outside the bench during the run's window, in cores (the load of other programs)."""
    cpu = result.get("cpu") or {}
    api = result.get("api_latency_ms") or {}
    window = cpu.get("window_s") or 0.0
    outside = cpu.get("outside_bench_s")
    spread = (result.get("merchants") or {}).get("shards") or {}
    total = cpu.get("total_per_payment_s")
    return {
        "shards": shards,
        "workers": workers,
        "accepted_per_s": result.get("accepted_per_s"),
        "completed_per_s": result.get("completed_per_s"),
        "api_p50_ms": api.get("p50"),
        "api_p99_ms": api.get("p99"),
        "cpu_ms": None if total is None else round(total * 1000.0, 2),
        "cpu_groups_ms": cpu_groups(cpu.get("per_payment_s") or {}),
        "other_cores": round(outside / window, 2) if outside is not None and window else None,
        "payments_per_shard": [spread[k]["payments"] for k in sorted(spread, key=int)],
        "lost": result.get("lost"),
        "duplicated": result.get("duplicated"),
        "commit": (result.get("machine") or {}).get("git"),
    }


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def sweep_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """A markdown table, one line per run, CPU per payment by process group in ms."""
    head = (
        "| shards | api workers | accepted/s | completed/s | API p50 / p99 ms | CPU ms/payment | "
        + " | ".join(COLUMNS)
        + " | other load (cores) | payments per shard | lost / dup |"
    )
    lines = [head, "|" + "---:|" * (8 + len(COLUMNS)) + "---|"]
    for r in rows:
        groups = r["cpu_groups_ms"]
        lines.append(
            f"| {r['shards']} | {r['workers']} | {_fmt(r['accepted_per_s'])} "
            f"| {_fmt(r['completed_per_s'])} | {_fmt(r['api_p50_ms'], 0)} / "
            f"{_fmt(r['api_p99_ms'], 0)} | {_fmt(r['cpu_ms'], 2)} | "
            + " | ".join(_fmt(groups[c], 2) for c in COLUMNS)
            + f" | {_fmt(r['other_cores'], 2)} | {' / '.join(map(str, r['payments_per_shard']))} "
            f"| {_fmt(r['lost'])} / {_fmt(r['duplicated'])} |"
        )
    return "\n".join(lines)


def load_result(folder: Path, scenario: str) -> dict[str, Any] | None:
    """The newest ``*-<scenario>.json`` of a run's folder."""
    files = sorted(folder.glob(f"*-{scenario}.json"))
    return json.loads(files[-1].read_text()) if files else None


def table_for(out: Path, scenario: str, shards: Sequence[int], workers: Sequence[int]) -> str:
    rows = []
    for s in shards:
        for w in workers:
            result = load_result(run_dir(out, s, w), scenario)
            if result is not None:
                rows.append(sweep_row(s, w, result))
    return sweep_table(rows)


def sweep(base: RunConfig, shards: Sequence[int], workers: Sequence[int], runs: bool) -> int:
    """Each run in turn (``runs``), then the table; exit code: the worst of the runs'."""
    worst = 0
    if runs:
        from bench.runner import main as run_main

        for s in shards:
            for w in workers:
                print(f"\n=== sweep: {s} shards, {w} api workers", flush=True)
                cfg = dataclasses.replace(base, shards=s, workers=w, out=run_dir(base.out, s, w))
                worst = max(worst, run_main(cfg))
    table = table_for(base.out, base.scenario, shards, workers)
    base.out.mkdir(parents=True, exist_ok=True)
    (base.out / "sweep.md").write_text(table + "\n")
    print(table)
    print(f"wrote {base.out / 'sweep.md'}")
    return worst
