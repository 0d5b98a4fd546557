"""Chaos under load: actors killed, Daraja tokens revoked, a Daraja outage, a stalled database and
a Redis restart while payments and payouts keep arriving. Whatever breaks, no payment is lost, no
STK push and no payout is sent twice, every payout either succeeded once or released its
reservation, and the books balance.

Clients behave like real ones: a 503 is retried with the SAME Idempotency-Key and body, after
the Retry-After the switch asks for. Tests that need to freeze a database or restart Redis run
a switch process of their own (like test_restart.py), so the session's stack is never held up.
What the chaos found is tested too, as plain tests of the bugs since fixed (the last one: a
shard killed in the middle of a commit left its transaction open for the server's 60 s lifetime;
the restarted shard now kills its predecessor's session first, actors/writer.py reclaim).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import pytest
import ray

from actors.runtime import gateway_actor_name, shard_name
from app.stack import Stack
from connectors.mpesa.simulator.triggers import B2C_TRIGGERS, TRIGGERS
from infra.merchants import create_merchant
from infra.storage.embedded import EmbeddedMongo
from infra.storage.mongo import Collections, collections, connect
from routing.shards import shard_for
from switch.fees import fee_for
from switch.money import format_minor, parse_whole_shillings
from switch.payments import mask_reference

from .conftest import Receiver, free_port, stack_environment
from .helpers import FINAL, Api, books_balance, for_up_to, unique_phone

pytestmark = pytest.mark.integration

RATE = 30.0  # new requests a second, all merchants together
LOAD_SECONDS = 7.5
PAYOUT_EVERY = 3  # one request in three is a payout
SEND_DEADLINE = 25.0  # a client gives up retrying a 503 after this long
FINAL_DEADLINE = 25.0  # every accepted payment is final this long after the load stopped


# --- clients ---------------------------------------------------------------------------------


_USED_PHONES: set[str] = set()


def plain_phone(suffix: str = "") -> str:
    """A Safaricom number not used before in this session that is no sandbox trigger for STK nor
    for B2C, unless ``suffix`` asks for one."""
    while True:
        phone = unique_phone(suffix)
        trigger = phone[-4:] in TRIGGERS or phone[-4:] in B2C_TRIGGERS
        if phone not in _USED_PHONES and (suffix or not trigger):
            _USED_PHONES.add(phone)
            return phone


def msisdn(phone: str) -> str:
    return "254" + phone[1:]


@dataclass
class Sent:
    """One client request and what became of it."""

    api: Api
    kind: str  # "payments" | "payouts"
    body: dict[str, Any]
    key: str
    answers: list[int | None] = field(default_factory=list)  # None: no HTTP answer
    id: str | None = None
    last: dict[str, Any] = field(default_factory=dict)  # the last answer's body
    refusals: list[str] = field(default_factory=list)  # error codes of the answers retried
    final: dict[str, Any] | None = None
    last_read: tuple[int, str] = (0, "")  # the last GET: HTTP status, error code

    @property
    def phone(self) -> str:
        return str(self.body["phone"])

    @property
    def amount_minor(self) -> int:
        return parse_whole_shillings(self.body["amount"])


def payment_body(phone: str, amount: str) -> dict[str, Any]:
    return {
        "method": "mpesa_stk",
        "amount": amount,
        "currency": "KES",
        "phone": phone,
        "reference": "CHAOS1",
    }


def payout_body(phone: str, amount: str) -> dict[str, Any]:
    return {
        "method": "mpesa_b2c",
        "amount": amount,
        "currency": "KES",
        "phone": phone,
        "reference": "CHAOS-PAYOUT",
    }


async def post_once(sent: Sent) -> tuple[int | None, dict[str, Any], float]:
    """(HTTP status or None, body, seconds to wait before a retry)."""
    api = sent.api
    headers = {**api.auth, "Idempotency-Key": sent.key}
    try:
        async with api.http.post(
            f"{api.base}/v1/{sent.kind}",
            json=sent.body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as resp:
            body = await resp.json()
            retry_after = float(resp.headers.get("Retry-After", "0.2"))
            return resp.status, body, retry_after
    except (aiohttp.ClientError, TimeoutError):
        return None, {}, 0.2


async def send(sent: Sent, deadline: float) -> None:
    """POST until a final answer, retrying 503s (and lost answers) with the same key and body,
    as the API asks clients to."""
    while True:
        status, body, retry_after = await post_once(sent)
        sent.answers.append(status)
        sent.last = body
        if status != 202:
            sent.refusals.append(body.get("error", {}).get("code", "no answer"))
        if status == 202:
            assert sent.id in (None, body["id"]), "a retry with the same key made a new payment"
            sent.id = body["id"]
            return
        if status not in (503, None) or time.monotonic() > deadline:
            return
        await asyncio.sleep(min(retry_after, 2.0) * random.uniform(0.5, 1.0))


async def get_json(http: aiohttp.ClientSession, url: str, **params: str) -> Any:
    async with http.get(url, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def patch_sim(http: aiohttp.ClientSession, sim: str, **knobs: object) -> None:
    async with http.patch(f"{sim}/__sim/config", json=knobs) as resp:
        assert resp.status == 200, await resp.text()


async def wait_final(sent: list[Sent], within: float) -> None:
    """Poll every accepted payment until it is final (payouts: succeeded or failed)."""
    deadline = time.monotonic() + within
    gate = asyncio.Semaphore(16)

    async def poll(s: Sent) -> None:
        assert s.id is not None
        async with gate:
            status, body = await (s.api.for_payouts() if s.kind == "payouts" else s.api).get(s.id)
        assert status in (200, 503), body  # 503: a shard restarting, or a change not stored yet
        s.last_read = (
            status,
            body.get("error", {}).get("code", "")
            or "/".join(h["state"] for h in body.get("history", [])),
        )
        finals = ("succeeded", "failed") if s.kind == "payouts" else FINAL
        if status == 200 and body["status"] in finals:
            s.final = body

    while True:
        todo = [s for s in sent if s.final is None]
        if not todo:
            return
        if time.monotonic() > deadline:
            stuck = [(s.id, s.kind, s.last_read) for s in todo[:5]]
            raise AssertionError(f"{len(todo)} payments not final after {within} s: {stuck}")
        await asyncio.gather(*(poll(s) for s in todo))
        await asyncio.sleep(0.3)


async def until(probe: Callable[[], Awaitable[Any]], within: float, pause: float = 0.2) -> Any:
    """Call ``probe`` until it returns something true; that value (the last one on timeout)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(pause)


