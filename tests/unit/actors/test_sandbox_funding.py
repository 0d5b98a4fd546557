"""Sandbox funding through the shard (in-memory store): one balanced entry committed by the
writer, the in-memory balance moved with the commit, a repeated key funding nothing more, a
failed commit funding nothing (and the retry funding once), payouts spending it."""

from __future__ import annotations

import asyncio

import pytest

from switch import sandbox_funding
from switch.ledger import available
from tests.unit.actors.shard_rig import MERCHANT, Rig, b2c


async def test_a_funding_is_committed_once_and_moves_the_shards_balance() -> None:
    rig = Rig()
    await rig.start()
    first, again = await asyncio.gather(
        rig.core.fund(MERCHANT, "fund-1", 500_000), rig.core.fund(MERCHANT, "fund-1", 500_000)
    )
    assert {first.status, again.status} == {201}  # concurrent copies share the one posting
    assert first.body["balance"]["available"] == "5000"
    later = await rig.core.fund(MERCHANT, "fund-1", 900_000)
    assert (later.status, later.body["created"], later.body["amount"]) == (200, False, None)
    assert rig.core.machine.balances.of(available(MERCHANT)) == 500_000
    assert rig.store.accounts[available(MERCHANT)] == 500_000  # "MongoDB" agrees
    assert rig.store.accounts[sandbox_funding.funding_account(rig.core.shard)] == -500_000
    assert [e.kind for e in rig.store.journal] == ["sandbox_funding"]
    assert (await rig.create(b2c(amount=100_000))).status == 202  # spendable at once
    await rig.stop()


async def test_a_failed_commit_funds_nothing_and_the_retry_funds_once() -> None:
    rig = Rig()
    await rig.start()
    rig.store.fail_next()
    failed = await rig.core.fund(MERCHANT, "fund-2", 10_000)
    assert failed.status == 503
    assert rig.core.machine.balances.of(available(MERCHANT)) == 0
    assert (await rig.core.fund(MERCHANT, "fund-2", 10_000)).status == 201
    assert rig.core.machine.balances.of(available(MERCHANT)) == 10_000
    await rig.stop()


@pytest.mark.parametrize(("amount", "ok"), [(0, False), (1, True), (100_000_000, True)])
def test_amounts_are_bounded(amount: int, ok: bool) -> None:
    assert (sandbox_funding.amount_refusal(amount) is None) is ok
    assert sandbox_funding.amount_refusal(100_000_001) is not None


def test_the_entry_balances_and_its_id_comes_from_merchant_and_key() -> None:
    entry = sandbox_funding.funding("mch_a", "k", 700, 3)
    assert sum(line.amount for line in entry.lines) == 0
    assert entry.id == sandbox_funding.funding("mch_a", "k", 9, 3).id
    assert entry.id != sandbox_funding.funding("mch_b", "k", 700, 3).id
    assert entry.lines[0].account == "sandbox:funding:s3"
