"""The PNG chart of a run, one-second buckets (matplotlib, Agg): throughput; API answer p50/p99;
completion p50/p99 (request to final webhook) when the run has completions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt


def _series(buckets: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float("nan") if b[key] is None else float(b[key]) for b in buckets]


def draw_chart(result: Mapping[str, Any], path: Path) -> None:
    buckets = result["timeline"]
    x = [b["second"] for b in buckets]
    completions = result.get("completed") is not None
    rows = 3 if completions else 2
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.6 * rows + 1), sharex=True)
    try:
        top, middle = axes[0], axes[1]
        top.plot(x, _series(buckets, "sent"), label="sent/s", color="tab:gray", lw=1)
        top.plot(x, _series(buckets, "accepted"), label="accepted/s", color="tab:blue")
        if completions:
            top.plot(x, _series(buckets, "completed"), label="completed/s", color="tab:green")
        if any(b["errors"] for b in buckets):
            top.plot(x, _series(buckets, "errors"), label="errors/s", color="tab:red")
        top.set_ylabel("per second")
        cfg = result["config"]
        mode = f"open loop {cfg['rate']:g}/s" if cfg.get("rate") else "closed loop"
        top.set_title(
            f"{result['scenario']} ({result['target']}): {cfg['users']} users, {mode} - "
            f"{result['accepted_per_s'] or 0:.0f} accepted/s",
            fontsize=10,
        )
        middle.plot(x, _series(buckets, "p50_ms"), label="p50")
        middle.plot(x, _series(buckets, "p99_ms"), label="p99")
        middle.set_ylabel("API answer (ms)")
        if completions:
            bottom = axes[2]
            bottom.plot(x, _series(buckets, "completion_p50_ms"), label="p50")
            bottom.plot(x, _series(buckets, "completion_p99_ms"), label="p99")
            bottom.set_ylabel("completion (ms)")
        for ax in axes:
            ax.legend(loc="upper right", fontsize=8)
            ax.grid(alpha=0.3)
        axes[-1].set_xlabel("seconds since the first request")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)
