"""``python -m bench run --scenario hub``: transfers among four participant banks of the
interoperability hub, through the public API, on the whole stack.

1. start the switch (bench/stack.py, no merchants) and the participants' responder (in this
   process, like the webhook sink); an operator client (as ``infra.merchants`` makes one)
   onboards four banks with liquidity and a net debit cap, each registers an account it holds
   in the directory;
2. locust (``HubUser``): each user is one bank (round-robin), looks up an account of another
   bank and prepares a transfer to it (bench/locustfile.py);
3. the responder gets each signed ``hub.transfer.prepared`` notice, checks its signature with the
   payee's webhook secret, and answers as the payee: accept, or reject for a share
   (``REJECT_EVERY``); it notes when the commit was answered;
4. after the drain, the checks of bench/hubcheck.py over MongoDB's ``hub_transfers``, every
   position and the journal;
5. ``<out>/<date>-hub.json`` and ``.md``: committed transfers/s, per core of switch CPU, prepare
   and prepare-to-commit latency, the position actor's share of a core, and Mojaloop's published
   figure beside them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from bench.config import RunConfig
from bench.cpu import CpuMeter, by_role
from bench.hubcheck import HubCheck, batch_stats, check_hub
from bench.loadgen import READY_LINE, STOP_TIMEOUT, locust_totals, start_locust
from bench.mixed import stored_and_books
from bench.procs import ProcessFailed, free_port
from bench.records import HUB_LOOKUP, HUB_PREPARE, Record, RecordTail
from bench.stack import Target, basic_auth, start_target
from bench.stats import rate, summary_ms
from infra.merchants import create_operator_client
from infra.storage.mongo import collections, connect
from switch.signing import verify_webhook

BANKS = 4
LIQUIDITY = "5000000"  # KES deposited by each bank
NET_DEBIT_CAP = "3000000"
REJECT_EVERY = 20  # the payee rejects one transfer in 20 (by the transfer id's hash)
EXPIRES_IN = 30  # seconds the payee has to answer
NOT_LOAD = frozenset({"locust", "runner+sink"})  # the load generator and the responder
# Mojaloop v17.1.0's published performance run (the issue's anchor).
MOJALOOP = {"transfers_per_s": 650.0, "p99_ms": 946.0, "vcpus": 40, "per_vcpu": 650.0 / 40}
DB_TIMEOUT = 120.0


@dataclass
class Bank:
    index: int
    id: str
    token: str
    account: str
    secret: str


@dataclass
class Responder:
    """The participants' endpoints, ``/p/{index}``: checks each notice's signature with that
    bank's webhook secret, and answers each ``hub.transfer.prepared`` as the payee."""

    http: aiohttp.ClientSession
    base: str = ""
    banks: dict[int, Bank] = field(default_factory=dict)
    committed_at: dict[str, float] = field(default_factory=dict)  # transfer id -> answer time
    answered: dict[str, str] = field(default_factory=dict)  # transfer id -> state answered
    notices: dict[str, int] = field(default_factory=dict)
    bad_signatures: int = 0
    answer_errors: dict[str, int] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self, port: int) -> None:
        app = web.Application()
        app.router.add_post("/p/{index}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/p"

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def handle(self, request: web.Request) -> web.Response:
        bank = self.banks.get(int(request.match_info["index"]))
        body = await request.read()
        if bank is None or not verify_webhook(bank.secret, request.headers, body):
            self.bad_signatures += 1
            return web.Response(status=400)
        event = orjson.loads(body)
        kind = str(event.get("type"))
        self.notices[kind] = self.notices.get(kind, 0) + 1
        data = event.get("data") or {}
        if kind == "hub.transfer.prepared" and data.get("payee") == bank.id:
            task = asyncio.create_task(self._answer(bank, str(data["id"])))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.Response(status=204)

    async def _answer(self, bank: Bank, transfer_id: str) -> None:
        reject = rejected(transfer_id)
        verb, body = ("reject", {"reason": "bench: account closed"}) if reject else ("accept", {})
        headers = {"Authorization": f"Bearer {bank.token}"}
        url = f"{self.base}/v1/hub/transfers/{transfer_id}/{verb}"
        for _ in range(5):  # a 503 is retried: the answer is idempotent on the transfer's state
            try:
                async with self.http.post(url, json=body, headers=headers) as resp:
                    answer = await resp.json(content_type=None)
                    if resp.status == 200:
                        self.answered[transfer_id] = str(answer.get("state"))
                        if answer.get("state") == "COMMITTED":
                            self.committed_at[transfer_id] = time.time()
                        return
                    code = f"http_{resp.status}:{(answer.get('error') or {}).get('code', '')}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                code = type(exc).__name__
            self.answer_errors[code] = self.answer_errors.get(code, 0) + 1
            if not code.startswith(("http_503", "Client", "Server")):  # else: not to retry
                return
            await asyncio.sleep(0.2)


def rejected(transfer_id: str) -> bool:
    """Whether the payee rejects this transfer: one in REJECT_EVERY, by the id's hash. Pure."""
    return int(hashlib.sha256(transfer_id.encode()).hexdigest()[:8], 16) % REJECT_EVERY == 0


async def _call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str,
    body: Any = None,
    key: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    async with http.request(method, url, json=body, headers=headers) as resp:
        answer: dict[str, Any] = await resp.json(content_type=None)
        if resp.status not in (200, 201):
            raise ProcessFailed(f"{method} {url}: {resp.status} {answer}")
        return answer


async def _token(http: aiohttp.ClientSession, base: str, client_id: str, secret: str) -> str:
    async with http.post(
        f"{base}/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic_auth(client_id, secret)},
    ) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 200:
            raise ProcessFailed(f"no token: {resp.status} {body}")
        return str(body["access_token"])


async def onboard(
    http: aiohttp.ClientSession, target: Target, responder_url: str
) -> tuple[str, list[Bank]]:
    """The operator's token and the four banks: onboarded, funded, each with an account in the
    directory."""
    uri = target.mongo_uri()
    if uri is None:
        raise ProcessFailed("cannot find the switch's database")
    client = connect(uri)
    try:
        made = await create_operator_client(collections(client, target.db_name))
    finally:
        await client.close()
    base = target.url
    operator = await _token(http, base, made["client_id"], made["client_secret"])
    banks: list[Bank] = []
    for i in range(BANKS):
        code = str(61 + i)
        body = {
            "name": f"Bench bank {code}",
            "kind": "bank",
            "bank_code": code,
            "endpoint_url": f"{responder_url}/{i}",
            "net_debit_cap": NET_DEBIT_CAP,
        }
        p = await _call(http, "POST", f"{base}/v1/operator/hub/participants", operator, body)
        funds = {"action": "funds_in", "amount": LIQUIDITY, "currency": "KES", "reason": "bench"}
        await _call(http, "POST", f"{base}/v1/operator/hub/participants/{p['id']}/funds",
                    operator, funds, key=uuid.uuid4().hex)  # fmt: skip
        token = await _token(http, base, p["client_id"], p["client_secret"])
        account = f"{code}:00{i + 1:08d}"
        party = {"type": "ACCOUNT", "id": account}
        await _call(http, "POST", f"{base}/v1/hub/parties", token, party)
        banks.append(Bank(i, str(p["id"]), token, account, str(p["webhook_secret"])))
    return operator, banks


async def run_hub(cfg: RunConfig) -> tuple[dict[str, Any], dict[str, Path]]:
    started_at = datetime.now().astimezone()
    workdir = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    cpu = CpuMeter()
    target = None
    locust = None
    records: list[Record] = []
    phases: dict[str, float] = {}
    mark = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        responder = Responder(http)
        try:
            await responder.start(free_port())
            print(f"bench hub: starting the switch (logs in {workdir})", flush=True)
            target = await start_target(cfg, workdir, "http://127.0.0.1:9", http)
            responder.base = target.url
            for child in target.children:
                cpu.add_root(child.pid, "")
            operator, banks = await onboard(http, target, responder.url)
            responder.banks = {b.index: b for b in banks}
            phases["start"] = round(time.monotonic() - mark, 2)
            mark = time.monotonic()
            env = {
                "BENCH_HUB_BANKS": json.dumps([{"id": b.id, "account": b.account} for b in banks]),
                "BENCH_HUB_EXPIRES": str(EXPIRES_IN),
            }
            locust, records_dir = start_locust(
                cfg, workdir, target.url, [b.token for b in banks], "http://127.0.0.1:9", env
            )
            cpu.add_root(locust.pid, "locust")
            records = await _load(cfg, locust, RecordTail(records_dir), cpu, target)
            phases["load"] = round(time.monotonic() - mark, 2)
            mark = time.monotonic()
            prepared = {r.id for r in records if r.op == HUB_PREPARE and r.id}
            drained = await _drain(cfg, prepared, responder, cpu)
            cpu.stop()
            phases["drain"] = round(time.monotonic() - mark, 2)
            mark = time.monotonic()
            docs, positions, books = await _stored(http, target, operator, banks)
            phases["checks"] = round(time.monotonic() - mark, 2)
            locust_stats = locust_totals(locust.log.read_text(errors="replace"))
        finally:
            if locust is not None:
                await locust.stop(grace=5)
            if target is not None:
                await target.stop()
            await responder.stop()
    answered = [(r.key, r.id) for r in records if r.op == HUB_PREPARE and r.id]
    check = check_hub(answered, docs, positions, books.get("balanced"))
    result = hub_result(cfg, started_at, records, responder, check, cpu, drained, books)
    result["phases"] = phases
    result["batches"] = batch_stats(docs)
    result["load"]["locust"] = locust_stats
    paths = _write(result, cfg.out, f"{started_at:%Y-%m-%d}-hub")
    if not cfg.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
    return result, paths


async def _load(
    cfg: RunConfig, locust: Any, tail: RecordTail, cpu: CpuMeter, target: Target
) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + cfg.duration + STOP_TIMEOUT + 60
    opened = False
    last_print = 0.0
    while locust.running() and time.monotonic() < deadline:
        await asyncio.sleep(1.0 if opened else 0.1)
        records.extend(tail.read_new())
        if not opened and (records or locust.log_contains(READY_LINE)):
            cpu.start()
            opened = True
        cpu.sample()
        for child in target.children:
            child.remember_tree()
        if time.monotonic() - last_print >= 5:
            last_print = time.monotonic()
            ok = sum(1 for r in records if r.op == HUB_PREPARE and r.id)
            print(f"[load] prepares {ok:,} accepted, {len(records):,} requests", flush=True)
    if locust.running():
        await locust.stop(grace=10)
    records.extend(tail.read_new())
    if not opened:
        cpu.start()
    if not records:
        raise ProcessFailed(f"locust sent nothing; see {locust.log}")
    return records


async def _drain(cfg: RunConfig, prepared: set[str], responder: Responder, cpu: CpuMeter) -> bool:
    """Until the payee answered every prepared transfer (bounded by ``--drain-timeout``)."""
    deadline = time.monotonic() + cfg.drain_timeout
    while time.monotonic() < deadline and not prepared <= responder.answered.keys():
        await asyncio.sleep(0.5)
        cpu.sample()
    return prepared <= responder.answered.keys()


async def _stored(
    http: aiohttp.ClientSession, target: Target, operator: str, banks: list[Bank]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]], dict[str, Any]]:
    """The hub's transfers, each bank's position (as the operator sees it), the ledger check."""
    uri = target.mongo_uri()
    assert uri is not None
    client = connect(uri)
    try:
        docs = await asyncio.wait_for(
            client[target.db_name]["hub_transfers"]
            .find(
                {},
                {
                    "state": 1,
                    "history.event": 1,
                    "history.at": 1,
                    "payer": 1,
                    "payee": 1,
                    "amount": 1,
                },
            )
            .to_list(None),
            DB_TIMEOUT,
        )
    finally:
        await client.close()
    positions = {}
    for b in banks:
        body = await _call(http, "GET", f"{target.url}/v1/operator/hub/participants/{b.id}",
                           operator)  # fmt: skip
        positions[b.id] = dict(body["position"])
    _, books = await asyncio.wait_for(stored_and_books(uri, target.db_name, []), DB_TIMEOUT)
    return docs, positions, books


