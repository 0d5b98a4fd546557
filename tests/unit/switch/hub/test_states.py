"""The hub transfer state table (switch/hub/states.py) and transfer records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from switch.hub.states import FINAL, MEANING, TRANSITIONS, External, HubEvent, HubState, advance
from switch.hub.transfers import from_doc, parse_amount, prepared, to_doc, view

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_every_state_has_a_meaning_and_only_reserved_is_open() -> None:
    assert set(MEANING) == set(HubState)
    assert set(HubState) - {HubState.RESERVED} == FINAL
    assert {MEANING[s][0] for s in FINAL} <= {External.COMMITTED, External.ABORTED}


@pytest.mark.parametrize(("state", "event"), sorted(TRANSITIONS, key=str))
def test_the_table_moves(state: HubState | None, event: HubEvent) -> None:
    assert advance(state, event).changed


@pytest.mark.parametrize("state", sorted(FINAL))
def test_a_final_transfer_moves_no_more(state: HubState) -> None:
    for event in HubEvent:
        step = advance(state, event)
        assert not step.changed and step.state is state and "already" in step.reason


def test_a_transfer_records_every_step() -> None:
    t = prepared(
        transfer_id="htr_X",
        payer="a",
        payee="b",
        amount=500,
        currency="KES",
        expires_at=NOW + timedelta(seconds=30),
        request_hash="h",
        at=NOW,
        refusal=None,
    )
    done = t.moved(HubEvent.COMMIT, NOW, "b")
    assert [s.state for s in done.history] == [HubState.RESERVED, HubState.COMMITTED]
    assert from_doc(to_doc(done)) == done
    assert view(done)["state"] == "COMMITTED"
    with pytest.raises(ValueError, match="already COMMITTED"):
        done.moved(HubEvent.REJECT, NOW, "b")
    refused = prepared(
        transfer_id="htr_Y",
        payer="a",
        payee="b",
        amount=500,
        currency="KES",
        expires_at=NOW,
        request_hash="h",
        at=NOW,
        refusal=("4200", "cap"),
    )
    assert refused.state is HubState.ABORTED_REFUSED and refused.error_code == "4200"


def test_amounts_are_exact() -> None:
    assert parse_amount("1500.5") == 150_050
    assert parse_amount("0.01") == 1
    for bad in ("0", "1.234", "-5", "1e3", ""):
        with pytest.raises(ValueError, match="must be"):
            parse_amount(bad)
