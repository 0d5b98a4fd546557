"""One bench run, start to finish:

1. start the webhook sink (in this process) and the system under load (child processes), with
   its merchants (``--merchants``) and a token for each;
2. run locust headless as its own process, printing a progress line from its request records;
   (``mixed``: then fund each merchant with one collection, bench/mixed.py);
3. wait (bounded) for the accepted payments to complete (final webhook, or Daraja callback);
4. check that nothing was lost or duplicated (records, sink, MongoDB, the simulator's record);
   ``mixed``: per rail, against every simulator's own record, transfers, and the switch's
   ledger check (bench/railcheck.py);
5. write ``<out>/<YYYY-MM-DD>-<scenario>.json``, ``.md`` and ``.png``.

Every wait has a deadline; every child is stopped on the way out, also on errors and Ctrl-C.
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.benefitrun import BENEFIT_RUN, runs_report
from bench.billcheck import bill_report, completed_c2b
from bench.checks import (
    Accepted,
    CheckReport,
    Push,
    Stored,
    callback_summary,
    check,
    collect_accepted,
    push_ref,
)
from bench.compare import compare_table, load
from bench.config import RunConfig
from bench.cost import CostReadings
from bench.costprobe import CostProbe
from bench.cpu import CpuMeter
from bench.loadgen import READY_LINE, STOP_TIMEOUT, locust_totals, start_locust
from bench.logscan import scan_log
from bench.mixed import (
    SimRecords,
    benefit_views,
    bill_views,
    dump_json,
    fund_merchants,
    set_up_benefits,
    set_up_bills,
    sim_c2b,
    simulator_records,
    stored_and_books,
    transfer_stored,
    transfer_views,
)
from bench.ops import OPS, checked_apart, is_bill, kind_of
from bench.procs import REPO_ROOT, Child, ProcessFailed, free_port, log_tail
from bench.railcheck import money_summary, paid_twice, rail_reports, transfer_problems
from bench.raycluster import placement_by_node
from bench.records import Record, RecordTail
from bench.report import RunData, build_result, headline, result_name, write_outputs
from bench.sink import Sink
from bench.stack import Target, fetch_sim_pushes, fetch_sim_stats, start_target
from bench.stats import percentile
from switch.rails import provider_of, recovered_by

STK = recovered_by("stk_query")  # the rail of the single-rail scenarios

TICK = 1.0
STARTUP_ALLOWANCE = 60.0  # locust's own start, on top of the run time and its stop timeout
SETTLE = 1.0  # after the last completion, so a duplicate webhook right behind it is seen too
DB_TIMEOUT = 120.0
SIM_SETTLE_TIMEOUT = 15.0  # > the simulator's 10 s callback timeout


class Progress:
    """The live line: requests sent and accepted, last second's latency, completions."""

    def __init__(self) -> None:
        self.sent = 0
        self.accepted = 0
        self.errors = 0
        self.started = time.monotonic()
        self.tty = sys.stdout.isatty()
        self._last_print = 0.0
        self._recent: list[float] = []

    def add(self, records: list[Record]) -> None:
        self._recent = sorted(r.latency for r in records if r.status >= 0)
        for r in records:
            self.sent += r.status >= 0
            self.accepted += r.accepted
            self.errors += bool(r.error)

    def show(self, phase: str, completed: int | None, force: bool = False) -> None:
        now = time.monotonic()
        if not (self.tty or force or now - self._last_print >= 5.0):
            return
        self._last_print = now
        elapsed = now - self.started
        p50, p99 = percentile(self._recent, 50), percentile(self._recent, 99)
        lat = (
            f"p50 {p50 * 1000:.0f} ms p99 {p99 * 1000:.0f} ms"
            if p50 is not None and p99 is not None
            else "p50 - p99 -"
        )
        done = "" if completed is None else f" | completed {completed:,}"
        line = (
            f"[{phase} {elapsed:5.0f}s] sent {self.sent:,} ({self.sent / max(elapsed, 1):,.0f}/s) "
            f"accepted {self.accepted:,} errors {self.errors:,} | {lat}{done}"
        )
        if self.tty:
            print("\r" + line.ljust(110), end="", flush=True)
        else:
            print(line, flush=True)

    def end_line(self) -> None:
        if self.tty:
            print(flush=True)