async def new_merchant(stack: Stack, receiver: Receiver, http: aiohttp.ClientSession) -> Api:
    assert stack.state is not None
    name = uuid.uuid4().hex[:12]
    created = await create_merchant(stack.state.cols, f"Chaos {name}", f"{receiver.url}/{name}")
    receiver.secrets[name] = created.webhook_secret
    api = Api(http, stack.api_url, created, name)
    await api.login()
    return api


async def merchants_on_every_shard(
    stack: Stack, receiver: Receiver, http: aiohttp.ClientSession
) -> list[Api]:
    shards = stack.settings.shards
    found: dict[int, Api] = {}
    for _ in range(64):
        api = await new_merchant(stack, receiver, http)
        found.setdefault(shard_for(api.merchant.merchant_id, shards), api)
        if len(found) == shards:
            break
    return [found[s] for s in sorted(found)]


def ray_started_here() -> bool:
    """Whether this process started the Ray cluster it uses (and did not join another's)."""
    node = getattr(ray._private.worker, "_global_node", None)
    return bool(node is not None and node.is_head())


def require_own_ray() -> None:
    """Kill actors only in a Ray this session started: without RAY_ADDRESS, ``ray.init`` joins
    the cluster a ``ray start`` on the machine recorded, whose actors of the same names may be
    another switch's (a bench's)."""
    if not ray_started_here():
        why = (
            "the session joined a Ray cluster it did not start; its actors may be another "
            "switch's: run with RAY_ADDRESS=local"
        )
        pytest.skip(reason=why)


def _actor_process(namespace: str, name: str) -> tuple[str, int]:
    """(state, pid) of a named actor, from Ray's actor table."""
    actor_id = ray.get_actor(name, namespace=namespace)._actor_id.hex()
    info = ray._private.state.actors(actor_id=actor_id)
    return str(info["State"]), int(info["Pid"] or 0)


