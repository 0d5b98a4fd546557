"""SaccoGatewayCore against the real SACCO simulators, in-process: the API simulator on a local
port through the real transport, the file SACCO on a temporary folder tree. Every trigger, the
retry discipline (resend only what provably was not taken), idempotent resends, faults, batch
files written before QUEUED, result files ingested and delivered, damaged and partial result
files, and restarts with lines pending."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from actors.sacco_gateway import SaccoGatewayCore, sacco_gateway_from
from connectors.sacco.registry import Registry, sandbox_registry
from connectors.sacco.simulator import (
    FileSacco,
    FileSimConfig,
    SimConfig,
    Simulator,
    start_sandbox,
)
from connectors.sacco.simulator.book import (
    OPENING_SAVINGS_MINOR,
    OUTSTANDING_LOAN_MINOR,
    OVERPAYMENT_REFUSED,
)
from connectors.transport import AiohttpTransport
from switch.config import Settings
from switch.messages import CallbackIn, SaccoOrder, StatusCheck
from switch.payments import ProviderRefs
from switch.states import Event
from tests.unit.connectors.sacco.helpers import api_simulator, free_port

DORMANT = "error.msg.savingsaccount.transaction.account.is.dormant"


@dataclass
class Shard:
    """Stands in for the shards: records what is delivered; can fail on demand."""

    items: list[CallbackIn] = field(default_factory=list)
    fail: int = 0

    async def __call__(self, items: list[CallbackIn]) -> list[str]:
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("shard unavailable")
        self.items.extend(items)
        return ["applied"] * len(items)

    def by_id(self) -> dict[str, Any]:  # Any: tests read optional fields directly
        return {i.payment_id: i for i in self.items}


def order(
    n: int, member: str = "10001", amount: int = 150_000, purpose: str = "deposit",
    sacco: str = "STIMA",
) -> SaccoOrder:  # fmt: skip
    return SaccoOrder(
        payment_id=f"pay_s0_{n}",
        sacco_code=sacco,
        member_number=member,
        amount_minor=amount,
        purpose=purpose,  # type: ignore[arg-type]
        reference=f"INV-{n}",
        callback_url="",
    )


def gateway(
    registry: Registry, root: Path, shard: Shard | None = None, **kw: float
) -> SaccoGatewayCore:
    options = {"timeout": 2.0, "retry_base": 0.001, "flush_interval": 0.02, **kw}
    return SaccoGatewayCore(
        registry, AiohttpTransport(), root, shard or Shard(), owns_transport=True,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
async def api() -> AsyncIterator[tuple[Simulator, Registry]]:
    async with api_simulator() as (sim, base):
        yield sim, sandbox_registry(base)


async def one(gw: SaccoGatewayCore, o: SaccoOrder):  # type: ignore[no-untyped-def]
    (result,) = await gw.submit([o])
    assert result.payment_id == o.payment_id
    return result.outcome


async def status(gw: SaccoGatewayCore, pid: str, ref: str | None = "STIMA"):  # type: ignore[no-untyped-def]
    (result,) = await gw.check([StatusCheck(pid, "sacco", ref)])
    assert result.not_found == bool(
        result.outcome and result.outcome.failure and result.outcome.failure.code == "not_found"
    )
    return result.outcome


# --- API SACCO: triggers ----------------------------------------------------------------------


async def test_deposit_succeeds_with_receipt_and_member_name(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path)
    outcome = await one(gw, order(1, amount=150_050))
    assert outcome.event == Event.SUCCEED
    assert outcome.amount_minor == 150_050
    txn = sim.book_of("STIMA").ledger["pay_s0_1"]
    assert outcome.refs.receipt == str(txn.transaction_id)
    assert outcome.refs.receiver_name == sim.book_of("STIMA").members["10001"].name
    assert sim.book_of("STIMA").members["10001"].savings_minor == 5_150_050
    await gw.stop()


@pytest.mark.parametrize(
    ("member", "purpose", "event", "code"),
    [
        ("10404", "deposit", Event.REJECTED, "member_not_found"),
        ("10403", "deposit", Event.DECLINE, DORMANT),
        ("10403", "withdrawal", Event.DECLINE, DORMANT),
        ("10402", "withdrawal", Event.DECLINE,
         "error.msg.savingsaccount.transaction.insufficient.account.balance"),
        ("10405", "loan_disbursement", Event.DECLINE, "no_loan"),
        ("10404", "loan_repayment", Event.REJECTED, "member_not_found"),
        ("10405", "loan_repayment", Event.DECLINE, "no_active_loan"),
        ("10406", "loan_repayment", Event.DECLINE, "no_active_loan"),
    ],
)  # fmt: skip
async def test_refusals_by_trigger_move_nothing(  # type: ignore[no-untyped-def]
    api, tmp_path: Path, member: str, purpose: str, event: Event, code: str
) -> None:
    sim, registry = api
    gw = gateway(registry, tmp_path)
    outcome = await one(gw, order(2, member, purpose=purpose))
    assert outcome.event == event
    assert outcome.failure.provider_code == code
    assert sim.book_of("STIMA").ledger == {}
    assert await status(gw, "pay_s0_2") == (await status(gw, "pay_s0_2"))  # stable answer
    assert (await status(gw, "pay_s0_2")).failure.code == "not_found"
    await gw.stop()


async def test_withdrawal_and_disbursement_succeed(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path)
    results = await gw.submit(
        [order(3, purpose="withdrawal", amount=100_000), order(4, purpose="loan_disbursement")]
    )
    assert [r.outcome.event for r in results] == [Event.SUCCEED, Event.SUCCEED]
    member = sim.book_of("STIMA").members["10001"]
    assert member.savings_minor == 4_900_000
    assert member.undisbursed_minor == 100_000_000 - 150_000
    await gw.stop()


async def test_slow_answer_is_lost_then_found_by_check(tmp_path: Path) -> None:
    async with api_simulator(SimConfig(slow_delay=1.0)) as (sim, base):
        gw = gateway(sandbox_registry(base), tmp_path, timeout=0.3)
        outcome = await one(gw, order(5, "10504"))
        assert outcome.event == Event.ANSWER_LOST  # a timeout is not a failure
        assert "pay_s0_5" in sim.book_of("STIMA").ledger  # the money did move
        found = await status(gw, "pay_s0_5", ref=None)  # remembered: no SACCO code needed
        assert found.event == Event.SUCCEED
        assert found.amount_minor == 150_000
        assert sim.stats.money_calls == 1  # asked, never resent
        await gw.stop()


# --- API SACCO: loan repayments ---------------------------------------------------------------


async def test_repayment_reduces_the_members_loan(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path)
    outcome = await one(gw, order(100, amount=1_500_000, purpose="loan_repayment"))
    assert outcome.event == Event.SUCCEED
    member = sim.book_of("STIMA").members["10001"]
    txn = sim.book_of("STIMA").ledger["pay_s0_100"]
    assert (txn.kind, txn.account_no) == ("repayment", member.loan_no())
    assert outcome.refs.receipt == str(txn.transaction_id)
    assert outcome.refs.receiver_name == member.name
    assert outcome.refs.result_desc is None  # not an overpayment
    assert member.outstanding_minor == OUTSTANDING_LOAN_MINOR - 1_500_000
    assert member.savings_minor == OPENING_SAVINGS_MINOR  # not a deposit
    again = await one(gw, order(100, amount=1_500_000, purpose="loan_repayment"))
    assert again.refs.receipt == outcome.refs.receipt  # the first booking, not a second
    assert member.outstanding_minor == OUTSTANDING_LOAN_MINOR - 1_500_000
    found = await status(gw, "pay_s0_100")
    assert (found.event, found.amount_minor) == (Event.SUCCEED, 1_500_000)
    await gw.stop()


async def test_no_active_loan_sends_nothing(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path)
    outcome = await one(gw, order(101, "10405", purpose="loan_repayment"))
    assert outcome.event == Event.DECLINE
    assert "no active loan" in outcome.failure.message
    assert sim.stats.money_calls == 0  # declined on the accounts read: nothing on the wire
    await gw.stop()


async def test_overpayment_is_booked_and_said(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path)
    outcome = await one(gw, order(102, "10407", 150_000, "loan_repayment"))  # KES 1,000 owed
    assert outcome.event == Event.SUCCEED
    assert outcome.refs.result_desc == "loan overpaid by KES 500.00"
    member = sim.book_of("STIMA").members["10407"]
    assert (member.outstanding_minor, member.overpaid_minor) == (0, 50_000)
    after = await one(gw, order(103, "10407", 10_000, "loan_repayment"))
    assert after.event == Event.DECLINE  # an overpaid loan is not active any more
    assert after.failure.provider_code == "no_active_loan"
    await gw.stop()


async def test_a_sacco_refusing_overpayments_declines(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    sim.config.apply({"refuse_overpayment": True})
    gw = gateway(registry, tmp_path)
    outcome = await one(gw, order(104, "10407", 150_000, "loan_repayment"))
    assert outcome.event == Event.DECLINE
    assert outcome.failure.provider_code == OVERPAYMENT_REFUSED
    assert sim.book_of("STIMA").ledger == {}
    exact = await one(gw, order(105, "10407", 100_000, "loan_repayment"))
    assert exact.event == Event.SUCCEED  # the exact balance is not an overpayment
    assert sim.book_of("STIMA").members["10407"].outstanding_minor == 0
    await gw.stop()


async def test_lost_repayment_answer_is_found_not_resent(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    sim.config.drop_answers = 1
    gw = gateway(registry, tmp_path)
    outcome = await one(gw, order(106, purpose="loan_repayment"))
    assert outcome.event == Event.ANSWER_LOST
    found = await status(gw, "pay_s0_106")
    assert found.event == Event.SUCCEED
    assert sim.stats.money_calls == 1
    member = sim.book_of("STIMA").members["10001"]
    assert member.outstanding_minor == OUTSTANDING_LOAN_MINOR - 150_000
    await gw.stop()


# --- API SACCO: idempotency and faults ------------------------------------------------------


async def test_idempotent_resend_returns_the_first_result(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path)
    first = await one(gw, order(6))
    again = await one(gw, order(6))
    assert again.event == Event.SUCCEED
    assert again.refs.receipt == first.refs.receipt
    other_amount = await one(gw, order(6, amount=999_900))  # same id, different money
    assert other_amount.event == Event.SUCCEED
    assert other_amount.amount_minor == 150_000  # the SACCO's record, via lookup
    assert len(sim.book_of("STIMA").ledger) == 1
    assert sim.book_of("STIMA").members["10001"].savings_minor == 5_150_000
    await gw.stop()


async def test_dropped_answer_is_lost_not_resent(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    sim.config.drop_answers = 1
    gw = gateway(registry, tmp_path)
    outcome = await one(gw, order(7))
    assert outcome.event == Event.ANSWER_LOST
    assert sim.stats.money_calls == 1
    assert (await status(gw, "pay_s0_7")).refs.receipt == str(
        sim.book_of("STIMA").ledger["pay_s0_7"].transaction_id
    )
    await gw.stop()


async def test_503_is_resent_500_is_not(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path)
    sim.config.apply({"error_burst": {"status": 503, "count": 2, "api": "money"}})
    assert (await one(gw, order(8))).event == Event.SUCCEED
    assert sim.stats.money_calls == 1  # the two 503s were refused before any work
    sim.config.apply({"error_burst": {"status": 500, "count": 1, "api": "money"}})
    lost = await one(gw, order(9))
    assert lost.event == Event.ANSWER_LOST  # a 500 may hide work: never resent blind
    assert "pay_s0_9" not in sim.book_of("STIMA").ledger
    checked = await status(gw, "pay_s0_9")
    assert checked.event is None
    assert checked.failure.code == "not_found"
    sim.config.apply({"error_burst": {"status": 500, "count": 2, "api": "read"}})
    assert (await one(gw, order(10))).event == Event.SUCCEED  # reads are retried freely
    await gw.stop()


async def test_retries_spent_on_503_means_nothing_moved(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path, retries=2)
    sim.config.apply({"error_burst": {"status": 503, "count": 10, "api": "money"}})
    outcome = await one(gw, order(11))
    assert outcome.event == Event.REJECTED
    assert outcome.failure.code == "provider_unavailable"
    assert sim.book_of("STIMA").ledger == {}
    await gw.stop()


async def test_unreachable_sacco_opens_its_circuit(tmp_path: Path) -> None:
    registry = sandbox_registry(f"http://127.0.0.1:{free_port()}/fineract-provider/api/v1")
    gw = gateway(registry, tmp_path, retries=1, breaker_threshold=2, breaker_cool_down=60)
    first = await one(gw, order(12))
    assert first.event == Event.REJECTED
    assert first.failure.code == "provider_unavailable"
    refused = await one(gw, order(13))
    assert refused.retry_after is not None and refused.retry_after > 0
    assert (await status(gw, "pay_s0_12")) is None  # the question failed: ask again later
    await gw.stop()


async def test_wrong_credentials_and_outage(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    bad = Registry([type(registry["STIMA"])(**{**registry["STIMA"].to_json(), "password": "nope"})])
    gw = gateway(bad, tmp_path)
    outcome = await one(gw, order(14))
    assert outcome.event == Event.REJECTED
    assert "credentials" in outcome.failure.message or "authenticated" in outcome.failure.message
    await gw.stop()
    sim.config.outage = 60
    sim._outage_until = asyncio.get_running_loop().time() + 60
    gw = gateway(registry, tmp_path, retries=1)
    assert (await one(gw, order(15))).failure.code == "provider_unavailable"
    sim._outage_until = 0.0
    await gw.stop()


async def test_bad_orders_are_rejected_before_anything(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path)
    results = await gw.submit(
        [order(16, sacco="NOPE"), order(17, member="12"), order(18, amount=0)]
    )
    assert [r.outcome.failure and r.outcome.failure.provider_code for r in results] == [
        "unknown_sacco", "invalid_member_number", "invalid_amount",
    ]  # fmt: skip
    assert sim.stats.member_lookups == 0
    await gw.stop()


async def test_member_lookup(api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim, registry = api
    gw = gateway(registry, tmp_path)
    found = await gw.lookup("STIMA", "10001")
    assert found == {
        "sacco_code": "STIMA",
        "member_number": "10001",
        "name": sim.book_of("STIMA").members["10001"].name,
    }
    assert await gw.lookup("STIMA", "10404") == {
        "error": "Stima Sandbox SACCO has no member 10404",
        "error_code": "account_not_found",
    }
    assert "exchanges files" in (await gw.lookup("WAUMINI", "10001"))["error"]
    assert "not a" in (await gw.lookup("STIMA", "x"))["error"]
    assert "no SACCO" in (await gw.lookup("NOPE", "10001"))["error"]
    await gw.stop()


# --- file SACCO -------------------------------------------------------------------------------


def file_gateway(root: Path, shard: Shard, **kw: float) -> SaccoGatewayCore:
    return gateway(sandbox_registry(f"http://127.0.0.1:{free_port()}/x"), root, shard, **kw)


async def submit_flushed(gw: SaccoGatewayCore, orders: list[SaccoOrder]):  # type: ignore[no-untyped-def]
    """Submit and run one flush tick by hand (the loop is not started)."""
    task = asyncio.ensure_future(gw.submit(orders))
    await asyncio.sleep(0.01)
    assert not task.done()  # nobody hears QUEUED before the batch is written
    await gw.files.flush()
    return [r.outcome for r in await task]


async def test_file_lines_are_written_before_queued_then_settled(tmp_path: Path) -> None:
    shard = Shard()
    gw = file_gateway(tmp_path, shard)
    sim = FileSacco(tmp_path)
    orders = [
        order(20, "10001", sacco="WAUMINI"),
        order(21, "10404", sacco="WAUMINI"),
        order(22, "10001", 2_000_000, "loan_disbursement", sacco="WAUMINI"),
    ]
    outcomes = await submit_flushed(gw, orders)
    assert {o.event for o in outcomes} == {Event.QUEUED}
    batch_id = outcomes[0].refs.conversation_id
    assert batch_id and {o.refs.conversation_id for o in outcomes} == {batch_id}
    assert (tmp_path / "WAUMINI" / "outgoing" / f"{batch_id}.csv").exists()
    assert (tmp_path / "WAUMINI" / "journal" / "sent" / f"{batch_id}.csv").exists()
    assert (await status(gw, "pay_s0_20", "WAUMINI")).refs == ProviderRefs(conversation_id=batch_id)
    # Sent again: never a second line.
    assert (await one(gw, order(20, "10001", sacco="WAUMINI"))).refs.conversation_id == batch_id
    await sim.process_once()
    assert await gw.files.ingest() == 3
    got = shard.by_id()
    assert got["pay_s0_20"].outcome.event == Event.SUCCEED
    assert got["pay_s0_20"].outcome.refs.receipt.startswith("WAU")
    assert got["pay_s0_20"].outcome.amount_minor == 150_000
    assert got["pay_s0_21"].outcome.event == Event.DECLINE
    assert got["pay_s0_21"].outcome.failure.message.endswith("unknown member")
    assert got["pay_s0_22"].outcome.event == Event.SUCCEED
    assert list((tmp_path / "WAUMINI" / "incoming").iterdir()) == []
    assert len(list((tmp_path / "WAUMINI" / "archive").iterdir())) == 1
    assert (await status(gw, "pay_s0_21", None)).event == Event.DECLINE
    assert (await one(gw, order(20, "10001", sacco="WAUMINI"))).event == Event.SUCCEED
    assert gw.files.awaiting_results() == {"WAUMINI": []}
    assert await gw.files.ingest() == 0  # nothing delivered twice
    assert len(shard.items) == 3
    assert len(sim.book("WAUMINI").ledger) == 2
    await gw.stop()


async def test_file_loan_repayments_are_batched_and_settled(tmp_path: Path) -> None:
    shard = Shard()
    gw = file_gateway(tmp_path, shard)
    sim = FileSacco(tmp_path)
    orders = [
        order(24, "10001", 70_000, "loan_repayment", sacco="WAUMINI"),
        order(25, "10405", 70_000, "loan_repayment", sacco="WAUMINI"),
    ]
    outcomes = await submit_flushed(gw, orders)
    assert {o.event for o in outcomes} == {Event.QUEUED}
    batch_id = outcomes[0].refs.conversation_id
    written = (tmp_path / "WAUMINI" / "journal" / "sent" / f"{batch_id}.csv").read_text()
    assert "DTL,1,pay_s0_24,10001,700.00,LOAN_REPAYMENT,INV-24" in written
    await sim.process_once()
    assert await gw.files.ingest() == 2
    got = shard.by_id()
    assert got["pay_s0_24"].outcome.event == Event.SUCCEED
    assert got["pay_s0_25"].outcome.event == Event.DECLINE
    assert "no loan" in got["pay_s0_25"].outcome.failure.message
    member = sim.book("WAUMINI").members["10001"]
    assert member.outstanding_minor == OUTSTANDING_LOAN_MINOR - 70_000
    assert member.savings_minor == OPENING_SAVINGS_MINOR
    await gw.stop()


async def test_file_sacco_refuses_withdrawals(tmp_path: Path) -> None:
    gw = file_gateway(tmp_path, Shard())
    outcome = await one(gw, order(23, purpose="withdrawal", sacco="WAUMINI"))
    assert outcome.event == Event.REJECTED
    assert not (tmp_path / "WAUMINI" / "journal").exists()
    await gw.stop()


async def test_damaged_result_file_delivers_sound_lines_and_keeps_the_rest(tmp_path: Path) -> None:
    shard = Shard()
    gw = file_gateway(tmp_path, shard)
    sim = FileSacco(tmp_path, config=FileSimConfig(malformed_results=1, hold_for=3600))
    orders = [order(30 + n, f"1000{n}", sacco="WAUMINI") for n in range(1, 6)]
    await submit_flushed(gw, orders)
    await sim.process_once()
    assert await gw.files.ingest() == 2  # lines 4 and 5; 1-3 damaged
    assert sorted(shard.by_id()) == ["pay_s0_34", "pay_s0_35"]
    waiting = [w.line.payment_id for w in gw.files.awaiting_results()["WAUMINI"]]
    assert waiting == ["pay_s0_31", "pay_s0_32", "pay_s0_33"]  # pending, not lost
    assert (await status(gw, "pay_s0_31", "WAUMINI")).event is None
    for held in sim.saccos["WAUMINI"].held:
        held.due = 0  # the SACCO sends its correction
    await sim.process_once()
    assert await gw.files.ingest() == 3
    assert sorted(shard.by_id()) == [f"pay_s0_3{n}" for n in range(1, 6)]
    assert len(shard.items) == 5  # each exactly once
    assert gw.files.awaiting_results() == {"WAUMINI": []}
    await gw.stop()


async def test_partial_result_file_then_the_rest(tmp_path: Path) -> None:
    shard = Shard()
    gw = file_gateway(tmp_path, shard)
    sim = FileSacco(tmp_path, config=FileSimConfig(partial_results=1, hold_for=3600))
    await submit_flushed(gw, [order(40 + n, f"1000{n}", sacco="WAUMINI") for n in range(1, 5)])
    await sim.process_once()
    assert await gw.files.ingest() == 2
    assert [w.line.line_no for w in gw.files.awaiting_results()["WAUMINI"]] == [2, 4]
    assert gw.files.awaiting_results(older_than=3600) == {"WAUMINI": []}
    sim.saccos["WAUMINI"].held[0].due = 0
    await sim.process_once()
    assert await gw.files.ingest() == 2
    assert len(shard.by_id()) == 4
    await gw.stop()


async def test_failed_delivery_keeps_the_file_for_the_next_tick(tmp_path: Path) -> None:
    shard = Shard(fail=1)
    gw = file_gateway(tmp_path, shard)
    sim = FileSacco(tmp_path)
    await submit_flushed(gw, [order(50, sacco="WAUMINI")])
    await sim.process_once()
    assert await gw.files.ingest() == 0
    assert len(list((tmp_path / "WAUMINI" / "incoming").iterdir())) == 1  # not archived
    assert (await status(gw, "pay_s0_50", "WAUMINI")).event is None
    assert await gw.files.ingest() == 1
    assert shard.by_id()["pay_s0_50"].outcome.event == Event.SUCCEED
    await gw.stop()


async def test_unreadable_result_file_is_set_aside(tmp_path: Path) -> None:
    shard = Shard()
    gw = file_gateway(tmp_path, shard)
    await submit_flushed(gw, [order(51, sacco="WAUMINI")])
    incoming = tmp_path / "WAUMINI" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "junk.csv").write_bytes(b"hello,world\n")
    assert await gw.files.ingest() == 0
    assert (tmp_path / "WAUMINI" / "rejected" / "junk.csv").exists()
    assert [w.line.payment_id for w in gw.files.awaiting_results()["WAUMINI"]] == ["pay_s0_51"]
    await gw.stop()


# --- restarts ---------------------------------------------------------------------------------


async def test_restart_rebuilds_from_the_journal(tmp_path: Path) -> None:
    shard = Shard()
    gw1 = file_gateway(tmp_path, shard)
    sim = FileSacco(tmp_path)
    (queued,) = await submit_flushed(gw1, [order(60, sacco="WAUMINI")])
    # A second line joins the pending batch, then the process dies before the tick.
    never = asyncio.ensure_future(gw1.submit([order(61, sacco="WAUMINI")]))
    await asyncio.sleep(0.01)
    never.cancel()
    await gw1.transport.close()
    del gw1  # no stop(): a crash

    gw2 = file_gateway(tmp_path, shard)
    await gw2.start()
    pending = await status(gw2, "pay_s0_60", None)
    assert pending.event is None
    assert pending.refs.conversation_id == queued.refs.conversation_id
    unsent = await status(gw2, "pay_s0_61", "WAUMINI")
    assert unsent.event is None
    assert unsent.failure.code == "not_found"  # provably never written: safe to submit again
    await sim.process_once()
    for _ in range(100):  # the ingest loop runs by itself
        if shard.items:
            break
        await asyncio.sleep(0.02)
    assert shard.by_id()["pay_s0_60"].outcome.event == Event.SUCCEED
    await gw2.stop()

    gw3 = file_gateway(tmp_path, shard)  # and once more: the result is remembered too
    await gw3.start()
    assert (await status(gw3, "pay_s0_60", "WAUMINI")).event == Event.SUCCEED
    assert (await one(gw3, order(60, sacco="WAUMINI"))).event == Event.SUCCEED  # not rewritten
    await gw3.stop()
    assert len(sim.book("WAUMINI").ledger) == 1


class BrokenOutbox:
    """An outbox whose upload fails (an SFTP server that is down)."""

    async def put_batch(self, name: str, data: bytes) -> None:
        raise ConnectionRefusedError("sftp down")

    async def list_results(self) -> list[str]:
        return []

    async def read_result(self, name: str) -> bytes:
        raise FileNotFoundError(name)

    async def archive_result(self, name: str) -> None:
        return None

    async def reject_result(self, name: str) -> None:
        return None


async def test_staged_batch_is_published_after_a_restart(tmp_path: Path) -> None:
    registry = sandbox_registry(f"http://127.0.0.1:{free_port()}/x")
    gw1 = SaccoGatewayCore(
        registry, AiohttpTransport(), tmp_path, Shard(), outboxes={"WAUMINI": BrokenOutbox()},
        owns_transport=True,
    )  # fmt: skip
    (queued,) = await submit_flushed(gw1, [order(70, sacco="WAUMINI")])
    assert queued.event == Event.QUEUED  # durable in the journal, even though not uploaded
    assert not (tmp_path / "WAUMINI" / "outgoing").exists()
    await gw1.stop()

    shard = Shard()
    gw2 = file_gateway(tmp_path, shard)
    await gw2.start()
    assert (tmp_path / "WAUMINI" / "outgoing" / f"{queued.refs.conversation_id}.csv").exists()
    assert list((tmp_path / "WAUMINI" / "journal" / "staged").iterdir()) == []
    await FileSacco(tmp_path).process_once()
    await gw2.files.ingest()  # or the running ingest loop got there first: the lock orders them
    assert [i.payment_id for i in shard.items] == ["pay_s0_70"]
    await gw2.stop()


async def test_stop_answers_whoever_waits_for_a_tick(tmp_path: Path) -> None:
    gw = file_gateway(tmp_path, Shard(), flush_interval=3600)
    await gw.start()
    task = asyncio.ensure_future(gw.submit([order(80, sacco="WAUMINI")]))
    await asyncio.sleep(0.01)
    await gw.stop()
    (result,) = await task
    assert result.outcome.event == Event.QUEUED


async def test_running_loops_write_and_ingest_by_themselves(tmp_path: Path) -> None:
    shard = Shard()
    settings = Settings(sacco_outbox_dir=str(tmp_path), sacco_flush_interval=0.02)
    gw = sacco_gateway_from(settings, shard)
    assert sorted(gw.api) == ["STIMA"] and sorted(gw.files.sides) == ["WAUMINI"]
    sim = FileSacco(tmp_path, config=FileSimConfig(poll_interval=0.02))
    await gw.start()
    sim.start()
    (result,) = await gw.submit([order(90, sacco="WAUMINI")])
    assert result.outcome.event == Event.QUEUED
    for _ in range(200):
        if shard.items:
            break
        await asyncio.sleep(0.02)
    assert shard.by_id()["pay_s0_90"].outcome.event == Event.SUCCEED
    await sim.stop()
    await gw.stop()


async def test_sandbox_mode_end_to_end(tmp_path: Path) -> None:
    sandbox = await start_sandbox(
        "127.0.0.1", 0, tmp_path / "sacco", tmp_path / "conf" / "saccos.json",
        file_config=FileSimConfig(poll_interval=0.02),
    )  # fmt: skip
    assert (tmp_path / "conf" / "saccos.json").stat().st_mode & 0o777 == 0o600
    settings = Settings(**sandbox.settings(), sacco_flush_interval=0.02)
    shard = Shard()
    gw = sacco_gateway_from(settings, shard)
    await gw.start()
    api_result, file_result = await gw.submit([order(95), order(96, sacco="WAUMINI")])
    assert api_result.outcome.event == Event.SUCCEED
    assert file_result.outcome.event == Event.QUEUED
    for _ in range(200):
        if shard.items:
            break
        await asyncio.sleep(0.02)
    assert shard.by_id()["pay_s0_96"].outcome.event == Event.SUCCEED
    assert "pay_s0_95" in sandbox.api.book_of("STIMA").ledger
    assert "pay_s0_96" in sandbox.files.book("WAUMINI").ledger
    await gw.stop()
    await sandbox.stop()
