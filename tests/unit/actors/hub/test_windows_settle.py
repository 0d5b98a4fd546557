"""Closing a settlement window and settling a net position in the hub position machine: a close
splits one batch's commits between two windows; an empty window stays open; a settlement resets
positions and cover by the nets, with balanced entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from actors.hub.machine import CloseWindow, Fulfil, HubMachine, Prepare, Settle
from switch.hub.participants import Participant
from switch.hub.positions import Position

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _machine(gross_from: int = 0, cap: int = 5_000, cover: int = 5_000) -> HubMachine:
    m = HubMachine("hwin_1", gross_from)
    for pid in ("a", "b"):
        m.load_participant(
            Participant(pid, "active", "KES", cap, 8_000, "https://x", "whsec_x"),
            Position(cover=cover),
        )
    return m


def _prepare(tid: str, amount: int) -> Prepare:
    return Prepare(tid, "a", "b", amount, "KES", NOW + timedelta(seconds=30), "h")


def test_a_close_between_commits_splits_them_and_an_empty_window_stays_open() -> None:
    m = _machine()
    m.apply(m.decide([_prepare("t1", 100), _prepare("t2", 200)], NOW))
    empty = m.decide([CloseWindow("op", "x")], NOW)
    assert empty.answers[0].status == 409
    assert empty.window is None
    plan = m.decide(
        [Fulfil("t1", "b", True), CloseWindow("op", "noon"), Fulfil("t2", "b", True)], NOW
    )
    assert [a.status for a in plan.answers] == [200, 200, 200]
    assert plan.window is not None
    assert (plan.window.closed, plan.window.opened, plan.window.commits) == ("hwin_1", "hwin_2", 1)
    by_id = {t.id: t for _, t in plan.updates.values()}
    assert by_id["t1"].window_id == "hwin_1"
    assert by_id["t2"].window_id == "hwin_2"
    assert m.window_id == "hwin_1"  # nothing changes until applied
    m.apply(plan)
    assert (m.window_id, m.window_commits) == ("hwin_2", 1)
    m.apply(m.expire(NOW + timedelta(hours=1)))  # a sweep keeps the count
    assert m.window_commits == 1


def test_settling_resets_positions_and_cover_by_the_nets() -> None:
    m = _machine()
    m.apply(m.decide([_prepare("t1", 300)], NOW))
    m.apply(m.decide([Fulfil("t1", "b", True)], NOW))
    assert (m.positions["a"].committed, m.positions["b"].committed) == (300, -300)
    plan = m.decide([Settle("hset_1", {"a": 300, "b": -300}, "KES", {}, "op2")], NOW)
    assert plan.answers[0].status == 200
    assert plan.settled is not None
    assert plan.settled["id"] == "hset_1"
    for entry in plan.entries:
        assert sum(line.amount for line in entry.lines) == 0
    assert sorted(e.id for e in plan.entries) == [
        "hset_1:a:settle_funds",
        "hset_1:a:settle_position",
        "hset_1:b:settle_funds",
        "hset_1:b:settle_position",
    ]
    m.apply(plan)
    a, b = m.positions["a"], m.positions["b"]
    assert (a.committed, a.cover) == (0, 4_700)  # paid 300 out of its liquidity at the RTGS
    assert (b.committed, b.cover) == (0, 5_300)
    assert a.headroom == 4_700
