"""Gross immediate settlement in the hub position machine: a transfer at or above the threshold
is marked gross at prepare, checked against liquidity alone, and at commit settles on its own:
the settlement accounts move in the same plan, the positions end where they were, the window
counts and nets it not; the entries balance and HUB_MULTILATERAL_SETTLEMENT nets to zero."""

from __future__ import annotations

from datetime import UTC, datetime

from actors.hub.machine import CloseWindow, Fulfil, HubMachine
from switch.hub import ledger
from switch.hub.positions import Position
from switch.hub.transfers import from_doc, held, to_doc
from tests.unit.actors.hub.test_windows_settle import _machine as _settle_machine
from tests.unit.actors.hub.test_windows_settle import _prepare

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GROSS_FROM = 100_000  # cents


def _machine() -> HubMachine:
    return _settle_machine(GROSS_FROM, cap=50_000, cover=500_000)


def test_a_high_value_transfer_settles_gross_at_commit() -> None:
    m = _machine()
    plan = m.decide([_prepare("big", 300_000), _prepare("small", 20_000)], NOW)
    # 300,000 is past the 50,000 cap but within the 500,000 cover: gross needs only cover,
    # and its reservation leaves the cap to the net transfer.
    assert [a.status for a in plan.answers] == [201, 201]
    assert [a.body["settlement"] for a in plan.answers] == ["gross", "net"]
    m.apply(plan)
    entries = list(plan.entries)
    plan = m.decide([Fulfil("big", "b", True), Fulfil("small", "b", True)], NOW)
    assert [a.status for a in plan.answers] == [200, 200]
    big = next(t for _, t in plan.updates.values() if t.id == "big")
    assert (big.settlement, big.window_id, big.changes) == ("gross", "hwin_1", {})
    assert plan.window_commits == 1  # only the net one
    entries += plan.entries  # the reservations', then the commits' in one plan
    for entry in entries:
        assert sum(line.amount for line in entry.lines) == 0
    moved: dict[str, int] = {}
    for entry in entries:
        for line in entry.lines:
            moved[line.account] = moved.get(line.account, 0) + line.amount
    assert moved[ledger.multilateral("KES")] == 0
    assert moved[ledger.settlement("a", "KES")] == 300_000  # paid out of a's liquidity
    assert moved[ledger.settlement("b", "KES")] == -300_000
    assert moved[ledger.position("a", "KES")] == 20_000  # the net one only: gross came back
    assert moved[ledger.position("b", "KES")] == -20_000
    assert moved[ledger.clearing("KES")] == 0
    m.apply(plan)
    a, b = m.positions["a"], m.positions["b"]
    assert (a.committed, a.reserved, a.cover) == (20_000, 0, 200_000)
    assert (b.committed, b.reserved, b.cover) == (-20_000, 0, 800_000)


def test_gross_is_refused_past_the_cover_and_a_gross_only_window_stays_open() -> None:
    m = _machine()
    plan = m.decide([_prepare("huge", 500_001)], NOW)
    assert plan.answers[0].status == 422
    assert plan.answers[0].body["error"]["code"] == "payer_insufficient_liquidity"
    m.apply(m.decide([_prepare("big", 100_000)], NOW))  # at the threshold: gross
    m.apply(m.decide([Fulfil("big", "b", True)], NOW))
    assert m.window_commits == 0
    assert m.decide([CloseWindow("op", "x")], NOW).answers[0].body["error"]["code"] == (
        "window_empty"
    )


def test_off_by_default_and_an_abort_releases_a_gross_reservation() -> None:
    m = HubMachine("hwin_1")
    assert m.gross_from == 0
    g = _machine()
    g.apply(g.decide([_prepare("big", 300_000)], NOW))
    plan = g.decide([Fulfil("big", "b", False)], NOW)
    assert plan.answers[0].body["state"] == "ABORTED"
    g.apply(plan)
    assert g.positions["a"] == Position(0, 0, 500_000, 50_000)


def test_a_restart_rebuilds_a_gross_reservation_from_the_stored_transfers() -> None:
    """The position actor's start (shell): positions from the journal less what open transfers
    hold, of it the gross part; the stored form keeps ``settlement``."""
    m = _machine()
    plan = m.decide([_prepare("big", 300_000), _prepare("small", 20_000)], NOW)
    m.apply(plan)
    stored = [from_doc(to_doc(t)) for t in plan.inserts]
    assert [t.settlement for t in stored] == ["gross", "net"]
    assert held(stored) == {"a": (320_000, 300_000)}
    again = _settle_machine(GROSS_FROM, cap=50_000, cover=500_000)
    reserved, gross = held(stored)["a"]
    journal = 320_000  # the reservations' entries on a's position account
    again.load_participant(
        again.participants["a"], Position(journal - reserved, reserved, 500_000, 50_000, gross)
    )
    again.learn(stored)
    assert again.positions["a"] == m.positions["a"]
    plan = again.decide([Fulfil("big", "b", True), _prepare("more", 30_000)], NOW)
    assert [a.status for a in plan.answers] == [200, 201]  # the cap is still free of gross
    again.apply(plan)
    assert again.positions["a"] == Position(0, 50_000, 200_000, 50_000, 0)
