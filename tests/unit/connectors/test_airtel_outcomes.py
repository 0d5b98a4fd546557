"""Airtel Money answers, enquiries and callbacks in the switch's terms (pure, no network)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from connectors.airtel import (
    CallbackHashMismatch,
    CollectionAccepted,
    MalformedCallback,
    TransactionResult,
    callback_hash,
)
from connectors.airtel.outcomes import (
    airtel_callback,
    answer_lost,
    from_result,
    invalid_order,
    payout_answer,
    push_accepted,
    rejected,
    unavailable,
)
from switch.messages import ProviderOutcome
from switch.payments import Failure, ProviderRefs
from switch.states import Event

KEY = "portal-private-key"


def result(
    status: str,
    outcome: str,
    code: str | None = None,
    airtel_id: str | None = "MP240607.1234.A00001",
    found: bool = True,
) -> TransactionResult:
    return TransactionResult(
        transaction_id="pay_s0_1",
        status=status,
        outcome=outcome,  # type: ignore[arg-type]
        message=f"plain words for {status}",
        provider_message="Airtel's own text",
        airtel_money_id=airtel_id,
        response_code=code,
        reference_id="133412377178",
        found=found,
    )


def callback_body(status: str = "TS", key: str | None = None, **extra: Any) -> bytes:
    txn = {
        "id": "pay_s0_1",
        "message": "Paid KES 100 to ACME LTD",
        "status_code": status,
        "airtel_money_id": "MP240607.1234.A00001",
        **extra,
    }
    body: dict[str, Any] = {"transaction": txn}
    if key is not None:
        body["hash"] = callback_hash(txn, key)
    return orjson.dumps(body)


# --- refusals ----------------------------------------------------------------------------------


def test_rejected_names_airtel_and_keeps_the_code() -> None:
    outcome = rejected("ROUTER115", "Incorrect PIN")
    assert outcome == ProviderOutcome(
        Event.REJECTED,
        failure=Failure("rejected", "Airtel Money refused the request: Incorrect PIN", "ROUTER115"),
    )
    assert rejected("", "x").failure == Failure("rejected", "Airtel Money refused the request: x")


def test_unavailable_is_rejected_with_retry_after() -> None:
    outcome = unavailable("503 Service Unavailable", retry_after=7.0)
    assert outcome.event == Event.REJECTED
    assert outcome.retry_after == 7.0
    assert outcome.failure is not None
    assert outcome.failure.code == "provider_unavailable"
    assert outcome.failure.message.startswith("Airtel Money did not accept the request (503")


def test_answer_lost_and_invalid_order() -> None:
    lost = answer_lost("collection: read timeout")
    assert lost.event == Event.ANSWER_LOST
    assert lost.failure is not None and lost.failure.code == "outcome_unknown"
    assert "Airtel Money" in lost.failure.message and "read timeout" in lost.failure.message
    bad = invalid_order("amount_cents must be a whole number of shillings")
    assert bad.event == Event.REJECTED
    assert bad.failure is not None and "nothing was sent" in bad.failure.message


# --- answers -----------------------------------------------------------------------------------


def test_push_accepted_is_not_a_payment() -> None:
    answer = CollectionAccepted("pay_s0_1", "SUCCESS", "DP00800001006", "SUCCESS")
    outcome = push_accepted(answer)
    assert outcome.event == Event.ACCEPTED
    assert outcome.refs == ProviderRefs(result_code="DP00800001006", result_desc="SUCCESS")
    assert outcome.failure is None


def test_paid_payout_carries_receipt_and_reference_id() -> None:
    outcome = payout_answer(result("TS", "succeeded", "DP00900001001"))
    assert outcome.event == Event.SUCCEED
    assert outcome.refs == ProviderRefs(
        receipt="MP240607.1234.A00001",
        conversation_id="133412377178",
        result_code="DP00900001001",
        result_desc="Airtel's own text",
    )


@pytest.mark.parametrize("status", ["TIP", "TA", ""])
def test_pending_payout_is_queued_without_a_receipt(status: str) -> None:
    outcome = payout_answer(result(status, "pending", "DP00900001006"))
    assert outcome.event == Event.QUEUED
    assert outcome.refs is not None
    assert outcome.refs.receipt is None
    assert outcome.refs.conversation_id == "133412377178"


def test_failed_payout_is_a_decline() -> None:
    outcome = payout_answer(result("TF", "failed", "DP00900001007", airtel_id="x"))
    assert outcome.event == Event.DECLINE
    assert outcome.failure == Failure("declined", "plain words for TF", "DP00900001007")
    assert outcome.refs is not None and outcome.refs.receipt is None


def test_a_payout_is_never_expired_by_a_code() -> None:
    outcome = payout_answer(result("TE", "failed", "DP00800001029"))
    assert outcome.event == Event.DECLINE


@pytest.mark.parametrize(
    ("status", "code", "event", "failure_code"),
    [
        ("TS", "DP00800001001", Event.SUCCEED, None),
        ("TF", "DP00800001007", Event.DECLINE, "declined"),
        ("TF", "DP00800001024", Event.EXPIRE, "timeout"),
        ("TE", "DP00800001029", Event.EXPIRE, "timeout"),
        ("TE", None, Event.EXPIRE, "timeout"),
    ],
)
def test_collection_results(
    status: str, code: str | None, event: Event, failure_code: str | None
) -> None:
    outcome_word = "succeeded" if status == "TS" else "failed"
    outcome = from_result(result(status, outcome_word, code), "collect")
    assert outcome.event == event
    assert (outcome.failure.code if outcome.failure else None) == failure_code
    if failure_code:
        assert outcome.failure is not None
        assert outcome.failure.provider_code == (code or status)


@pytest.mark.parametrize("status", ["TIP", "TA"])
def test_pending_collection_is_no_event(status: str) -> None:
    outcome = from_result(result(status, "pending", "DP00800001000"), "collect")
    assert outcome.event is None
    assert outcome.failure is None


# --- callbacks ---------------------------------------------------------------------------------


def test_callback_without_authentication() -> None:
    item = airtel_callback(callback_body("TS"), None)
    assert item.payment_id == "pay_s0_1"
    assert item.checkout_request_id is None
    assert item.not_found is False
    assert item.outcome.event == Event.SUCCEED
    assert item.outcome.refs is not None
    assert item.outcome.refs.receipt == "MP240607.1234.A00001"


def test_failed_callback_is_a_decline_with_no_receipt() -> None:
    item = airtel_callback(callback_body("TF"), None)
    assert item.outcome.event == Event.DECLINE
    assert item.outcome.failure is not None and item.outcome.failure.provider_code == "TF"
    assert item.outcome.refs is not None and item.outcome.refs.receipt is None


def test_callback_with_a_good_hash_is_read() -> None:
    assert airtel_callback(callback_body("TS", key=KEY), KEY).outcome.event == Event.SUCCEED


@pytest.mark.parametrize(
    "body",
    [
        callback_body("TS"),  # no hash at all
        callback_body("TS", key="another-key"),  # made with another key
    ],
)
def test_callback_without_a_matching_hash_is_refused(body: bytes) -> None:
    with pytest.raises(CallbackHashMismatch):
        airtel_callback(body, KEY)


def test_tampered_callback_is_refused() -> None:
    doc = orjson.loads(callback_body("TF", key=KEY))
    doc["transaction"]["status_code"] = "TS"
    with pytest.raises(CallbackHashMismatch):
        airtel_callback(orjson.dumps(doc), KEY)


@pytest.mark.parametrize(
    "body", [b"not json", b"{}", orjson.dumps({"transaction": {"id": "pay_s0_1"}})]
)
def test_malformed_callbacks_raise(body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        airtel_callback(body, None)
