"""The transfer saga's pure rules: which leg comes next, what the transfer shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from switch.payments import Payment, new_payment
from switch.states import State
from switch.transfers import Step, leg_spec, next_step, status, transfer_view

SPEC = {
    "id": "trf_s0_ABC",
    "source": {"type": "mpesa", "phone": "254712345678"},
    "destination": {"type": "bank", "bank_code": "68", "account_number": "0123456789"},
}
AT = datetime(2026, 11, 27, tzinfo=UTC)


def _leg(method: str, state: State, leg: str) -> Payment:
    p = new_payment(
        payment_id=f"pay_s0_{leg}",
        merchant_id="m",
        method=method,
        amount_minor=50_000,
        phone="254712345678",
        reference="R1",
        description="d",
        metadata={},
        idem_key=f"m:{leg}",
        request_hash="h",
        at=AT,
        transfer={**SPEC, "leg": leg},
    )
    return replace(p, state=state)


def test_legs_take_the_rails_of_their_accounts() -> None:
    assert leg_spec(SPEC, "debit").method == "mpesa_stk"
    credit = leg_spec(SPEC, "credit")
    assert credit.method == "bank_transfer"
    assert credit.destination == {"bank_code": "68", "account_number": "0123456789"}
    refund = leg_spec(SPEC, "refund")
    assert (refund.method, refund.phone) == ("mpesa_b2c", "254712345678")


@pytest.mark.parametrize(
    ("debit", "credit", "refund", "step", "shown"),
    [
        (State.AWAITING_CUSTOMER, None, None, Step.WAIT, "processing"),
        (State.DECLINED, None, None, Step.DONE, "failed"),
        (State.SUCCEEDED, None, None, Step.CREDIT, "processing"),
        (State.SUCCEEDED, State.AWAITING_RESULT, None, Step.WAIT, "processing"),
        (State.SUCCEEDED, State.SUCCEEDED, None, Step.DONE, "succeeded"),
        (State.SUCCEEDED, State.REJECTED, None, Step.REFUND, "refunding"),
        (State.SUCCEEDED, State.DECLINED, State.AWAITING_RESULT, Step.WAIT, "refunding"),
        (State.SUCCEEDED, State.DECLINED, State.SUCCEEDED, Step.DONE, "refunded"),
        (State.SUCCEEDED, State.DECLINED, State.DECLINED, Step.DONE, "refund_failed"),
    ],
)
def test_the_saga_steps(
    debit: State, credit: State | None, refund: State | None, step: Step, shown: str
) -> None:
    d = _leg("mpesa_stk", debit, "debit")
    c = _leg("bank_transfer", credit, "credit") if credit else None
    r = _leg("mpesa_b2c", refund, "refund") if refund else None
    assert next_step(d, c, r) == step
    assert status(d, c, r) == shown
    view = transfer_view(d, c, r)
    assert view["status"] == shown
    assert view["destination"]["account_number"] == "******6789"
    assert view["source"]["phone"] != "254712345678"
    assert set(view["legs"]) == {"debit"} | ({"credit"} if c else set()) | (
        {"refund"} if r else set()
    )


def test_nothing_happens_before_the_debit_exists() -> None:
    assert next_step(None, None, None) == Step.WAIT
