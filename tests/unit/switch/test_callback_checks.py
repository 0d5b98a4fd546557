"""Who may settle what: a callback acts only on its own rail, and a C2B confirmation credits
nobody until M-Pesa's record (Transaction Status) shows the same receipt, amount and shortcode."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from api.callbacks import KINDS
from api.hardening import callers_of
from switch.c2b import received_payment
from switch.config import from_env
from switch.messages import C2bIn, CallbackIn, ProviderOutcome
from switch.outcomes import callback_mismatch
from switch.payments import Payment, ProviderRefs, new_payment
from switch.providers import provider as provider_spec
from switch.rails import RAILS
from switch.states import Event, State
from switch.sweep import Action, sweep_action

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def _payout() -> Payment:
    p = new_payment(
        payment_id="pay_s0_P",
        merchant_id="m",
        method="mpesa_b2c",
        amount_minor=50_000,
        phone="254712345678",
        reference="R",
        description="d",
        metadata={},
        idem_key="m:k",
        request_hash="h",
        at=T0,
        command="BusinessPayment",
    )
    return replace(p, state=State.AWAITING_RESULT)


def _c2b(amount: int = 25_000, shortcode: str = "600100") -> Payment:
    item = C2bIn("m", "TK1234ABCD", "20261206100000", amount, shortcode, "INV1", "Pay Bill", {})
    return received_payment(item, "pay_s0_C", "m:c2b:TK1234ABCD", 0, T0)


def _record(
    receipt: str | None = "TK1234ABCD", amount: int | None = 25_000, party: str = "600100 - Org"
) -> CallbackIn:
    outcome = ProviderOutcome(Event.SUCCEED, ProviderRefs(receipt=receipt), None, amount)
    return CallbackIn(
        "pay_s0_C", outcome, None, methods=frozenset({"mpesa_c2b"}), credit_party=party
    )


def test_a_callback_of_another_rail_never_fits() -> None:
    failed = ProviderOutcome(Event.DECLINE)
    airtel = CallbackIn(
        "pay_s0_P", failed, None, not_found=True, methods=frozenset({"airtel_ussd"})
    )
    assert callback_mismatch(_payout(), airtel) is not None
    b2c = CallbackIn("pay_s0_P", failed, None, methods=frozenset({"mpesa_b2c"}))
    assert callback_mismatch(_payout(), b2c) is None


def test_every_callback_route_names_the_methods_it_may_act_on() -> None:
    for provider, kind in KINDS:
        assert kind.methods, kind
        assert {RAILS[m].provider for m in kind.methods} == {provider}, kind


def test_a_confirmation_is_stored_uncredited_awaiting_the_record() -> None:
    received = _c2b()
    assert received.state == State.AWAITING_RESULT
    assert received.provider.receipt == "TK1234ABCD"
    assert RAILS["mpesa_c2b"].recovery == "transaction_status"
    act = sweep_action(received, 61, 1e9, query_after=60, expire_after=300, gap=15)
    assert act == Action.ASK_STATUS  # asked again until the record settles it; never expired
    late = sweep_action(received, 10**6, 1e9, query_after=60, expire_after=300, gap=15)
    assert late == Action.ASK_STATUS


def test_the_record_must_show_the_same_receipt_amount_and_shortcode() -> None:
    assert callback_mismatch(_c2b(), _record()) is None
    assert "receipt" in (callback_mismatch(_c2b(), _record(receipt="OTHER12345")) or "")
    assert "receipt" in (callback_mismatch(_c2b(), _record(receipt=None)) or "")
    assert "amount" in (callback_mismatch(_c2b(), _record(amount=2_500_000)) or "")
    assert "amount" in (callback_mismatch(_c2b(), _record(amount=None)) or "")
    assert "credits 174379" in (callback_mismatch(_c2b(), _record(party="174379 - Org")) or "")
    assert callback_mismatch(_c2b(), _record(party="")) is not None


@pytest.mark.parametrize(
    ("sandbox", "setting", "expected"),
    [
        (False, "", "196.201.212.0/22"),  # production: Safaricom's addresses only
        (True, "", ""),  # sandbox: the simulators call from loopback
        (False, "10.0.0.0/8", "10.0.0.0/8"),  # an explicit list wins
        (False, "0.0.0.0/0,::/0", "0.0.0.0/0,::/0"),  # the explicit way to let anyone in
    ],
)
def test_mpesa_callbacks_come_from_safaricom_outside_sandbox(
    sandbox: bool, setting: str, expected: str
) -> None:
    env = {"SWITCH_CALLBACK_ALLOWLIST_MPESA": setting}
    settings = from_env(env, sandbox=sandbox)
    assert callers_of(settings, provider_spec("mpesa")) == expected
