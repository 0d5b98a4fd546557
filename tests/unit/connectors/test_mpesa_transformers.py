"""Transformers against the payloads recorded from Daraja's documentation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from connectors.http import HttpResponse
from connectors.mpesa import (
    STK_RESULTS,
    AccessToken,
    MalformedCallback,
    StkPushOrder,
    callback_ack,
    parse_error,
    parse_stk_callback,
    password,
    stk_outcome,
    timestamp,
)

SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
DOC_PASSWORD = (
    "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQy"
    "YzkxOTIwMjEwNjI4MDkyNDA4"
)

# doc §4, "Callback to CallBackURL — success", byte for byte (Amount is 1.00).
DOC_SUCCESS = b"""{
  "Body": {
    "stkCallback": {
      "MerchantRequestID": "29115-34620561-1",
      "CheckoutRequestID": "ws_CO_191220191020363925",
      "ResultCode": 0,
      "ResultDesc": "The service request is processed successfully.",
      "CallbackMetadata": {
        "Item": [
          { "Name": "Amount", "Value": 1.00 },
          { "Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV" },
          { "Name": "TransactionDate", "Value": 20191219102115 },
          { "Name": "PhoneNumber", "Value": 254708374149 }
        ]
      }
    }
  }
}"""

# doc §4, "Callback — failure".
DOC_FAILURE = b"""{
  "Body": {
    "stkCallback": {
      "MerchantRequestID": "f1e2-4b95-a71d-b30d3cdbb7a7942864",
      "CheckoutRequestID": "ws_CO_21072024125243250722943992",
      "ResultCode": 1032,
      "ResultDesc": "Request cancelled by user"
    }
  }
}"""


def stk_callback(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "MerchantRequestID": "m-1",
        "CheckoutRequestID": "ws_CO_1",
        "ResultCode": 0,
        "ResultDesc": "ok",
    }
    base.update(fields)
    return orjson.dumps({"Body": {"stkCallback": base}})


# --- request helpers ---------------------------------------------------------------------------


def test_password_matches_the_doc_test_vector() -> None:
    assert password("174379", SANDBOX_PASSKEY, "20210628092408") == DOC_PASSWORD


def test_timestamp_is_eat_whatever_the_input_zone() -> None:
    instant = datetime(2021, 6, 28, 6, 24, 8, tzinfo=UTC)
    new_york = timezone(timedelta(hours=-4))
    assert timestamp(instant) == "20210628092408"
    assert timestamp(instant.astimezone(new_york)) == "20210628092408"


def test_timestamp_crosses_midnight_into_the_next_eat_day() -> None:
    assert timestamp(datetime(2024, 12, 31, 22, 30, 0, tzinfo=UTC)) == "20250101013000"


def test_timestamp_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        timestamp(datetime(2024, 1, 1, 12, 0, 0))  # naive on purpose


@pytest.mark.parametrize("amount", [0, -5, True])
def test_order_refuses_a_bad_amount(amount: int) -> None:
    with pytest.raises(ValueError, match="amount"):
        StkPushOrder(amount, "254712345678", "INV1", "Order", "https://x.test/cb")


@pytest.mark.parametrize("phone", ["0712345678", "+254712345678", "254612345678", "25471234567"])
def test_order_refuses_a_bad_phone(phone: str) -> None:
    with pytest.raises(ValueError, match="phone"):
        StkPushOrder(10, phone, "INV1", "Order", "https://x.test/cb")


def test_order_accepts_both_safaricom_prefixes() -> None:
    StkPushOrder(10, "254712345678", "INV1", "Order", "https://x.test/cb")
    StkPushOrder(10, "254112345678", "INV1", "Order", "https://x.test/cb")


def test_access_token_hides_its_value_and_knows_its_expiry() -> None:
    token = AccessToken("s3cr3t-token", expires_at=100.0)
    assert "s3cr3t" not in repr(token)
    assert token.is_valid(99.9)
    assert not token.is_valid(100.0)


def test_callback_ack_is_the_conventional_answer() -> None:
    assert orjson.loads(callback_ack()) == {"ResultCode": 0, "ResultDesc": "Accepted"}


# --- the result-code table -------------------------------------------------------------------

DOC_CODES = {
    "0": "succeeded",
    **dict.fromkeys(
        ["1", "2", "3", "4", "8", "17", "1025", "1032", "2001", "2028", "8006", "SFC_IC0003"],
        "failed",
    ),
    **dict.fromkeys(["26", "1001", "9999"], "failed"),
    "1037": "expired",
    "1019": "expired",
}


def test_result_table_holds_exactly_the_doc_codes() -> None:
    assert {code: outcome for code, (outcome, _) in STK_RESULTS.items()} == DOC_CODES


def test_every_result_has_a_plain_message() -> None:
    assert all(len(message) > 20 for _, message in STK_RESULTS.values())


@pytest.mark.parametrize("code", ["4999", "", "1033", "0000"])
def test_an_unknown_code_is_still_pending(code: str) -> None:
    assert stk_outcome(code) == ("pending", f"Unrecognised M-Pesa result code {code}")


# --- callbacks ---------------------------------------------------------------------------------


def test_doc_success_callback() -> None:
    result = parse_stk_callback(DOC_SUCCESS)
    assert result.outcome == "succeeded"
    assert result.result_code == "0"
    assert result.checkout_request_id == "ws_CO_191220191020363925"
    assert result.merchant_request_id == "29115-34620561-1"
    assert result.amount == 1
    assert result.receipt == "NLJ7RT61SV"
    assert result.phone == "254708374149"
    assert result.transaction_date == "20191219102115"
    assert result.message == STK_RESULTS["0"][1]


def test_success_with_balance_without_value_in_any_order() -> None:
    items = [
        {"Name": "PhoneNumber", "Value": 254708374149},
        {"Name": "Balance"},
        {"Name": "TransactionDate", "Value": 20191219102115},
        {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
        {"Name": "Amount", "Value": 150.0},
    ]
    result = parse_stk_callback(stk_callback(CallbackMetadata={"Item": items}))
    assert (result.amount, result.receipt, result.phone) == (150, "NLJ7RT61SV", "254708374149")


def test_success_with_missing_items_keeps_what_is_there() -> None:
    meta = {"Item": [{"Name": "Amount", "Value": 10}]}
    result = parse_stk_callback(stk_callback(CallbackMetadata=meta))
    assert (result.amount, result.receipt, result.phone, result.transaction_date) == (
        10,
        None,
        None,
        None,
    )


def test_a_single_item_collapsed_to_an_object_is_tolerated() -> None:
    meta = {"Item": {"Name": "MpesaReceiptNumber", "Value": "QAB1CD2EF3"}}
    assert parse_stk_callback(stk_callback(CallbackMetadata=meta)).receipt == "QAB1CD2EF3"


def test_doc_failure_callback() -> None:
    result = parse_stk_callback(DOC_FAILURE)
    assert result.outcome == "failed"
    assert result.result_code == "1032"
    assert result.result_desc == "Request cancelled by user"
    assert result.amount is None
    assert result.receipt is None


def test_old_stk_cb_prefix_is_removed() -> None:
    body = stk_callback(ResultCode=1032, ResultDesc="[STK_CB - ]Request cancelled by user")
    result = parse_stk_callback(body)
    assert result.result_desc == "Request cancelled by user"
    assert result.outcome == "failed"


def test_non_numeric_result_code() -> None:
    result = parse_stk_callback(stk_callback(ResultCode="SFC_IC0003", ResultDesc="x"))
    assert (result.result_code, result.outcome) == ("SFC_IC0003", "failed")


@pytest.mark.parametrize(("code", "outcome"), [("0", "succeeded"), (" 1037 ", "expired")])
def test_result_code_as_a_string(code: str, outcome: str) -> None:
    assert parse_stk_callback(stk_callback(ResultCode=code)).outcome == outcome


def test_the_code_wins_over_a_contradicting_description() -> None:
    # doc §5: a 2024 capture pairs 1032 with a success text.
    body = stk_callback(
        ResultCode=1032, ResultDesc="The service request is processed successfully."
    )
    assert parse_stk_callback(body).outcome == "failed"


def test_unknown_callback_code_is_pending() -> None:
    result = parse_stk_callback(stk_callback(ResultCode=4999))
    assert (result.outcome, result.message) == ("pending", "Unrecognised M-Pesa result code 4999")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "Body.stkCallback"),
        (b'{"Body": {}}', "Body.stkCallback"),
        (b'{"Result": {"ResultCode": 0}}', "Body.stkCallback"),
        (b'{"Body": {"stkCallback": "x"}}', "Body.stkCallback"),
        (stk_callback(ResultCode=None), "ResultCode"),
        (stk_callback(ResultCode=True), "ResultCode"),
        (stk_callback(CheckoutRequestID=None), "CheckoutRequestID"),
        (stk_callback(MerchantRequestID=7), "MerchantRequestID"),
        (stk_callback(CallbackMetadata={"Item": "x"}), "Item"),
        (stk_callback(CallbackMetadata={"Item": [{"Name": "Amount", "Value": 1.5}]}), "whole"),
        (stk_callback(CallbackMetadata={"Item": [{"Name": "Amount", "Value": "abc"}]}), "Amount"),
        (stk_callback(CallbackMetadata={"Item": [{"Name": "Amount", "Value": [1]}]}), "Amount"),
        (
            stk_callback(CallbackMetadata={"Item": [{"Name": "MpesaReceiptNumber", "Value": 5}]}),
            "MpesaReceiptNumber",
        ),
    ],
)
def test_malformed_callbacks_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedCallback, match=reason):
        parse_stk_callback(body)


def test_malformed_callback_is_a_value_error() -> None:
    assert issubclass(MalformedCallback, ValueError)


# --- error envelopes (doc §3) ------------------------------------------------------------------


def envelope(status: int, code: str, message: str) -> HttpResponse:
    body = {"requestId": "1c5b-4ba8-815c-ac45c57a3db01495926", "errorCode": code}
    return HttpResponse(status, orjson.dumps({**body, "errorMessage": message}))


ENVELOPES = [
    (404, "404.001.03", "Invalid Access Token", "invalid_token"),
    (401, "401.002.01", "Error Occurred - Invalid Access Token - abc123", "invalid_token"),
    (400, "400.003.01", "Invalid Access Token", "invalid_token"),
    (429, "500.003.02", "Error Occurred: Spike Arrest Violation", "retriable"),
    (503, "500.003.02", "System is busy. Please try again in few minutes.", "retriable"),
    (500, "500.003.02", "System is busy. Please try again in few minutes.", "retriable"),
    (500, "500.003.03", "Quota Violation", "retriable"),
    (400, "400.002.02", "Bad Request - Invalid PhoneNumber", "rejected"),
    (400, "400.002.02", "Bad Request - Invalid Amount", "rejected"),
    (400, "400.002.05", "Invalid Request Payload", "rejected"),
    (400, "400.003.02", "Bad Request", "rejected"),
    (400, "400.008.01", "Invalid Authentication passed", "rejected"),
    (400, "400.008.02", "Invalid grant type passed", "rejected"),
    (500, "500.001.1001", "Merchant does not exist", "rejected"),
    (500, "500.001.1001", "Wrong credentials", "rejected"),
    (
        500,
        "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
        "rejected",
    ),
    (404, "404.001.01", "Resource not found", "rejected"),
    (404, "404.001.04", "Invalid Authentication Header", "rejected"),
    (405, "405.001", "Method Not Allowed", "rejected"),
    (500, "500.003.1001", "Internal Server Error", "unknown"),
    (500, "500.002.1001", "System internal error.", "unknown"),
    (500, "500.001.1001", "The transaction is being processed", "unknown"),
    (502, "999.999.99", "Something new", "unknown"),
]


@pytest.mark.parametrize(("status", "code", "message", "kind"), ENVELOPES)
def test_every_error_envelope_maps_to_its_kind(
    status: int, code: str, message: str, kind: str
) -> None:
    error = parse_error(envelope(status, code, message))
    assert (error.kind, error.code, error.http_status) == (kind, code, status)


def test_a_token_echoed_in_an_error_is_redacted() -> None:
    error = parse_error(
        envelope(401, "401.002.01", "Error Occurred - Invalid Access Token - abc123")
    )
    assert "abc123" not in error.message
    assert error.message == "Error Occurred - Invalid Access Token - ***"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, b"", "rejected"),  # wrong key/secret on OAuth (doc §2)
        (429, b"", "retriable"),
        (503, b"<html>busy</html>", "retriable"),
        (500, b"", "unknown"),
        (502, b"<html>bad gateway</html>", "unknown"),
        (504, b"", "unknown"),
        (500, b'{"fault": "x"}', "unknown"),
    ],
)
def test_bare_answers_map_by_status(status: int, body: bytes, kind: str) -> None:
    error = parse_error(HttpResponse(status, body))
    assert (error.kind, error.code) == (kind, "")
    assert error.message.startswith(f"HTTP {status} with")
    assert b"html" not in error.message.encode()  # a body never leaks into the message
