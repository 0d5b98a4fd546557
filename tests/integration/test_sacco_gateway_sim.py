"""The SACCO gateway against the real SACCO API simulator on a local port, through the real
transport (socket tests: the same paths run on MockTransport in
tests/unit/connectors/test_sacco_api_gateway.py): every trigger against the simulator's books,
idempotent resends, dropped and slow answers, bursts, outages, and the sandbox end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from connectors.sacco.gateway import sacco_gateway_from
from connectors.sacco.registry import Registry, sandbox_registry
from connectors.sacco.simulator import FileSimConfig, SimConfig, Simulator, start_sandbox
from connectors.sacco.simulator.book import (
    OPENING_SAVINGS_MINOR,
    OUTSTANDING_LOAN_MINOR,
    OVERPAYMENT_REFUSED,
)
from switch.config import Settings
from switch.states import Event
from tests.unit.connectors.sacco.helpers import api_simulator, free_port
from tests.unit.connectors.sacco_helpers import Shard, gateway, one, order, status

pytestmark = pytest.mark.integration
DORMANT = "error.msg.savingsaccount.transaction.account.is.dormant"


@pytest.fixture
async def api() -> AsyncIterator[tuple[Simulator, Registry]]:
    async with api_simulator() as (sim, base):
        yield sim, sandbox_registry(base)


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
    assert (await shard.delivered())["pay_s0_96"].outcome.event == Event.SUCCEED
    assert "pay_s0_95" in sandbox.api.book_of("STIMA").ledger
    assert "pay_s0_96" in sandbox.files.book("WAUMINI").ledger
    await gw.stop()
    await sandbox.stop()
