"""Airtel transformers against the payloads recorded from Airtel's Open API documentation."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from connectors.airtel import (
    GATEWAY_CODES,
    STATUSES,
    CollectionOrder,
    DisbursementOrder,
    MalformedCallback,
    ProviderError,
    TransactionResult,
    callback_ack,
    classify_error,
    national_msisdn,
    parse_callback,
    parse_error,
    status_outcome,
    transaction_outcome,
    wire_amount,
)
from connectors.http import HttpResponse

# doc §6, "Without callback authentication", byte for byte.
DOC_CALLBACK = b"""{
  "transaction": {
    "id": "ORD-20240607-0001",
    "message": "Paid KES 100 to ACME LTD, Trans ID MP240607.1234.A00001.",
    "status_code": "TS",
    "airtel_money_id": "MP240607.1234.A00001"
  }
}"""

# doc §6, "With callback authentication enabled".
DOC_CALLBACK_HASHED = b"""{
  "transaction": {
    "id": "ORD-20240607-0001",
    "message": "Paid KES 100 to ACME LTD, Trans ID MP240607.1234.A00001.",
    "status_code": "TS",
    "airtel_money_id": "MP240607.1234.A00001"
  },
  "hash": "zITVAAGYSlzl1WkUQJn81kbpT5drH3koffT8jCkcJJA="
}"""

# doc §3, the error sample.
DOC_MSISDN_NOT_FOUND = {
    "status": {
        "response_code": "DP00800001005",
        "code": "400",
        "success": False,
        "message": "Msisdn Not Found",
    }
}


def answer(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(payload), {"Content-Type": "application/json"})


# --- The one status table ------------------------------------------------------------------------

# Every transaction status of doc §5 and every product code of doc §10, with the outcome we expect.
DOC_STATUSES = {
    "TS": "succeeded",
    "TF": "failed",
    "TA": "pending",
    "TIP": "pending",
    "TE": "failed",
}
DOC_COLLECTION_CODES = {
    "DP00800001000": "pending",
    "DP00800001001": "succeeded",
    "DP00800001002": "failed",
    "DP00800001003": "failed",
    "DP00800001004": "failed",
    "DP00800001005": "failed",
    "DP00800001006": "pending",
    "DP00800001007": "failed",
    "DP00800001008": "failed",
    "DP00800001009": "failed",
    "DP00800001010": "failed",
    "DP00800001024": "failed",
    "DP00800001025": "pending",  # not found: judged by age, never by the code alone
    "DP00800001026": "failed",
    "DP00800001029": "failed",
}
DOC_DISBURSEMENT_CODES = {
    "DP00900001000": "pending",
    "DP00900001001": "succeeded",
    "DP00900001003": "failed",
    "DP00900001004": "failed",
    "DP00900001005": "failed",
    "DP00900001006": "pending",
    "DP00900001007": "failed",
    "DP00900001009": "failed",
    "DP00900001010": "failed",
    "DP00900001011": "failed",
    "DP00900001012": "failed",
    "DP00900001013": "failed",
    "DP00900001014": "pending",
    "DP00900001015": "pending",
    "DP00900001016": "failed",
    "DP00900001017": "pending",  # duplicate id: the original's outcome is unknown
    "DP00900001018": "failed",
}
ALL_DOC_CODES = {**DOC_STATUSES, **DOC_COLLECTION_CODES, **DOC_DISBURSEMENT_CODES}


def test_the_table_is_exactly_the_doc() -> None:
    assert set(STATUSES) == set(ALL_DOC_CODES)


@pytest.mark.parametrize(("code", "outcome"), sorted(ALL_DOC_CODES.items()))
def test_every_status_and_code_maps(code: str, outcome: str) -> None:
    got, message = status_outcome(code)
    assert got == outcome
    assert message.endswith((".", ")")) and len(message) > 15  # a plain sentence


@pytest.mark.parametrize("code", ["", "XX", "DP00800001099", "SUCCESS", "ts"])
def test_anything_unknown_is_pending(code: str) -> None:
    outcome, message = status_outcome(code)
    assert outcome == "pending"
    assert "Unrecognised" in message


@pytest.mark.parametrize(
    ("status", "code", "outcome", "says"),
    [
        ("TS", "DP00800001001", "succeeded", "Paid"),
        ("TS", None, "succeeded", "completed"),
        ("TF", "DP00800001007", "failed", "balance was too low"),
        ("TF", "DP00800001002", "failed", "wrong Airtel Money PIN"),
        ("TF", None, "failed", "failed"),
        ("TF", "DP00800001006", "failed", "failed"),  # a pending code does not undo TF
        ("TE", "DP00800001029", "failed", "expired"),
        ("TIP", "DP00800001006", "pending", "waiting for the customer"),
        ("TA", "DP00800001000", "pending", "still processing"),
        ("TS", "DP00800001007", "pending", "contradicts"),
        ("TF", "DP00800001001", "pending", "contradicts"),
        ("", "DP00800001007", "failed", "balance was too low"),  # a failure code alone fails
        ("", "DP00800001001", "pending", "Unrecognised"),  # a code alone never proves success
        ("", "DP00800001006", "pending", "waiting"),
        ("", None, "pending", "Unrecognised"),
        ("SUCCESS", None, "pending", "Unrecognised"),  # the push status is not a payment
        ("TS", "DP00900001001", "succeeded", "Paid out"),
        ("TF", "DP00900001007", "failed", "too little money"),
    ],
)
def test_transaction_outcome_status_decides_code_explains(
    status: str, code: str | None, outcome: str, says: str
) -> None:
    got, message = transaction_outcome(status, code)
    assert got == outcome
    assert says in message


# --- Request errors ------------------------------------------------------------------------------

DOC_GATEWAY_CODES = [
    "ESB000010",
    "ESB000001",
    "ESB000004",
    "ESB000008",
    "ESB000011",
    "ESB000014",
    "ESB000033",
    "ESB000036",
    "ESB000034",
    "ESB000035",
    "ESB000039",
    "ESB000041",
    "ESB000045",
    "ROUTER001",
    "ROUTER003",
    "ROUTER005",
    "ROUTER006",
    "ROUTER007",
    "ROUTER112",
    "ROUTER119",
    "ROUTER114",
    "ROUTER115",
    "ROUTER116",
    "ROUTER117",
]


def test_every_doc_gateway_code_is_classified() -> None:
    assert set(DOC_GATEWAY_CODES) <= set(GATEWAY_CODES)


@pytest.mark.parametrize(
    ("http", "codes", "kind"),
    [
        (401, (), "invalid_token"),
        (401, ("invalid_token",), "invalid_token"),
        (401, ("invalid_client",), "rejected"),  # wrong credentials: a new token will not help
        (400, ("unsupported_grant_type",), "rejected"),
        (400, ("", "ESB000041"), "duplicate"),
        (200, ("ESB000041",), "duplicate"),
        (400, ("DP00900001017",), "duplicate"),
        (500, ("DP00800001005", "ESB000041"), "duplicate"),
        (429, (), "retriable"),
        (503, (), "retriable"),
        (503, ("ESB000001",), "retriable"),
        (400, ("ESB000014",), "retriable"),
        (400, ("ROUTER114",), "retriable"),
        (500, (), "unknown"),
        (502, (), "unknown"),
        (500, ("ESB000001",), "unknown"),
        (400, ("ESB000004",), "unknown"),
        (400, ("ROUTER117",), "unknown"),
        (408, (), "unknown"),
        (200, (), "unknown"),
        (200, ("DP00800001006",), "unknown"),  # "in process" on a refusal: it may be running
        (400, ("DP00800001005",), "rejected"),
        (200, ("DP00800001007",), "rejected"),
        (400, ("ESB000008",), "rejected"),
        (400, ("ESB000033",), "rejected"),
        (400, ("ESB000036",), "rejected"),
        (400, ("ROUTER003",), "rejected"),
        (400, ("ROUTER006",), "rejected"),
        (400, ("ROUTER112",), "rejected"),
        (400, ("ROUTER115",), "rejected"),
        (400, ("ROUTER116",), "rejected"),
        (404, (), "rejected"),
        (405, (), "rejected"),
        (400, ("NEVER-SEEN",), "rejected"),
        (500, ("NEVER-SEEN",), "unknown"),
    ],
)
def test_classify_error(http: int, codes: tuple[str, ...], kind: str) -> None:
    assert classify_error(http, *codes) == kind


@pytest.mark.parametrize("code", sorted(GATEWAY_CODES))
def test_every_gateway_code_has_a_kind_and_a_text(code: str) -> None:
    kind, text = GATEWAY_CODES[code]
    assert kind in ("invalid_token", "retriable", "rejected", "unknown", "duplicate")
    assert text


def test_the_doc_error_sample_is_a_rejection() -> None:
    error = parse_error(answer(400, DOC_MSISDN_NOT_FOUND))
    assert error == ProviderError("rejected", "DP00800001005", "Msisdn Not Found", 400)


def test_oauth_style_errors_are_read() -> None:
    body = {"error": "invalid_token", "error_description": "The access token expired"}
    assert parse_error(answer(401, body)) == ProviderError(
        "invalid_token", "invalid_token", "The access token expired", 401
    )


def test_status_code_style_errors_are_read() -> None:
    body = {"status_code": "ROUTER116", "status_message": "Encrypted value of the pin is incorrect"}
    error = parse_error(answer(400, body))
    assert (error.kind, error.code) == ("rejected", "ROUTER116")
    assert error.message == "Encrypted value of the pin is incorrect"


def test_response_code_is_preferred_over_result_code() -> None:
    body = {"status": {"code": "400", "result_code": "ESB000011", "response_code": "DP00800001010"}}
    assert parse_error(answer(400, body)).code == "DP00800001010"


@pytest.mark.parametrize(
    ("resp", "message"),
    [
        (HttpResponse(502, b""), "HTTP 502 with an empty body"),
        (HttpResponse(502, b"<html>bad gateway</html>"), "HTTP 502 with an unrecognised body"),
    ],
)
def test_bare_answers_are_described(resp: HttpResponse, message: str) -> None:
    error = parse_error(resp)
    assert (error.kind, error.code) == ("unknown", "")
    assert error.message.startswith(message)


# --- Callback (doc §6) ---------------------------------------------------------------------------


def test_the_doc_callback_parses() -> None:
    assert parse_callback(DOC_CALLBACK) == TransactionResult(
        transaction_id="ORD-20240607-0001",
        status="TS",
        outcome="succeeded",
        message="Airtel Money completed the transaction.",
        provider_message="Paid KES 100 to ACME LTD, Trans ID MP240607.1234.A00001.",
        airtel_money_id="MP240607.1234.A00001",
        response_code=None,
    )


def test_the_hashed_doc_callback_parses_without_verification() -> None:
    result = parse_callback(DOC_CALLBACK_HASHED)
    assert (result.outcome, result.airtel_money_id) == ("succeeded", "MP240607.1234.A00001")


def test_a_failure_callback_without_airtel_id() -> None:
    body = {"transaction": {"id": "o-2", "message": "Insufficient funds", "status_code": "TF"}}
    result = parse_callback(orjson.dumps(body))
    assert (result.outcome, result.status, result.airtel_money_id) == ("failed", "TF", None)
    assert result.provider_message == "Insufficient funds"
    assert not result.expired  # a callback carries no code: a timeout reads as a plain failure


def test_a_numeric_airtel_money_id_becomes_text() -> None:
    body = {"transaction": {"id": "o", "status_code": "ts", "airtel_money_id": 133410367531}}
    result = parse_callback(orjson.dumps(body))
    assert (result.status, result.airtel_money_id) == ("TS", "133410367531")


def test_an_unknown_callback_status_is_pending() -> None:
    body = {"transaction": {"id": "o", "status_code": "TX", "message": ""}}
    assert parse_callback(orjson.dumps(body)).outcome == "pending"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"transaction": "TS"}',
        b'{"transaction": {"status_code": "TS"}}',
        b'{"transaction": {"id": 7, "status_code": "TS"}}',
        b'{"transaction": {"id": "o"}}',
        b'{"transaction": {"id": "o", "status_code": 1}}',
        b'{"transaction": {"id": "o", "status_code": "TS"}, "hash": 5}',
    ],
)
def test_malformed_callbacks_raise(body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        parse_callback(body)


def test_callback_ack_is_json() -> None:
    assert orjson.loads(callback_ack()) == {"status": "received"}


@pytest.mark.parametrize(
    ("status", "code", "expired"),
    [
        ("TE", None, True),
        ("TF", "DP00800001024", True),
        ("TF", "DP00800001029", True),
        ("TF", "DP00800001007", False),
        ("TS", None, False),
    ],
)
def test_expired_flags_timeouts(status: str, code: str | None, expired: bool) -> None:
    outcome, message = transaction_outcome(status, code)
    result = TransactionResult("o", status, outcome, message, "", None, code)
    assert result.expired is expired


# --- Orders: MSISDN and money --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "national"),
    [("254733123456", "733123456"), ("733123456", "733123456"), ("254100123456", "100123456")],
)
def test_msisdn_is_the_nine_digit_national_number(phone: str, national: str) -> None:
    assert national_msisdn(phone) == national


@pytest.mark.parametrize(
    "phone", ["0733123456", "+254733123456", "25473312345", "254633123456", "7331234567", ""]
)
def test_other_phone_forms_are_refused(phone: str) -> None:
    with pytest.raises(ValueError, match="phone"):
        national_msisdn(phone)


@pytest.mark.parametrize(("cents", "shillings"), [(100, 1), (10_000, 100), (25_000_000, 250_000)])
def test_cents_become_whole_shillings(cents: int, shillings: int) -> None:
    assert wire_amount(cents) == shillings


@pytest.mark.parametrize("cents", [0, 50, 150, -100, True])
def test_amounts_that_are_not_whole_shillings_are_refused(cents: Any) -> None:
    with pytest.raises(ValueError, match="amount_cents"):
        wire_amount(cents)


def test_an_order_keeps_cents_and_sends_shillings() -> None:
    order = CollectionOrder("ORD-20240607-0001", 10_000, "254733123456", "Order 1001")
    assert (order.amount, order.msisdn) == (100, "733123456")
    payout = DisbursementOrder("pay_s3_01JDX4ABCDEFGHJKMNPQRSTVWX", 50_000, "733123456", "Loan")
    assert (payout.amount, payout.msisdn) == (500, "733123456")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"transaction_id": ""}, "transaction_id"),
        ({"transaction_id": "a/b"}, "transaction_id"),
        ({"transaction_id": "x" * 65}, "transaction_id"),
        ({"amount_cents": 99}, "amount_cents"),
        ({"phone": "0733123456"}, "phone"),
        ({"reference": "  "}, "reference"),
    ],
)
def test_orders_validate_on_construction(change: dict[str, Any], match: str) -> None:
    fields = {
        "transaction_id": "ORD-1",
        "amount_cents": 100,
        "phone": "733123456",
        "reference": "r",
        **change,
    }
    with pytest.raises(ValueError, match=match):
        CollectionOrder(**fields)
    with pytest.raises(ValueError, match=match):
        DisbursementOrder(**fields)
