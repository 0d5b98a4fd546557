"""``python -m bench run --scenario stk --users 50 --duration 60``,
``python -m bench sweep --shards 1,2,4 --workers 1,2 ...`` and
``python -m bench compare A.json B.json ...``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.config import SCENARIOS, RunConfig, parse_duration
from bench.sweep import parse_counts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="start the stack, load it, check it, write results")
    run.add_argument("--shards", type=int, help="SWITCH_SHARDS for the switch")
    run.add_argument("--workers", type=int, help="api processes (serve --workers)")
    _run_options(run)

    sweep = sub.add_parser("sweep", help="one run per shard and api worker count, one table")
    sweep.add_argument("--shards", type=parse_counts, default=[1, 2, 4], help="1,2,4")
    sweep.add_argument("--workers", type=parse_counts, default=[1, 2], help="1,2")
    sweep.add_argument(
        "--table-only", action="store_true", help="rebuild sweep.md from the runs' folders"
    )
    _run_options(sweep)

    compare = sub.add_parser("compare", help="a markdown table of result files, first as base")
    compare.add_argument("files", type=Path, nargs="+")
    return parser


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--scenario", choices=sorted(SCENARIOS), default="stk")
    run.add_argument("--users", type=int, default=50, help="locust users (default 50)")
    run.add_argument(
        "--merchants",
        type=int,
        default=8,
        help="merchants sharing the load, users round-robin over them (default 8)",
    )
    run.add_argument("--duration", type=parse_duration, default=60.0, help="load time: 60, 60s, 2m")
    run.add_argument("--rate", type=float, help="open loop: total requests/s on a fixed schedule")
    run.add_argument(
        "--callback-delay", type=float, default=1.0, help="simulated customer, seconds (1.0)"
    )
    run.add_argument(
        "--sim-latency", type=float, default=0.0, help="added to each simulator answer, seconds"
    )
    run.add_argument("--out", type=Path, default=Path("bench/results"), help="results folder")
    run.add_argument("--spawn-rate", type=float, help="users started per second (all at once)")
    run.add_argument(
        "--max-inflight", type=int, default=100, help="open loop: in-flight cap per user"
    )
    run.add_argument("--storm-copies", type=int, default=10, help="retry_storm: copies per key")
    run.add_argument(
        "--drain-timeout", type=float, default=60.0, help="seconds to wait for completions"
    )
    run.add_argument(
        "--fund",
        type=int,
        help="KES collected per merchant before the load (default: 200000 for mixed, else 0)",
    )
    run.add_argument("--keep-logs", action="store_true", help="keep the temporary folder")
    run.add_argument(
        "--cost",
        action="store_true",
        help="count MongoDB commands and writes, Ray calls and Redis commands per payment",
    )
    run.add_argument(
        "--ray-nodes",
        type=int,
        default=1,
        help="1: the switch's local Ray (default); N: a Ray cluster of N nodes on this machine, "
        "the shards on the worker nodes",
    )
    run.add_argument(
        "--baseline",
        type=Path,
        action="append",
        default=[],
        help="an earlier result JSON to compare with in the summary (repeatable)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "compare":
        from bench.compare import compare_table, load

        print(compare_table(load(args.files)))
        return 0
    try:
        cfg = RunConfig(
            scenario=args.scenario,
            users=args.users,
            merchants=args.merchants,
            duration=args.duration,
            rate=args.rate,
            shards=None if args.command == "sweep" else args.shards,
            workers=None if args.command == "sweep" else args.workers,
            callback_delay=args.callback_delay,
            sim_latency=args.sim_latency,
            out=args.out,
            spawn_rate=args.spawn_rate,
            max_inflight=args.max_inflight,
            storm_copies=args.storm_copies,
            drain_timeout=args.drain_timeout,
            keep_logs=args.keep_logs,
            baselines=tuple(args.baseline),
            fund=args.fund,
            cost=args.cost,
            ray_nodes=args.ray_nodes,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "sweep":
        from bench.sweep import sweep

        return sweep(cfg, args.shards, args.workers, runs=not args.table_only)
    from bench.runner import main as run_main

    return run_main(cfg)


if __name__ == "__main__":
    raise SystemExit(main())
