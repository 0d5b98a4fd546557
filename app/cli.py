"""The command line: ``python -m switch serve | demo | merchant create``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import orjson

from infra.storage.mongo import Collections
from switch.backupfile import BackupInvalid
from switch.config import Settings, from_env
from switch.errors import ConfigError, ValidationFailed
from switch.logs import quiet_ray_console, setup_logging
from switch.providers import providers

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m switch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the switch")
    serve.add_argument("--sandbox", action="store_true", help="also run the provider simulators")
    serve.add_argument("--host", help="listen address (SWITCH_HOST)")
    serve.add_argument("--port", type=int, help="listen port (SWITCH_PORT)")
    serve.add_argument(
        "--workers", type=int, default=1, help="api processes sharing the port (default 1)"
    )
    # Internal: an extra worker's inherited listening sockets (app/workers.py).
    serve.add_argument("--listen-fds", help=argparse.SUPPRESS)

    demo = sub.add_parser("demo", help="STK Push payments end to end on the embedded stack")
    demo.add_argument("--port", type=int, default=8089, help="api port for the demo")

    merchant = sub.add_parser("merchant", help="manage merchants")
    msub = merchant.add_subparsers(dest="action", required=True)
    create = msub.add_parser("create", help="create a merchant and its first API client")
    create.add_argument("--name", required=True)
    create.add_argument("--webhook-url")
    create.add_argument(
        "--kind", choices=("standard", "aggregator", "government"), default="standard"
    )
    create.add_argument("--json", action="store_true", help="print JSON (the default)")
    for action, words in (
        ("suspend", "refuse a merchant's payments until it is reactivated"),
        ("reactivate", "lift a suspension"),
        ("close", "close a merchant whose balance is zero (history kept)"),
    ):
        change = msub.add_parser(action, help=words)
        change.add_argument("--merchant-id", required=True)
        change.add_argument("--reason", required=True)

    operator = sub.add_parser("operator", help="the switch operator's own API clients")
    osub = operator.add_subparsers(dest="action", required=True)
    osub.add_parser("create", help="a client with scope operator (provider float)")
    person = osub.add_parser("person", help="an operator person (console; enrols two-factor)")
    person.add_argument("--email", required=True)
    person.add_argument("--name", required=True)

    user = sub.add_parser("user", help="people signed up through POST /v1/users")
    usub = user.add_subparsers(dest="action", required=True)
    unlock = usub.add_parser("unlock", help="lift a sign-in lock-out (5 failures in 15 minutes)")
    unlock.add_argument("--email", required=True)

    books = sub.add_parser("ledger", help="the double-entry journal")
    bsub = books.add_subparsers(dest="action", required=True)
    bsub.add_parser("check", help="prove journal, balances and payments agree (exit 1 if not)")

    audit = sub.add_parser("audit", help="the hash-chained audit trail")
    asub = audit.add_subparsers(dest="action", required=True)
    verify = asub.add_parser("verify", help="check the whole chain (exit 1 if tampered)")
    verify.add_argument("--anchor", help="SEQ:HASH noted earlier (audit head); catches a cut tail")
    asub.add_parser("head", help="print the newest record's seq and hash, to keep elsewhere")
    asub.add_parser("client", help="an operator API client with scope audit:read (all records)")
    keys = sub.add_parser("keys", help="the keys that seal personal data (switch/pii.py)")
    ksub = keys.add_subparsers(dest="action", required=True)
    ksub.add_parser(
        "rotate",
        help="re-wrap every data key under SWITCH_MASTER_KEY_ID (list old and new keys in "
        "SWITCH_MASTER_KEYS; remove the old one after this succeeds)",
    )
    backup = sub.add_parser(
        "backup", help="a consistent, compressed, encrypted copy of the database (README)"
    )
    backup.add_argument("--out", required=True, help="a new or empty folder to write it to")
    restore = sub.add_parser("restore", help="restore a backup into an empty database")
    restore.add_argument("folder", help="the backup folder (manifest.json and its files)")
    sub.add_parser("doctor", help="check configuration and reachability; exit 1 on a failure")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    quiet_ray_console()  # before anything imports Ray (switch/logs.py says why)
    args = _parser().parse_args(argv)
    try:
        settings = from_env(host=getattr(args, "host", None), port=getattr(args, "port", None))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, "api" if args.command in ("serve", "demo") else "cli")
    commands: dict[str, Callable[[Settings, Any], Coroutine[Any, Any, int]]] = {
        "serve": _serve,
        "demo": _demo,
        "merchant": _merchant,
        "ledger": _ledger,
        "operator": _operator,
        "user": _user,
        "audit": _audit,
        "keys": _keys,
        "backup": _backup,
        "restore": _restore,
        "doctor": _doctor,
    }
    try:
        return _run(commands[args.command](settings, args))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BackupInvalid as exc:
        print(f"error: backup refused: {exc}", file=sys.stderr)
        return 1
    except ValidationFailed as exc:
        for d in exc.details:
            print(f"error: {d['field']}: {d['reason']}", file=sys.stderr)
        return 2


def _run(coro: Coroutine[Any, Any, int]) -> int:
    import uvloop

    return int(uvloop.run(coro))


async def _serve(settings: Settings, args: Any) -> int:
    from app.stack import Stack
    from app.workers import spawn_workers, stop_workers
    from infra.listen import adopt

    if args.workers < 1:
        raise ConfigError("--workers must be at least 1")
    inherited = adopt([int(fd) for fd in args.listen_fds.split(",")]) if args.listen_fds else []
    if not args.sandbox and not inherited and not _may_serve(settings):
        return 2
    stack = await Stack(settings, sandbox=args.sandbox, listeners=inherited).start()
    workers = [] if inherited else spawn_workers(stack.settings, args.workers - 1, stack.listeners)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"switch listening on {stack.api_url}"
        + (f" (sandbox: Daraja simulator on {stack.sim_url})" if args.sandbox else ""),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(stop_workers, workers)
        await stack.stop()
    return 0


def simulator_dirs() -> list[Path]:
    """The folders of the registered providers' simulators (their test keys live there)."""
    found = []
    for spec in providers():
        module = spec.sandbox.partition(":")[0]
        if not module:
            continue
        package = importlib.util.find_spec(module.rpartition(".")[0] or module)
        for place in (package and package.submodule_search_locations) or []:
            found.append(Path(place))
    return found


