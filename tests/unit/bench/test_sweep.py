"""``python -m bench sweep``: the table of runs by shard and api worker count (bench/sweep.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import _parser
from bench.sweep import (
    COLUMNS,
    cpu_groups,
    parse_counts,
    run_dir,
    sweep,
    sweep_row,
    sweep_table,
)


def _result(accepted: float, *, shard_payments: list[int], outside: float) -> dict[str, Any]:
    return {
        "accepted_per_s": accepted,
        "completed_per_s": accepted - 1.5,
        "api_latency_ms": {"p50": 300.4, "p99": 912.0},
        "lost": 0,
        "duplicated": 0,
        "machine": {"git": "6edb127"},
        "merchants": {"shards": {str(i): {"payments": n} for i, n in enumerate(shard_payments)}},
        "cpu": {
            "window_s": 40.0,
            "outside_bench_s": outside,
            "total_per_payment_s": 0.0125,
            "per_payment_s": {
                "secantusdb": 0.005,
                "ray:ShardActor": 0.003,
                "api": 0.0025,
                "ray:GatewayActor": 0.001,
                "redis-server": 0.0002,
                "locust": 0.0004,
                "runner+sink": 0.0001,
                "ray:gcs": 0.0002,
                "ray:HubActor": 0.0001,
            },
        },
    }


def test_counts_are_a_comma_list_of_positive_numbers() -> None:
    assert parse_counts("1,2,4") == [1, 2, 4]
    assert parse_counts(" 3 ") == [3]
    for bad in ("", "0,1", "1,-2"):
        with pytest.raises(ValueError, match="at least 1"):
            parse_counts(bad)


def test_cpu_by_role_is_grouped_as_the_sizing_counts_it() -> None:
    groups = cpu_groups(_result(1, shard_payments=[1], outside=0)["cpu"]["per_payment_s"])
    assert list(groups) == list(COLUMNS)
    assert groups == {
        "api": 2.5,
        "shards": 3.0,
        "gateways": 1.0,
        "database": 5.0,
        "redis": 0.2,
        "ray+other": 0.3,  # the gcs and the hub actor: neither is a named group
        "client": 0.5,  # locust and the runner with its sink
    }


def test_a_row_carries_the_other_load_in_cores_and_the_shard_spread() -> None:
    row = sweep_row(4, 2, _result(120.0, shard_payments=[10, 0, 30, 5], outside=30.0))
    assert row["other_cores"] == 0.75  # 30 CPU seconds of other work in a 40 s window
    assert row["payments_per_shard"] == [10, 0, 30, 5]
    assert row["cpu_ms"] == 12.5
    assert (row["shards"], row["workers"], row["commit"]) == (4, 2, "6edb127")


def test_a_row_without_cpu_figures_says_not_available() -> None:
    row = sweep_row(1, 1, {"accepted_per_s": 5.0})
    assert row["other_cores"] is None and row["cpu_ms"] is None
    assert "n/a" in sweep_table([row])


def test_the_table_has_one_line_per_run_with_every_column() -> None:
    rows = [
        sweep_row(1, 1, _result(100.0, shard_payments=[3000], outside=4.0)),
        sweep_row(2, 2, _result(150.25, shard_payments=[2000, 2500], outside=40.0)),
    ]
    lines = sweep_table(rows).splitlines()
    assert len(lines) == 4
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert lines[2].startswith("| 1 | 1 | 100.0 | 98.5 | 300 / 912 | 12.50 | 2.50 | 3.00 |")
    assert lines[3].endswith("| 1.00 | 2000 / 2500 | 0 / 0 |")


def test_table_only_rebuilds_the_table_from_the_runs_folders(tmp_path: Path) -> None:
    for shards, workers in ((1, 1), (2, 1)):
        folder = run_dir(tmp_path, shards, workers)
        folder.mkdir(parents=True)
        result = _result(50.0 * shards, shard_payments=[7] * shards, outside=0.0)
        (folder / "2026-12-06-stk.json").write_text(json.dumps(result))
    args = _parser().parse_args(
        ["sweep", "--shards", "1,2,4", "--workers", "1", "--table-only", "--out", str(tmp_path)]
    )
    assert (args.shards, args.workers, args.table_only) == ([1, 2, 4], [1], True)
    from bench.__main__ import main

    assert main(["sweep", "--shards", "1,2,4", "--workers", "1", "--table-only",
                 "--out", str(tmp_path)]) == 0  # fmt: skip
    table = (tmp_path / "sweep.md").read_text().splitlines()
    assert len(table) == 4  # the head, the rule, the two runs found (no s4-w1 folder)
    assert table[2].startswith("| 1 | 1 | 50.0 |") and table[3].startswith("| 2 | 1 | 100.0 |")


def test_sweep_without_runs_writes_an_empty_table_when_nothing_ran(tmp_path: Path) -> None:
    from bench.config import RunConfig

    assert sweep(RunConfig(out=tmp_path), [1], [1], runs=False) == 0
    assert len((tmp_path / "sweep.md").read_text().splitlines()) == 2
