"""The shard's gauges and created-to-final durations (switch/gauges.py), and the breaker's
gauge reading (switch/breaker.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from switch.breaker import Breaker
from switch.gauges import RailLoad, created_to_final, rail_load
from switch.payments import Failure, Payment, apply
from switch.states import Event, State
from tests.unit.switch.test_sweep_and_policies import T0
from tests.unit.switch.test_sweep_and_policies import _payment as one

EPOCH_T0 = T0.timestamp()


def _payment(
    pid: str, method: str = "mpesa_stk", state: State = State.AWAITING_CUSTOMER, age: float = 0
) -> Payment:
    """A payment (test_sweep_and_policies') of ``age`` seconds at T0."""
    return replace(one(method, state), id=pid, created_at=T0 - timedelta(seconds=age))


def test_rail_load_counts_in_flight_and_past_expiry_per_rail_with_zeros() -> None:
    payments = [
        _payment("a", age=10),
        _payment("b", age=301),  # a collection past its expiry: stuck
        _payment("c", "mpesa_b2c", State.AWAITING_RESULT, age=3600),  # a payout not answered
        _payment("d", "mpesa_b2c", State.HELD, age=3600),  # held for review: not stuck
        _payment("e", state=State.SUCCEEDED, age=400),  # final: not counted
    ]
    load = rail_load(payments, ["mpesa_stk", "mpesa_b2c", "airtel_ussd"], EPOCH_T0, 300)
    assert load == {
        "mpesa_stk": RailLoad(in_flight=2, past_expiry=1),
        "mpesa_b2c": RailLoad(in_flight=2, past_expiry=1),
        "airtel_ussd": RailLoad(0, 0),  # every rail named: its gauge goes back to 0
    }


def test_rail_load_counts_exactly_at_the_deadline_and_a_rail_not_named() -> None:
    load = rail_load([_payment("a", "pesalink", age=300)], [], EPOCH_T0, 300)
    assert load == {"pesalink": RailLoad(1, 1)}


def test_created_to_final_is_observed_once_when_a_payment_first_becomes_final() -> None:
    created = _payment("a", state=State.SUBMITTING)
    assert created_to_final(created) is None
    prompted = apply(created, Event.ACCEPTED, source="provider", at=T0 + timedelta(seconds=1))
    assert prompted is not None and created_to_final(prompted) is None
    expiry = Failure("timeout", "late")
    later = T0 + timedelta(seconds=300.5)
    expired = apply(prompted, Event.EXPIRE, source="sweeper", at=later, failure=expiry)
    assert expired is not None
    assert created_to_final(expired) == ("expired", 300.5)
    # The customer's payment arrives late: succeeded, but final already (not observed again).
    paid = apply(expired, Event.SUCCEED, source="callback", at=later + timedelta(seconds=9))
    assert paid is not None and paid.state == State.SUCCEEDED
    assert created_to_final(paid) is None


def test_created_to_final_names_the_outcome_the_api_shows() -> None:
    sent = _payment("a", "mpesa_b2c", State.AWAITING_RESULT)
    declined = apply(sent, Event.DECLINE, source="callback", at=T0 + timedelta(seconds=4))
    assert declined is not None
    assert created_to_final(declined) == ("failed", 4.0)
    succeeded = apply(sent, Event.SUCCEED, source="callback", at=T0 + timedelta(seconds=2))
    assert succeeded is not None
    assert created_to_final(succeeded) == ("succeeded", 2.0)


def test_a_breaker_reads_open_from_its_opening_to_a_successful_probe() -> None:
    b = Breaker(threshold=2, cool_down=5)
    b.failure(0)
    assert not b.is_open
    b.failure(1)
    assert b.is_open
    assert b.allow(6.0)  # the probe goes: half-open still refuses the rest
    assert b.is_open
    b.failure(6.5)  # the probe failed: open again
    assert b.is_open
    assert b.allow(12.0)
    b.success()
    assert not b.is_open
