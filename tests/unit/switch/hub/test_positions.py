"""Position arithmetic of the hub (switch/hub/positions.py): Mojaloop's prepare checks, in order,
with each reservation of a batch shrinking the next one's headroom."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switch.hub import positions as pos
from switch.hub.positions import Position, Refusal


def test_liquidity_is_checked_before_the_cap() -> None:
    p = Position(committed=0, reserved=0, cover=1_000, net_debit_cap=500)
    assert pos.refusal(p, 1_001) is Refusal.LIQUIDITY
    assert pos.refusal(p, 501) is Refusal.LIMIT
    assert pos.refusal(p, 500) is None


def test_received_money_adds_headroom_and_reservations_take_it() -> None:
    p = Position(committed=-400, reserved=300, cover=1_000, net_debit_cap=1_000)
    assert p.effective == -100
    assert p.headroom == 1_100
    assert pos.refusal(p, 1_100) is None
    assert pos.refusal(p, 1_101) is Refusal.LIQUIDITY


def test_commit_release_and_credit_move_the_right_parts() -> None:
    p = pos.reserve(Position(cover=1_000, net_debit_cap=1_000), 300)
    assert (p.reserved, p.committed) == (300, 0)
    assert pos.commit_payer(p, 300) == Position(300, 0, 1_000, 1_000)
    assert pos.release(p, 300) == Position(0, 0, 1_000, 1_000)
    assert pos.credit_payee(Position(), 300).committed == -300
    with pytest.raises(ValueError, match="more than is reserved"):
        pos.release(p, 301)
    with pytest.raises(ValueError, match="positive"):
        pos.refusal(p, 0)


def test_a_batch_shrinks_the_headroom_as_it_goes() -> None:
    start = {"a": Position(cover=1_000, net_debit_cap=700)}
    after, verdicts = pos.reserve_batch(start, [("a", 400), ("a", 400), ("a", 300)])
    assert verdicts == [None, Refusal.LIMIT, None]
    assert after["a"].reserved == 700
    assert start["a"].reserved == 0  # the input is not changed


def test_funds_out_may_not_uncover_the_position() -> None:
    p = Position(committed=300, reserved=200, cover=1_000, net_debit_cap=1_000)
    assert pos.funds_out_refusal(p, 501) is Refusal.LIQUIDITY
    assert pos.funds_out_refusal(p, 500) is None
    credit = Position(committed=-300, cover=1_000, net_debit_cap=1_000)
    assert pos.funds_out_refusal(credit, 1_000) is None  # owes nothing: all of it may go


def test_the_alarm_fires_when_the_threshold_is_crossed() -> None:
    low = Position(committed=700, cover=1_000, net_debit_cap=2_000)
    high = Position(committed=800, cover=1_000, net_debit_cap=2_000)
    assert pos.alarm_level(high) == 8_000
    assert pos.crossed(low, high, 8_000)
    assert not pos.crossed(high, high, 8_000)
    assert pos.alarm_level(Position(committed=-5)) == 0


def test_amounts_are_written_signed() -> None:
    assert pos.amount_text(-150) == "-1.50"
    assert pos.amount_text(150_000) == "1500"
    assert pos.amount_text(-200) == "-2"


participants = st.sampled_from(["a", "b", "c"])
requests = st.lists(st.tuples(participants, st.integers(1, 5_000)), max_size=200)
limits = st.tuples(st.integers(0, 20_000), st.integers(0, 20_000), st.integers(-5_000, 5_000))


@given(st.fixed_dictionaries({p: limits for p in "abc"}), requests)
def test_no_batch_ever_takes_a_position_past_cover_or_cap(
    setup: dict[str, tuple[int, int, int]], batch: list[tuple[str, int]]
) -> None:
    start = {
        p: Position(committed=min(committed, 0), cover=cover, net_debit_cap=cap)
        for p, (cover, cap, committed) in setup.items()
    }
    after, verdicts = pos.reserve_batch(start, batch)
    for p, before in start.items():
        limit = max(min(before.cover, before.net_debit_cap), before.effective)
        assert after[p].effective <= limit
        taken = sum(a for (q, a), v in zip(batch, verdicts, strict=True) if q == p and v is None)
        assert after[p].reserved == before.reserved + taken
    # Every refusal was needed: the amount did not fit what the earlier ones left.
    running = dict(start)
    for (p, amount), verdict in zip(batch, verdicts, strict=True):
        assert (verdict is None) == (amount <= running[p].headroom)
        if verdict is None:
            running[p] = pos.reserve(running[p], amount)


def test_a_gross_transfer_is_checked_against_liquidity_alone() -> None:
    p = Position(committed=0, reserved=0, cover=10_000, net_debit_cap=2_000)
    assert pos.refusal(p, 5_000) is Refusal.LIMIT
    assert pos.refusal(p, 5_000, gross=True) is None  # the cap gives gross no credit, no limit
    assert pos.refusal(p, 10_001, gross=True) is Refusal.LIQUIDITY
    held = pos.reserve(Position(committed=1_000, cover=10_000, net_debit_cap=2_000), 9_000, True)
    assert (held.reserved, held.gross, held.net_effective) == (9_000, 9_000, 1_000)
    assert pos.refusal(held, 1, gross=True) is Refusal.LIQUIDITY  # net debits use cover too
    assert pos.refusal(held, 1) is Refusal.LIQUIDITY
    freed = pos.release(held, 9_000, gross=True)
    assert pos.refusal(freed, 1_000) is None  # a gross reservation never took cap
    assert pos.refusal(freed, 1_001) is Refusal.LIMIT
    assert pos.alarm_level(held) == 10_000  # all the cover is used
    assert pos.alarm_level(replace(held, cover=90_000)) == 5_000  # the cap: 1,000 of 2,000


def test_a_gross_commit_moves_cover_not_positions() -> None:
    payer = pos.reserve(Position(committed=500, cover=10_000, net_debit_cap=2_000), 4_000, True)
    payer = pos.settle_gross_payer(payer, 4_000)
    assert (payer.committed, payer.reserved, payer.gross, payer.cover) == (500, 0, 0, 6_000)
    payee = pos.settle_gross_payee(Position(committed=-200, cover=1_000), 4_000)
    assert (payee.committed, payee.cover) == (-200, 5_000)
    with pytest.raises(ValueError, match="reserved gross"):
        pos.settle_gross_payer(Position(reserved=10), 10)  # reserved net, not gross