async def kill_actor(namespace: str, name: str, wait: bool = True) -> None:
    """Kill a named actor and (``wait``) wait until Ray runs it again in a new process (it
    rebuilds from MongoDB on its first call). ``ray.kill`` returns before the old process is
    gone: a call made right after it may still be answered by the old one."""
    assert ray_started_here()

    def kill() -> None:
        _, before = _actor_process(namespace, name)
        ray.kill(ray.get_actor(name, namespace=namespace), no_restart=False)
        if not wait:
            return
        deadline = time.monotonic() + 30
        while True:
            state, pid = _actor_process(namespace, name)
            if state == "ALIVE" and pid != before:
                return
            assert time.monotonic() < deadline, f"{name} did not come back ({state})"
            time.sleep(0.02)

    await asyncio.to_thread(kill)  # the api under test runs in this loop: do not block it


# --- 1. actors killed, tokens revoked and Daraja down, under load ------------------------------


async def test_chaos_under_load_loses_nothing_and_pays_nothing_twice(
    stack: Stack, receiver: Receiver, http: aiohttp.ClientSession, sim: str
) -> None:
    assert stack.state is not None
    require_own_ray()
    cols = stack.state.cols
    merchants = await merchants_on_every_shard(stack, receiver, http)
    assert len(merchants) == stack.settings.shards

    # Fund every merchant, so payouts under load are never refused for want of money.
    funding = [
        Sent(m, "payments", payment_body(plain_phone(), "100000"), uuid.uuid4().hex)
        for m in merchants
    ]
    await asyncio.gather(*(send(s, time.monotonic() + 10) for s in funding))
    assert all(s.id for s in funding), [s.answers for s in funding]
    await wait_final(funding, within=30)
    assert all(s.final and s.final["status"] == "succeeded" for s in funding)

    # Load: STK payments and payouts (some declined by the customer or M-Pesa on purpose).
    sent: list[Sent] = []
    tasks: list[asyncio.Task[None]] = []
    faults: list[tuple[float, str]] = []
    started = time.monotonic()

    async def load() -> None:
        i = 0
        while (now := time.monotonic()) - started < LOAD_SECONDS:
            api = merchants[i % len(merchants)]
            if i % PAYOUT_EVERY == PAYOUT_EVERY - 1:
                phone = plain_phone("2040") if i % 8 == 2 else plain_phone()
                s = Sent(api, "payouts", payout_body(phone, str(100 + i % 50)), uuid.uuid4().hex)
            else:
                phone = plain_phone("1032") if i % 10 == 3 else plain_phone()
                s = Sent(api, "payments", payment_body(phone, str(10 + i % 90)), uuid.uuid4().hex)
            sent.append(s)
            tasks.append(asyncio.create_task(send(s, now + SEND_DEADLINE)))
            i += 1
            await asyncio.sleep(max(0.0, started + i / RATE - time.monotonic()))

    async def chaos() -> None:
        async def at(offset: float, what: str) -> None:
            await asyncio.sleep(max(0.0, started + offset - time.monotonic()))
            faults.append((round(time.monotonic() - started, 2), what))

        await at(1.0, "kill the M-Pesa gateway actor")
        await kill_actor(stack.settings.ray_namespace, gateway_actor_name("mpesa", stack.settings))
        await at(2.5, "kill a shard actor")
        await kill_actor(stack.settings.ray_namespace, shard_name(0))
        await at(4.0, "expire every Daraja token")
        async with http.post(f"{sim}/__sim/expire_tokens") as resp:
            assert resp.status == 200
        await at(5.0, "Daraja outage of 2 s")
        await patch_sim(http, sim, outage=2.0)

    try:
        await asyncio.gather(load(), chaos())
        await asyncio.gather(*tasks)
    finally:
        await patch_sim(http, sim, outage=0.0)
    load_done = time.monotonic()

    # Every request was accepted in the end: clients retried 503s with the same key.
    answers = Counter(a for s in sent for a in s.answers)
    refused = [s for s in sent if s.id is None]
    assert not refused, (
        f"{len(refused)} requests never accepted ({answers}); retried for: "
        f"{Counter(c for s in refused for c in s.refusals)}; last answer: {refused[0].last}"
    )
    assert set(answers) <= {202, 503, None}, answers
    ids = [s.id for s in sent]
    assert len(set(ids)) == len(ids)

    # None lost: every accepted payment exists and reaches a final status.
    await wait_final(sent, within=FINAL_DEADLINE)
    settle_seconds = time.monotonic() - load_done
    stored = {d["_id"]: d async for d in cols.payments.find({"_id": {"$in": ids}}, {"_id": 1})}
    assert set(stored) == set(ids)
    for m in merchants:
        mine = [s for s in (*funding, *sent) if s.api is m]
        count = await cols.payments.count_documents({"merchant_id": m.merchant.merchant_id})
        assert count == len(mine), "a retry stored a second payment"

    # No STK push sent twice: the simulator's own record of every push it accepted, by the
    # payment named in its callback URL.
    pushes: dict[str, list[dict[str, Any]]] = {}
    for record in await get_json(http, f"{sim}/__sim/stk"):
        pushes.setdefault(record["callback_url"].split("/")[-2], []).append(record)
    payments = [s for s in sent if s.kind == "payments"]
    for s in payments:
        assert s.final is not None and s.id is not None
        mine = pushes.get(s.id, [])
        assert len(mine) <= 1, f"{s.id} pushed {len(mine)} times"
        assert all(r["phone"] == msisdn(s.phone) for r in mine)
        if s.final["status"] == "succeeded":
            assert len(mine) == 1
            checkout = s.final["provider"]["checkout_request_id"]  # masked: it holds the phone
            assert checkout in (None, mask_reference(mine[0]["checkout_request_id"]))
        if s.final["history"][-1]["state"] == "rejected":  # refused or unavailable: no prompt
            assert mine == [], s.final

    # No payout paid twice: M-Pesa's own books (by OriginatorConversationID and by phone). A
    # succeeded payout was paid exactly once, a failed one never.
    ledger = await get_json(http, f"{sim}/__sim/b2c")
    paid = Counter(p["originator_conversation_id"] for p in ledger if p["paid"])
    requests_by_phone = Counter(p["phone"] for p in ledger)
    payouts = [s for s in sent if s.kind == "payouts"]
    for s in payouts:
        assert s.final is not None
        assert requests_by_phone[msisdn(s.phone)] <= 1, f"{s.id} was sent to M-Pesa twice"
        if s.final["status"] == "succeeded":
            assert paid[s.id] == 1, f"{s.id} succeeded but M-Pesa paid it {paid[s.id]} times"
            [entry] = [p for p in ledger if p["originator_conversation_id"] == s.id]
            assert entry["receipt"] == s.final["provider"]["receipt"]
            assert entry["amount"] * 100 == s.amount_minor
        else:
            assert s.final["status"] == "failed"
            assert paid[s.id] == 0, f"{s.id} failed but M-Pesa paid it"

    # Every payout either succeeded once or failed with its reservation released: the balance
    # is what was collected less what was paid out, and nothing stays reserved.
    fees = stack.settings.fees
    for m in merchants:
        collected = sum(
            s.amount_minor - fee_for(fees, "mpesa_stk", s.amount_minor)
            for s in (*funding, *payments)
            if s.api is m and s.final and s.final["status"] == "succeeded"
        )
        paid_out = sum(
            s.amount_minor + fee_for(fees, "mpesa_b2c", s.amount_minor)
            for s in payouts
            if s.api is m and s.final and s.final["status"] == "succeeded"
        )
        want = {
            "object": "balance",
            "currency": "KES",
            "available": format_minor(collected - paid_out),
            "reserved": "0",
        }

        async def balance_is(api: Api = m, want: dict[str, str] = want) -> bool:
            status, body = await _balance(api)
            return status == 200 and body == want

        assert await until(balance_is, within=30), (await _balance(m), want)

    # The merchant was told every final status by a signed webhook.
    async def all_told() -> bool:
        return all(
            f"{s.final['object']}.{s.final['status']}" in receiver.types_for(s.api.hook, s.id)
            for s in sent
            if s.final and s.id
        )

    assert await until(all_told, within=30)
    assert receiver.bad == 0

    # A client replaying any request with its key gets the same payment back.
    replays = [Sent(s.api, s.kind, s.body, s.key) for s in sent]
    await asyncio.gather(*(send(r, time.monotonic() + 10) for r in replays))
    assert [r.id for r in replays] == ids

    report = await books_balance(cols)
    assert report.ok, report.problems

    outcomes = Counter(f"{s.kind[:-1]} {s.final['status']}" for s in sent if s.final)
    retried = Counter(code for s in sent for code in s.refusals)
    print(
        f"\nchaos: {len(payments)} payments and {len(payouts)} payouts in {LOAD_SECONDS} s, "
        f"faults {faults}; answers {dict(answers)} (retried: {dict(retried)}); outcomes "
        f"{dict(outcomes)}; all final "
        f"{settle_seconds:.1f} s after the load; 0 lost, 0 pushed twice, 0 paid twice; "
        f"books: {report.entries} entries, {report.accounts} accounts, {report.payments} payments"
    )


