"""The simulator's pure parts: triggers, knobs, identifiers, field checks and outbound bodies."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from connectors.mpesa import parse_stk_callback
from connectors.mpesa.simulator import wire
from connectors.mpesa.simulator.config import ErrorBurst, SimConfig
from connectors.mpesa.simulator.state import SimState, StkRecord
from connectors.mpesa.simulator.triggers import outcome_for

WALL = 1_700_000_000.123  # 2023-11-15 01:13:20.123 in Nairobi


# --- triggers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "code", "callback"),
    [
        ("254708371032", 1032, True),
        ("254708370001", 1, True),
        ("254708371037", 1037, True),
        ("254708372001", 2001, True),
        ("254708370404", 0, False),
        ("254708374149", 0, True),
        ("254110001033", 0, True),
    ],
)
def test_last_four_digits_choose_the_outcome(phone: str, code: int, callback: bool) -> None:
    outcome = outcome_for(phone)
    assert (outcome.result_code, outcome.sends_callback) == (code, callback)


def test_amount_above_the_maximum_is_declined_with_code_3() -> None:
    assert outcome_for("254708374149", 250_000).result_code == 0
    assert outcome_for("254708374149", 250_001).result_code == 3
    assert outcome_for("254708371032", 250_001).result_code == 1032  # a refusal stays one


# --- knobs -------------------------------------------------------------------------------------


def test_knobs_patch_and_restore() -> None:
    config = SimConfig()
    initial = config.copy()
    config.apply({"latency": 0.5, "error_burst": {"status": 503, "count": 3}})
    assert config.knobs()["error_burst"] == {"status": 503, "count": 3}
    config.error_burst.count -= 1
    assert initial.error_burst == ErrorBurst(500, 0)  # a copy shares no burst counter
    config.restore(initial)
    assert config.knobs() == SimConfig().knobs()


def test_knobs_leave_credentials_out() -> None:
    knobs = orjson.dumps(SimConfig().knobs())
    assert b"sandbox-secret" not in knobs
    assert SimConfig().passkey.encode() not in knobs


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ([], "JSON object"),
        ({"passkey": "x"}, "unknown knobs"),
        ({"latency": -1}, "latency"),
        ({"latency": True}, "latency"),
        ({"token_ttl": 0}, "token_ttl"),
        ({"duplicate_callbacks": 1.5}, "duplicate_callbacks"),
        ({"lock_subscriber": 1}, "lock_subscriber"),
        ({"max_records": 0}, "max_records"),
        ({"error_burst": {"status": 404, "count": 1}}, "status"),
        ({"error_burst": {"status": 500, "count": -1}}, "count"),
        ({"error_burst": {"code": 500}}, "error_burst"),
    ],
)
def test_bad_patches_change_nothing(patch: Any, reason: str) -> None:
    config = SimConfig()
    with pytest.raises(ValueError, match=reason):
        config.apply(patch)
    assert config.knobs() == SimConfig().knobs()


def test_a_patch_with_one_bad_knob_applies_none() -> None:
    config = SimConfig()
    with pytest.raises(ValueError, match="latency"):
        config.apply({"callback_delay": 9, "latency": -1})
    assert config.callback_delay == SimConfig().callback_delay


# --- identifiers -------------------------------------------------------------------------------


def test_checkout_id_has_the_observed_shape() -> None:
    cid = SimState().checkout_request_id("254796440427", WALL)
    # ws_CO_ + DDMMYYYYHHmmss (EAT) + ms + the 9-digit national number (doc §4).
    assert cid == "ws_CO_15112023011320123796440427"


def test_checkout_ids_stay_unique_within_a_millisecond() -> None:
    state = SimState()
    ids = set()
    for _ in range(5):
        cid = state.checkout_request_id("254796440427", WALL)
        state.add(record(cid), max_records=100)
        ids.add(cid)
    assert len(ids) == 5
    assert all(re.fullmatch(r"ws_CO_\d{26}", cid) for cid in ids)


def test_receipts_are_ten_unique_uppercase_alphanumerics() -> None:
    state = SimState()
    receipts = {state.receipt(WALL) for _ in range(5_000)}
    assert len(receipts) == 5_000
    assert all(re.fullmatch(r"RKF[A-Z0-9]{7}", r) for r in receipts)  # 2023, November, 15th


def test_oldest_records_are_forgotten_beyond_the_limit() -> None:
    state = SimState()
    for i in range(4):
        state.add(record(f"ws_CO_{i}"), max_records=3)
    assert list(state.records) == ["ws_CO_1", "ws_CO_2", "ws_CO_3"]


def test_lock_lasts_until_the_customer_acts() -> None:
    state = SimState()
    state.add(record("ws_CO_1", due_at=10.0), max_records=10)
    assert state.lock_holder("254712345678", now=9.9) is not None
    assert state.lock_holder("254712345678", now=10.0) is None


def test_tokens_expire() -> None:
    state = SimState()
    token = state.issue_token(now=0.0, ttl=5.0)
    assert re.fullmatch(r"[A-Za-z0-9]{28}", token)
    assert state.token_valid(token, 4.9)
    assert not state.token_valid(token, 5.0)
    assert not state.token_valid("other", 0.0)


def record(cid: str, *, due_at: float = 0.0, code: int = 0) -> StkRecord:
    return StkRecord(
        checkout_request_id=cid,
        merchant_request_id="m-1",
        phone="254712345678",
        amount=150,
        account_reference="INV1",
        callback_url="http://127.0.0.1/cb",
        result_code=code,
        result_desc="The service request is processed successfully.",
        receipt="RKF1234567" if code == 0 else None,
        transaction_date=20231115011322 if code == 0 else None,
        sends_callback=True,
        copies=1,
        created_at=WALL,
        due_at=due_at,
    )


# --- inbound bodies ----------------------------------------------------------------------------

GOOD_PUSH: dict[str, Any] = {
    "BusinessShortCode": 174379,
    "Password": "pw",
    "Timestamp": "20210628092408",
    "TransactionType": "CustomerPayBillOnline",
    "Amount": "1",
    "PartyA": "254712345678",
    "PartyB": 174379,
    "PhoneNumber": 254712345678,
    "CallBackURL": "https://example.co.ke/hooks/stk",
    "AccountReference": "INV0001",
    "TransactionDesc": "Order 1",
}


def test_numbers_and_numeric_strings_are_both_accepted() -> None:
    push = wire.parse_push(GOOD_PUSH)
    assert (push.credentials.shortcode, push.amount, push.party_b, push.phone) == (
        "174379",
        1,
        "174379",
        "254712345678",
    )


def test_transaction_desc_is_optional() -> None:
    body = {k: v for k, v in GOOD_PUSH.items() if k != "TransactionDesc"}
    assert wire.parse_push(body).description == ""


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("BusinessShortCode", "17437a"),
        ("BusinessShortCode", None),
        ("Password", ""),
        ("Timestamp", "2021062809240"),
        ("Timestamp", "20211328092408"),
        ("TransactionType", "PayBill"),
        ("Amount", 0),
        ("Amount", 1.5),
        ("Amount", "1.5"),
        ("Amount", True),
        ("Amount", "one"),
        ("PartyA", "0712345678"),
        ("PartyB", "12"),
        ("PhoneNumber", "254612345678"),
        ("PhoneNumber", 25471234567),
        ("CallBackURL", "example.co.ke/cb"),
        ("CallBackURL", "ftp://example.co.ke/cb"),
        ("AccountReference", "A" * 13),
        ("AccountReference", ""),
        ("TransactionDesc", "D" * 14),
    ],
)
def test_each_bad_field_is_named(field: str, value: Any) -> None:
    with pytest.raises(wire.InvalidField, match=f"^Bad Request - Invalid {field}$"):
        wire.parse_push({**GOOD_PUSH, field: value})


def test_query_needs_a_checkout_id() -> None:
    body = {k: GOOD_PUSH[k] for k in ("BusinessShortCode", "Password", "Timestamp")}
    with pytest.raises(wire.InvalidField, match="CheckoutRequestID"):
        wire.parse_query(body)
    assert wire.parse_query({**body, "CheckoutRequestID": "ws_CO_1"}).checkout_request_id


# --- outbound bodies ---------------------------------------------------------------------------


def test_success_callback_has_the_real_types() -> None:
    raw = orjson.dumps(wire.callback(record("ws_CO_1")))
    cb = orjson.loads(raw)["Body"]["stkCallback"]
    items = {i["Name"]: i.get("Value", "<none>") for i in cb["CallbackMetadata"]["Item"]}
    assert cb["ResultCode"] == 0
    assert b'"Value":150.0' in raw  # a number with decimals
    assert items["Balance"] == "<none>"
    assert items["PhoneNumber"] == 254712345678
    assert items["TransactionDate"] == 20231115011322
    # ... and our own connector reads it back.
    result = parse_stk_callback(raw)
    assert (result.amount, result.receipt, result.phone) == (150, "RKF1234567", "254712345678")


def test_failure_callback_has_no_metadata() -> None:
    cb = wire.callback(record("ws_CO_1", code=1032))["Body"]["stkCallback"]
    assert "CallbackMetadata" not in cb
    assert cb["ResultCode"] == 1032


def test_query_result_uses_strings_and_the_real_spelling() -> None:
    answer = wire.query_result(record("ws_CO_1", code=1037))
    assert answer["ResultCode"] == "1037"
    assert answer["ResponseDescription"].endswith("successsfully")
