"""PesaLink answers, enquiries and callbacks in the switch's terms (pure, no network)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from connectors.pesalink import MalformedCallback, TransferResult
from connectors.pesalink.outcomes import (
    answer_lost,
    from_result,
    pesalink_callback,
    refused,
    rejected,
    transfer_answer,
    unavailable,
    with_holder,
)
from switch.messages import ProviderOutcome
from switch.payments import Failure, ProviderRefs
from switch.states import Event


def result(
    outcome: str, status: str, reason: str | None = None, name: str | None = None
) -> TransferResult:
    return TransferResult(
        end_to_end_id="pay_s0_1",
        transaction_id="PL123456",
        status=status,
        outcome=outcome,  # type: ignore[arg-type]
        message=f"plain words for {status}",
        reason_code=reason,
        reason_desc="",
        amount_cents=50_000,
        bank_code="68",
        account="0123456789",
        recipient_name=name,
        completed_at="2026-01-01T10:00:00+03:00" if outcome != "pending" else None,
    )


def callback_body(status: str = "SUCCESS", reference: str = "pay_s0_1", **extra: Any) -> bytes:
    data = {
        "transactionId": "PL123456",
        "reference": reference,
        "status": status,
        "amount": "500.00",
        "destination": {"bankCode": "68", "accountNumber": "0123456789", "name": "TOM DOE"},
        **extra,
    }
    return orjson.dumps({"status": True, "code": 0, "message": "success", "data": data})


# --- refusals ----------------------------------------------------------------------------------


def test_rejected_and_refused_name_pesalink() -> None:
    outcome = rejected("900100", "Invalid signature")
    assert outcome == ProviderOutcome(
        Event.REJECTED,
        failure=Failure("rejected", "PesaLink refused the transfer: Invalid signature", "900100"),
    )
    ours = refused("the amount is below the bank's PesaLink minimum", holder="TOM DOE")
    assert ours.event == Event.REJECTED
    assert ours.refs == ProviderRefs(receiver_name="TOM DOE")
    assert ours.failure is not None
    assert ours.failure.message.startswith("PesaLink transfer not sent: the amount")
    assert refused("x").refs is None


def test_unavailable_and_lost() -> None:
    down = unavailable("503100 Service temporarily unavailable", retry_after=3.0)
    assert (down.event, down.retry_after) == (Event.REJECTED, 3.0)
    assert down.failure is not None and down.failure.code == "provider_unavailable"
    assert "nothing was sent" in down.failure.message
    lost = answer_lost("transfer: read timeout")
    assert lost.event == Event.ANSWER_LOST
    assert lost.failure is not None and lost.failure.code == "outcome_unknown"


# --- results -----------------------------------------------------------------------------------


def test_paid_transfer_carries_the_bank_reference_and_the_holder() -> None:
    outcome = transfer_answer(result("succeeded", "SUCCESS", name="TOM DOE"))
    assert outcome.event == Event.SUCCEED
    assert outcome.amount_minor == 50_000
    assert outcome.refs == ProviderRefs(
        receipt="PL123456",
        conversation_id="PL123456",
        result_desc="SUCCESS",
        transaction_date="2026-01-01T10:00:00+03:00",
        receiver_name="TOM DOE",
    )


def test_pending_answer_is_queued_and_pending_enquiry_is_no_event() -> None:
    answer = transfer_answer(result("pending", "PENDING"), holder="TOM DOE")
    assert answer.event == Event.QUEUED
    assert answer.refs is not None
    assert (answer.refs.receipt, answer.refs.conversation_id) == (None, "PL123456")
    assert answer.refs.receiver_name == "TOM DOE"
    assert from_result(result("pending", "PENDING")).event is None


def test_failed_transfer_is_a_decline_with_its_reason() -> None:
    outcome = transfer_answer(result("failed", "FAILED", reason="AC04"), holder="TOM DOE")
    assert outcome.event == Event.DECLINE
    assert outcome.failure == Failure("declined", "plain words for FAILED", "AC04")
    assert outcome.refs is not None
    assert outcome.refs.receipt is None
    assert outcome.refs.result_code == "AC04"
    assert outcome.refs.receiver_name == "TOM DOE"


def test_with_holder_keeps_the_banks_name_and_fills_a_missing_one() -> None:
    named = from_result(result("succeeded", "SUCCESS", name="BANK NAME"))
    assert with_holder(named, "LOOKUP NAME") == named
    bare = ProviderOutcome(Event.ANSWER_LOST, failure=Failure("outcome_unknown", "x"))
    filled = with_holder(bare, "LOOKUP NAME")
    assert filled.refs == ProviderRefs(receiver_name="LOOKUP NAME")
    assert filled.failure == bare.failure
    assert with_holder(bare, None) == bare


# --- callbacks ---------------------------------------------------------------------------------


def test_paid_callback() -> None:
    item = pesalink_callback("pay_s0_1", callback_body())
    assert item.payment_id == "pay_s0_1"
    assert item.originator_conversation_id == "pay_s0_1"
    assert item.checkout_request_id is None
    assert item.outcome.event == Event.SUCCEED
    assert item.outcome.amount_minor == 50_000
    assert item.outcome.refs is not None
    assert (item.outcome.refs.receipt, item.outcome.refs.receiver_name) == ("PL123456", "TOM DOE")


def test_failed_callback() -> None:
    body = callback_body("FAILED", reasonCode="AB05", reasonDescription="Timeout at receiver")
    item = pesalink_callback("pay_s0_1", body)
    assert item.outcome.event == Event.DECLINE
    assert item.outcome.failure is not None
    assert (item.outcome.failure.code, item.outcome.failure.provider_code) == ("declined", "AB05")


def test_callback_about_another_transfer_names_it() -> None:
    item = pesalink_callback("pay_s0_1", callback_body(reference="pay_s0_2"))
    assert item.payment_id == "pay_s0_1"
    assert item.originator_conversation_id == "pay_s0_2"  # the shard refuses it as a mismatch


@pytest.mark.parametrize("body", [b"nope", b"{}", orjson.dumps({"data": {"status": "SUCCESS"}})])
def test_malformed_callbacks_raise(body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        pesalink_callback("pay_s0_1", body)
