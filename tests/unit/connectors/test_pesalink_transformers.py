"""PesaLink wire types and mappings: the status table, reasons, amounts, phones, names, errors,
orders and the one transfer-result parser (answer, enquiry and callback)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from connectors.http import HttpResponse
from connectors.pesalink import (
    REASONS,
    STATE_CODES,
    TRANSFER_STATUSES,
    MalformedCallback,
    ProviderError,
    TransferOrder,
    callback_ack,
    classify_error,
    format_amount,
    names_match,
    normalise_msisdn,
    parse_amount,
    parse_callback,
    transfer_outcome,
)
from connectors.pesalink.transformers import (
    code_number,
    envelope_data,
    mask_account,
    national_msisdn,
    parse_error,
    read_only,
    transfer_from_data,
)

# The transfer object as the simulator (and, for transactionId/status, doc §3.1) shows it.
DATA: dict[str, Any] = {
    "transactionId": "000000403777",
    "reference": "po_s1_01HZX",
    "status": "FAILED",
    "stateCode": 1,
    "reasonCode": "AC04",
    "reasonDescription": "ClosedAccountNumber",
    "amount": "500.00",
    "currencyCode": "KES",
    "destination": {"type": "bank", "bankCode": "57", "accountNumber": "99901288715910"},
    "date": "2023-10-11T10:00:00+03:00",
    "completedAt": "2023-10-11T10:00:01+03:00",
}


# --- the status table ---------------------------------------------------------------------------


def test_every_status_maps_to_one_of_three_outcomes() -> None:
    assert {outcome for outcome, _ in TRANSFER_STATUSES.values()} == {
        "succeeded",
        "failed",
        "pending",
    }
    assert all(message.endswith(".") for _, message in TRANSFER_STATUSES.values())


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("SUCCESS", "succeeded"),
        ("success", "succeeded"),
        ("ACSC", "succeeded"),
        ("FAILED", "failed"),
        ("RJCT", "failed"),
        ("PENDING", "pending"),
        ("ACSP", "pending"),
        ("REVERSED", "pending"),  # not in the table: not explicitly final, hence pending
        ("", "pending"),
    ],
)
def test_transfer_outcome(status: str, outcome: str) -> None:
    assert transfer_outcome(status)[0] == outcome


def test_a_failure_speaks_its_reason() -> None:
    assert transfer_outcome("FAILED", "AC04") == ("failed", REASONS["AC04"])
    outcome, message = transfer_outcome("FAILED", "ZZ99")
    assert outcome == "failed" and message.endswith("(reason ZZ99)")
    # A reason never turns a success into anything else.
    assert transfer_outcome("SUCCESS", "AC04") == TRANSFER_STATUSES["SUCCESS"]


def test_state_codes_point_into_the_table() -> None:
    assert set(STATE_CODES.values()) <= set(TRANSFER_STATUSES)


# --- the transfer object ------------------------------------------------------------------------


def test_transfer_from_data_reads_every_field() -> None:
    result = transfer_from_data(DATA)
    assert result.end_to_end_id == "po_s1_01HZX"
    assert (result.outcome, result.status, result.reason_code) == ("failed", "FAILED", "AC04")
    assert result.message == REASONS["AC04"]
    assert (result.amount_cents, result.bank_code, result.account) == (
        50_000,
        "57",
        "99901288715910",
    )
    assert result.transaction_id == "000000403777"
    assert result.completed_at == "2023-10-11T10:00:01+03:00"


def test_state_code_stands_in_for_a_missing_status_word() -> None:
    data = {"reference": "r1", "stateCode": 2, "transactionId": 403777}
    result = transfer_from_data(data)
    assert (result.status, result.outcome, result.transaction_id) == (
        "SUCCESS",
        "succeeded",
        "403777",
    )
    odd = transfer_from_data({"reference": "r1", "stateCode": "7"})
    assert (odd.status, odd.outcome) == ("STATECODE 7", "pending")


def test_the_callers_reference_names_an_answer_without_one() -> None:
    assert transfer_from_data({"status": "PENDING"}, "r9").end_to_end_id == "r9"
    with pytest.raises(MalformedCallback, match="reference"):
        transfer_from_data({"status": "PENDING"})


def test_a_bad_amount_breaks_the_contract() -> None:
    with pytest.raises(MalformedCallback, match="more than two decimals"):
        transfer_from_data({**DATA, "amount": "1.005"})


def test_a_reason_on_a_success_is_ignored() -> None:
    assert transfer_from_data({**DATA, "status": "SUCCESS"}).reason_code is None


def test_callback_uses_the_same_parser() -> None:
    body = orjson.dumps({"callbackType": "PesaLinkTransfer", "status": True, "data": DATA})
    assert parse_callback(body) == transfer_from_data(DATA)


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"data": []}', b'{"status": true}'])
def test_a_callback_without_a_transfer_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedCallback):
        parse_callback(body)


def test_callback_ack_is_a_success_envelope() -> None:
    assert orjson.loads(callback_ack()) == {"status": True, "code": 0, "message": "received"}


# --- envelopes and errors -----------------------------------------------------------------------


def test_envelope_data_needs_status_true_and_a_data_object() -> None:
    assert envelope_data({"status": True, "code": 0, "data": {"a": 1}}) == {"a": 1}
    assert envelope_data({"status": "true", "data": {"a": 1}}) is None
    assert envelope_data({"status": True, "data": None}) is None
    assert envelope_data(["status"]) is None


@pytest.mark.parametrize(
    ("http", "code", "kind"),
    [
        (401, "401101", "invalid_token"),
        (409, "409100", "duplicate"),
        (409, "", "duplicate"),
        (429, "429100", "retriable"),
        (503, "503100", "retriable"),
        (503, "", "retriable"),
        (400, "900100", "rejected"),
        (400, "400102", "rejected"),
        (401, "401100", "rejected"),
        (200, "104102", "rejected"),
        (404, "404101", "rejected"),
        (500, "500100", "unknown"),
        (502, "", "unknown"),
        (504, "504100", "unknown"),
        (200, "123456", "unknown"),
    ],
)
def test_classify_error(http: int, code: str, kind: str) -> None:
    assert classify_error(http, code) == kind


def test_parse_error_reads_the_envelope_and_describes_a_bare_answer() -> None:
    body = orjson.dumps(
        {"status": False, "code": 409100, "message": "Duplicate transaction reference"}
    )
    assert parse_error(HttpResponse(409, body)) == ProviderError(
        "duplicate", "409100", "Duplicate transaction reference", 409
    )
    assert parse_error(HttpResponse(502, b"")) == ProviderError(
        "unknown", "", "HTTP 502 with an empty body", 502
    )
    assert parse_error(HttpResponse(500, b"<html>")).message == (
        "HTTP 500 with an unrecognised body (6 bytes)"
    )


def test_read_only_calls_never_say_unknown() -> None:
    unknown = ProviderError("unknown", "500100", "boom", 500)
    assert read_only(unknown) == ProviderError("retriable", "500100", "boom", 500)
    rejected = ProviderError("rejected", "400100", "bad", 400)
    assert read_only(rejected) is rejected


def test_code_number() -> None:
    assert [code_number(v) for v in (0, -1, "409100", " 7 ", True, "1.5", "\u0661", None)] == [
        0,
        -1,
        409100,
        7,
        None,
        None,
        None,
        None,
    ]


# --- amounts, phones, names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "text"), [(50_000, "500.00"), (1, "0.01"), (99_999_900, "999999.00")]
)
def test_format_and_parse_amount(cents: int, text: str) -> None:
    assert format_amount(cents) == text
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    ("value", "cents"), [("500", 50_000), (500, 50_000), (500.5, 50_050), ("0.1", 10)]
)
def test_parse_amount_takes_numbers_and_strings(value: Any, cents: int) -> None:
    assert parse_amount(value) == cents


@pytest.mark.parametrize("value", ["1.001", "abc", "NaN", "Infinity", True, None, [1]])
def test_parse_amount_refuses_what_is_not_exact_money(value: Any) -> None:
    with pytest.raises(ValueError, match="amount"):
        parse_amount(value)


@pytest.mark.parametrize(
    "raw", ["0712345678", "+254712345678", "254712345678", "712345678", "0712 345-678"]
)
def test_msisdn_forms(raw: str) -> None:
    assert normalise_msisdn(raw) == "254712345678"
    assert national_msisdn(raw) == "0712345678"


@pytest.mark.parametrize(
    "raw", ["0612345678", "25471234567", "", "07123456789", "\u0660\u0667" + "1" * 8]
)
def test_msisdn_refusals(raw: str) -> None:
    with pytest.raises(ValueError, match="Kenyan mobile number"):
        normalise_msisdn(raw)


@pytest.mark.parametrize(
    ("given", "holder", "same"),
    [
        ("John Doe", "JOHN DOE", True),
        ("Doe, John", "JOHN DOE", True),
        ("  john   doe ", "John Doe", True),
        ("Zoë Wanjikũ", "ZOE WANJIKU", True),
        ("John", "JOHN DOE", False),
        ("John Doe Jr", "JOHN DOE", False),
    ],
)
def test_names_match(given: str, holder: str, same: bool) -> None:
    assert names_match(given, holder) is same


def test_mask_account() -> None:
    assert mask_account("0170197176640") == "*********6640"
    assert mask_account("123") == "123"


# --- orders -------------------------------------------------------------------------------------


def test_an_account_order_normalises_its_bank_code() -> None:
    order = TransferOrder.to_account("po_1", 50_000, "0057", "99901288715910", "Tom Doe")
    assert (order.bank_code, order.mode, order.phone) == ("57", "account", None)


def test_a_phone_order_normalises_its_phone_and_optional_bank() -> None:
    order = TransferOrder.to_phone("po_1", 50_000, "+254 712 345 678", "Jane", bank_code="1")
    assert (order.phone, order.bank_code, order.mode) == ("254712345678", "01", "phone")
    assert TransferOrder.to_phone("po_2", 1, "0712345678", "Jane").bank_code is None


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"end_to_end_id": "x" * 36}, "1-35"),
        ({"end_to_end_id": "has space"}, "1-35"),
        ({"amount_cents": 0}, "positive"),
        ({"amount_cents": 10.0}, "whole number"),
        ({"amount_cents": True}, "whole number"),
        ({"recipient_name": " "}, "recipient_name"),
        ({"recipient_name": "x" * 101}, "recipient_name"),
        ({"description": "x" * 101}, "description"),
        ({"bank_code": None}, "bank_code"),
        ({"bank_code": "39"}, "not on PesaLink"),
        ({"account_number": "12-34"}, "account_number"),
        ({"phone": "0712345678"}, "exactly one"),
        ({"account_number": None}, "exactly one"),
    ],
)
def test_orders_refuse_what_cannot_go_on_the_wire(change: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {
        "end_to_end_id": "po_1",
        "amount_cents": 50_000,
        "recipient_name": "Tom Doe",
        "description": "",
        "bank_code": "57",
        "account_number": "99901288715910",
        **change,
    }
    with pytest.raises(ValueError, match=match):
        TransferOrder(**fields)
