"""The payment state table: every transition, final states, duplicates and the status mapping."""

from __future__ import annotations

import pytest

from switch.states import (
    FINAL,
    MEANING,
    TRANSITIONS,
    Event,
    State,
    Status,
    advance,
    is_final,
    status_of,
)

IN_FLIGHT = (State.SUBMITTING, State.UNKNOWN, State.AWAITING_CUSTOMER, State.AWAITING_RESULT)

# The whole table written out by hand, so a change to TRANSITIONS shows up here.
EXPECTED_TRANSITIONS = {
    (State.SUBMITTING, Event.ACCEPTED): State.AWAITING_CUSTOMER,
    (State.SUBMITTING, Event.QUEUED): State.AWAITING_RESULT,
    (State.UNKNOWN, Event.QUEUED): State.AWAITING_RESULT,
    (State.SUBMITTING, Event.REJECTED): State.REJECTED,
    (State.SUBMITTING, Event.ANSWER_LOST): State.UNKNOWN,
    (State.SUBMITTING, Event.SUCCEED): State.SUCCEEDED,
    (State.SUBMITTING, Event.DECLINE): State.DECLINED,
    (State.SUBMITTING, Event.EXPIRE): State.EXPIRED,
    (State.UNKNOWN, Event.SUCCEED): State.SUCCEEDED,
    (State.UNKNOWN, Event.DECLINE): State.DECLINED,
    (State.UNKNOWN, Event.EXPIRE): State.EXPIRED,
    (State.AWAITING_RESULT, Event.SUCCEED): State.SUCCEEDED,
    (State.AWAITING_RESULT, Event.DECLINE): State.DECLINED,
    (State.AWAITING_RESULT, Event.EXPIRE): State.EXPIRED,
    (State.AWAITING_CUSTOMER, Event.SUCCEED): State.SUCCEEDED,
    (State.AWAITING_CUSTOMER, Event.DECLINE): State.DECLINED,
    (State.AWAITING_CUSTOMER, Event.EXPIRE): State.EXPIRED,
    (State.EXPIRED, Event.SUCCEED): State.SUCCEEDED,
    (State.HELD, Event.ENDORSE): State.HELD,
    (State.HELD, Event.APPROVE): State.SUBMITTING,
    (State.HELD, Event.REJECT): State.REJECTED,
}


def test_transition_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == EXPECTED_TRANSITIONS


@pytest.mark.parametrize(
    ("state", "event", "target"),
    [(s, e, t) for (s, e), t in EXPECTED_TRANSITIONS.items()],
    ids=[f"{s}-{e}" for (s, e) in EXPECTED_TRANSITIONS],
)
def test_every_transition_changes_state(state: State, event: Event, target: State) -> None:
    outcome = advance(state, event)
    assert outcome.state == target
    assert outcome.changed is True
    assert outcome.reason == ""


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (s, e)
        for s in sorted(FINAL)
        for e in Event
        if not (s == State.EXPIRED and e == Event.SUCCEED)
    ],
)
def test_final_states_change_no_more(state: State, event: Event) -> None:
    """The event that made the state final, again, is a duplicate; any other is illegal (a
    provider contradicting itself): neither changes anything, and the caller counts the latter."""
    outcome = advance(state, event)
    assert outcome.state == state
    assert outcome.changed is False
    repeat = any(t == state and e == event for (_, e), t in TRANSITIONS.items())
    assert outcome.verdict == ("duplicate" if repeat else "illegal")


def test_duplicate_acceptance_is_not_a_change() -> None:
    outcome = advance(State.AWAITING_CUSTOMER, Event.ACCEPTED)
    assert outcome.state == State.AWAITING_CUSTOMER
    assert outcome.changed is False
    assert outcome.verdict == "duplicate"


