"""The result of a run as one JSON document, and its markdown summary. Pure except
:func:`write_outputs`."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.benefitrun import runs_line
from bench.billcheck import bill_lines
from bench.checks import Accepted, CheckReport
from bench.config import RunConfig
from bench.cost import CostReadings, cost_headline, render_cost, summarize
from bench.cpu import ProcCpu, by_role
from bench.perop import per_op, per_rail, table
from bench.raycluster import ray_headline, render_placement
from bench.records import GET, INFLIGHT_CAP, PAYMENT_OPS, STORM, Record
from bench.sink import Arrival
from bench.stats import rate, summary_ms, timeline
from switch.providers import providers
from switch.rails import rail, recovered_by

# Whose simulators sandbox mode runs, and the rail that funds the bench merchants.
_SIMULATED = ", ".join(spec.display_name for spec in providers() if spec.sandbox)
_FUNDED_BY = rail(recovered_by("stk_query")).label


@dataclass
class RunData:
    """Everything a run gathered, as plain data."""

    config: RunConfig
    started_at: datetime
    records: list[Record]
    accepted: dict[str, Accepted]
    arrivals: list[Arrival]
    first_final: dict[str, float]
    check: CheckReport | None
    cpu: list[ProcCpu]
    cpu_window_s: float
    machine_busy_s: float | None
    drained: bool
    drain_s: float
    switch_log: dict[str, Any] | None = None
    simulator: dict[str, Any] | None = None
    locust: dict[str, Any] = field(default_factory=dict)
    sink: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    merchants: int = 0  # the bench's merchants sharing the load (0: the target has none)
    shards: int | None = None  # the switch's shard count, when the bench knows it
    money: dict[str, Any] | None = None  # per-rail checks and the ledger (bench/railcheck.py)
    funding: list[str] = field(default_factory=list)  # the funding payments (bench/mixed.py)
    cost: CostReadings | None = None  # --cost: what the switch's processes counted (bench/cost.py)
    ray: dict[str, Any] | None = None  # --ray-nodes: the cluster's placement (bench/raycluster.py)


_SHARD = re.compile(r"^pay_s([0-9]+)_")  # payment ids carry their shard: pay_s3_01JDX4...


def merchant_spread(
    accepted: Mapping[str, Accepted], merchants: int, shards: int | None
) -> dict[str, Any]:
    """How the accepted payments spread over the merchants and over the shards (read from the
    payment ids), and how many merchants each shard served; with ``shards`` known, idle shards
    are listed too. A merchant's payments all belong to one shard, or the routing is not what
    the bench assumes (``merchants_on_several_shards``). Pure."""
    per_merchant = [0] * merchants
    shard_payments: Counter[int] = Counter()
    merchant_shards: dict[int, set[int]] = {}
    unsharded = 0
    for pid, a in accepted.items():
        if 0 <= a.merchant < merchants:
            per_merchant[a.merchant] += 1
        match = _SHARD.match(pid)
        if match is None:
            unsharded += 1
            continue
        shard = int(match.group(1))
        shard_payments[shard] += 1
        merchant_shards.setdefault(a.merchant, set()).add(shard)
    shard_merchants: Counter[int] = Counter(
        shard for m, found in merchant_shards.items() if m >= 0 for shard in found
    )
    known = set(range(shards)) if shards else set()
    return {
        "merchants": merchants,
        "payments_per_merchant": per_merchant,
        "shards": {
            str(shard): {"merchants": shard_merchants[shard], "payments": shard_payments[shard]}
            for shard in sorted(known | set(shard_payments))
        },
        "merchants_on_several_shards": sum(
            1 for found in merchant_shards.values() if len(found) > 1
        ),
        "unsharded_ids": unsharded,
    }


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def spread_text(spread: Mapping[str, Any]) -> str:
    """``8 merchants; payments by shard: s0 1,234 (3 merchants), s1 ...``."""
    shards = spread.get("shards") or {}
    parts = [
        f"s{shard} {v['payments']:,} ({v['merchants']} merchant{_s(v['merchants'])})"
        for shard, v in shards.items()
    ]
    text = f"{spread['merchants']} merchants"
    per = spread.get("payments_per_merchant") or []
    if per:
        text += f" ({min(per):,} to {max(per):,} payments each)"
    if parts:
        text += "; payments by shard: " + ", ".join(parts)
    return text


def result_name(config: RunConfig, started_at: datetime) -> str:
    return f"{started_at:%Y-%m-%d}-{config.scenario}"


def build_result(data: RunData) -> dict[str, Any]:
    cfg = data.config
    records = data.records
    sent = [r for r in records if r.status >= 0]
    creates = [r for r in sent if r.op in PAYMENT_OPS]
    gets = [r for r in sent if r.op == GET]
    t0 = min((r.t for r in sent), default=None)
    t_end = max((r.answered_at for r in sent), default=None)
    errors = Counter(r.error for r in records if r.error)
    errors.update(_callback_errors(data.simulator))
    accepted = len(data.accepted)

    completion = [
        data.first_final[pid] - a.t for pid, a in data.accepted.items() if pid in data.first_final
    ]
    last_final = max((data.first_final[pid] for pid in data.accepted if pid in data.first_final),
                     default=None)  # fmt: skip
    check = data.check
    completed = check.completed if check is not None else None
    payments = completed if completed else accepted

    roles = by_role(data.cpu)
    total_cpu = round(sum(roles.values()), 3)
    per_payment = {role: _div(cpu, payments) for role, cpu in roles.items()}
    buckets = timeline(
        t0 or 0.0,
        (r.t for r in sent),
        ((r.answered_at, r.latency, r.accepted, bool(r.error)) for r in sent),
        (
            (data.first_final[pid], data.first_final[pid] - a.t)
            for pid, a in data.accepted.items()
            if pid in data.first_final
        ),
    )
    money = data.money
    paid_twice = int((money or {}).get("paid_twice", 0))
    ops = per_op(records, data.accepted, data.first_final)
    return {
        "scenario": cfg.scenario,
        "target": cfg.target,
        "started_at": data.started_at.isoformat(timespec="seconds"),
        "config": cfg.as_json(),
        "machine": data.machine,
        "merchants": merchant_spread(data.accepted, data.merchants, data.shards)
        if data.merchants
        else None,
        "load": {
            "mode": "open loop" if cfg.rate else "closed loop",
            "window_s": _round(t_end - t0) if t0 is not None and t_end is not None else None,
            "requests": len(sent),
            "requests_per_s": rate(len(sent), t0, t_end),
            "payment_requests": len(creates),
            "storm_requests": sum(1 for r in creates if r.op == STORM),
            "get_requests": len(gets),
            "inflight_cap_hits": errors.get(INFLIGHT_CAP, 0),
            "locust": data.locust,
        },
        "accepted": accepted,
        "accepted_per_s": rate(accepted, t0, t_end),
        "completed": completed,
        "completed_per_s": rate(completed, t0, last_final) if completed else None,
        "lost": check.lost if check is not None else None,
        "duplicated": check.duplicated + paid_twice if check is not None else None,
        "in_flight": len(check.not_final_in_db) if check is not None else None,
        "per_op": ops if len(ops) > 1 else None,
        "per_rail": per_rail(records, data.accepted, data.first_final) if len(ops) > 1 else None,
        "money": money,
        "funding": {"payments": len(data.funding), "shillings_each": cfg.fund_shillings}
        if data.funding
        else None,
        "api_latency_ms": summary_ms(r.latency for r in creates if not r.error),
        "get_latency_ms": summary_ms(r.latency for r in gets if not r.error) if gets else None,
        "completion_latency_ms": summary_ms(completion) if check is not None else None,
        "errors": dict(errors.most_common()),
        "drain": {"drained": data.drained, "seconds": _round(data.drain_s)},
        "phases_s": data.phases,
        "checks": check.as_json() if check is not None else None,
        "cpu": {
            "window_s": _round(data.cpu_window_s),
            "payments": payments,
            "total_s": total_cpu,
            "machine_busy_s": data.machine_busy_s,
            "outside_bench_s": _outside(data.machine_busy_s, total_cpu),
            "total_per_payment_s": _div(total_cpu, payments),
            "by_role_s": roles,
            "per_payment_s": per_payment,
            "count_by_role": dict(Counter(p.role for p in data.cpu)),
            "processes": [asdict(p) for p in data.cpu if p.cpu_s > 0],
        },
        "cost": summarize(data.cost.processes, payments, data.cost.redis, data.cost.oplog)
        if data.cost is not None
        else None,
        "ray": data.ray,
        "warnings": warnings(data),
        "switch_log": data.switch_log,
        "simulator": data.simulator,
        "sink": data.sink,
        "timeline": [asdict(b) for b in buckets],
    }


def warnings(data: RunData) -> list[str]:
    """Things that make the numbers of this run suspect."""
    out = []
    cfg = data.config
    api = sum(1 for p in data.cpu if p.role == "api")
    if cfg.workers and cfg.target == "switch" and api < cfg.workers:
        out.append(f"asked for {cfg.workers} api processes (--workers), saw {api}")
    if not data.drained and data.check is not None:
        out.append(f"not drained: payments still incomplete after {data.drain_s:.0f} s")
    spread = merchant_spread(data.accepted, data.merchants, data.shards) if data.merchants else {}
    if spread.get("merchants_on_several_shards"):
        out.append(
            f"{spread['merchants_on_several_shards']} merchants had payments on several shards"
        )
    if data.merchants > cfg.users:
        out.append(
            f"{data.merchants} merchants but {cfg.users} users: "
            f"{data.merchants - cfg.users} merchants get no load"
        )
    if data.check is not None and data.check.not_final_in_db:
        out.append(
            f"{len(data.check.not_final_in_db)} accepted objects still in flight at the end "
            "(listed with reasons under money.rails)"
        )
    money = data.money or {}
    if money.get("unread_records"):
        out.append(f"simulator records not read: {money['unread_records']}")
    ledger = money.get("ledger") or {}
    if ledger and not ledger.get("balanced"):
        out.append(f"the switch's ledger check found {ledger.get('problems')} problems")
    if money.get("transfers_not_settled"):
        out.append(f"{money['transfers_not_settled']} transfers neither succeeded nor refunded")
    bills = money.get("bills") or {}
    if bills and not bills.get("ok"):
        out.append(f"bills: {bills['not_paid']} not paid, {bills['paid_twice']} paid twice")
    runs = money.get("benefit_runs") or {}
    if runs and not runs.get("ok"):
        out.append(f"benefit runs: {runs['not_paid']} not paid as planned")
    busy, ours = data.machine_busy_s, sum(p.cpu_s for p in data.cpu)
    cpus = int(data.machine.get("cpus") or 1)
    if busy is not None and busy - ours > 0.05 * data.cpu_window_s * cpus:
        out.append(
            f"other work on the machine used {busy - ours:.1f} CPU-s of the "
            f"{data.cpu_window_s * cpus:.0f} available in the window: figures are indicative"
        )
    sent = sum(1 for r in data.records if r.status >= 0)
    counted = data.locust.get("requests")
    if counted is not None and counted != sent:
        out.append(f"locust counted {counted} requests, the records hold {sent}")
    return out


def _callback_errors(simulator: Mapping[str, Any] | None) -> dict[str, int]:
    """Simulator callbacks the switch did not answer with a 2xx, as error kinds."""
    statuses = ((simulator or {}).get("callbacks") or {}).get("statuses") or {}
    out: dict[str, int] = {}
    for status, n in statuses.items():
        if status == "none":
            out["sim_callback_no_answer"] = n
        elif not status.startswith("2"):
            out[f"sim_callback_http_{status}"] = n
    return out


def _outside(machine: float | None, ours: float) -> float | None:
    return None if machine is None else round(max(0.0, machine - ours), 3)


def _div(a: float, b: int | None) -> float | None:
    return round(a / b, 6) if b else None


def _round(x: float) -> float:
    return round(x, 3)


# --- markdown ------------------------------------------------------------------------------------


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.3g}"
        return text + unit
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def render_markdown(result: Mapping[str, Any], comparison: str = "") -> str:
    cfg = result["config"]
    api, done = result["api_latency_ms"], result["completion_latency_ms"] or {}
    load, cpu = result["load"], result["cpu"]
    rate_text = f", {cfg['rate']}/s open loop" if cfg.get("rate") else ", closed loop"
    lines = [
        f"# Bench {result['scenario']} ({result['target']}) - {result['started_at']}",
        "",
        f"{cfg['users']} users, {cfg['duration']:g} s{rate_text}; shards "
        f"{cfg['shards'] or 'default'}, workers {cfg['workers'] or 'default'}, callback delay "
        f"{cfg['callback_delay']:g} s, simulator latency {cfg['sim_latency']:g} s; "
        f"{result['machine'].get('cpus', '?')} CPUs, commit {result['machine'].get('git') or '?'}.",
        *([f"\n{spread_text(result['merchants'])}."] if result.get("merchants") else []),
        *_command_line(result["machine"]),
        "",
        "| metric | value |",
        "|---|---|",
        f"| accepted (payments) | {_fmt(result['accepted'])} |",
        f"| accepted/s | {_fmt(result['accepted_per_s'])} |",
        f"| completed | {_fmt(result['completed'])} |",
        f"| completed/s | {_fmt(result['completed_per_s'])} |",
        f"| **lost** | **{_fmt(result['lost'])}** |",
        f"| **duplicated** | **{_fmt(result['duplicated'])}** |",
        f"| API answer p50 / p95 / p99 | {_fmt(api['p50'], ' ms')} / {_fmt(api['p95'], ' ms')} / "
        f"{_fmt(api['p99'], ' ms')} |",
        f"| completion p50 / p95 / p99 | {_fmt(done.get('p50'), ' ms')} / "
        f"{_fmt(done.get('p95'), ' ms')} / {_fmt(done.get('p99'), ' ms')} |",
        f"| requests (all kinds) | {_fmt(load['requests'])} ({_fmt(load['requests_per_s'])}/s) |",
        f"| CPU per payment (all processes) | {cpu_ms_text(cpu['total_per_payment_s'])} |",
        "",
        "Completion is from the request to the arrival of the final webhook (Daraja callback for "
        "the daraja scenario); it includes the simulated customer's callback delay.",
    ]
    if result["get_latency_ms"]:
        g = result["get_latency_ms"]
        lines.append(f"GET latency p50 / p99: {_fmt(g['p50'], ' ms')} / {_fmt(g['p99'], ' ms')}.")
    if result.get("phases_s"):
        lines.append(
            "Phases (s): " + ", ".join(f"{k} {v:g}" for k, v in result["phases_s"].items()) + "."
        )
    lines += [f"\n**Warning: {w}.**" for w in result.get("warnings", [])]
    lines += _mixed_sections(result)
    lines += ["", "## Errors", ""]
    errors = result["errors"]
    lines += [f"- {kind}: {n}" for kind, n in errors.items()] or ["none"]
    if result["checks"]:
        c = result["checks"]
        lines += ["", "## Checks", "", "```", json.dumps(c, indent=2), "```"]
    lines += ["", "## CPU by process", ""]
    lines += ["| process | count | CPU s | ms per payment | share |", "|---|---:|---:|---:|---:|"]
    total = cpu["total_s"] or 1.0
    counts = cpu.get("count_by_role", {})
    for role, seconds in cpu["by_role_s"].items():
        share = 100.0 * seconds / total
        per = _fmt(_ms(cpu["per_payment_s"][role]))
        lines.append(f"| {role} | {counts.get(role, '?')} | {seconds:.2f} | {per} | {share:.0f}% |")
    per_total = _fmt(_ms(cpu["total_per_payment_s"]))
    lines.append(f"| total | {sum(counts.values())} | {cpu['total_s']:.2f} | {per_total} | |")
    lines.append(
        f"\nWindow {cpu['window_s']} s (load and drain) over {cpu['payments']} payments. In "
        f"sandbox mode the simulators ({_SIMULATED}) run inside the api "
        "process. Other work on the "
        f"machine in the window: {_fmt(cpu.get('outside_bench_s'), ' CPU s')}."
    )
    if result.get("cost"):
        lines += render_cost(result["cost"])
    if result.get("ray"):
        lines += render_placement(result["ray"])
    log = result.get("switch_log")
    if log:
        lines += ["", "## Switch log", "", f"{log['errors']} error and {log['warnings']} warning "
                  "lines."]  # fmt: skip
        lines += [f"- {t['level']} x{t['count']}: `{t['message']}`" for t in log["top"]]
    if result.get("simulator"):
        lines += ["", "## Simulator", "", f"`{json.dumps(result['simulator'])}`"]
    if comparison:
        lines += ["", "## Compared", "", comparison]
    return "\n".join(lines) + "\n"


def _command_line(machine: Mapping[str, Any]) -> list[str]:
    """The command that produced the run and the machine's load around it."""
    out = []
    if machine.get("command"):
        out.append(f"\nCommand: `{machine['command']}`.")
    before, after = machine.get("loadavg_before"), machine.get("loadavg_after")
    if before and after:
        out.append(f"Load average (1/5/15 min) before {before}, after {after}.")
    return out


