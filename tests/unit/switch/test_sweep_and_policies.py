from dataclasses import replace
from datetime import UTC, datetime, timedelta

from actors.orders import order_for
from switch.messages import B2cOrderMsg, ReversalOrderMsg, StkOrder
from switch.payments import Payment, ProviderRefs, apply, new_payment
from switch.policies import reversal_refusal, reversal_was_ours
from switch.states import Event, State
from switch.sweep import Action, sweep_action

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def _payment(method: str = "mpesa_stk", state: State = State.AWAITING_CUSTOMER) -> Payment:
    p = new_payment(
        payment_id="pay_s0_X",
        merchant_id="m",
        method=method,
        amount_minor=15000,
        phone="254712345678",
        reference="INV1",
        description="d",
        metadata={"receipt": "RCPT1", "shortcode": "174379"},
        idem_key="m:k",
        request_hash="h",
        at=T0,
        command="BusinessPayment" if method == "mpesa_b2c" else None,
    )
    return replace(p, state=state)


def _act(p: Payment, age: float, since: float = 1e9) -> Action | None:
    return sweep_action(p, age, since, query_after=60, expire_after=300, gap=15)


def test_collections_are_queried_once_they_have_a_checkout_id_and_expire_without() -> None:
    with_id = replace(_payment(), provider=ProviderRefs(checkout_request_id="ws_CO_1"))
    assert _act(with_id, 30) is None
    assert _act(with_id, 61) == Action.QUERY
    assert _act(with_id, 61, since=5) is None  # asked 5 s ago
    lost = _payment(state=State.UNKNOWN)
    assert _act(lost, 299) is None
    assert _act(lost, 301) == Action.EXPIRE


def test_payouts_are_asked_about_and_never_expire() -> None:
    payout = _payment("mpesa_b2c", State.AWAITING_RESULT)
    assert _act(payout, 61) == Action.ASK_STATUS
    assert _act(payout, 10**6, since=1) is None
    assert _act(_payment("mpesa_b2c", State.SUBMITTING), 10**6) is None


def test_reversals_are_resent() -> None:
    assert _act(_payment("mpesa_reversal", State.UNKNOWN), 61) == Action.RESEND


def test_reversal_policy() -> None:
    paid = apply(_payment(), Event.SUCCEED, source="t", at=T0, provider=ProviderRefs(receipt="R1"))
    assert paid is not None
    assert reversal_refusal(paid, T0 + timedelta(days=1), 7) is None
    assert "within 7 days" in (reversal_refusal(paid, T0 + timedelta(days=8), 7) or "")
    assert "succeeded" in (reversal_refusal(_payment(), T0, 7) or "")
    assert "collections" in (reversal_refusal(_payment("mpesa_b2c"), T0, 7) or "")


def test_already_reversed_counts_as_ours_only_after_a_resend_or_a_lost_answer() -> None:
    sent = _payment("mpesa_reversal", State.AWAITING_RESULT)
    assert not reversal_was_ours(sent, False, "R000001")
    assert reversal_was_ours(sent, True, "R000001")
    lost = apply(_payment("mpesa_reversal", State.SUBMITTING), Event.ANSWER_LOST, source="t", at=T0)
    assert lost is not None
    assert reversal_was_ours(lost, False, "R000001")
    assert not reversal_was_ours(lost, True, "R000002")


def test_orders_by_method() -> None:
    def url(kind: str, pid: str) -> str:
        return f"http://x/callbacks/{kind}/{pid}/t"

    assert isinstance(order_for(_payment(), url), StkOrder)
    payout = order_for(_payment("mpesa_b2c"), url)
    assert isinstance(payout, B2cOrderMsg)
    assert payout.amount == 150
    assert payout.result_url.endswith("/b2c/result/pay_s0_X/t")
    reversal = order_for(_payment("mpesa_reversal"), url)
    assert isinstance(reversal, ReversalOrderMsg)
    assert (reversal.receipt, reversal.receiver_party) == ("RCPT1", "174379")
