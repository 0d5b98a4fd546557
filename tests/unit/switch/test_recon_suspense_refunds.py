"""Refunding suspense money to the payer (pure): which breaks fit, what M-Pesa's answers mean,
and an entry that takes the money out of suspense once and balances."""

from __future__ import annotations

from typing import Any

from switch.ledger import Balances
from switch.recon import refunds, suspense
from switch.recon.breaks import TWO_PERSON, recon_float, refusal
from switch.states import Event


def _brk(**kw: Any) -> dict[str, Any]:
    record = {"receipt": "UKX1", "shortcode": "600984", "amount": 70_000, "direction": "in"}
    return {
        "_id": "brk_1",
        "status": "open",
        "kind": "missing_in_switch",
        "provider": "mpesa",
        "key": "UKX1",
        "direction": "in",
        "payment_id": "",
        "provider_amount": 70_000,
        "records": [record],
        "suspense": {"amount": 70_000},
        **kw,
    }


def test_only_a_whole_unmatched_mpesa_payment_held_in_suspense_is_refunded() -> None:
    assert "refund" in TWO_PERSON
    assert refusal(_brk(), "refund") is None
    refused = refusal(_brk(payment_id="pay_1"), "refund")  # the merchant's: its own reversal
    assert refused is not None and refused.code == "not_applicable"
    over = _brk(kind="amount_mismatch", suspense={"amount": 1_000})
    refused = refusal(over, "refund")  # a reversal would give back the merchant's part too
    assert refused is not None and "whole receipt" in refused.reason
    airtel = _brk(provider="airtel")
    assert refusal(airtel, "refund") is not None
    for held in (None, {"amount": 70_000, "closed_by": "brk_1:suspense:release"}):
        refused = refusal(_brk(suspense=held), "refund")
        assert refused is not None and refused.code == "not_in_suspense"
    no_receipt = _brk(records=[{"shortcode": "600984", "amount": 70_000, "direction": "in"}])
    assert refusal(no_receipt, "refund") is not None
    assert refusal(_brk(status="refunding"), "refund") is not None


def test_the_order_comes_from_the_record_and_its_id_from_the_break() -> None:
    assert refunds.order_fields(_brk()) == {
        "id": "brk_1:refund",
        "receipt": "UKX1",
        "shortcode": "600984",
        "amount": 70_000,
    }


def test_what_sending_and_the_result_mean() -> None:
    assert refunds.after_submit(Event.QUEUED) == "sent"
    assert refunds.after_submit(Event.REJECTED) == "refused"  # nothing went out
    assert refunds.after_submit(Event.ANSWER_LOST) == "unknown"  # maybe: resend to settle it
    assert refunds.verdict(Event.SUCCEED, None, 1) == "succeeded"
    assert refunds.verdict(Event.DECLINE, "R000002", 1) == "failed"
    # "Already reversed": ours only if we sent it more than once; else someone else's.
    assert refunds.verdict(Event.DECLINE, "R000001", 2) == "succeeded"
    assert refunds.verdict(Event.DECLINE, "R000001", 1) == "failed"
    assert refunds.verdict(None, None, 1) is None  # a queue timeout: no outcome


def test_the_refund_takes_the_money_out_of_suspense_once_and_balances() -> None:
    brk = _brk()
    booked = suspense.book(brk, 70_000)
    entry = refunds.refunded(brk, 70_000)
    after = Balances.replay([booked, entry])
    assert after.of(suspense.SUSPENSE) == 0 and after.of(recon_float("mpesa")) == 0
    assert sum(line.amount for line in entry.lines) == 0
    others = {suspense.release(brk, 1).id, suspense.unbook(brk, 1).id, booked.id}
    assert entry.id not in others