def hub_result(
    cfg: RunConfig,
    started_at: datetime,
    records: list[Record],
    responder: Responder,
    check: HubCheck,
    cpu: CpuMeter,
    drained: bool,
    books: dict[str, Any],
) -> dict[str, Any]:
    prepares = [r for r in records if r.op == HUB_PREPARE]
    lookups = [r for r in records if r.op == HUB_LOOKUP]
    sent_at = {r.id: r.t for r in prepares if r.id}
    to_commit = [at - sent_at[t] for t, at in responder.committed_at.items() if t in sent_at]
    t0 = min((r.t for r in records), default=None)
    last_commit = max(responder.committed_at.values(), default=None)
    errors: dict[str, int] = {}
    for r in records:
        if r.error:
            errors[r.error] = errors.get(r.error, 0) + 1
    procs = cpu.results()
    roles = by_role(procs)
    switch_s = round(sum(s for role, s in roles.items() if role not in NOT_LOAD), 3)
    committed = check.committed
    per_core = round(committed / switch_s, 2) if switch_s else None
    hub_actor = round(sum(s for role, s in roles.items() if role.startswith("ray:Hub")), 3)
    window = cpu.window_s
    return {
        "scenario": "hub",
        "config": cfg.as_json(),
        "started_at": started_at.isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "command": "python -m bench " + " ".join(sys.argv[1:]),
            "git": _git(),
        },
        "banks": BANKS,
        "liquidity_each": LIQUIDITY,
        "net_debit_cap_each": NET_DEBIT_CAP,
        "reject_share": 1 / REJECT_EVERY,
        "load": {
            "lookups": len(lookups),
            "prepares": len(prepares),
            "prepared_201": len(sent_at),
        },
        "committed": committed,
        "committed_per_s": rate(committed, t0, last_commit),
        "prepared_per_s": rate(
            len(sent_at), t0, max((r.answered_at for r in prepares), default=None)
        ),
        "prepare_latency_ms": summary_ms(r.latency for r in prepares if not r.error),
        "lookup_latency_ms": summary_ms(r.latency for r in lookups if not r.error),
        "prepare_to_commit_ms": summary_ms(to_commit),
        "errors": errors,
        "responder": {
            "notices": responder.notices,
            "bad_signatures": responder.bad_signatures,
            "answer_errors": responder.answer_errors,
            "answered": len(responder.answered),
        },
        "drained": drained,
        "money": {**check.as_json(), "books": books},
        "cpu": {
            "window_s": round(window, 2),
            "by_role_s": roles,
            "switch_s": switch_s,
            "switch_ms_per_transfer": round(switch_s * 1000 / committed, 3) if committed else None,
            "transfers_per_core_s": per_core,
            "hub_actor_s": hub_actor,
            "hub_actor_share_of_a_core": round(hub_actor / window, 3) if window else None,
            "machine_busy_s": cpu.machine_busy_s,
        },
        "mojaloop": {
            **MOJALOOP,
            "per_core_ratio": round(per_core / MOJALOOP["per_vcpu"], 2) if per_core else None,
        },
    }


