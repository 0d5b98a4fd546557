"""The restore drill (README, Back up and restore): back up while payments flow, restore into a
fresh server, start a switch on it; the books balance, the backup holds exactly what was
committed before its snapshot, and payments that were in flight reach their final status: those
M-Pesa had acknowledged by STK query (the same status as on the original switch), those caught
mid-send (stored, not yet acknowledged: no CheckoutRequestID to ask about) by expiring as
``outcome_unknown``, never prompted again. Prints the recovery figures."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import orjson
import pytest

from app.stack import Stack
from infra.storage.embedded import EmbeddedMongo
from infra.storage.mongo import collections, connect
from switch.reconcile import check

from .conftest import free_port
from .helpers import FINAL, Api, for_up_to, unique_phone
from .switch_process import serve_environment, wait_ready

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
# The restored switch's collection deadline: long enough that every acknowledged payment is
# asked about before it (the switch is ready ~15-30 s after the snapshot on a busy machine),
# short enough that the drill sees a payment caught mid-send expire.
EXPIRE_AFTER = 60.0


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCH_", "RAY_"))}
    env.pop("MONGODB_URI", None)
    return {**env, **extra}


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switch", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return int(proc.returncode or 0), out.decode()


async def test_backup_while_payments_flow_then_restore_and_resume(
    stack: Stack, merchant: Api, http: aiohttp.ClientSession, sim: str, tmp_path: Path
) -> None:
    assert stack.settings.mongodb_uri and stack.settings.ray_address
    db_name = stack.settings.mongodb_db
    master = {"drill": base64.b64encode(os.urandom(32)).decode()}
    keys = {"SWITCH_MASTER_KEYS": orjson.dumps(master).decode(), "SWITCH_MASTER_KEY_ID": "drill"}
    source_env = _cli_env(MONGODB_URI=stack.settings.mongodb_uri, SWITCH_MONGODB_DB=db_name, **keys)
    # Customers take 2.5 s to answer and M-Pesa 0.4 s to acknowledge a push: the snapshot
    # catches payments of both kinds in flight (acknowledged, and stored but not yet sent on).
    knobs = {"callback_delay": 2.5, "latency": 0.4}
    async with http.patch(f"{sim}/__sim/config", json=knobs) as resp:
        assert resp.status == 200

    accepted: list[tuple[float, float, str]] = []  # (sent, answered, id)
    phones: dict[str, str] = {}
    stop = asyncio.Event()

    async def flow() -> None:
        while not stop.is_set():
            sent = time.monotonic()
            phone = unique_phone()
            body = await merchant.pay(phone)
            accepted.append((sent, time.monotonic(), body["id"]))
            phones[body["id"]] = phone
            await asyncio.sleep(0.05)

    flowing = asyncio.create_task(flow())
    await asyncio.sleep(2.0)
    out = tmp_path / "backup"
    began = time.monotonic()
    code, text = await _cli(source_env, "backup", "--out", str(out))
    ended = time.monotonic()
    ended_wall = time.time()
    assert code == 0, text
    for _ in for_up_to():  # a loaded machine may take seconds to answer the next ones
        if sum(sent > ended for sent, _, _ in accepted) >= 3:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await flowing
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    before = {pid for _, answered, pid in accepted if answered < began}
    after = {pid for sent, _, pid in accepted if sent > ended}
    assert before and after, "payments flowed before and after the backup"

    # A tampered copy is refused before anything is written.
    bad = tmp_path / "tampered"
    bad.mkdir()
    for f in out.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    raw = bytearray((bad / "payments.bin").read_bytes())
    raw[-1] ^= 1
    (bad / "payments.bin").write_bytes(bytes(raw))
    restored_dir = tmp_path / "restored"
    restore_env = _cli_env(SWITCH_DATA_DIR=str(restored_dir), SWITCH_MONGODB_DB=db_name, **keys)
    code, text = await _cli(restore_env, "restore", str(bad))
    assert code == 1 and "payments: size or SHA-256 differs" in text, text

    # Restore into a fresh embedded server, then start a switch on it.
    restore_began = time.monotonic()
    code, text = await _cli(restore_env, "restore", str(out))
    restore_s = time.monotonic() - restore_began
    assert code == 0, text
    code, text = await _cli(restore_env, "restore", str(out))
    assert code == 2 and "is not empty" in text, text  # never over existing data

    port = free_port()
    env = serve_environment(
        stack,
        restored_dir,
        port,
        SWITCH_MONGODB_DB=db_name,
        # Not the tests' 6 s: that would expire payments older than restoring takes.
        SWITCH_STK_EXPIRE_AFTER=str(int(EXPIRE_AFTER)),
    )
    log = tmp_path / "restored.log"
    with log.open("wb") as out_log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "switch", "serve"],
            env=env, cwd=ROOT, stdout=out_log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    restored = Api(http, f"http://127.0.0.1:{port}", merchant.merchant, merchant.hook)
    try:
        start_s = await wait_ready(proc, restored.base, log=log, within=120)
        uri = EmbeddedMongo(str(restored_dir)).running_uri()
        assert uri
        client = connect(uri)
        cols = collections(client, db_name)
        ids = {
            d["_id"]
            async for d in cols.payments.find({"merchant_id": merchant.merchant.merchant_id})
        }
        assert before <= ids, "a payment accepted before the backup is missing"
        assert not (after & ids), "a payment accepted after the backup is in it"
        assert manifest["collections"]["payments"][
            "documents"
        ] == await cols.payments.count_documents({})
        in_flight = {  # id -> CheckoutRequestID (sealed) or None: caught mid-send
            d["_id"]: (d.get("provider") or {}).get("checkout_request_id")
            async for d in cols.payments.find(
                {"merchant_id": merchant.merchant.merchant_id, "status": {"$nin": list(FINAL)}},
                {"provider": 1},
            )
        }

        report = check(  # the books as restored balance
            [d async for d in cols.journal.find({})],
            [d async for d in cols.balances.find({})],
            [d async for d in cols.payments.find({}, {"history": 0})],
        )
        assert report.ok, report.problems
        await restored.login()
        asked = [pid for pid, cid in in_flight.items() if cid]
        mid_send = [pid for pid, cid in in_flight.items() if not cid]
        assert asked and mid_send, f"the snapshot caught too little in flight: {in_flight}"
        for pid in asked:  # resumed by the restored switch's STK queries to the simulator
            final = await restored.wait_for(pid, within=30)
            source = await merchant.wait_for(pid, within=30)  # the original switch's answer
            assert final["status"] == source["status"], (final, source)
        for pid in mid_send:  # nothing to ask by: unknown, then expired at the deadline
            _, body = await restored.get(pid)
            created = datetime.fromisoformat(body["created_at"]).timestamp()
            left = created + EXPIRE_AFTER - time.time()
            final = await restored.wait_for(pid, within=max(left, 0) + 15)
            assert final["status"] == "expired", final
            assert final["failure"]["code"] == "outcome_unknown", final
            async with http.get(f"{sim}/__sim/stk", params={"phone": phones[pid]}) as resp:
                prompts = await resp.json()
            assert len(prompts) <= 1, f"{pid}: the customer was prompted again: {prompts}"
        await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
    point = ended_wall - manifest["cluster_time"]["t"]
    print(
        f"\nDRILL: backup {ended - began:.2f} s wall ({manifest['seconds']} s in the snapshot), "
        f"{sum(c['documents'] for c in manifest['collections'].values())} documents; restore "
        f"{restore_s:.2f} s; switch ready on it {start_s:.2f} s later; recovery time "
        f"{restore_s + start_s:.2f} s; snapshot {point:.2f} s before the backup ended; "
        f"{len(asked)} in-flight payments resumed by STK query, {len(mid_send)} caught "
        "mid-send expired"
    )