def _mixed_sections(result: Mapping[str, Any]) -> list[str]:
    """Per operation and per rail figures, and the money checks per rail."""
    lines: list[str] = []
    if result.get("funding"):
        f = result["funding"]
        lines += [
            "",
            f"Before the load each merchant was funded with one {_FUNDED_BY} collection of KES "
            f"{f['shillings_each']:,} ({f['payments']} payments, not counted in the figures).",
        ]
    if result.get("per_op"):
        lines += ["", "## Per operation", "", *table(result["per_op"], "operation")]
    if result.get("per_rail"):
        lines += ["", "## Per rail", "", *table(result["per_rail"], "rail")]
        lines += [
            "",
            "Completion: request to the final webhook (transfers: to the webhook of the leg that "
            "ends them). Rates are over the whole load window.",
        ]
    money = result.get("money")
    if money and money.get("rails"):
        lines += ["", "## Money checks per rail", ""]
        lines += [
            "| rail | accepted | final | completed | lost | in flight | paid twice | statuses |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for rail, r in money["rails"].items():
            statuses = ", ".join(f"{k} {v}" for k, v in r["statuses"].items())
            if len(r.get("methods") or {}) > 1:
                statuses += " (" + ", ".join(f"{k} {v}" for k, v in r["methods"].items()) + ")"
            lines.append(
                f"| {rail} | {r['accepted']:,} | {r['final']:,} | {r['completed']:,} | "
                f"{r['lost']} | {r['in_flight']} | {r['paid_twice']} | {statuses} |"
            )
        for rail, r in money["rails"].items():
            for item in r.get("in_flight_sample") or []:
                lines.append(f"- in flight ({rail}): `{item['id']}` {item['reason']}")
        lines += ["", "Simulators' own records (bookings, extra per id, extra per destination):"]
        for book, t in (money.get("simulator_records") or {}).items():
            lines.append(
                f"- {book}: {t['bookings']:,} bookings, {t['extra_per_id']} extra per id, "
                f"{t['extra_per_destination']} extra per destination"
            )
        for name, answers in (money.get("callbacks_answered") or {}).items():
            lines.append(
                f"- callbacks of {name}, as the switch answered them: {answers['statuses']}"
                + (f", errors {answers['errors']}" if answers["errors"] else "")
            )
        transfers = money.get("transfers")
        if transfers:
            lines.append(
                f"- transfers: {transfers['statuses']}; not settled {transfers['not_settled']}, "
                f"legs disagreeing with the status {transfers['legs_disagree']}"
            )
        ledger = money.get("ledger")
        if ledger:
            verdict = "balanced" if ledger["balanced"] else f"{ledger['problems']} problems"
            lines.append(
                f"- the switch's ledger check (switch/reconcile.py): {verdict} over "
                f"{ledger['entries']:,} journal entries, {ledger['accounts']} accounts, "
                f"{ledger['payments']:,} payments"
            )
            lines += [f"  - `{p}`" for p in ledger.get("problems_sample") or []]
        if money.get("bills"):
            lines.append(
                "- bills paid by C2B (each paid once: the switch's view against the Daraja "
                "simulator's C2B record):"
            )
            lines += [f"  - {line}" for line in bill_lines(money["bills"])]
        if money.get("benefit_runs"):
            lines.append(
                "- benefit runs (each completed, its beneficiaries paid once, its report tied to "
                f"the journal): {runs_line(money['benefit_runs'])}"
            )
        if money.get("unread_records"):
            lines.append(f"- NOT read: {money['unread_records']}")
    return lines


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def cpu_ms_text(seconds: float | None) -> str:
    return _fmt(_ms(seconds), " ms")


def write_outputs(
    result: Mapping[str, Any], out_dir: Path, name: str, comparison: str = ""
) -> dict[str, Path]:
    from bench.chart import draw_chart  # matplotlib is slow to import: only when writing

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: out_dir / f"{name}.{ext}" for ext in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(result, indent=2) + "\n")
    paths["md"].write_text(render_markdown(result, comparison))
    draw_chart(result, paths["png"])
    return paths


