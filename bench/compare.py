"""``python -m bench compare A.json B.json ...``: the runs side by side, each as a ratio of the
first (put the switch run first, its ceilings after). Pure except :func:`load`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.cost import cost_table


def load(paths: Sequence[Path]) -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, json.loads(p.read_text())) for p in paths]


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return (f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}") + unit
    return f"{value}{unit}"


def _ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "n/a"
    return f"{a / b:.2f}x"


def _cpu_ms(result: Mapping[str, Any]) -> float | None:
    v = result.get("cpu", {}).get("total_per_payment_s")
    return None if v is None else v * 1000.0


def _setup(result: Mapping[str, Any]) -> str:
    """``8 / 4 / 2``: merchants, shards and api workers of a run (``-`` when not applicable,
    ``default`` when not set)."""
    cfg = result.get("config") or {}
    merchants = (result.get("merchants") or {}).get("merchants")
    shards, workers = cfg.get("shards"), cfg.get("workers")
    return " / ".join(
        [
            "-" if merchants is None else str(merchants),
            "default" if shards is None else str(shards),
            "default" if workers is None else str(workers),
        ]
    )


def compare_table(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """A markdown table; the ratio columns divide the first run's value by each run's."""
    if not runs:
        return ""
    _, first = runs[0]
    head = (
        "| run | scenario | accepted/s | completed/s | API p50 | API p99 | completion p99 "
        "| CPU ms/payment | lost | dup | accepted/s: first ÷ this | CPU/payment: first ÷ this "
        "| merchants / shards / workers |"
    )
    lines = [head, "|" + "---|" * 13]
    for name, r in runs:
        api = r.get("api_latency_ms") or {}
        done = r.get("completion_latency_ms") or {}
        lines.append(
            f"| {name} | {r.get('scenario')} | {_num(r.get('accepted_per_s'))} "
            f"| {_num(r.get('completed_per_s'))} | {_num(api.get('p50'), ' ms')} "
            f"| {_num(api.get('p99'), ' ms')} | {_num(done.get('p99'), ' ms')} "
            f"| {_num(_cpu_ms(r))} | {_num(r.get('lost'))} | {_num(r.get('duplicated'))} "
            f"| {_ratio(first.get('accepted_per_s'), r.get('accepted_per_s'))} "
            f"| {_ratio(_cpu_ms(first), _cpu_ms(r))} | {_setup(r)} |"
        )
    costs = cost_table(runs)
    if costs:
        lines += ["", "Cost per payment (runs with `--cost`):", "", costs]
    return "\n".join(lines)
