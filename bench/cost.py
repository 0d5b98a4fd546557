"""What a payment costs (issue 17, item 1), from the counts ``--cost`` gathers
(bench/costprobe.py): MongoDB commands, documents written and bytes by collection (the switch's
processes count them, infra/cost.py), the server's oplog growth, Ray calls and bytes, Redis
commands (the server's ``INFO commandstats``). Pure: differences, sums, per payment, markdown."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Dump = Mapping[str, Any]  # one process's file: {"role", "pid", "mongo": {...}, "ray": {...}}
Rows = dict[str, list[int]]

_SHARD = re.compile(r"^shard-[0-9]+$")


def _sub(after: Mapping[str, list[int]], before: Mapping[str, list[int]]) -> Rows:
    out: Rows = {}
    for key, row in after.items():
        base = before.get(key, [0] * len(row))
        delta = [a - b for a, b in zip(row, base, strict=True)]
        if any(delta):
            out[key] = delta
    return out


def window_counts(before: Mapping[str, Dump], after: Mapping[str, Dump]) -> list[dict[str, Any]]:
    """Per process (file name -> dump), what it counted between the two readings; a process
    that started inside the window counts from zero. Pure."""
    out = []
    for name, dump in sorted(after.items()):
        prior = before.get(name, {})
        out.append(
            {
                "role": str(dump.get("role", "?")),
                "pid": dump.get("pid"),
                "mongo": _sub(dump.get("mongo", {}), prior.get("mongo", {})),
                "ray": _sub(dump.get("ray", {}), prior.get("ray", {})),
            }
        )
    return out


def role_group(role: str) -> str:
    """``shard-3`` -> ``shards``; every other role (api, batches, a gateway) as it is. Pure."""
    return "shards" if _SHARD.match(role) else role


def commandstats_calls(info: Mapping[str, Any]) -> dict[str, int]:
    """``INFO commandstats`` as redis-py parses it (``{"cmdstat_get": {"calls": 3, ...}}``)
    -> calls per command. Pure."""
    out: dict[str, int] = {}
    for key, stats in info.items():
        if key.startswith("cmdstat_") and isinstance(stats, Mapping):
            out[key.removeprefix("cmdstat_")] = int(stats.get("calls", 0))
    return out


def calls_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Commands run between two readings, largest first. Pure."""
    delta = {k: v - before.get(k, 0) for k, v in after.items()}
    return dict(sorted(((k, v) for k, v in delta.items() if v > 0), key=lambda kv: -kv[1]))


