from dataclasses import replace
from datetime import UTC, datetime, timedelta

from actors.orders import order_for
from connectors.mpesa.orders import B2cOrderMsg, ReversalOrderMsg, StkOrder
from switch.payments import Payment, ProviderRefs, apply, new_payment
from switch.policies import reversal_refusal, reversal_was_ours
from switch.postings import postings
from switch.states import Event, State
from switch.sweep import Action, query_gap, sweep_action

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


# --- the other rails ---------------------------------------------------------------------------


def test_airtel_pesalink_and_sacco_payments_are_checked_by_enquiry_never_resent() -> None:
    for method, state in (
        ("airtel_ussd", State.AWAITING_CUSTOMER),
        ("airtel_payout", State.AWAITING_RESULT),
        ("bank_transfer", State.UNKNOWN),
        ("sacco", State.AWAITING_RESULT),
    ):
        p = _payment(method, state)
        assert _act(p, 30) is None, method
        assert _act(p, 61) == Action.CHECK, method
        assert _act(p, 61, since=5) is None, method
        assert _act(p, 10_000) == Action.CHECK, method  # the shard expires collections itself
    assert _act(_payment("airtel_payout", State.SUCCEEDED), 10_000) is None


def test_orders_for_every_rail() -> None:
    from connectors.airtel.orders import WalletOrder
    from connectors.pesalink.orders import BankOrder
    from connectors.sacco.orders import SaccoOrder

    def url(kind: str, pid: str) -> str:
        return f"https://switch.example/callbacks/{kind}/{pid}/tok"

    wallet = order_for(_payment("airtel_payout"), url)
    assert isinstance(wallet, WalletOrder) and wallet.kind == "payout"
    assert wallet.amount_minor == 15000
    bank = replace(
        _payment("bank_transfer"),
        phone="",
        destination={"bank_code": "68", "account_number": "0123", "account_name": "Jane"},
    )
    order = order_for(bank, url)
    assert isinstance(order, BankOrder)
    assert (order.bank_code, order.account_number, order.phone) == ("68", "0123", None)
    assert order.callback_url.startswith("https://switch.example/callbacks/pesalink/")
    sacco = replace(
        _payment("sacco"),
        destination={
            "sacco_code": "STIMA",
            "member_number": "10001",
            "purpose": "loan_disbursement",
        },
    )
    s_order = order_for(sacco, url)
    assert isinstance(s_order, SaccoOrder) and s_order.purpose == "loan_disbursement"
    posting = replace(
        _payment("sacco_posting"),
        destination={"sacco_code": "STIMA", "member_number": "10001", "purpose": "loan_repayment"},
    )
    assert order_for(posting, url).purpose == "loan_repayment"  # type: ignore[union-attr]
    withdrawal = replace(
        _payment("sacco_withdrawal"),
        destination={"sacco_code": "STIMA", "member_number": "10001", "purpose": "deposit"},
    )
    assert order_for(withdrawal, url).purpose == "withdrawal"  # type: ignore[union-attr]


def test_postings_per_rail() -> None:
    from switch.postings import postings

    paid = _payment("airtel_ussd", State.SUCCEEDED)
    [credit] = postings(_payment("airtel_ussd"), paid, 0)
    assert credit.lines[0].account == "provider:airtel:float:s0"
    posting = _payment("sacco_posting", State.SUCCEEDED)
    assert postings(_payment("sacco_posting"), posting, 0) == []  # nothing moves on our books
    settled = replace(_payment("bank_transfer", State.SUCCEEDED), fee_minor=5000)
    [settle] = postings(_payment("bank_transfer"), settled, 0)
    assert "provider:pesalink:float:s0" in {line.account for line in settle.lines}


# --- expiry by the clock and back-off (issue 10, finding 5) -------------------------------------


def test_a_collection_expires_by_the_clock_even_when_every_query_fails() -> None:
    stk = replace(_payment(), provider=ProviderRefs(checkout_request_id="ws_CO_1"))
    airtel = _payment("airtel_ussd", State.AWAITING_CUSTOMER)
    for p, ask in ((stk, Action.QUERY), (airtel, Action.CHECK)):
        # Past the deadline, last asked before it: one last ask...
        assert _act(p, 301, since=20) == ask, p.method
        # ...and once that ask failed (or said pending), it expires, however many asks failed.
        assert _act(p, 306, since=5) == Action.EXPIRE, p.method
        assert sweep_action(
            p, 10_000, 5, query_after=60, expire_after=300, gap=15, asks=40, max_gap=600
        ) == (Action.EXPIRE), p.method


def test_payouts_never_expire_by_the_clock() -> None:
    for method in ("mpesa_b2c", "airtel_payout", "bank_transfer", "sacco"):
        p = _payment(method, State.AWAITING_RESULT)
        for since in (0, 5, 600, 1e9):
            assert _act(p, 10**7, since=since) != Action.EXPIRE, method


def test_asks_about_one_payment_back_off_up_to_a_cap() -> None:
    assert [query_gap(15, n, 600) for n in range(8)] == [15, 15, 30, 60, 120, 240, 480, 600]
    assert query_gap(15, 10**6, 600) == 600  # no overflow
    payout = _payment("mpesa_b2c", State.AWAITING_RESULT)

    def ask(since: float, asks: int) -> Action | None:
        return sweep_action(
            payout, 10**6, since, query_after=60, expire_after=300, gap=15, asks=asks, max_gap=600
        )

    assert ask(16, 1) == Action.ASK_STATUS
    assert ask(16, 3) is None  # three unanswered asks: wait 60 s
    assert ask(61, 3) == Action.ASK_STATUS
    assert ask(599, 20) is None
    assert ask(600, 20) == Action.ASK_STATUS


def test_an_expired_collection_later_found_paid_is_credited_once() -> None:
    expired = apply(_payment(), Event.EXPIRE, source="sweeper", at=T0)
    assert expired is not None and expired.state == State.EXPIRED
    assert postings(_payment(), expired, 0) == []  # expiry moves no money
    paid = apply(
        expired, Event.SUCCEED, source="callback", at=T0, provider=ProviderRefs(receipt="R1")
    )
    assert paid is not None and paid.state == State.SUCCEEDED
    assert len(postings(expired, paid, 0)) == 1  # the customer's money, credited once
    assert apply(paid, Event.SUCCEED, source="query", at=T0) is None  # a second word: nothing
