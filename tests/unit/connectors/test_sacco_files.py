"""The SACCO gateway's file SACCOs (connectors/sacco/files_gateway.py) on a temporary folder
tree with the file SACCO simulator: batch files written (with checksums) before QUEUED, result
files ingested and delivered, damaged and partial result files (lines rejected one by one), and
restarts with lines pending."""

from __future__ import annotations

import asyncio
from pathlib import Path

from connectors.sacco.gateway import SaccoGatewayCore, sacco_gateway_from
from connectors.sacco.orders import SaccoOrder
from connectors.sacco.registry import sandbox_registry
from connectors.sacco.simulator import FileSacco, FileSimConfig
from connectors.sacco.simulator.book import OPENING_SAVINGS_MINOR, OUTSTANDING_LOAN_MINOR
from connectors.transport import AiohttpTransport
from switch.config import Settings
from switch.payments import ProviderRefs
from switch.states import Event
from tests.unit.connectors.sacco.helpers import free_port
from tests.unit.connectors.sacco_helpers import Shard, gateway, one, order, status

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
    assert (await shard.delivered(2.0))["pay_s0_60"].outcome.event == Event.SUCCEED
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
    assert (await shard.delivered())["pay_s0_90"].outcome.event == Event.SUCCEED
    await sim.stop()
    await gw.stop()