def _git() -> str | None:
    from bench.runner import _git_version

    return _git_version()


def summary_md(result: dict[str, Any]) -> str:
    cpu, money, moja = result["cpu"], result["money"], result["mojaloop"]
    prep, commit = result["prepare_latency_ms"], result["prepare_to_commit_ms"]
    cfg = result["config"]
    batches = result.get("batches") or {}

    def ms(d: dict[str, Any], k: str) -> str:
        return "-" if d.get(k) is None else f"{d[k]:,.0f}"

    lines = [
        f"# Bench: hub, {result['started_at'][:19]}",
        "",
        f"`{result['machine']['command']}` on {result['machine']['cpus']} CPUs, commit "
        f"{result['machine']['git'] or '?'}; {result['banks']} banks, {cfg['users']} locust users "
        f"for {cfg['duration']:g} s, each user a bank: a party look-up then a prepare to another "
        f"bank (KES 1 to 500); the payee's responder accepts, and rejects 1 in "
        f"{round(1 / result['reject_share'])}.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| transfers committed | {result['committed']:,} |",
        f"| committed transfers/s | {result['committed_per_s'] or 0:,.1f} |",
        f"| switch CPU per committed transfer | {cpu['switch_ms_per_transfer']} ms |",
        f"| committed transfers per core-second (switch CPU) | {cpu['transfers_per_core_s']} |",
        f"| prepare p50 / p95 / p99 | {ms(prep, 'p50')} / {ms(prep, 'p95')} / "
        f"{ms(prep, 'p99')} ms |",
        f"| prepare-to-commit p50 / p95 / p99 | {ms(commit, 'p50')} / {ms(commit, 'p95')} / "
        f"{ms(commit, 'p99')} ms |",
        f"| position actor CPU (share of one core over the window) | {cpu['hub_actor_s']} s "
        f"({cpu['hub_actor_share_of_a_core']}) |",
        f"| position actor batches | {batches.get('batches')} ({batches.get('steps_per_batch')} "
        f"steps each on average, at most {batches.get('max_steps_in_a_batch')}; median gap "
        f"between batches {batches.get('gap_ms_p50')} ms) |",
        f"| errors | {result['errors'] or 'none'} |",
        "",
        "## Checks",
        "",
        f"- all checks passed: **{money['ok']}**",
        f"- prepared {money['prepared']:,}: committed {money['committed']:,}, rejected "
        f"{money['rejected']:,}, expired {money['expired']:,}; refused at prepare "
        f"{money['refused_at_prepare']:,}",
        f"- not final {len(money['not_final'])}, missing {len(money['missing'])}, ended twice "
        f"{len(money['ended_twice'])}, one key with several ids {len(money['key_with_many_ids'])}",
        f"- positions sum to {money['positions_sum_cents']} cents; position differs from its "
        f"committed transfers: {money['position_mismatch'] or 'none'}; over the cap: "
        f"{money['over_cap'] or 'none'}; reservations left: {money['reserved_left'] or 'none'}",
        f"- journal balances: {money['books_ok']}; notices with a bad signature: "
        f"{result['responder']['bad_signatures']}",
        "",
        "## Mojaloop",
        "",
        f"Mojaloop v17.1.0's published run: {moja['transfers_per_s']:g} transfers/s, p99 "
        f"{moja['p99_ms']:g} ms, on 5 x m7i.2xlarge switch nodes ({moja['vcpus']} vCPU): "
        f"{moja['per_vcpu']:g} transfers/s per vCPU. This run: {cpu['transfers_per_core_s']} "
        f"per core-second of switch CPU ({moja['per_core_ratio']} x), everything (the switch, "
        "its database, Ray, locust and the responder) on one machine.",
        "",
        "CPU by process (s): " + ", ".join(f"{role} {s:g}" for role, s in cpu["by_role_s"].items()),
    ]
    return "\n".join(lines) + "\n"


def _write(result: dict[str, Any], out: Path, name: str) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md"}
    paths["json"].write_text(json.dumps(result, indent=2, default=str) + "\n")
    paths["md"].write_text(summary_md(result))
    return paths


async def main(cfg: RunConfig) -> int:
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM stops the run the way Ctrl-C does: every child is stopped on the way out.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    result, paths = await run_hub(cfg)
    print(summary_md(result))
    for p in paths.values():
        print(f"wrote {p}")
    if not result["money"]["ok"]:
        print("HUB MONEY CHECK FAILED", file=sys.stderr)
        return 1
    return 0