class Phases:
    """Wall-clock seconds of each phase of the run."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._at = time.monotonic()

    def done(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self._at, 2)
        self._at = now


async def run(cfg: RunConfig) -> tuple[dict[str, Any], dict[str, Path]]:
    started_at = datetime.now().astimezone()
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{cfg.scenario}-"))
    load_before = os.getloadavg()
    phases = Phases()
    sink = Sink()
    cpu = CpuMeter()
    target: Target | None = None
    locust: Child | None = None
    funding: list[str] = []
    people: tuple[str, str] | None = None  # benefit runs: the maker's and checker's tokens
    money: dict[str, Any] | None = None
    probe: CostProbe | None = None
    cost: CostReadings | None = None
    ray: dict[str, Any] | None = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        try:
            await sink.start(free_port())
            print(f"bench {cfg.scenario}: starting {cfg.target} (logs in {workdir})", flush=True)
            target = await start_target(cfg, workdir, sink.url, http)
            sink.webhook_secrets = {
                i: str(m.get("webhook_secret") or "") for i, m in enumerate(target.merchants)
            }
            for child in target.children:
                cpu.add_root(child.pid, "")
            if target.cost_dir is not None:
                probe = CostProbe(target.cost_dir, target.redis_url, target.mongo_uri())
            phases.done("start")
            if cfg.fund_shillings and target.kind == "switch":
                print(f"funding {len(target.tokens)} merchants with KES {cfg.fund_shillings:,} "
                      "each", flush=True)  # fmt: skip
                funding = await fund_merchants(http, target.url, target.tokens, cfg.fund_shillings)
                phases.done("fund")
            extra_env = {"BENCH_SIM_URL": target.sim_url}
            if _with_bills(cfg, target):
                await set_up_bills(http, target.url, target.tokens)
                phases.done("bills")
            if _with_benefits(cfg, target):
                people = await set_up_benefits(http, target.url)
                extra_env["BENCH_BENEFIT_TOKENS"] = ",".join(people)
                phases.done("benefits")
            locust, records_dir = start_locust(
                cfg, workdir, target.url, target.tokens, f"{sink.url}/daraja", extra_env
            )
            cpu.add_root(locust.pid, "locust")
            progress = Progress()
            records = await _load_phase(
                cfg, locust, target, RecordTail(records_dir), cpu, progress, probe
            )
            phases.done("load")
            accepted, per_key = collect_accepted(records)
            # Bills and benefit runs are not payments: checked on their own (bench/billcheck.py,
            # bench/benefitrun.py).
            bills = {i: a for i, a in accepted.items() if is_bill(a.op)}
            runs = {i: a for i, a in accepted.items() if kind_of(a.op) == BENEFIT_RUN}
            accepted = {i: a for i, a in accepted.items() if not checked_apart(a.op)}
            drained, drain_s = await _drain(cfg, accepted, sink, cpu, progress)
            simulator = await _settle_simulator(cfg, http, target, cpu)
            cpu.stop()
            ray = await _ray_cluster(http, target, cpu)
            if probe is not None:
                await probe.close()
                cost = probe.readings()
            phases.done("drain")
            report, callbacks, money = await _checks(
                cfg, target, http, accepted, per_key, sink, set(funding)
            )
            if money is not None and _with_bills(cfg, target):
                money["bills"] = await _bill_checks(http, target, bills)
                money["ok"] = bool(money["ok"]) and money["bills"]["ok"]
            if money is not None and people:
                views, reports = await benefit_views(http, target.url, people[0], runs)
                money["benefit_runs"] = runs_report(views, reports)
                money["ok"] = bool(money["ok"]) and money["benefit_runs"]["ok"]
            if simulator is not None and callbacks is not None:
                simulator["callbacks"] = callbacks
            locust_stats = locust_totals(locust.log.read_text(errors="replace"))
            phases.done("checks")
        finally:
            if locust is not None:
                await locust.stop(grace=5)
            if target is not None:
                await target.stop()
            await sink.stop()
        phases.done("stop")
    switch_log = workdir / "switch.log"
    data = RunData(
        config=cfg,
        started_at=started_at,
        records=records,
        accepted=accepted,
        arrivals=sink.arrivals,
        first_final=sink.first_final,
        check=report,
        cpu=cpu.results(),
        cpu_window_s=cpu.window_s,
        machine_busy_s=cpu.machine_busy_s,
        drained=drained,
        drain_s=drain_s,
        switch_log=scan_log(switch_log.read_text(errors="replace"))
        if switch_log.exists()
        else None,
        simulator=simulator,
        locust=locust_stats,
        sink={
            "arrivals": len(sink.arrivals),
            "types": dict(sink.types),
            "bad_signatures": sink.bad_signatures,
            "malformed": sink.malformed,
            "unknown_hooks": sink.unknown_hooks,
        },
        machine={
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "git": _git_version(),
            "command": "python -m bench " + " ".join(sys.argv[1:]),
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        phases=phases.seconds,
        merchants=len(target.merchants) if target is not None else 0,
        shards=_shard_count(cfg),
        money=money,
        funding=funding,
        cost=cost,
        ray=ray,
    )
    result = build_result(data)
    comparison = ""
    if cfg.baselines:
        comparison = compare_table([("this run", result), *load(list(cfg.baselines))])
    paths = write_outputs(result, cfg.out, result_name(cfg, started_at), comparison)
    if not cfg.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
    return result, paths


def _shard_count(cfg: RunConfig) -> int | None:
    """The switch's shard count when the bench knows it (``--shards`` or SWITCH_SHARDS)."""
    if cfg.shards is not None:
        return cfg.shards
    text = os.environ.get("SWITCH_SHARDS", "")
    return int(text) if text.isdigit() else None


