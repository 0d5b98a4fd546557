"""The Airtel simulator's pure parts: triggers, config, wire bodies and books. Nothing runs."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from connectors.airtel import (
    STATUSES,
    AirtelAccount,
    AirtelConnector,
    TransactionResult,
    transaction_outcome,
)
from connectors.airtel.simulator import (
    COLLECTION_REFUSALS,
    COLLECTION_TRIGGERS,
    DISBURSEMENT_TRIGGERS,
    SimConfig,
    collection_outcome,
    disbursement_outcome,
    triggers,
    wire,
)
from connectors.airtel.simulator.config import KNOBS, take_actions
from connectors.airtel.simulator.state import Collection, Disbursement, SimState
from connectors.http import HttpResponse
from tests.unit.connectors.samples import AIRTEL_PUSH_ACCEPTED

# --- triggers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("digits", "outcome"), sorted(COLLECTION_TRIGGERS.items()))
def test_collection_triggers_use_doc_codes(
    digits: str, outcome: triggers.CollectionOutcome
) -> None:
    assert outcome.response_code in STATUSES
    assert outcome.status in ("TS", "TF", "TE")
    assert outcome.callback_status in ("TS", "TF")  # doc §6: callbacks carry TS or TF
    expected = "succeeded" if outcome.paid else "failed"
    assert transaction_outcome(outcome.status, outcome.response_code)[0] == expected
    if not outcome.paid:
        assert outcome.response_code.endswith(digits)  # the digits are the code's last four


def test_the_documented_collection_behaviours() -> None:
    assert collection_outcome("733121007", 100).response_code == "DP00800001007"  # no money
    assert collection_outcome("733121002", 100).response_code == "DP00800001002"  # wrong PIN
    assert collection_outcome("733121024", 100).response_code == "DP00800001024"  # no answer
    assert collection_outcome("733121029", 100).status == "TE"
    assert not collection_outcome("733120404", 100).sends_callback
    assert collection_outcome("733121000", 100).pending_status == "TA"
    assert collection_outcome("733123456", 100) == triggers.PAID
    assert collection_outcome("733123456", 250_001).response_code == "DP00800001003"
    assert collection_outcome("733121007", 250_001).response_code == "DP00800001007"
    assert triggers.collection_refusal("733124005") == COLLECTION_REFUSALS["4005"]
    assert triggers.collection_refusal("733123456") is None


@pytest.mark.parametrize(("digits", "outcome"), sorted(DISBURSEMENT_TRIGGERS.items()))
def test_disbursement_triggers_use_doc_codes(
    digits: str, outcome: triggers.DisbursementOutcome
) -> None:
    assert outcome.response_code in STATUSES
    assert outcome.response_code.endswith(digits)
    expected = "failed" if outcome.status == "TF" else "pending"
    assert transaction_outcome(outcome.status, outcome.response_code)[0] == expected


@pytest.mark.parametrize(
    ("msisdn", "amount", "float_cents", "code"),
    [
        ("733123456", 500, 10**9, "DP00900001001"),
        ("733123456", 250_001, 10**9, "DP00900001004"),
        ("733123456", 500, 49_999, "DP00900001007"),
        ("733123456", 500, 50_000, "DP00900001001"),
        ("733121012", 500, 10**9, "DP00900001012"),
        ("733121006", 500, 0, "DP00900001006"),  # pending: the float is checked when it settles
    ],
)
def test_disbursement_rules(msisdn: str, amount: int, float_cents: int, code: str) -> None:
    assert disbursement_outcome(msisdn, amount, float_cents).response_code == code


def test_a_pending_payout_settles_by_the_rules() -> None:
    assert triggers.settle_disbursement(500, 10**9).paid
    assert triggers.settle_disbursement(500, 100).response_code == "DP00900001007"


# --- config --------------------------------------------------------------------------------------


def test_knobs_report_every_knob_and_no_secret() -> None:
    knobs = SimConfig().knobs()
    assert set(knobs) == set(KNOBS)
    assert knobs["token_ttl"] == 180.0
    text = orjson.dumps(knobs).decode()
    for secret in ("sandbox-client-secret", "sandbox-callback-key", '"1234"'):
        assert secret not in text


def test_apply_changes_knobs() -> None:
    config = SimConfig()
    config.apply(
        {
            "callback_url": "http://127.0.0.1:9/cb",
            "error_burst": {"status": 503, "count": 2, "api": "disbursement"},
            "hash_form": "as_received",
            "pin_padding": "oaep-sha256",
            "callback_auth": True,
        }
    )
    assert config.knobs()["error_burst"] == {"status": 503, "count": 2, "api": "disbursement"}
    assert (config.hash_form, config.pin_padding, config.callback_auth) == (
        "as_received",
        "oaep-sha256",
        True,
    )


@pytest.mark.parametrize(
    "patch",
    [
        [],
        {"nope": 1},
        {"latency": -1},
        {"latency": True},
        {"token_ttl": 0},
        {"lose_callbacks": 1.5},
        {"callback_url": "ftp://x"},
        {"callback_url": 5},
        {"callback_auth": "yes"},
        {"hash_form": "sorted"},
        {"pin_padding": "none"},
        {"error_burst": {"status": 404}},
        {"error_burst": {"api": "token"}},
        {"error_burst": {"count": -1}},
        {"error_burst": 3},
    ],
)
def test_apply_refuses_bad_knobs_and_changes_nothing(patch: Any) -> None:
    config = SimConfig()
    before = config.knobs()
    with pytest.raises(ValueError, match=r"must|unknown|body"):
        config.apply(patch if not isinstance(patch, dict) else {"latency": 1.0, **patch})
    assert config.knobs() == before


def test_restore_keeps_the_same_object() -> None:
    config, initial = SimConfig(), SimConfig()
    burst = config.error_burst
    config.apply({"latency": 2.0, "error_burst": {"count": 3}})
    config.restore(initial)
    assert config.latency == 0.0 and config.error_burst.count == 0
    assert burst is not config.error_burst  # a fresh copy, so later changes stay ours


def test_actions_are_split_out() -> None:
    assert take_actions({"expire_tokens": True, "latency": 1}) == (
        {"latency": 1},
        frozenset({"expire_tokens"}),
    )
    with pytest.raises(ValueError, match="action"):
        take_actions({"expire_tokens": 1})


# --- wire: inbound -------------------------------------------------------------------------------

PUSH = {
    "reference": "Order 1001",
    "subscriber": {"country": "KE", "currency": "KES", "msisdn": "733123456"},
    "transaction": {"amount": 100, "country": "KE", "currency": "KES", "id": "ORD-1"},
}


def test_the_doc_push_parses() -> None:
    assert wire.parse_push(PUSH) == wire.PushRequest("Order 1001", "733123456", 100, "ORD-1")


def test_optional_market_fields_may_be_absent() -> None:
    body = {
        "reference": "r",
        "subscriber": {"msisdn": 733123456},
        "transaction": {"amount": "100.0", "id": "o"},
    }
    assert wire.parse_push(body) == wire.PushRequest("r", "733123456", 100, "o")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"reference": ""}, "ESB000008"),
        ({"subscriber": None}, "ESB000008"),
        ({"subscriber": {"msisdn": "254733123456"}}, "ESB000033"),
        ({"subscriber": {"msisdn": "73312345"}}, "ESB000033"),
        ({"subscriber": {"msisdn": "73312345x"}}, "ESB000036"),
        ({"subscriber": {"msisdn": "733123456", "country": "UG"}}, "ESB000034"),
        ({"subscriber": {"msisdn": "733123456", "currency": "UGX"}}, "ESB000035"),
        ({"transaction": {"amount": 10.5, "id": "o"}}, "ESB000008"),
        ({"transaction": {"amount": 0, "id": "o"}}, "ESB000008"),
        ({"transaction": {"amount": True, "id": "o"}}, "ESB000008"),
        ({"transaction": {"amount": 100}}, "ESB000008"),
        ({"transaction": {"amount": 100, "id": "o", "country": "TZ"}}, "ESB000034"),
    ],
)
def test_bad_push_fields_are_refused(change: dict[str, Any], code: str) -> None:
    with pytest.raises(wire.Refusal) as caught:
        wire.parse_push({**PUSH, **change})
    assert (caught.value.http_status, caught.value.result_code) == (400, code)


def test_the_doc_disbursement_and_refund_parse() -> None:
    body = {
        "payee": {"msisdn": "733123456"},
        "reference": "Loan 5521",
        "pin": "b64",
        "transaction": {"amount": 500, "id": "PAYOUT-0001"},
    }
    assert wire.parse_disbursement(body) == wire.DisbursementRequest(
        "Loan 5521", "733123456", "b64", 500, "PAYOUT-0001"
    )
    assert wire.parse_refund({"transaction": {"airtel_money_id": 133410367531}}) == "133410367531"
    with pytest.raises(wire.Refusal):
        wire.parse_disbursement({**body, "pin": ""})
    with pytest.raises(wire.Refusal):
        wire.parse_refund({"transaction": {}})


def test_refusal_bodies() -> None:
    assert wire.Refusal(400, "Msisdn Not Found", response_code="DP00800001005").body() == {
        "status": {
            "code": "400",
            "message": "Msisdn Not Found",
            "response_code": "DP00800001005",
            "success": False,
        }
    }
    oauth = wire.Refusal(401, "expired", oauth_error="invalid_token").body()
    assert oauth == {"error": "invalid_token", "error_description": "expired"}


# --- wire: outbound, read back by the connector ---------------------------------------------------

CONNECTOR = AirtelConnector(AirtelAccount("http://sim", "c", "s", callback_key="k"))


def collection(digits: str = "3456", amount: int = 100) -> Collection:
    msisdn = "73312" + digits
    return Collection(
        "ORD-1",
        msisdn,
        amount,
        "r",
        collection_outcome(msisdn, amount),
        0.0,
        0.0,
        1,
        callback_lost=False,
    )


def read_enquiry(body: dict[str, Any]) -> Any:
    return CONNECTOR.parse_collection_enquiry(HttpResponse(200, orjson.dumps(body)), "ORD-1")


def test_push_answer_is_the_doc_sample() -> None:
    assert wire.push_accepted("ORD-20240607-0001") == AIRTEL_PUSH_ACCEPTED


def test_enquiry_before_and_after_payment() -> None:
    state, record = SimState(), collection()
    before = read_enquiry(wire.collection_enquiry(record))
    assert (before.status, before.outcome, before.airtel_money_id) == ("TIP", "pending", None)
    state.settle_collection(record, 1_717_740_000.0)
    after = read_enquiry(wire.collection_enquiry(record))
    assert (after.status, after.outcome) == ("TS", "succeeded")
    assert after.airtel_money_id == record.airtel_money_id
    assert re.fullmatch(r"MP\d{6}\.\d{4}\.[A-Z]\d{5}", after.airtel_money_id or "")


@pytest.mark.parametrize(
    ("digits", "status", "code"),
    [
        ("1007", "TF", "DP00800001007"),
        ("1029", "TE", "DP00800001029"),
        ("1024", "TF", "DP00800001024"),
    ],
)
def test_failed_enquiries_read_back(digits: str, status: str, code: str) -> None:
    record = collection(digits)
    SimState().settle_collection(record, 0.0)
    result = read_enquiry(wire.collection_enquiry(record))
    assert (result.status, result.outcome, result.response_code) == (status, "failed", code)
    assert result.airtel_money_id is None


def test_ambiguous_enquiry_reads_ta() -> None:
    result = read_enquiry(wire.collection_enquiry(collection("1000")))
    assert (result.status, result.response_code, result.outcome) == (
        "TA",
        "DP00800001000",
        "pending",
    )


def test_a_hashed_callback_verifies_with_the_connector() -> None:
    record = collection()
    SimState().settle_collection(record, 0.0)
    body = orjson.dumps(wire.callback(record, "ACME LTD", "k"))
    result = CONNECTOR.parse_callback(body)
    assert result.outcome == "succeeded"
    assert (
        result.provider_message == f"Paid KES 100 to ACME LTD, Trans ID {result.airtel_money_id}."
    )
    assert list(orjson.loads(body)["transaction"]) == [
        "id",
        "message",
        "status_code",
        "airtel_money_id",
    ]


def test_a_timed_out_callback_says_tf() -> None:
    record = collection("1029")
    SimState().settle_collection(record, 0.0)
    txn = wire.callback(record, "ACME", None)["transaction"]
    assert txn == {"id": "ORD-1", "message": "Transaction expired", "status_code": "TF"}


def test_disbursement_answer_reads_back() -> None:
    record = Disbursement(
        "PAYOUT-0001",
        "733123456",
        500,
        "Loan",
        triggers.PAID_OUT,
        SimState.disbursement_id(),
        "133412377178",
        0.0,
        0.0,
    )
    result = CONNECTOR.parse_disbursement(
        HttpResponse(200, orjson.dumps(wire.disbursement(record))), "PAYOUT-0001"
    )
    assert isinstance(result, TransactionResult)
    assert (result.outcome, result.reference_id) == ("succeeded", "133412377178")
    assert re.fullmatch(r"disburs-[A-Z0-9]{10}-[0-9a-f-]{36}", record.airtel_money_id)


# --- books ---------------------------------------------------------------------------------------


def test_a_collection_is_credited_once_and_refunded_once() -> None:
    state, record = SimState(), collection(amount=250)
    state.settle_collection(record, 0.0)
    state.settle_collection(record, 1.0)  # a second settle changes nothing
    assert state.ledger.collected_cents == 25_000
    refund = state.refund(record, 2.0)
    assert record.refund_id == refund.refund_id and re.fullmatch(r"13\d{10}", refund.refund_id)
    assert state.ledger.collected_cents == 0
    assert [(e.kind, e.amount_cents) for e in state.ledger.entries] == [
        ("collection", 25_000),
        ("refund", -25_000),
    ]


def test_tokens_expire_and_clear_keeps_them() -> None:
    state = SimState()
    token = state.issue_token(now=10.0, ttl=180.0)
    assert re.fullmatch(r"[A-Za-z0-9]{32}", token)
    assert state.token_valid(token, 189.9) and not state.token_valid(token, 190.0)
    state.clear()
    assert state.token_valid(token, 11.0)
