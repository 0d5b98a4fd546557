"""The shard's compliance desk with the in-memory counters (no Redis) and a fake merchants
collection: KYC cache, day totals reserved and given back, velocity, sanctions holds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from actors.compliance import Compliance, MemoryCounters
from infra.aml import Velocity
from switch.payments import new_payment
from switch.security.aml import Limits
from switch.security.sanctions import SAMPLE_LIST, SanctionsList

KES = 100


class Merchants:
    """Stands for the merchants collection: ``find_one`` by id, counting the reads."""

    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs
        self.reads = 0

    async def find_one(self, query: dict[str, Any], _projection: Any = None) -> Any:
        self.reads += 1
        found = self.docs.get(query["_id"])
        return None if found is None else dict(found)  # a fresh document, as MongoDB gives


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _desk(
    merchants: Merchants, sandbox: bool = False, clock: Clock | None = None, **limits: Any
) -> Compliance:
    return Compliance(
        merchants,  # type: ignore[arg-type]
        None,
        MemoryCounters(),
        SanctionsList.load(SAMPLE_LIST),
        Limits(**limits),
        sandbox=sandbox,
        index_key=b"i" * 32,
        two_approvers_from=100_000 * KES,
        clock=clock or Clock(),
    )


async def _screen(desk: Compliance, n: int, amount_kes: int, **extra: Any) -> Any:
    fields: dict[str, Any] = {
        "payment_id": f"pay_s0_{n}",
        "merchant_id": "mch_1",
        "method": "mpesa_stk",
        "amount": amount_kes * KES,
        "phone": "254712345678",
        "destination": {},
        "metadata": {},
    }
    return await desk.screen(**{**fields, **extra})


VERIFIED = {"mch_1": {"_id": "mch_1", "kyc_status": "verified"}}


async def test_a_pending_merchant_moves_money_only_in_sandbox() -> None:
    merchants = Merchants({"mch_1": {"_id": "mch_1", "kyc_status": "pending"}})
    live = await _screen(_desk(merchants), 1, 100)
    assert (live.action, live.reason, live.status) == ("refuse", "kyc_pending", 403)
    sandbox = await _screen(_desk(merchants, sandbox=True), 1, 100)
    assert sandbox.allowed


async def test_kyc_is_cached_until_forgotten_or_stale() -> None:
    merchants = Merchants({"mch_1": {"_id": "mch_1", "kyc_status": "verified"}})
    clock = Clock()
    desk = _desk(merchants, clock=clock)
    assert (await _screen(desk, 1, 10)).allowed
    merchants.docs["mch_1"]["kyc_status"] = "suspended"
    assert (await _screen(desk, 2, 10)).allowed  # cached
    assert merchants.reads == 1
    desk.forget("mch_1")
    assert (await _screen(desk, 3, 10)).reason == "merchant_suspended"
    merchants.docs["mch_1"]["kyc_status"] = "verified"
    clock.now += 31  # older than the 30 s cache
    assert (await _screen(desk, 4, 10)).allowed


async def test_the_daily_phone_limit_counts_and_gives_back_refusals() -> None:
    desk = _desk(Merchants(VERIFIED), phone_daily_max=500 * KES, velocity_count=None)
    first = await _screen(desk, 1, 300)
    assert first.allowed and first.day is not None
    over = await _screen(desk, 2, 250)
    assert (over.action, over.field, over.reason) == ("refuse", "phone", "phone_daily_limit")
    assert over.day is None  # not counted: refused
    assert (await _screen(desk, 3, 200)).allowed  # the refused 250 was given back
    assert (await _screen(desk, 4, 1)).field == "phone"  # 500 reached


async def test_a_failed_payment_gives_its_amount_back_the_same_day() -> None:
    desk = _desk(Merchants(VERIFIED), phone_daily_max=500 * KES, velocity_count=None)
    first = await _screen(desk, 1, 400)
    payment = new_payment(
        payment_id="pay_s0_1",
        merchant_id="mch_1",
        method="mpesa_stk",
        amount_minor=400 * KES,
        phone="254712345678",
        reference="R",
        description="d",
        metadata={},
        idem_key="k",
        request_hash="h",
        at=datetime.now(UTC),
    )
    entry = replace(payment.history[0], detail={"aml": {"day": first.day}})
    yesterday = replace(payment.history[0], detail={"aml": {"day": "2000-01-01"}})
    await desk.release(replace(payment, history=(yesterday,)))  # another day: nothing back
    assert (await _screen(desk, 2, 200)).field == "phone"
    await desk.release(replace(payment, history=(entry,)))
    assert (await _screen(desk, 3, 200)).allowed


async def test_the_merchant_daily_limit_names_the_amount() -> None:
    merchants = Merchants(
        {"mch_1": {"kyc_status": "verified", "limits": {"merchant_daily_max": 500 * KES}}}
    )
    desk = _desk(merchants, velocity_count=None)
    assert (await _screen(desk, 1, 400, phone="254712000001")).allowed
    over = await _screen(desk, 2, 200, phone="254712000002")
    assert (over.reason, over.field) == ("merchant_daily_limit", "amount")


async def test_velocity_holds_the_next_payment_of_a_busy_phone() -> None:
    desk = _desk(Merchants(VERIFIED), velocity_count=3, velocity_window_s=3600)
    for n in range(3):
        assert (await _screen(desk, n, 10)).allowed
    held = await _screen(desk, 99, 10)
    assert (held.action, held.rules) == ("hold", ("velocity",))
    again = await _screen(desk, 99, 10)  # the same payment id is one event, not two
    assert again.action == "hold"


async def test_a_payout_to_a_listed_name_is_held_a_collection_is_not_name_screened() -> None:
    desk = _desk(Merchants(VERIFIED), velocity_count=None)
    held = await _screen(
        desk,
        1,
        100,
        method="bank_transfer",
        phone="",
        destination={
            "bank_code": "01",
            "account_number": "123456",
            "account_name": "Barney Fictitia",
        },
    )
    assert held.action == "hold"
    assert held.rules == ("sanctions:TEST-001",)
    assert held.hits[0]["name"] == "Barney Fictitia"
    collection = await _screen(desk, 2, 100, metadata={"recipient_name": "Barney Fictitia"})
    assert collection.allowed
    clean = await _screen(
        desk, 3, 100, method="mpesa_b2c", metadata={"recipient_name": "Jane Wanjiru"}
    )
    assert clean.allowed


async def test_transfer_onward_legs_are_not_screened() -> None:
    merchants = Merchants({"mch_1": {"kyc_status": "suspended"}})
    desk = _desk(merchants)
    assert (await _screen(desk, 1, 100, stage="transfer_onward")).allowed
    assert merchants.reads == 0


async def test_approvals_needed_from_the_configured_threshold() -> None:
    desk = _desk(Merchants(VERIFIED))
    assert desk.needed(99_999 * KES) == 1
    assert desk.needed(100_000 * KES) == 2


class DeadRedis:
    """A counter store whose Redis is away."""

    def __init__(self) -> None:
        self.calls = 0

    async def add(self, subject: str, amount: int) -> int:
        self.calls += 1
        raise RedisError("connection refused")

    async def release(self, subject: str, amount: int) -> int:
        raise RedisError("connection refused")

    async def hit(self, subject: str, event_id: str, window_s: int) -> int:
        raise RedisError("connection refused")

    async def count(
        self, days: Sequence[str], amount: int, velocity: Velocity | None = None
    ) -> tuple[list[int], int]:
        self.calls += 1
        raise RedisError("connection refused")


async def test_without_redis_the_shard_counts_by_itself_and_retries_after_a_cool_down() -> None:
    dead, clock = DeadRedis(), Clock()
    desk = Compliance(
        Merchants(VERIFIED),  # type: ignore[arg-type]
        None,
        dead,
        None,
        Limits(phone_daily_max=500 * KES, velocity_count=None),
        sandbox=False,
        index_key=b"i" * 32,
        clock=clock,
    )
    assert (await _screen(desk, 1, 400)).allowed
    tried = dead.calls
    over = await _screen(desk, 2, 200)  # the limit still holds, counted in this shard
    assert over.field == "phone"
    assert dead.calls == tried  # no second timeout within the cool-down
    assert (await _screen(desk, 3, 100)).allowed  # the refused 200 was given back here
    clock.now += 6
    await _screen(desk, 4, 1)
    assert dead.calls > tried  # Redis is tried again