@pytest.mark.parametrize("state", [s for s in State if (s, Event.EXPIRE) in TRANSITIONS])
def test_a_payout_never_expires_by_the_table(state: State) -> None:
    """Money may have moved: only the provider's answer settles a payout."""
    assert advance(state, Event.EXPIRE).changed is True  # a collection may expire
    outcome = advance(state, Event.EXPIRE, payout=True)
    assert (outcome.changed, outcome.verdict) == (False, "illegal")
    assert advance(State.EXPIRED, Event.SUCCEED, payout=True).verdict == "illegal"
    assert advance(state, Event.SUCCEED, payout=True).changed is True


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (State.UNKNOWN, Event.ACCEPTED),
        (State.UNKNOWN, Event.REJECTED),
        (State.UNKNOWN, Event.ANSWER_LOST),
        (State.AWAITING_CUSTOMER, Event.REJECTED),
        (State.AWAITING_CUSTOMER, Event.ANSWER_LOST),
    ],
)
def test_events_that_do_not_apply_to_an_in_flight_state(state: State, event: Event) -> None:
    outcome = advance(state, event)
    reason = f"{event} does not apply to a payment in {state}"
    assert outcome == type(outcome)(state, False, reason, "illegal")


def test_late_success_after_expiry_is_recorded() -> None:
    outcome = advance(State.EXPIRED, Event.SUCCEED)
    assert outcome.state == State.SUCCEEDED
    assert outcome.changed is True


def test_late_decline_after_expiry_is_ignored() -> None:
    assert advance(State.EXPIRED, Event.DECLINE).changed is False


@pytest.mark.parametrize(
    ("state", "status"),
    [
        (State.SUBMITTING, Status.PENDING),
        (State.UNKNOWN, Status.PROCESSING),
        (State.AWAITING_CUSTOMER, Status.PROCESSING),
        (State.SUCCEEDED, Status.SUCCEEDED),
        (State.DECLINED, Status.FAILED),
        (State.REJECTED, Status.FAILED),
        (State.EXPIRED, Status.EXPIRED),
        (State.HELD, Status.HELD),
    ],
)
def test_status_of_every_state(state: State, status: Status) -> None:
    assert status_of(state) == status


def test_every_state_has_a_meaning() -> None:
    assert set(MEANING) == set(State)
    for state, (_status, text) in MEANING.items():
        assert text.strip(), f"{state} has an empty meaning"


def test_final_states() -> None:
    assert {s for s in State if is_final(s)} == {
        State.SUCCEEDED,
        State.DECLINED,
        State.REJECTED,
        State.EXPIRED,
    }
    assert not any(is_final(s) for s in IN_FLIGHT)


# --- held for review --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        Event.ACCEPTED,
        Event.QUEUED,
        Event.REJECTED,
        Event.ANSWER_LOST,
        Event.SUCCEED,
        Event.DECLINE,
        Event.EXPIRE,
    ],
)
def test_no_provider_event_applies_to_a_held_payment(event: Event) -> None:
    """It was never sent: a callback, a query answer or the sweeper's expiry changes nothing."""
    outcome = advance(State.HELD, event)
    reason = f"{event} does not apply to a payment in held"
    assert outcome == type(outcome)(State.HELD, False, reason, "illegal")


def test_a_held_payment_is_in_flight_not_final() -> None:
    assert not is_final(State.HELD)


def test_review_events_apply_only_to_held_payments() -> None:
    for state in State:
        if state == State.HELD:
            continue
        for event in (Event.ENDORSE, Event.APPROVE, Event.REJECT):
            assert advance(state, event).changed is False, (state, event)


def test_approval_sends_and_rejection_fails_a_held_payment() -> None:
    assert advance(State.HELD, Event.APPROVE).state == State.SUBMITTING
    assert status_of(advance(State.HELD, Event.REJECT).state) == Status.FAILED
    assert advance(State.HELD, Event.ENDORSE) == type(advance(State.HELD, Event.ENDORSE))(
        State.HELD, True
    )
