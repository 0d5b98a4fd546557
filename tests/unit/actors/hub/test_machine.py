"""The hub position machine (actors/hub/machine.py): decisions without I/O; nothing changes
until a plan is applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from actors.hub.machine import Fulfil, Funds, HubMachine, Prepare
from switch.hub.participants import Participant
from switch.hub.positions import Position

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _machine() -> HubMachine:
    m = HubMachine("hwin_1")
    for pid, cap in (("a", 1_000), ("b", 1_000)):
        m.load_participant(
            Participant(pid, "active", "KES", cap, 8_000, "https://x", "whsec_x"),
            Position(cover=1_000),
        )
    return m


def _prepare(tid: str, amount: int, request_hash: str = "h") -> Prepare:
    return Prepare(tid, "a", "b", amount, "KES", NOW + timedelta(seconds=30), request_hash)


def _run(m: HubMachine, *commands: Prepare | Fulfil | Funds) -> list[int]:
    plan = m.decide(list(commands), NOW)
    m.apply(plan)
    return [a.status for a in plan.answers]


def test_deciding_changes_nothing_until_applied() -> None:
    m = _machine()
    plan = m.decide([_prepare("t1", 600)], NOW)
    assert plan.answers[0].status == 201
    assert m.positions["a"].reserved == 0 and "t1" not in m.open
    m.apply(plan)
    assert m.positions["a"].reserved == 600 and "t1" in m.open
    assert [e.id for e in plan.entries] == ["t1:reserve"]
    assert [n.type for n in plan.notices] == ["hub.transfer.prepared"]


def test_a_batch_refuses_what_the_earlier_reservations_left_no_room_for() -> None:
    m = _machine()
    assert _run(m, _prepare("t1", 600), _prepare("t2", 600), _prepare("t3", 400)) == [201, 422, 201]
    assert m.positions["a"].reserved == 1_000
    assert m.final["t2"].error_code == "4001"


def test_duplicates_answer_again_or_are_refused() -> None:
    m = _machine()
    _run(m, _prepare("t1", 600))
    plan = m.decide([_prepare("t1", 600), _prepare("t1", 600, "other")], NOW)
    assert [(a.status, a.replayed) for a in plan.answers] == [(200, True), (409, False)]
    assert plan.empty()


def test_only_the_payee_commits_and_the_payee_is_credited() -> None:
    m = _machine()
    _run(m, _prepare("t1", 600))
    assert _run(m, Fulfil("t1", "a", True)) == [404]
    assert _run(m, Fulfil("t1", "b", True)) == [200]
    assert (m.positions["a"].committed, m.positions["a"].reserved) == (600, 0)
    assert m.positions["b"].committed == -600
    assert m.final["t1"].window_id == "hwin_1"
    assert m.final["t1"].changes == {"a": 600, "b": -600}
    assert _run(m, Fulfil("t1", "b", True)) == [200]  # the same answer again
    assert _run(m, Fulfil("t1", "b", False, "no")) == [409]


def test_expiry_and_rejection_release() -> None:
    m = _machine()
    _run(m, _prepare("t1", 300), _prepare("t2", 300))
    assert _run(m, Fulfil("t1", "b", False, "closed")) == [200]
    plan = m.expire(NOW + timedelta(seconds=31))
    m.apply(plan)
    assert [e.id for e in plan.entries] == ["t2:release"]
    assert m.positions["a"].reserved == 0 and not m.open
    assert _run(m, Fulfil("t2", "b", True)) == [409]


def test_funds_in_and_out() -> None:
    m = _machine()
    _run(m, _prepare("t1", 900))
    out = Funds("f1", "a", "out", 200, "KES", "h", "r", "op")
    assert _run(m, out) == [422]
    assert _run(m, Funds("f2", "a", "in", 500, "KES", "h", "r", "op")) == [201]
    assert _run(m, out) == [201]
    assert m.positions["a"].cover == 1_300
    plan = m.decide([out], NOW)
    assert plan.answers[0].replayed and plan.empty()
