"""Bill Manager and Ratiba wire formats, with the providers' documented samples."""

from __future__ import annotations

from datetime import date

import orjson
import pytest

from connectors.mpesa import billmanager as bm
from connectors.mpesa import ratiba

# Bill Manager docs, payment push (section "Payment push").
DOC_PUSH = {
    "transactionId": "RJB53MYR1N",
    "paidAmount": "5000",
    "msisdn": "254722000000",
    "dateCreated": "2021-10-01",
    "accountReference": "BC001",
    "shortCode": "456545",
}


def test_invoice_body_is_the_documented_one() -> None:
    order = bm.InvoiceOrder(
        "INV-2042", "John Doe", "0722000000", "August 2021", "Water", date(2021, 10, 12),
        "G70", 80_000, (("Water", 70_000), ("Meter rent", 10_000)),
    )  # fmt: skip
    assert order.body() == {
        "externalReference": "INV-2042",
        "billedFullName": "John Doe",
        "billedPhoneNumber": "0722000000",
        "billedPeriod": "August 2021",
        "invoiceName": "Water",
        "dueDate": "2021-10-12",
        "accountReference": "G70",
        "amount": "800",
        "invoiceItems": [
            {"itemName": "Water", "amount": "700"},
            {"itemName": "Meter rent", "amount": "100"},
        ],
    }
    assert bm.bulk_body([order]) == [order.body()]
    with pytest.raises(ValueError, match="1000"):
        bm.bulk_body([])
    with pytest.raises(ValueError, match="whole"):
        bm.InvoiceOrder("X", "A", "07", "p", "n", date(2021, 1, 1), "A", 150).body()


def test_optin_uses_lower_case_shortcode_and_callbackurl() -> None:
    body = bm.OptIn("718003", "b@example.co.ke", "0710000000", True, "https://x/bm").body()
    assert body["shortcode"] == "718003"
    assert body["callbackurl"] == "https://x/bm"
    assert body["sendReminders"] == "1"
    assert bm.local_phone("254722000000") == "0722000000"


@pytest.mark.parametrize(
    ("status", "body", "ok", "code"),
    [
        (200, {"app_key": "AG_1", "resmsg": "Success", "rescode": "200"}, True, "200"),
        (
            200,
            {"Status_Message": "partially or fully paid invoices cannot be cancelled.",
             "resmsg": "Conflict", "rescode": "409", "errors": []},
            False, "409",
        ),
        (409, {"resmsg": "Conflict", "rescode": "409"}, False, "409"),
        (504, {"fault": {"faultstring": "Gateway Timeout"}}, False, "504"),
        (401, {"errorCode": "401", "errorMessage": "Unauthorized"}, False, "401"),
    ],
)  # fmt: skip
def test_answers_are_read_by_rescode(status: int, body: object, ok: bool, code: str) -> None:
    answer = bm.parse_answer(status, orjson.dumps(body))
    assert (answer.ok, answer.code) == (ok, code)
    assert answer.message


def test_push_parses_and_refuses_junk() -> None:
    push = bm.parse_push(orjson.dumps(DOC_PUSH))
    assert (push.transaction_id, push.paid_minor, push.shortcode) == (
        "RJB53MYR1N",
        500_000,
        "456545",
    )
    for bad in (b"nope", b"[]", orjson.dumps({**DOC_PUSH, "paidAmount": "x"})):
        with pytest.raises(bm.MalformedPush):
            bm.parse_push(bad)
    assert orjson.loads(bm.push_ack()) == {"resmsg": "Success", "rescode": "200"}


def order(frequency: str = "monthly") -> ratiba.StandingOrderRequest:
    return ratiba.StandingOrderRequest(
        "Phone loan", date(2024, 9, 5), date(2025, 9, 5), "174379", False, 450_000,
        "254708374149", "https://example.co.ke/r", "LOAN-0001-EXTRA", "Loan instalment",
        frequency,  # type: ignore[arg-type]
    )  # fmt: skip


def test_ratiba_request_is_the_2025_generation() -> None:
    body = order().body()
    assert body["TransactionType"] == "Standing Order Customer Pay Bill"
    assert body["ReceiverPartyIdentifierType"] == "4"
    assert (body["StartDate"], body["Amount"], body["Frequency"]) == ("20240905", "4500", "4")
    assert len(body["AccountReference"]) == 12
    assert len(body["TransactionDesc"]) == 13
    with pytest.raises(ValueError, match="2025"):
        order("biweekly").body()
    assert ratiba.frequency_of("4") == "monthly"
    assert ratiba.frequency_of("4", later=True) == "biweekly"


def test_ratiba_synchronous_answers() -> None:
    accepted = {
        "ResponseHeader": {"responseRefID": "4dd9", "responseCode": "200",
                           "responseDescription": "Request accepted for processing"},
        "ResponseBody": {"responseCode": "200"},
    }  # fmt: skip
    assert ratiba.parse_accepted(200, orjson.dumps(accepted)).ok
    sandbox = {"requestRefId": "8f38", "responseMessage": "Value in field 'BusinessShortCode'",
               "responseCode": 400}  # fmt: skip
    refused = ratiba.parse_accepted(400, orjson.dumps(sandbox))
    assert (refused.ok, refused.code) == (False, "400")


def test_ratiba_callbacks_read_both_casings() -> None:
    ok = {
        "responseHeader": {"responseRefID": "06aa", "requestRefID": "06aa", "responseCode": "0",
                           "responseDescription": "Standing order created successfully"},
        "responseBody": {"responseData": [
            {"name": "TransactionID", "value": "2571168"}, {"name": "ResponseCode", "value": "0"},
            {"name": "Status", "value": "OKAY"}, {"name": "Msisdn", "value": "*********867"}]},
    }  # fmt: skip
    fail = {
        "ResponseHeader": {"responseRefID": "4dd9", "requestRefID": "c8c2",
                           "responseCode": "1037", "responseDescription": "Error"},
        "ResponseBody": {"ResponseData": [
            {"Name": "TransactionID", "Value": "0000000000"},
            {"Name": "responseCode", "Value": "1037"},
            {"Name": "Status", "Value": "ERROR"}, {"Name": "RunNumber", "Value": "3"}]},
    }  # fmt: skip
    good = ratiba.parse_callback(orjson.dumps(ok))
    assert (good.ok, good.transaction_id, good.run) == (True, "2571168", None)
    bad = ratiba.parse_callback(orjson.dumps(fail))
    assert (bad.ok, bad.code, bad.request_ref_id, bad.run) == (False, "1037", "c8c2", 3)
    with pytest.raises(ratiba.MalformedRatiba):
        ratiba.parse_callback(b'{"responseHeader": {}}')