async def _balance(api: Api) -> tuple[int, dict[str, Any]]:
    async with api.http.get(f"{api.base}/v1/balance", headers=api.auth) as resp:
        return resp.status, await resp.json()


# --- what the chaos found (fixed bugs stay as tests) ----------------------------------------------


async def test_a_paid_payout_replayed_after_a_shard_restart_is_the_same_payout(
    merchant: Api, stack: Stack, sim: str, http: aiohttp.ClientSession
) -> None:
    """Keys never expire (README): the same key and body return the same payout, also after
    the shard restarted and although the balance could not pay for it a second time."""
    assert stack.state is not None
    require_own_ray()
    cols = stack.state.cols
    funding = Sent(merchant, "payments", payment_body(plain_phone(), "1000"), uuid.uuid4().hex)
    await send(funding, time.monotonic() + 10)
    await wait_final([funding], within=30)  # KES 985 available after the 1.5 % fee
    phone = plain_phone()
    payout = Sent(merchant, "payouts", payout_body(phone, "900"), uuid.uuid4().hex)
    await send(payout, time.monotonic() + 10)
    await wait_final([payout], within=30)
    assert payout.final is not None and payout.final["status"] == "succeeded"

    async def spent() -> bool:
        return (await _balance(merchant))[1].get("available") == "70"

    assert await until(spent, within=30)

    async def settled() -> bool:  # final, webhooks delivered: out of ``inflight``
        return await cols.inflight.find_one({"_id": payout.id}) is None

    assert await until(settled, within=30)
    shard = shard_for(merchant.merchant.merchant_id, stack.settings.shards)
    await kill_actor(stack.settings.ray_namespace, shard_name(shard))

    async def shard_back() -> bool:
        return (await _balance(merchant))[0] == 200

    assert await until(shard_back, within=30)
    # The client never heard the first answer and sends the same request again, as told to.
    replay = Sent(merchant, "payouts", payout.body, payout.key)
    await send(replay, time.monotonic() + 15)
    [paid] = await get_json(http, f"{sim}/__sim/b2c", phone=msisdn(phone))
    assert paid["paid"] and paid["originator_conversation_id"] == payout.id  # money moved
    assert replay.answers[-1] == 202, (replay.answers, replay.last)
    assert replay.id == payout.id