def _may_serve(settings: Settings) -> bool:
    """Fail closed outside the sandbox (switch/failclosed.py): name every refused setting."""
    from switch.failclosed import refusals

    models = [spec.settings for spec in providers() if spec.settings is not None]
    refused = refusals(settings, models, simulator_dirs())
    if not refused:
        return True
    if settings.allow_sandbox_settings:
        for line in refused:
            log.warning("SWITCH_ALLOW_SANDBOX_SETTINGS: starting anyway with %s", line)
        return True
    print("error: serve without --sandbox refuses these settings:", file=sys.stderr)
    for line in refused:
        print(f"  {line}", file=sys.stderr)
    return False


async def _demo(settings: Settings, args: Any) -> int:
    from app.stack import Stack
    from sandbox.demo import run_demo

    async def start(demo: Settings) -> Stack:
        return await Stack(demo, sandbox=True).start()

    return await run_demo(settings.model_copy(update={"port": args.port}), start)


@contextlib.asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Collections]:
    """The configured MongoDB, or the embedded server (shared if a switch already runs it)."""
    from infra.storage.mongo import collections, ensure_indexes

    async with _client(settings) as client:
        await ensure_indexes(client, settings.mongodb_db)
        yield collections(client, settings.mongodb_db)


@contextlib.asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[Any]:
    """A client of the configured MongoDB, or of the embedded server (started if need be)."""
    from infra.storage.embedded import EmbeddedMongo
    from infra.storage.mongo import connect

    server = None
    uri = settings.mongodb_uri
    if not uri:
        server = EmbeddedMongo(settings.data_dir)
        running = server.running_uri()
        uri = running or server.start()
        if running:
            server = None
    client = connect(uri)
    try:
        yield client
    finally:
        await client.close()
        if server is not None:
            server.stop()


async def _merchant(settings: Settings, args: Any) -> int:
    """A thin client of infra/merchants.py, the service the operator's API routes use too."""
    from infra import merchants
    from infra.audit import AuditLog
    from switch.errors import ClientError
    from switch.merchants import view

    async with _database(settings) as cols:
        if args.action == "create":
            created = await merchants.create_merchant(
                cols, args.name, args.webhook_url, kind=args.kind
            )
            print(orjson.dumps(created.as_dict(), option=orjson.OPT_INDENT_2).decode())
            return 0
        try:
            doc = await merchants.change_status(
                cols,
                args.merchant_id,
                args.action,
                args.reason,
                "cli:operator",
                AuditLog(cols.audit),
            )
        except ClientError as exc:
            print(f"refused: {exc.message}", file=sys.stderr)
            return 1
    print(orjson.dumps(view(doc), option=orjson.OPT_INDENT_2).decode())
    return 0


async def _operator(settings: Settings, args: Any) -> int:
    from infra.merchants import create_operator_client
    from infra.users import create_operator_person

    async with _database(settings) as cols:
        if args.action == "person":
            # The password is read from the environment, never the command line (ps shows it).
            password = os.environ.get("SWITCH_OPERATOR_PASSWORD", "")
            doc = await create_operator_person(cols, args.email, args.name, password)
            created = {"user_id": doc["_id"], "email": doc["email"], "role": doc["role"]}
        else:
            created = await create_operator_client(cols)
    print(orjson.dumps(created, option=orjson.OPT_INDENT_2).decode())
    return 0