def _git_version() -> str | None:
    """The commit the run measured, with ``+dirty`` when the tree has local changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")


async def _load_phase(
    cfg: RunConfig,
    locust: Child,
    target: Target,
    tail: RecordTail,
    cpu: CpuMeter,
    progress: Progress,
    probe: CostProbe | None,
) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + cfg.duration + STOP_TIMEOUT + STARTUP_ALLOWANCE
    window_open = False
    while locust.running() and time.monotonic() < deadline:
        # Until the window opens, look often: its start is when the first payments go out.
        await asyncio.sleep(TICK if window_open else TICK / 10)
        new = tail.read_new()
        records.extend(new)
        progress.add(new)
        if not window_open and (new or locust.log_contains(READY_LINE)):
            cpu.start()  # the window opens when locust starts its users, not at its imports
            window_open = True
            if probe is not None:
                await probe.open()
        cpu.sample()
        for child in target.children:
            child.remember_tree()
        progress.show("load", None)
    if locust.running():
        print("\nlocust did not finish in time; stopping it", flush=True)
        await locust.stop(grace=10)
    records.extend(tail.read_new())
    progress.end_line()
    if not window_open:
        cpu.start()
        if probe is not None:
            await probe.open()
    if not records:
        raise ProcessFailed(
            f"locust sent nothing (exit code {locust.returncode()}); last lines of "
            f"{locust.log}:\n{log_tail(locust.log)}"
        )
    return records


async def _drain(
    cfg: RunConfig, accepted: dict[str, Accepted], sink: Sink, cpu: CpuMeter, progress: Progress
) -> tuple[bool, float]:
    """Wait until every accepted payment has its final webhook (or callback), at most
    ``drain_timeout`` seconds."""
    if not cfg.checks_payments:
        return True, 0.0
    start = time.monotonic()
    deadline = start + cfg.drain_timeout
    pending = sum(1 for pid in accepted if pid not in sink.first_final)
    while pending and time.monotonic() < deadline:
        progress.show("drain", len(accepted) - pending)
        await asyncio.sleep(TICK / 2)
        cpu.sample()
        pending = sum(1 for pid in accepted if pid not in sink.first_final)
    drain_s = time.monotonic() - start
    await asyncio.sleep(SETTLE)
    progress.show("drain", len(accepted) - pending, force=True)
    progress.end_line()
    return pending == 0, drain_s


async def _settle_simulator(
    cfg: RunConfig, http: aiohttp.ClientSession, target: Target, cpu: CpuMeter
) -> dict[str, Any] | None:
    """Wait (bounded) until the simulators have no customer still to act and no callback waiting
    for the switch's answer, so that stopping the switch cuts nothing short; the Daraja
    simulator's counters (the others' go into ``rail_simulators``)."""
    if not target.sim_url:
        return None
    deadline = time.monotonic() + SIM_SETTLE_TIMEOUT
    stats = await _sim_stats(http, target)
    while stats is not None and time.monotonic() < deadline:
        if not stats.get("callbacks_in_flight") and not stats.get("pending_customers"):
            break
        await asyncio.sleep(TICK / 2)
        cpu.sample()
        stats = await _sim_stats(http, target)
    if stats is not None and cfg.scenario == "mixed":
        stats["rail_simulators"] = await _settle_rail_simulators(http, target, deadline, cpu)
    return stats


async def _settle_rail_simulators(
    http: aiohttp.ClientSession, target: Target, deadline: float, cpu: CpuMeter
) -> dict[str, Any]:
    """The Airtel, PesaLink and SACCO simulators: until no callback or timer is pending."""
    out: dict[str, Any] = {}
    for name, base in target.sim_urls.items():
        if name == provider_of(STK):  # settled with the STK load itself
            continue
        stats: dict[str, Any] | None = None
        while True:
            try:
                stats = await fetch_sim_stats(http, base)
            except (aiohttp.ClientError, TimeoutError):
                stats = None
                break
            busy = stats.get("callbacks_in_flight") or stats.get("pending_timers")
            if not busy or time.monotonic() >= deadline:
                break
            await asyncio.sleep(TICK / 2)
            cpu.sample()
        out[name] = stats
    return out


async def _checks(
    cfg: RunConfig,
    target: Target,
    http: aiohttp.ClientSession,
    accepted: dict[str, Accepted],
    per_key: dict[str, set[str]],
    sink: Sink,
    funding: set[str],
) -> tuple[CheckReport | None, dict[str, Any] | None, dict[str, Any] | None]:
    """bench.checks over everything; for the switch also the ledger check, and for ``mixed``
    the per-rail checks against every simulator's own record and the transfers' views."""
    if not cfg.checks_payments:
        return None, None, None
    stored: list[Stored] | None = None
    books: dict[str, Any] | None = None
    views: dict[str, dict[str, Any] | None] = {}
    if target.kind == "switch":
        stored, books = await _stored_payments(target, funding)
        views = await transfer_views(http, target.url, target.tokens, accepted)
        stored += transfer_stored(views, accepted)
    raw = await fetch_sim_pushes(http, target.sim_url)
    by_checkout = target.kind == "daraja"
    pushes = [Push(push_ref(p, by_checkout), str(p.get("phone", ""))) for p in raw]
    report = check(accepted, per_key, sink.arrivals, stored, pushes)
    money = None
    dump = target.data_dir.parent / "sim-records" if cfg.keep_logs and target.data_dir else None
    if dump is not None:
        await asyncio.to_thread(dump_json, dump / f"{STK}.json", raw)
    if target.kind == "switch" and stored is not None:
        sims = (
            await simulator_records(http, target.sim_urls, target.data_dir, dump)
            if cfg.scenario == "mixed"
            else SimRecords()
        )
        money = money_summary(
            rail_reports(accepted, stored, report, sink.first_final),
            paid_twice(sims.bookings),
            transfer_problems(views) if views else None,
            books,
        )
        money["unread_records"] = sims.unread
        money["callbacks_answered"] = sims.callbacks
        money["funding_payments"] = len(funding)
    return report, callback_summary(raw), money


def _with_benefits(cfg: RunConfig, target: Target) -> bool:
    """Whether the run makes benefit runs (the mixed scenario of the switch, when in the mix)."""
    return cfg.scenario == "mixed" and target.kind == "switch" and BENEFIT_RUN in OPS


def _with_bills(cfg: RunConfig, target: Target) -> bool:
    """Whether the run issues bills paid by C2B (the mixed scenario of the switch)."""
    return cfg.scenario == "mixed" and target.kind == "switch" and bool(target.sim_url)


async def _bill_checks(
    http: aiohttp.ClientSession, target: Target, bills: dict[str, Accepted]
) -> dict[str, Any]:
    """Each bill paid exactly once: the switch's view against the Daraja simulator's C2B record
    (read after the views, so every payment the views show is in it)."""
    views = await bill_views(http, target.url, target.tokens, bills)
    c2b = completed_c2b(await sim_c2b(http, target.sim_url))
    return bill_report(bills, views, c2b)


async def _stored_payments(
    target: Target, funding: set[str]
) -> tuple[list[Stored], dict[str, Any]]:
    """The bench merchants' payments (less the funding ones) and the switch's ledger check."""
    uri = target.mongo_uri()
    if uri is None:
        raise ProcessFailed("cannot find the switch's database to check the payments")
    index = {str(m["merchant_id"]): i for i, m in enumerate(target.merchants)}
    docs, books = await asyncio.wait_for(
        stored_and_books(uri, target.db_name, list(index)), DB_TIMEOUT
    )
    stored = [
        Stored(
            str(d["_id"]),
            str(d.get("idem", "")),
            str(d.get("status", "")),
            index.get(str(d.get("merchant_id", "")), -1),
            str(d.get("method", "")),
            str((d.get("transfer") or {}).get("id", "")),
        )
        for d in docs
        if str(d["_id"]) not in funding
    ]
    return stored, books


async def _ray_cluster(
    http: aiohttp.ClientSession, target: Target, cpu: CpuMeter
) -> dict[str, Any] | None:
    """--ray-nodes: where each actor ran (``/readyz``) and each node's CPU in the window."""
    cluster = target.cluster
    if cluster is None:
        return None
    async with http.get(f"{target.url}/readyz") as resp:  # 503 too lists the nodes
        body = await resp.json(content_type=None)
    labels = {node.pid: "head" if i == 0 else f"node {i}" for i, node in enumerate(cluster.nodes)}
    return {
        "node_count": len(cluster.nodes),
        "address": cluster.address,
        "placement": placement_by_node(body.get("nodes") or {}, cluster.head_node_id()),
        "cpu_s_by_node": {labels[pid]: s for pid, s in cpu.by_root(list(labels)).items()},
    }


async def _sim_stats(http: aiohttp.ClientSession, target: Target) -> dict[str, Any] | None:
    if not target.sim_url:
        return None
    try:
        return await fetch_sim_stats(http, target.sim_url)
    except (aiohttp.ClientError, TimeoutError):
        return None


async def _main(cfg: RunConfig) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    result, paths = await run(cfg)
    print()
    for line in headline(result):
        print(line)
    for path in paths.values():
        print(f"wrote {path}")
    money = result.get("money") or {}
    failed = bool(result["lost"]) or bool(result["duplicated"]) or money.get("ok") is False
    if failed:
        print("MONEY CHECK FAILED: lost, duplicated or paid twice, a transfer not settled, or "
              "the books unbalanced", file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def main(cfg: RunConfig) -> int:
    import uvloop

    try:
        if cfg.scenario == "hub":  # participants and transfers, not payments: bench/hub.py
            from bench.hub import main as hub_main

            return int(uvloop.run(hub_main(cfg)))
        return int(uvloop.run(_main(cfg)))
    except ProcessFailed as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\nbench interrupted; everything it started was stopped", file=sys.stderr)
        return 130