@dataclass
class MidCommitCrash:
    switch: SwitchProcess
    sent: list[Sent]  # payments the shard was writing when it died
    probe: Sent  # a new payment sent right after the restart
    waited: float  # seconds until the probe was stored (or given up)


@pytest.fixture(scope="class")
async def mid_commit_crash(
    stack: Stack,
    http: aiohttp.ClientSession,
    receiver: Receiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[MidCommitCrash]:
    """The database stalls while a shard commits (as under load, or a slow disk), and the shard
    dies right then; a new payment is sent as soon as the shard is back.

    The switch runs in its own process on a database server of its own, which is frozen
    (SIGSTOP) for a second: what the dead shard sent is then executed after it died, in a
    transaction nobody will commit, and the session's database is not held up."""
    require_own_ray()
    tmp = tmp_path_factory.mktemp("mid-commit")
    async with (
        private_database(tmp) as (uri, freeze),
        # Stopped at once: a graceful stop would wait for the callbacks still waiting on the
        # stuck shard.
        switch_process(
            stack, http, receiver, tmp, signal.SIGKILL, MONGODB_URI=uri, SWITCH_SHARDS="1"
        ) as switch,
    ):
        before = (await get_json(http, f"{stack.sim_url}/__sim/config"))["callback_delay"]
        await patch_sim(http, stack.sim_url, callback_delay=1.0)
        try:
            api = switch.api
            sent = [
                Sent(api, "payments", payment_body(plain_phone(), "110"), uuid.uuid4().hex)
                for _ in range(20)
            ]
            started = time.monotonic()
            await asyncio.gather(*(send(s, started + 10) for s in sent))
            assert all(s.id for s in sent), [s.answers for s in sent]
            # The callbacks arrive 1 s after the pushes: the shard changes the payments and
            # writes them, into a database that does not answer; then the shard dies.
            await asyncio.sleep(max(0.0, started + 0.9 - time.monotonic()))
            freeze(True)
            try:
                await asyncio.sleep(0.8)
                await kill_actor(switch.namespace, shard_name(0), wait=False)
                await asyncio.sleep(0.3)
            finally:
                freeze(False)
        finally:
            await patch_sim(http, stack.sim_url, callback_delay=before)
        restarted = time.monotonic()
        probe = Sent(api, "payments", payment_body(plain_phone(), "111"), uuid.uuid4().hex)
        await send(probe, restarted + 10)
        yield MidCommitCrash(switch, sent, probe, time.monotonic() - restarted)


class TestAShardKilledInTheMiddleOfACommit:
    async def test_takes_new_payments_again_within_seconds(
        self, mid_commit_crash: MidCommitCrash
    ) -> None:
        probe = mid_commit_crash.probe
        assert probe.id, (
            f"no new payment stored for {mid_commit_crash.waited:.0f} s after the restart: "
            f"{Counter(probe.refusals)}"
        )

    async def test_the_payments_it_was_writing_move_on_within_seconds(
        self, mid_commit_crash: MidCommitCrash
    ) -> None:
        crash = mid_commit_crash
        await wait_final([*crash.sent, crash.probe], within=30)
        assert {s.final["status"] for s in crash.sent if s.final} == {"succeeded"}
        report = await books_balance(crash.switch.cols)
        assert report.ok, report.problems


async def test_a_status_is_not_shown_before_it_is_stored(
    stack: Stack,
    http: aiohttp.ClientSession,
    receiver: Receiver,
    sim: str,
    tmp_path: Any,
) -> None:
    """Money-safety rule 1: a state change is stored before the merchant is told about it. The
    database stalls while the customer pays; until the success is stored, a read must still say
    processing (webhooks already wait). This is also why a payout read as failed can still show
    its amount reserved in GET /v1/balance for a moment."""
    async with (
        private_database(tmp_path) as (uri, freeze),
        switch_process(stack, http, receiver, tmp_path, MONGODB_URI=uri, SWITCH_SHARDS="1") as sw,
    ):
        await patch_sim(http, sim, callback_delay=1.0)
        api, phone = sw.api, plain_phone()
        payment = Sent(api, "payments", payment_body(phone, "120"), uuid.uuid4().hex)
        await send(payment, time.monotonic() + 10)
        assert payment.id
        await api.wait_for(payment.id, ("processing",))
        await asyncio.sleep(0.2)  # the acceptance is stored
        freeze(True)
        frozen = time.time()
        shown: list[str] = []
        try:
            deadline = time.monotonic() + 2.5  # the customer pays 1 s after the push
            while time.monotonic() < deadline:
                status, body = await api.get(payment.id)
                if status == 200:
                    shown.append(body["status"])
                else:  # "not stored yet, retry" is a fair answer; showing it is not
                    assert (status, body["error"]["code"]) == (503, "storage_unavailable"), body
                    shown.append("503")
                await asyncio.sleep(0.1)
        finally:
            freeze(False)
            thawed = time.time()
        [record] = await get_json(http, f"{sim}/__sim/stk", phone=msisdn(phone))
        paid_at = datetime.fromisoformat(record["created_at"]).timestamp() + 1.0
        assert record["result_code"] == 0
        assert frozen < paid_at < thawed - 0.5  # paid, and called back, while the database slept
        final = await api.wait_for(payment.id)
        assert final["status"] == "succeeded"
        assert "succeeded" not in shown, f"shown before it was stored: {Counter(shown)}"


@contextlib.asynccontextmanager
async def private_database(tmp_path: Any) -> AsyncIterator[tuple[str, Callable[[bool], None]]]:
    """An embedded database server of a test's own: its URI and ``freeze(True | False)``, which
    stops and resumes the server process (SIGSTOP / SIGCONT), as a stalled disk would."""
    db = EmbeddedMongo(str(tmp_path / "db"))
    uri = await asyncio.to_thread(db.start)
    pid = int(json.loads((tmp_path / "db" / "secantusdb.json").read_text())["pid"])

    def freeze(on: bool) -> None:
        os.killpg(pid, signal.SIGSTOP if on else signal.SIGCONT)

    try:
        yield uri, freeze
    finally:
        with contextlib.suppress(ProcessLookupError):
            freeze(False)
        await asyncio.to_thread(db.stop)


# --- Ray isolation: the chaos must only ever kill this session's actors ------------------------


async def test_a_switch_without_ray_address_keeps_to_a_ray_of_its_own(stack: Stack) -> None:
    """README: ``RAY_ADDRESS`` unset means a local Ray. Ray's own default (``address=None``) is to
    join the cluster ``ray start`` last recorded in ``<RAY_TMPDIR>/ray/ray_current_cluster``,
    where another switch's named actors (``shard-0``...) would be found and used with that
    switch's settings, and where a chaos test would kill them. Here the recorded cluster is the
    session's: a fresh switch process must not see its actors."""
    assert stack.settings.ray_address
    tmp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # Ray's unix sockets need a short path
    try:
        os.makedirs(os.path.join(tmp, "ray"))
        with open(os.path.join(tmp, "ray", "ray_current_cluster"), "w") as f:
            f.write(stack.settings.ray_address)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCH_", "RAY_"))}
        script = (
            "import ray\n"
            "from actors.runtime import init_ray\n"
            "from switch.config import from_env\n"
            "init_ray(from_env({}))\n"
            "print(sorted(a['name'] for a in ray.util.list_named_actors(all_namespaces=True)))\n"
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            script,
            env={**env, "RAY_TMPDIR": tmp},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode == 0
        assert out.decode().strip().splitlines()[-1] == "[]"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- 2. Redis restarts under a running switch --------------------------------------------------


@dataclass
class RedisServer:
    """A Redis of our own on a free port, to stop and start at will (the machine's Redis, which
    the session stack uses, is never touched)."""

    binary: str
    port: int
    workdir: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no"]
        self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, cwd=self.workdir))
        for _ in for_up_to():
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                await writer.wait_closed()
                return
            await asyncio.sleep(0.05)
        raise AssertionError("redis-server did not start")

    async def stop(self) -> None:
        self.procs[-1].kill()
        await asyncio.to_thread(self.procs[-1].wait, 10)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