async def _user(settings: Settings, args: Any) -> int:
    from app.stack import load_secret_key
    from infra.users import unlock

    async with _database(settings) as cols:
        lifted = await unlock(cols, await load_secret_key(cols, settings), args.email)
    print("lock-out lifted" if lifted else "no lock-out or failures recorded for that email")
    return 0


async def _ledger(settings: Settings, args: Any) -> int:
    from switch.reconcile import check, merchant_totals

    async with _database(settings) as cols:
        entries = [d async for d in cols.journal.find({})]
        balances = [d async for d in cols.balances.find({})]
        payments = [d async for d in cols.payments.find({}, {"history": 0, "metadata": 0})]
    report = check(entries, balances, payments)
    stored = {b["_id"]: int(b["balance"]) for b in balances}
    print(
        f"{report.entries} journal entries, {report.accounts} accounts, "
        f"{report.payments} payments, {len(merchant_totals(stored))} merchants"
    )
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    print("ledger OK" if report.ok else f"ledger has {len(report.problems)} problems")
    return 0 if report.ok else 1


async def _audit(settings: Settings, args: Any) -> int:
    """``audit verify | head | client`` (security platform, docs/security-platform.md)."""
    from infra.audit import AuditLog

    async with _database(settings) as cols:
        trail = AuditLog(cols.audit)
        if args.action == "head":
            seq, digest = await trail.head()
            print(orjson.dumps({"seq": seq, "hash": digest}).decode())
            return 0
        if args.action == "client":
            return await _audit_client(cols, trail)
        anchor = _anchor(args.anchor) if args.anchor else None
        result = await trail.verify(anchor)
        seq, digest = await trail.head()
    if result.ok:
        print(f"audit trail ok: {result.checked} records, head {seq}:{digest}")
        return 0
    print(f"audit trail TAMPERED: first bad record {result.first_bad_seq}: {result.reason}")
    return 1


def _anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise ConfigError("--anchor must be SEQ:HASH as printed by `audit head`")
    return int(seq), digest


async def _audit_client(cols: Collections, trail: Any) -> int:
    from infra.clients import create_client
    from switch.clients import public_view
    from switch.merchants import OPERATOR
    from switch.roles import AUDIT_READ

    doc, secret = await create_client(cols, OPERATOR, "auditor", [AUDIT_READ], "system:cli")
    view = public_view(doc)
    await trail.append("system:cli", "client.create", f"client:{doc['_id']}", after=view)
    print(orjson.dumps({**view, "client_secret": secret}, option=orjson.OPT_INDENT_2).decode())
    return 0


async def _keys(settings: Settings, args: Any) -> int:
    """``keys rotate``: master-key rotation. Data keys are re-wrapped, data is not touched."""
    from infra.keystore import sealer_for

    if not settings.master_keys or not settings.master_key_id:
        print(
            "error: set SWITCH_MASTER_KEYS (old and new keys) and SWITCH_MASTER_KEY_ID (the new)",
            file=sys.stderr,
        )
        return 2
    async with _database(settings) as cols:
        sealer = sealer_for(cols.keys, settings.master_keys, settings.master_key_id, b"rotate")
        count = await sealer.ring.rotate_master()
    print(f"{count} data keys re-wrapped under master key {settings.master_key_id}")
    return 0


async def _backup(settings: Settings, args: Any) -> int:
    """``backup --out DIR`` (app/backup.py): prints the manifest's summary."""
    from app.backup import backup

    async with _client(settings) as client:
        manifest = await backup(client, settings, Path(args.out))
    total = sum(c["documents"] for c in manifest["collections"].values())
    size = sum(c["bytes"] for c in manifest["collections"].values())
    print(
        f"backup {manifest['id']}: {total} documents in {len(manifest['collections'])} "
        f"collections, {size} bytes encrypted, snapshot at cluster time "
        f"{manifest['cluster_time']}, {manifest['seconds']} s -> {args.out}"
    )
    return 0


async def _restore(settings: Settings, args: Any) -> int:
    """``restore DIR``: checks everything first, then writes into an empty database."""
    from app.backup import restore

    async with _client(settings) as client:
        counts = await restore(client, settings, Path(args.folder))
    print(f"restored {sum(counts.values())} documents in {len(counts)} collections")
    print("next: `python -m switch ledger check`, then start the switch on this database")
    return 0


async def _doctor(settings: Settings, args: Any) -> int:
    from app.doctor import run_doctor

    return await run_doctor(settings)