def oplog_counts(entries: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Oplog entries by ``"<op> <namespace>"`` (``i`` insert, ``u`` update, ``d`` delete), the
    server's own record of every document write. Pure."""
    out: dict[str, int] = {}
    for e in entries:
        key = f"{e.get('op', '?')} {e.get('ns', '?')}"
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


@dataclass(frozen=True)
class CostReadings:
    """What ``--cost`` read over the window: per process (:func:`window_counts`), Redis calls
    per command (None: not read), oplog entries by op and namespace (None: no oplog)."""

    processes: list[dict[str, Any]]
    redis: dict[str, int] | None = None
    oplog: dict[str, int] | None = None


def _per(value: float, payments: int) -> float | None:
    return round(value / payments, 3) if payments else None


def _table(rows: Mapping[str, list[int]], names: tuple[str, ...], payments: int) -> dict[str, Any]:
    """{key: {name: total, name_per_payment: ...}}, largest first by the first column."""
    ordered = sorted(rows.items(), key=lambda kv: (-kv[1][0], kv[0]))
    out: dict[str, Any] = {}
    for key, row in ordered:
        entry: dict[str, Any] = {}
        for name, value in zip(names, row, strict=True):
            entry[name] = value
            entry[f"{name}_per_payment"] = _per(value, payments)
        out[key] = entry
    return out


def _add(into: Rows, key: str, row: list[int]) -> None:
    acc = into.setdefault(key, [0] * len(row))
    for i, v in enumerate(row):
        acc[i] += v


def summarize(
    processes: list[dict[str, Any]],
    payments: int,
    redis_calls: Mapping[str, int] | None = None,
    oplog: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The ``cost`` block of a result: totals and per payment, by collection, by command, by
    process group; Ray by method and by calling process; Redis by command; the oplog. Pure."""
    by_collection: Rows = {}
    by_command: Rows = {}
    mongo_by_group: Rows = {}
    ray_by_method: Rows = {}
    ray_by_group: Rows = {}
    for proc in processes:
        group = role_group(proc["role"])
        for key, row in proc["mongo"].items():
            command, _, collection = key.partition(" ")
            _add(by_collection, collection or f"({command})", row)
            _add(by_command, key, row)
            _add(mongo_by_group, group, row)
        for method, row in proc["ray"].items():
            _add(ray_by_method, method, row)
            _add(ray_by_group, group, row)
    mongo_total = [sum(r[i] for r in by_command.values()) for i in range(3)]
    ray_total = [sum(r[i] for r in ray_by_method.values()) for i in range(3)]
    mongo_names = ("commands", "docs_written", "bytes_written")
    ray_names = ("calls", "arg_bytes", "answer_bytes")
    result: dict[str, Any] = {
        "payments": payments,
        "mongo": {
            **_table({"total": mongo_total}, mongo_names, payments)["total"],
            "by_collection": _table(by_collection, mongo_names, payments),
            "by_command": _table(by_command, mongo_names, payments),
            "by_process": _table(mongo_by_group, mongo_names, payments),
        },
        "ray": {
            **_table({"total": ray_total}, ray_names, payments)["total"],
            "by_method": _table(ray_by_method, ray_names, payments),
            "by_caller": _table(ray_by_group, ray_names, payments),
        },
        "redis": _counted(redis_calls, payments, "commands", "calls", "by_command"),
        "oplog": _counted(oplog, payments, "entries", "entries", "by_op"),
        "processes": len(processes),
    }
    return result


def _counted(
    counts: Mapping[str, int] | None, payments: int, total: str, each: str, by: str
) -> dict[str, Any] | None:
    """A flat count (Redis commands, oplog entries): total, per payment, and per key."""
    if counts is None:
        return None
    n = sum(counts.values())
    rows = {k: {each: v, "per_payment": _per(v, payments)} for k, v in counts.items()}
    return {total: n, f"{total}_per_payment": _per(n, payments), by: rows}


def _f(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def render_cost(cost: Mapping[str, Any]) -> list[str]:
    """The "Cost per payment" section of the markdown summary. Pure."""
    m, r = cost["mongo"], cost["ray"]
    lines = [
        "",
        "## Cost per payment",
        "",
        f"Over {cost['payments']:,} payments (the CPU section's), counted by the switch's "
        f"{cost['processes']} processes (`--cost`).",
        "",
        "| what | total | per payment |",
        "|---|---:|---:|",
        f"| MongoDB commands | {m['commands']:,} | {_f(m['commands_per_payment'])} |",
        f"| documents written | {m['docs_written']:,} | {_f(m['docs_written_per_payment'])} |",
        f"| bytes written (BSON) | {m['bytes_written']:,} | {_f(m['bytes_written_per_payment'])} |",
    ]
    if cost.get("oplog"):
        o = cost["oplog"]
        lines.append(f"| oplog entries | {o['entries']:,} | {_f(o['entries_per_payment'])} |")
    lines.append(f"| Ray calls | {r['calls']:,} | {_f(r['calls_per_payment'])} |")
    lines.append(
        f"| Ray bytes (arguments + answers, pickled) | {r['arg_bytes'] + r['answer_bytes']:,} | "
        f"{_f(_sum_per(r['arg_bytes_per_payment'], r['answer_bytes_per_payment']))} |"
    )
    if cost.get("redis"):
        d = cost["redis"]
        lines.append(f"| Redis commands | {d['commands']:,} | {_f(d['commands_per_payment'])} |")
    mongo_cols = ("commands", "docs_written", "bytes_written")
    lines += ["", "MongoDB by command and collection (per payment):", ""]
    lines += ["| command collection | commands | docs written | bytes |", "|---|---:|---:|---:|"]
    lines += _per_rows(m["by_command"], mongo_cols)
    lines += ["", "MongoDB by process (per payment):", ""]
    lines += ["| process | commands | docs written | bytes |", "|---|---:|---:|---:|"]
    lines += _per_rows(m["by_process"], mongo_cols)
    if cost.get("oplog"):
        title = "Oplog entries (i insert, u update, d delete; per payment)"
        lines += ["", _inline(title, cost["oplog"]["by_op"])]
    ray_cols = ("calls", "arg_bytes", "answer_bytes")
    lines += ["", "Ray calls at the actor proxy (per payment):", ""]
    lines += [
        "| method | caller | calls | argument bytes | answer bytes |",
        "|---|---|---:|---:|---:|",
    ]
    lines += _per_rows(r["by_method"], ray_cols, "{key} | ")
    lines += _per_rows(r["by_caller"], ray_cols, " | {key}")
    if cost.get("redis"):
        lines += ["", _inline("Redis commands (per payment)", cost["redis"]["by_command"])]
    return lines


def _per_rows(
    rows: Mapping[str, Mapping[str, Any]], names: tuple[str, ...], lead: str = "{key}"
) -> list[str]:
    """Table rows: the lead cell(s), then each column's per-payment figure."""
    return [
        f"| {lead.format(key=key)} | "
        + " | ".join(_f(row[f"{n}_per_payment"]) for n in names)
        + " |"
        for key, row in rows.items()
    ]


def _inline(title: str, rows: Mapping[str, Mapping[str, Any]]) -> str:
    return f"{title}: " + ", ".join(f"{k} {_f(v['per_payment'])}" for k, v in rows.items()) + "."


def _sum_per(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a + b, 3)


def cost_headline(cost: Mapping[str, Any]) -> str:
    """One console line: the per-payment figures. Pure."""
    m, r = cost["mongo"], cost["ray"]
    parts = [
        f"{_f(m['commands_per_payment'])} MongoDB commands",
        f"{_f(m['docs_written_per_payment'])} documents written",
    ]
    if cost.get("oplog"):
        parts.append(f"{_f(cost['oplog']['entries_per_payment'])} oplog entries")
    parts.append(f"{_f(r['calls_per_payment'])} Ray calls")
    if cost.get("redis"):
        parts.append(f"{_f(cost['redis']['commands_per_payment'])} Redis commands")
    return "cost per payment: " + ", ".join(parts)


def cost_table(runs: Iterable[tuple[str, Mapping[str, Any]]]) -> str:
    """Per payment, the runs that counted their cost (``--cost``) side by side; "" if none. Pure."""
    rows = [(name, r["cost"]) for name, r in runs if r.get("cost")]
    if not rows:
        return ""
    lines = [
        "| run | MongoDB commands | docs written | bytes written | oplog entries | Ray calls "
        "| Ray bytes | Redis commands |",
        "|" + "---|" * 8,
    ]
    for name, c in rows:
        m, r = c["mongo"], c["ray"]
        oplog = (c.get("oplog") or {}).get("entries_per_payment")
        redis = (c.get("redis") or {}).get("commands_per_payment")
        ray_bytes = _sum_per(r["arg_bytes_per_payment"], r["answer_bytes_per_payment"])
        lines.append(
            f"| {name} | {_f(m['commands_per_payment'])} | {_f(m['docs_written_per_payment'])} "
            f"| {_f(m['bytes_written_per_payment'])} | {_f(oplog)} | {_f(r['calls_per_payment'])} "
            f"| {_f(ray_bytes)} | {_f(redis)} |"
        )
    return "\n".join(lines)