async def private_redis(tmp_path: Any) -> AsyncIterator[RedisServer]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for this test"
    server = RedisServer(binary, free_port(), str(tmp_path))
    await server.start()
    yield server
    server.close()


async def _wait_ready(http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in for_up_to(60):
        assert proc.poll() is None, "the switch process exited during start-up"
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(f"{url}/readyz") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise AssertionError("the switch did not become ready")


@dataclass
class SwitchProcess:
    """``python -m switch serve`` in a process of its own, with a merchant and its token."""

    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    cols: Collections
    api: Api

    @property
    def namespace(self) -> str:
        return self.env["SWITCH_RAY_NAMESPACE"]


@contextlib.asynccontextmanager
async def switch_process(
    stack: Stack,
    http: aiohttp.ClientSession,
    receiver: Receiver,
    tmp_path: Any,
    stop: signal.Signals = signal.SIGTERM,
    **extra: str,
) -> AsyncIterator[SwitchProcess]:
    """On the session's Daraja simulator and (by default) database, in its own Ray namespace of
    the session's Ray, like test_restart's switch. ``stop``: how it is stopped at the end
    (SIGKILL: at once; its actors die with it, as the actors of a finished Ray job do)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCH_", "RAY_"))}
    settings = {
        "MONGODB_URI": stack.settings.mongodb_uri or "",
        "SWITCH_MPESA_BASE_URL": stack.sim_url,
        "SWITCH_PORT": str(port),
        "SWITCH_RAY_NAMESPACE": f"chaos-{uuid.uuid4().hex[:8]}",
        # The session's Ray, by address: without one, Ray joins whichever cluster it finds on
        # the machine. An explicit address does not switch token authentication on by itself.
        "RAY_ADDRESS": stack.settings.ray_address or "local",
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token"),
    }
    env |= stack_environment(str(tmp_path), **{**settings, **extra})
    client = connect(env["MONGODB_URI"])
    cols = collections(client, env["SWITCH_MONGODB_DB"])
    proc = subprocess.Popen([sys.executable, "-m", "switch", "serve"], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        hook = uuid.uuid4().hex[:12]
        merchant = await create_merchant(cols, "Chaos shop", f"{receiver.url}/{hook}")
        receiver.secrets[hook] = merchant.webhook_secret
        api = Api(http, base, merchant, hook)
        await _wait_ready(http, base, proc)
        await api.login()
        yield SwitchProcess(env, proc, cols, api)
    finally:
        if proc.poll() is None:
            proc.send_signal(stop)
            await asyncio.to_thread(proc.wait, 30)
        await client.close()


async def read_stream(api: Api, payment_id: str, within: float) -> list[dict[str, Any]]:
    """Follow ``GET /v1/payments/{id}/events`` until the server ends the stream."""
    events: list[dict[str, Any]] = []
    frame: dict[str, str] = {}
    url = f"{api.base}/v1/payments/{payment_id}/events"
    async with asyncio.timeout(within), api.http.get(url, headers=api.auth) as resp:
        assert resp.status == 200, await resp.text()
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in frame:
                    events.append({"event": frame["event"], **orjson.loads(frame["data"])})
                frame = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                frame[key] = value
    return events


async def test_payments_and_live_streams_survive_a_redis_restart(
    stack: Stack,
    http: aiohttp.ClientSession,
    receiver: Receiver,
    sim: str,
    private_redis: RedisServer,
    tmp_path: Any,
) -> None:
    async with switch_process(
        stack, http, receiver, tmp_path, REDIS_URL=private_redis.url
    ) as switch:
        api, cols, hook = switch.api, switch.cols, switch.api.hook
        await patch_sim(http, sim, callback_delay=1.0)

        sent: list[Sent] = []
        streams: list[Stream] = []

        async def pay(phase: str, count: int, seconds: float, follow: tuple[int, ...]) -> None:
            """``count`` payments over ``seconds``; the ``follow``-th ones are followed live."""
            for n in range(count):
                s = Sent(api, "payments", payment_body(plain_phone(), "120"), uuid.uuid4().hex)
                sent.append(s)
                await send(s, time.monotonic() + 10)
                assert s.id, s.answers
                if n in follow:
                    streams.append(Stream.open(f"{phase} #{n}", api, s.id))
                await asyncio.sleep(seconds / count)

        await pay("redis up", 5, 1.0, follow=(0,))
        await private_redis.stop()
        # While Redis is down: payments created, completed, and some completing after it is back.
        await pay("redis down", 15, 3.0, follow=(0, 14))
        await private_redis.start()
        await asyncio.sleep(1.5)  # the api's subscriber reconnects every 0.5 s
        await pay("redis restarted", 10, 2.0, follow=(0,))

        # Payments flowed and completed whatever Redis did; webhooks (the durable channel) too.
        await wait_final(sent, within=30)
        assert [s.final["status"] for s in sent if s.final] == ["succeeded"] * len(sent)

        async def all_told() -> bool:
            return all("payment.succeeded" in receiver.types_for(hook, str(s.id)) for s in sent)

        assert await until(all_told, within=30)

        # Each live stream ended on its payment's final status: opened before the stop, while
        # Redis was down, and for a payment completing after Redis came back.
        for stream in streams:
            events = await stream.events()
            assert events, stream.name
            assert events[0]["data"]["id"] == stream.payment_id
            assert events[-1]["event"] == "payment.succeeded", (stream.name, events)
            assert events[-1]["data"]["provider"]["receipt"], stream.name
        # After the restart the change came through Redis again: a stream that hears nothing
        # re-reads only after a 15 s heartbeat; this one ended as soon as its payment did.
        last = streams[-1]
        assert last.name.startswith("redis restarted")
        assert last.seconds < 6, f"{last.name} took {last.seconds:.1f} s"

        report = await books_balance(cols)
        assert report.ok, report.problems
        assert report.payments == len(sent)
        print(
            f"\nredis restart: {len(sent)} payments (15 while Redis was down), all succeeded; "
            f"live streams ended in "
            + ", ".join(f"{st.name}: {st.seconds:.1f} s" for st in streams)
        )


@dataclass
class Stream:
    """A live event stream read in the background, and how long it stayed open."""

    name: str
    payment_id: str
    opened: float = field(default_factory=time.monotonic)
    ended: float = 0.0
    task: asyncio.Task[list[dict[str, Any]]] | None = None

    @classmethod
    def open(cls, name: str, api: Api, payment_id: str) -> Stream:
        stream = cls(name, payment_id)

        async def read() -> list[dict[str, Any]]:
            try:
                return await read_stream(api, payment_id, within=30)
            finally:
                stream.ended = time.monotonic()

        stream.task = asyncio.create_task(read())
        return stream

    async def events(self) -> list[dict[str, Any]]:
        assert self.task is not None
        return await self.task

    @property
    def seconds(self) -> float:
        return self.ended - self.opened


# --- 3. the books of the whole session ---------------------------------------------------------


async def test_the_books_of_the_session_balance(stack: Stack) -> None:
    """Besides the session teardown's check: the journal, the balances and the payments of every
    test so far agree."""
    assert stack.state is not None
    report = await books_balance(stack.state.cols)
    assert report.ok, report.problems