def headline(result: Mapping[str, Any]) -> Sequence[str]:
    api = result["api_latency_ms"]
    done = result["completion_latency_ms"] or {}
    return [
        f"accepted {_fmt(result['accepted'])} ({_fmt(result['accepted_per_s'])}/s), "
        f"completed {_fmt(result['completed'])} ({_fmt(result['completed_per_s'])}/s), "
        f"lost {_fmt(result['lost'])}, duplicated {_fmt(result['duplicated'])}",
        f"API p50 {_fmt(api['p50'], ' ms')} p95 {_fmt(api['p95'], ' ms')} p99 "
        f"{_fmt(api['p99'], ' ms')}; completion p50 {_fmt(done.get('p50'), ' ms')} p99 "
        f"{_fmt(done.get('p99'), ' ms')}",
        f"CPU per payment {cpu_ms_text(result['cpu']['total_per_payment_s'])}: "
        + ", ".join(
            f"{role} {cpu_ms_text(v)}" for role, v in result["cpu"]["per_payment_s"].items()
        ),
        "errors: " + (", ".join(f"{k} {v}" for k, v in result["errors"].items()) or "none"),
        *([spread_text(result["merchants"])] if result.get("merchants") else []),
        *_rail_headline(result),
        *([cost_headline(result["cost"])] if result.get("cost") else []),
        *([ray_headline(result["ray"])] if result.get("ray") else []),
        *(f"WARNING: {w}" for w in result.get("warnings", [])),
    ]


def _rail_headline(result: Mapping[str, Any]) -> list[str]:
    rows = result.get("per_rail") or {}
    out = [
        f"  {rail}: accepted {_fmt(r['accepted'])} ({_fmt(r['accepted_per_s'])}/s), completed "
        f"{_fmt(r['completed'])}, API p99 {_fmt(r['api_ms']['p99'], ' ms')}"
        for rail, r in rows.items()
    ]
    money = result.get("money") or {}
    if money.get("ledger"):
        out.append(
            f"paid twice {money.get('paid_twice')}, in flight {money.get('in_flight')}, "
            f"transfers not settled {money.get('transfers_not_settled')}, ledger "
            + ("balanced" if money["ledger"]["balanced"] else "NOT balanced")
        )
    out += [f"  {line}" for line in bill_lines(money.get("bills") or {})]
    if money.get("benefit_runs"):
        out.append(f"  {runs_line(money['benefit_runs'])}")
    return out
