"""BatchCore against the real MongoDB-wire server (the embedded SecantusDB, or MONGODB_URI) with
a fake shard: storing, replaying, executing within the rails' windows, resending what was not
created, refusals, and resuming after a restart without creating anything twice."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from actors.batches import BatchCore
from api.batches import payout_checker
from connectors.sacco.registry import sandbox_registry
from infra.storage.embedded import EmbeddedMongo
from infra.storage.mongo import INDEXES, MONEY_WRITES, Doc, connect
from switch.batches import BatchItem, batch_request_hash, parse_json
from switch.messages import CreatePayment, Reply
from switch.pii import Sealer
from switch.security.crypto import KeyRing, MemoryKeyStore

MERCHANT = "mch_batch"
SACCOS = sandbox_registry("http://127.0.0.1:1/fineract-provider/api/v1")
CHECK = payout_checker(MERCHANT, SACCOS)


@pytest.fixture(scope="module")
async def mongo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AsyncMongoClient[Doc]]:
    uri = os.environ.get("MONGODB_URI")
    server = None
    if not uri:
        server = EmbeddedMongo(str(tmp_path_factory.mktemp("batches-db")))
        uri = await asyncio.to_thread(server.start)
    client = connect(uri)
    yield client
    await client.close()
    if server is not None:
        await asyncio.to_thread(server.stop)


@dataclass
class Db:
    batches: Any
    payments: Any


@pytest.fixture
async def db(mongo: AsyncMongoClient[Doc]) -> Db:
    database = mongo.get_database(f"t_{uuid.uuid4().hex[:10]}", write_concern=MONEY_WRITES)
    if INDEXES.get("batches"):
        await database["batches"].create_indexes(INDEXES["batches"])
    return Db(database["batches"], database["payments"])


@dataclass
class FakeShard:
    """Creates payments the way a shard does: the id comes from the key, so a second create
    of the same key is a replay. ``provider`` settles them in the background."""

    payments: Any
    refuse: Callable[[CreatePayment], Reply | None] = lambda _: None
    busy_first: set[str] = field(default_factory=set)  # items answered 503 once
    lose_answer_once: bool = False  # store the first call's payments, then fail the call
    fail_when: Callable[[CreatePayment], bool] = lambda _: False
    held: set[str] = field(default_factory=set)  # items screening holds for review
    settle_per_tick: int = 1000
    calls: int = 0
    created: list[str] = field(default_factory=list)  # ids stored, once each
    sent_keys: list[str] = field(default_factory=list)
    sent: dict[str, CreatePayment] = field(default_factory=dict)  # key -> last command sent
    outstanding: dict[str, str] = field(default_factory=dict)  # payment id -> method
    max_outstanding: dict[str, int] = field(default_factory=dict)
    shards_called: set[int] = field(default_factory=set)
    hold: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.hold.set()

    @staticmethod
    def payment_id(key: str) -> str:
        return "pay_s0_" + hashlib.sha256(key.encode()).hexdigest()[:26].upper()

    async def create(self, shard: int, commands: list[CreatePayment]) -> list[Reply]:
        self.calls += 1
        self.shards_called.add(shard)
        await self.hold.wait()
        replies = [await self._one(c) for c in commands]
        if self.lose_answer_once:
            self.lose_answer_once = False
            raise ConnectionError("the answer was lost")
        return replies

    async def _one(self, cmd: CreatePayment) -> Reply:
        self.sent_keys.append(cmd.idem_key)
        self.sent[cmd.idem_key] = cmd
        item_id = cmd.idem_key.rsplit(":", 1)[1]
        if item_id in self.busy_first:
            self.busy_first.discard(item_id)
            return Reply(
                503, {"error": {"code": "overloaded", "message": "busy"}}, retry_after=0.01
            )
        refused = self.refuse(cmd)
        if refused is not None:
            return refused
        pid = self.payment_id(cmd.idem_key)
        existing = await self.payments.find_one({"_id": pid})
        if existing is not None:
            return Reply(202, self._view(existing), replayed=True)
        doc = {
            "_id": pid,
            "merchant_id": cmd.merchant_id,
            "method": cmd.method,
            "amount_minor": cmd.amount_minor,
            "fee_minor": 1500,
            "status": "held" if item_id in self.held else "processing",
            "failure": None,
            "provider": {"receipt": None},
            "fail": self.fail_when(cmd),
        }
        await self.payments.insert_one(doc)
        self.created.append(pid)
        if doc["status"] == "held":
            return Reply(202, self._view(doc))
        self.outstanding[pid] = cmd.method
        n = sum(1 for m in self.outstanding.values() if m == cmd.method)
        self.max_outstanding[cmd.method] = max(self.max_outstanding.get(cmd.method, 0), n)
        return Reply(202, self._view(doc))

    @staticmethod
    def _view(doc: Doc) -> dict[str, Any]:
        return {
            "id": doc["_id"],
            "object": "payout",
            "status": doc["status"],
            "method": doc["method"],
        }

    async def settle(self) -> None:
        """The provider: pays (or declines) what is stored and not final, a few per tick (from
        the collection: a create cancelled by a core's death may have stored its payment)."""
        while True:
            await asyncio.sleep(0.02)
            waiting = self.payments.find({"status": "processing"}).limit(self.settle_per_tick)
            async for doc in waiting:
                pid = doc["_id"]
                change: dict[str, Any] = {"status": "succeeded", "provider.receipt": f"R{pid[-6:]}"}
                change["provider.receiver_name"] = "JANE W"
                if doc["fail"]:
                    change = {"status": "failed", "failure": {"code": "declined", "message": "no"}}
                await self.payments.update_one({"_id": pid}, {"$set": change})
                self.outstanding.pop(pid, None)


def core_for(db: Db, shard: FakeShard, **options: Any) -> BatchCore:
    settings: dict[str, Any] = {
        "poll_interval": 0.03,
        "retry_base": 0.01,
        "retry_max": 0.2,
        "send_chunk": 10,
        "chunk_items": 7,  # several chunk documents even for small batches
        **options,
    }
    return BatchCore(db.batches, db.payments, b"s" * 32, shard.create, lambda _: 3, **settings)


def items(n: int, method: str = "mpesa_b2c", prefix: str = "i") -> list[BatchItem]:
    bodies = []
    for k in range(n):
        body: dict[str, Any] = {
            "item_id": f"{prefix}{k}",
            "method": method,
            "amount": str(100 + k),
            "currency": "KES",
            "reference": "SAL-11",
        }
        if method == "bank_transfer":
            body["bank"] = {"bank_code": "68", "account_number": f"01501234{k:05d}"}
        else:
            body["phone"] = f"07120{k:05d}"
        bodies.append(body)
    parsed = parse_json({"items": bodies}, CHECK)
    assert parsed.ok, parsed.errors
    return parsed.items


async def create(core: BatchCore, batch: list[BatchItem], key: str = "k1") -> Reply:
    return await core.create(MERCHANT, key, batch_request_hash(batch), batch)


async def completed(core: BatchCore, batch_id: str, within: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        reply = await core.get(MERCHANT, batch_id, 0, 1000)
        assert reply.status == 200, reply.body
        if reply.body["state"] == "completed":
            return reply.body
        if time.monotonic() > deadline:
            raise AssertionError(f"batch still {reply.body['state']}: {reply.body['counts']}")
        await asyncio.sleep(0.05)


async def stored_payments(db: Db) -> int:
    """The payments the shard stored. Not ``len(shard.created)``: a create cancelled by the
    core's death may have stored its payment without noting it, and its resend is a replay."""
    return int(await db.payments.count_documents({}))


@pytest.fixture
async def running() -> AsyncIterator[list[Any]]:
    """Cores and provider tasks to stop after a test."""
    things: list[Any] = []
    yield things
    for thing in things:
        if isinstance(thing, BatchCore):
            await thing.stop()
        else:
            thing.cancel()


async def test_a_batch_is_stored_executed_and_completed(db: Db, running: list[Any]) -> None:
    shard = FakeShard(db.payments, fail_when=lambda c: c.idem_key.endswith(":i3"))
    core = core_for(db, shard)
    running += [core, asyncio.create_task(shard.settle())]
    batch = items(20)
    reply = await create(core, batch)
    assert reply.status == 202 and not reply.replayed
    batch_id = reply.body["id"]
    assert reply.body["object"] == "payout_batch" and reply.body["counts"]["total"] == 20
    header = await db.batches.find_one({"_id": batch_id})
    assert header is not None and header["merchant_id"] == MERCHANT
    assert await db.batches.count_documents({"batch_id": batch_id}) == 3  # 20 items, 7 a chunk

    body = await completed(core, batch_id)
    assert body["counts"] == {
        "total": 20,
        "queued": 0,
        "refused": 0,
        "held": 0,
        "pending": 0,
        "processing": 0,
        "succeeded": 19,
        "failed": 1,
        "expired": 0,
    }
    amounts = sum(100 + k for k in range(20))
    assert body["totals"]["amount"] == str(amounts)
    assert body["totals"]["succeeded"] == str(amounts - 103)
    assert body["totals"]["fees"] == "285"  # 19 x 15: the failed one's fee is released
    assert shard.shards_called == {3}
    assert len(shard.created) == 20 and sorted(shard.sent_keys) == sorted(
        f"batch:{batch_id}:i{k}" for k in range(20)
    )
    i3 = body["items"][3]
    assert (i3["status"], i3["failure"]) == ("failed", {"code": "declined", "message": "no"})
    assert body["items"][0]["payment_id"] == FakeShard.payment_id(f"batch:{batch_id}:i0")
    assert body["items"][0]["provider_receipt"] and body["items"][0]["recipient_name"] == "JANE W"

    stored = await db.batches.find_one({"_id": batch_id})
    assert stored is not None and stored["state"] == "completed" and stored["completed_at"]
    # A completed batch is read back from MongoDB, page by page.
    page = await core.get(MERCHANT, batch_id, 5, 9)
    assert [i["item_id"] for i in page.body["items"]] == [f"i{k}" for k in range(5, 14)]
    assert page.body["has_more"] is True
    last = await core.get(MERCHANT, batch_id, 18, 100)
    assert [i["item_id"] for i in last.body["items"]] == ["i18", "i19"]
    assert last.body["has_more"] is False
    csv_text = (await core.results_csv(MERCHANT, batch_id) or b"").decode()
    assert csv_text.count("\r\n") == 21
    assert ",failed,declined,no,," in csv_text


async def test_the_same_key_replays_and_another_body_is_a_409(db: Db, running: list[Any]) -> None:
    shard = FakeShard(db.payments)
    core = core_for(db, shard)
    running += [core, asyncio.create_task(shard.settle())]
    batch = items(3)
    first = await create(core, batch)
    again = await create(core, batch)
    assert again.status == 202 and again.replayed and again.body["id"] == first.body["id"]
    other = await create(core, items(4))
    assert other.status == 409
    assert other.body["error"]["code"] == "idempotency_key_reused"
    assert (await create(core, batch, key="k2")).body["id"] != first.body["id"]
    await completed(core, first.body["id"])
    # After completion, from storage: still the same batch.
    assert (await create(core, batch)).replayed
    # Another merchant sees nothing.
    assert (await core.get("mch_other", first.body["id"], 0, 10)).status == 404
    assert await core.results_csv("mch_other", first.body["id"]) is None
    assert (await core.get(MERCHANT, "bat_" + "0" * 26, 0, 10)).status == 404


async def test_each_rail_keeps_within_its_window(db: Db, running: list[Any]) -> None:
    shard = FakeShard(db.payments, settle_per_tick=2)
    limits = {"mpesa_b2c": 4, "bank_transfer": 2}
    core = core_for(db, shard, limits=limits)
    running += [core, asyncio.create_task(shard.settle())]
    mixed = items(12) + items(6, "bank_transfer", prefix="b")
    first = await create(core, mixed)
    second = await create(core, items(8, prefix="x"), key="k2")  # shares the windows
    await completed(core, first.body["id"])
    await completed(core, second.body["id"])
    # The provider never had more than the window at once, and the windows were filled.
    assert shard.max_outstanding["mpesa_b2c"] <= 4
    assert shard.max_outstanding["bank_transfer"] <= 2
    assert (core.windows["mpesa_b2c"].peak, core.windows["bank_transfer"].peak) == (4, 2)
    assert len(shard.created) == 26
    assert core.stats()["with_provider"] == {"mpesa_b2c": 0, "bank_transfer": 0}


async def test_busy_answers_and_lost_answers_are_resent_and_refusals_are_final(
    db: Db, running: list[Any]
) -> None:
    def refuse(cmd: CreatePayment) -> Reply | None:
        if cmd.amount_minor >= 10_800:  # items 8 and 9
            error = {"code": "insufficient_balance", "message": "needs more", "details": []}
            return Reply(422, {"error": error})
        return None

    shard = FakeShard(db.payments, refuse=refuse, busy_first={"i1", "i5"}, lose_answer_once=True)
    core = core_for(db, shard)
    running += [core, asyncio.create_task(shard.settle())]
    reply = await create(core, items(10))
    body = await completed(core, reply.body["id"])
    assert body["counts"]["succeeded"] == 8 and body["counts"]["refused"] == 2
    assert len(shard.created) == 8 == len(set(shard.created))  # nothing created twice
    refused = body["items"][8]
    assert refused["status"] == "refused" and refused["payment_id"] is None
    assert refused["failure"] == {"code": "insufficient_balance", "message": "needs more"}
    stored = [d async for d in db.batches.find({"batch_id": reply.body["id"]})]
    records = {r["item_id"]: r for d in stored for r in d["items"]}
    assert records["i1"]["attempts"] >= 2  # busy once, then created
    assert records["i0"]["first_answer"]["replayed"] is True  # its first answer was lost
    assert records["i8"]["first_answer"] == {"status": 422, "code": "insufficient_balance"}


async def test_a_restarted_core_resumes_and_creates_nothing_twice(
    db: Db, running: list[Any]
) -> None:
    shard = FakeShard(db.payments, settle_per_tick=3)
    first_core = core_for(db, shard, limits={"mpesa_b2c": 5})
    running.append(asyncio.create_task(shard.settle()))
    reply = await create(first_core, items(30))
    batch_id = reply.body["id"]
    while len(shard.created) < 8:  # part of the batch is with the provider
        await asyncio.sleep(0.01)
    shard.hold.clear()  # the next create call hangs ...
    await asyncio.sleep(0.1)
    await first_core.stop()  # ... and the core dies with it in flight
    stored = await db.batches.find_one({"_id": batch_id})
    assert stored is not None and stored["state"] == "running"
    assert len(shard.created) < 30
    shard.hold.set()

    second_core = core_for(db, shard, limits={"mpesa_b2c": 5})
    running.append(second_core)
    await second_core.start()
    body = await completed(second_core, batch_id)
    assert body["counts"]["succeeded"] == 30
    assert await stored_payments(db) == 30  # one payment an item: resends were replays
    assert len(shard.created) == len(set(shard.created))
    assert shard.max_outstanding["mpesa_b2c"] <= 5
    # A core started on a finished store resumes nothing.
    third = core_for(db, shard)
    await third.start()
    assert third.stats()["running"] == 0


async def test_payouts_held_for_review_do_not_block_their_rail(db: Db, running: list[Any]) -> None:
    shard = FakeShard(db.payments, held={"i0", "i1", "i2"})
    core = core_for(db, shard, limits={"mpesa_b2c": 2})
    running += [core, asyncio.create_task(shard.settle())]
    reply = await create(core, items(6))
    batch_id = reply.body["id"]
    deadline = time.monotonic() + 10
    while True:  # the other three run through the window of 2 while three are held
        counts = (await core.get(MERCHANT, batch_id, 0, 10)).body["counts"]
        if counts["succeeded"] == 3:
            break
        assert time.monotonic() < deadline, counts
        await asyncio.sleep(0.05)
    assert counts["held"] == 3
    assert core.windows["mpesa_b2c"].used == 0
    await db.payments.update_many({"status": "held"}, {"$set": {"status": "processing"}})
    body = await completed(core, batch_id)  # approved: back in the window, then paid
    assert body["counts"]["succeeded"] == 6
    assert core.windows["mpesa_b2c"].used == 0


# --- personal data (switch/pii.py) ---------------------------------------------------------------


def sealer_on(store: MemoryKeyStore, master: bytes) -> Sealer:
    """A process's sealer: its own memory, the keys in the shared store (a restart makes anew)."""
    return Sealer(KeyRing({"m1": master}, "m1", store), b"i" * 32)


def persons(batch: list[BatchItem]) -> list[str]:
    """The personal values the batch's requests hold (normalised phones, account numbers)."""
    values = [i.command.phone for i in batch if i.command.phone]
    return values + [
        i.command.destination["account_number"] for i in batch if i.command.destination
    ]


async def stored_items(db: Db, batch_id: str) -> dict[str, Doc]:
    chunks = [d async for d in db.batches.find({"batch_id": batch_id})]
    return {r["item_id"]: r for d in chunks for r in d["items"]}


async def test_requests_are_sealed_in_the_chunks_and_a_restart_sends_exactly_what_was_asked(
    db: Db, running: list[Any]
) -> None:
    """Issue 10, finding 7: a batch item's phone and account are sealed at rest; a core
    restarted mid-run opens them and pays the right recipients."""
    store, master = MemoryKeyStore(), secrets.token_bytes(32)
    shard = FakeShard(db.payments, settle_per_tick=3)
    first_core = core_for(db, shard, limits={"mpesa_b2c": 4}, sealer=sealer_on(store, master))
    running.append(asyncio.create_task(shard.settle()))
    batch = items(16) + items(5, "bank_transfer", prefix="b")
    reply = await create(first_core, batch)
    batch_id = reply.body["id"]
    while len(shard.created) < 6:
        await asyncio.sleep(0.01)
    shard.hold.clear()  # the next create hangs and the core dies with it
    await asyncio.sleep(0.1)
    await first_core.stop()
    assert len(shard.created) < 21

    raw = await stored_items(db, batch_id)
    text = str(raw)
    assert not any(value in text for value in persons(batch)), "a request stored in clear"
    phones = [r["command"]["phone"] for i, r in raw.items() if i.startswith("i")]
    assert len(phones) == 16 and all(p.startswith("enc1.m_mch_batch.") for p in phones)
    assert raw["b0"]["command"]["destination"]["account_number"].startswith("enc1.")
    assert raw["b0"]["command"]["destination"]["bank_code"] == "68"  # not personal

    shard.hold.set()
    second_core = core_for(db, shard, limits={"mpesa_b2c": 4}, sealer=sealer_on(store, master))
    running.append(second_core)
    await second_core.start()
    body = await completed(second_core, batch_id)
    assert body["counts"]["succeeded"] == 21
    assert await stored_payments(db) == 21
    assert len(shard.created) == len(set(shard.created))
    for item in batch:  # every item reached the shard as asked, before and after the restart
        sent = shard.sent[f"batch:{batch_id}:{item.item_id}"]
        assert (sent.phone, sent.destination) == (item.command.phone, item.command.destination)
    # Every item shows its payment's receipt and recipient, also one whose resend was answered
    # by a payment already final (its create was cut off by the core's death).
    assert all(i["recipient_name"] == "JANE W" and i["provider_receipt"] for i in body["items"])
    text = str(await stored_items(db, batch_id))
    assert not any(value in text for value in persons(batch))


async def test_erasing_a_payment_erases_its_batch_items_copy(db: Db, running: list[Any]) -> None:
    """Issue 10, finding 7: the item's request and recipient name are overwritten, in a
    finished batch (in MongoDB) and in a running one (in memory, then written); the merchant's
    answers show ``[erased]`` for that item only."""
    shard = FakeShard(db.payments)
    sealer = sealer_on(MemoryKeyStore(), secrets.token_bytes(32))
    core = core_for(db, shard, sealer=sealer)
    running += [core]
    batch = items(3)
    finished = (await create(core, batch)).body["id"]
    settling = asyncio.create_task(shard.settle())
    running.append(settling)
    body = await completed(core, finished)
    pid = body["items"][1]["payment_id"]
    assert await core.erase_items("mch_other", [(finished, "i1", pid)]) == 0
    assert await core.erase_items(MERCHANT, [(finished, "i1", "pay_s0_SOMEONEELSE")]) == 0
    assert await core.erase_items(MERCHANT, [(finished, "i1", pid)]) == 1
    raw = await stored_items(db, finished)
    assert raw["i1"]["command"]["phone"] == "[erased]" == raw["i1"]["recipient_name"]
    assert raw["i1"]["status"] == "succeeded" and raw["i1"]["amount_minor"] == 10_100
    assert raw["i0"]["command"]["phone"].startswith("enc1.")
    page = (await core.get(MERCHANT, finished, 0, 10)).body["items"]
    assert [i["recipient_name"] for i in page] == ["JANE W", "[erased]", "JANE W"]
    assert b",[erased]\r\n" in (await core.results_csv(MERCHANT, finished) or b"")

    settling.cancel()  # a running batch: its payments stay with the provider
    live = (await create(core, items(3, prefix="x"), key="k2")).body["id"]
    while len(shard.created) < 6:
        await asyncio.sleep(0.01)
    pid = FakeShard.payment_id(f"batch:{live}:x0")
    assert await core.erase_items(MERCHANT, [(live, "x0", pid)]) == 1
    assert core.runs[live].records[0].command.phone == "[erased]"
    assert (await stored_items(db, live))["x0"]["command"]["phone"] == "[erased]"
    running.append(asyncio.create_task(shard.settle()))
    await completed(core, live)
    raw = await stored_items(db, live)  # the run's later writes keep it erased
    assert raw["x0"]["command"]["phone"] == "[erased]"
    assert raw["x1"]["command"]["phone"].startswith("enc1.")


async def test_an_item_erased_while_waiting_to_be_resent_is_not_sent_again(
    db: Db, running: list[Any]
) -> None:
    shard = FakeShard(db.payments, lose_answer_once=True)  # stored, but the answer is lost
    sealer = sealer_on(MemoryKeyStore(), secrets.token_bytes(32))
    core = core_for(db, shard, sealer=sealer, retry_base=1.0, retry_max=1.0)
    running += [core, asyncio.create_task(shard.settle())]
    batch_id = (await create(core, items(1))).body["id"]
    while not shard.created:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert core.runs[batch_id].records[0].status == "queued"  # to be resent in 1 s
    pid = shard.created[0]
    assert await core.erase_items(MERCHANT, [(batch_id, "i0", pid)]) == 1
    body = await completed(core, batch_id)
    assert body["items"][0]["status"] == "succeeded" and body["items"][0]["payment_id"] == pid
    assert shard.calls == 1  # its erased request never reached the shard
    assert core.windows["mpesa_b2c"].used == 0


async def test_a_resend_answered_by_a_payment_already_final_shows_its_receipt_and_recipient(
    db: Db, running: list[Any]
) -> None:
    """The first answer is lost and the provider pays before the resend: the replay answers
    "succeeded", and the item still shows what only the stored payment has."""
    shard = FakeShard(db.payments, lose_answer_once=True)
    core = core_for(db, shard, retry_base=0.5, retry_max=0.5)
    running.append(core)
    batch_id = (await create(core, items(2))).body["id"]
    while len(shard.created) < 2:
        await asyncio.sleep(0.01)
    paid = {"status": "succeeded", "provider.receipt": "UKR1", "provider.receiver_name": "JANE W"}
    await db.payments.update_many({}, {"$set": paid})  # before the resend, due in 0.5 s
    body = await completed(core, batch_id)
    assert shard.calls == 2  # the resend was answered by the replay
    assert [(i["status"], i["provider_receipt"], i["recipient_name"]) for i in body["items"]] == [
        ("succeeded", "UKR1", "JANE W")
    ] * 2
