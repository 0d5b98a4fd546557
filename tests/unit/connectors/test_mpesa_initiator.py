"""Initiator APIs with recorded payloads: SecurityCredential, B2C v3, Transaction Status, Reversal,
Account Balance. Every sample marked "doc §N" is copied from Daraja's documentation (tags:
connectors/mpesa/transformers.py)."""

from __future__ import annotations

import base64
import copy
from datetime import datetime
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from connectors.http import HttpRequest, HttpResponse
from connectors.mpesa import (
    B2C_RESULTS,
    EAT,
    REVERSAL_RESULTS,
    Account,
    B2cAccepted,
    B2cOrder,
    BalanceQuery,
    DarajaAccount,
    DarajaConnector,
    InitiatorAccepted,
    MalformedCallback,
    MalformedResult,
    ProviderError,
    ReversalOrder,
    StatusQuery,
    b2c_result,
    parse_account_balance,
    parse_accounts,
    parse_b2c_result,
    parse_initiator_ack,
    parse_result,
    parse_reversal_result,
    parse_transaction_status,
    security_credential,
)
from connectors.mpesa.results import cents, completed_time, public_name
from connectors.mpesa.simulator.sandbox import KEY_PATH, certificate_pem
from tests.unit.connectors.samples import MPESA_B2C_REQUEST

CERT = certificate_pem()
ACCOUNT = DarajaAccount(
    base_url="https://sandbox.safaricom.co.ke",
    consumer_key="key-123",
    consumer_secret="secret-456",
    shortcode="600984",
    passkey="p",
    initiator_name="apiop1",
    initiator_password="Op3r@tor#1",
    certificate_pem=CERT,
    b2c_shortcode="600992",
)


def decrypt(credential: str) -> str:
    key: Any = serialization.load_pem_private_key(KEY_PATH.read_bytes(), None)
    plain: bytes = key.decrypt(base64.b64decode(credential), padding.PKCS1v15())
    return plain.decode()


def body_of(request: HttpRequest) -> dict[str, Any]:
    assert request.body is not None
    loaded: dict[str, Any] = orjson.loads(request.body)
    return loaded


def order(**change: Any) -> B2cOrder:
    fields: dict[str, Any] = {
        "originator_conversation_id": "payout-2024-000123",
        "command_id": "BusinessPayment",
        "amount": 10,
        "phone": "254712345678",
        "remarks": "Loan disbursement",
        "occasion": "April",
        "result_url": "https://example.co.ke/b2c/result",
        "queue_timeout_url": "https://example.co.ke/b2c/timeout",
        **change,
    }
    return B2cOrder(**fields)


def result_body(**result: Any) -> bytes:
    return orjson.dumps({"Result": result})


# --- SecurityCredential (doc §7) ---------------------------------------------------------------


def test_security_credential_is_rsa_pkcs1v15_base64() -> None:
    first = security_credential("Op3r@tor#1", CERT)
    second = security_credential("Op3r@tor#1", CERT)
    assert first != second  # randomised padding: every credential differs, all are valid
    assert decrypt(first) == decrypt(second) == "Op3r@tor#1"
    assert len(base64.b64decode(first)) == 256  # one RSA-2048 block


def test_security_credential_accepts_a_bare_public_key() -> None:
    public = x509.load_pem_x509_certificate(CERT).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert decrypt(security_credential("pw", pem)) == "pw"


def test_security_credential_refuses_something_else() -> None:
    with pytest.raises(ValueError, match=r"."):
        security_credential("pw", b"-----BEGIN NOTHING-----\n")


def test_connector_encrypts_once_and_keeps_secrets_out_of_repr() -> None:
    daraja = DarajaConnector(ACCOUNT)
    assert daraja.security_credential() == daraja.security_credential()
    text = repr(ACCOUNT)
    assert "Op3r@tor#1" not in text
    assert "BEGIN CERTIFICATE" not in text
    assert "apiop1" in text


def test_initiator_requests_need_initiator_settings() -> None:
    bare = DarajaConnector(
        DarajaAccount("https://x", "k", "s", "174379", "p")  # an STK-only account still works
    )
    with pytest.raises(ValueError, match="initiator"):
        bare.b2c_request("t", order())


def test_account_refuses_a_bad_b2c_shortcode() -> None:
    with pytest.raises(ValueError, match="b2c_shortcode"):
        DarajaAccount("https://x", "k", "s", "174379", "p", b2c_shortcode="12")


# --- B2C order and request (doc §8) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"amount": 9}, "amount"),
        ({"amount": 250_001}, "amount"),
        ({"amount": 10.0}, "amount"),
        ({"amount": True}, "amount"),
        ({"phone": "0712345678"}, "phone"),
        ({"remarks": "x"}, "remarks"),
        ({"remarks": "x" * 101}, "remarks"),
        ({"occasion": ""}, "occasion"),
        ({"command_id": "Payout"}, "command_id"),
        ({"originator_conversation_id": " "}, "originator_conversation_id"),
    ],
)
def test_b2c_order_validates(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        order(**change)


def test_b2c_order_limits_are_inclusive() -> None:
    assert order(amount=10).amount == 10
    assert order(amount=250_000, occasion=None).occasion is None


def test_b2c_request_matches_the_doc_sample() -> None:
    request = DarajaConnector(ACCOUNT, timeout=6.0).b2c_request("tok", order())
    assert request.url == "https://sandbox.safaricom.co.ke/mpesa/b2c/v3/paymentrequest"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.timeout == 6.0
    body = body_of(request)
    credential = body.pop("SecurityCredential")
    assert decrypt(credential) == "Op3r@tor#1"
    assert body == {k: v for k, v in MPESA_B2C_REQUEST.items() if k != "SecurityCredential"}


def test_b2c_without_occasion_sends_an_empty_one_and_falls_back_to_the_shortcode() -> None:
    # No b2c_shortcode: a "one account" pays from its own shortcode (doc §8 note).
    account = DarajaAccount(
        "https://x",
        "k",
        "s",
        "600984",
        "p",
        initiator_name="op",
        initiator_password="pw",
        certificate_pem=CERT,
    )
    body = body_of(DarajaConnector(account).b2c_request("t", order(occasion=None)))
    assert (body["Occassion"], body["PartyA"]) == ("", "600984")


# --- Acknowledgements (doc §7, §3) -------------------------------------------------------------

DOC_ACK = {
    "OriginatorConversationID": "5118-111210482-1",
    "ConversationID": "AG_20230420_2010759fd5662ef6d054",
    "ResponseCode": "0",
    "ResponseDescription": "Accept the service request successfully.",
}


def answer(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(payload))


def test_ack_from_the_doc() -> None:
    assert parse_initiator_ack(answer(200, DOC_ACK)) == InitiatorAccepted(
        "AG_20230420_2010759fd5662ef6d054",
        "5118-111210482-1",
        "Accept the service request successfully.",
    )
    assert B2cAccepted is InitiatorAccepted


def test_ack_with_a_numeric_response_code() -> None:
    accepted = DarajaConnector(ACCOUNT).parse_b2c_ack(answer(200, {**DOC_ACK, "ResponseCode": 0}))
    assert isinstance(accepted, B2cAccepted)


def test_duplicate_originator_conversation_id_is_its_own_kind() -> None:
    duplicate = {
        "requestId": "1c5b-4ba8-815c-ac45c57a3db01495926",
        "errorCode": "500.002.1001",
        "errorMessage": "Duplicate OriginatorConversationID.",
    }
    error = DarajaConnector(ACCOUNT).parse_b2c_ack(answer(500, duplicate))
    assert error == ProviderError(
        "duplicate", "500.002.1001", "Duplicate OriginatorConversationID.", 500
    )
    internal = {**duplicate, "errorMessage": "System internal error."}
    error = parse_initiator_ack(answer(500, internal))
    assert isinstance(error, ProviderError)
    assert error.kind == "unknown"  # same code, other meaning (doc §3)


@pytest.mark.parametrize(
    ("status", "payload", "kind", "code"),
    [
        (
            401,
            {
                "errorCode": "401.002.01",
                "errorMessage": "Error Occurred - Invalid Access Token - x1",
            },
            "invalid_token",
            "401.002.01",
        ),
        (
            400,
            {"errorCode": "400.003.01", "errorMessage": "Invalid Access Token"},
            "invalid_token",
            "400.003.01",
        ),
        (
            400,
            {"errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid InitiatorName"},
            "rejected",
            "400.002.02",
        ),
        (
            500,
            {"errorCode": "500.003.02", "errorMessage": "Spike Arrest Violation"},
            "retriable",
            "500.003.02",
        ),
        (200, {"ResponseCode": "1", "ResponseDescription": "odd"}, "unknown", "1"),
        (200, {"ResponseCode": "0"}, "unknown", "0"),  # no ConversationID: not a clean acceptance
        (504, None, "unknown", ""),
    ],
)
def test_ack_refusals(status: int, payload: Any, kind: str, code: str) -> None:
    error = parse_initiator_ack(answer(status, payload))
    assert isinstance(error, ProviderError)
    assert (error.kind, error.code) == (kind, code)
    assert "x1" not in error.message


# --- The Result envelope (doc §7, §8) ----------------------------------------------------------

DOC_B2C_SUCCESS: dict[str, Any] = {
    "Result": {
        "ResultType": 0,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "OriginatorConversationID": "payout-2024-000123",
        "ConversationID": "AG_20240706_2010364430d9bbdaf872",
        "TransactionID": "SG632NMUAB",
        "ResultParameters": {
            "ResultParameter": [
                {"Key": "TransactionAmount", "Value": 10},
                {"Key": "TransactionReceipt", "Value": "SG632NMUAB"},
                {"Key": "ReceiverPartyPublicName", "Value": "254712345678 - JANE WANJIKU DOE"},
                {"Key": "TransactionCompletedDateTime", "Value": "06.07.2024 22:48:52"},
                {"Key": "B2CUtilityAccountAvailableFunds", "Value": 8959269.60},
                {"Key": "B2CWorkingAccountAvailableFunds", "Value": 1199371.00},
                {"Key": "B2CRecipientIsRegisteredCustomer", "Value": "Y"},
                {"Key": "B2CChargesPaidAccountAvailableFunds", "Value": -1980.00},
            ]
        },
        "ReferenceData": {
            "ReferenceItem": {
                "Key": "QueueTimeoutURL",
                "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit",
            }
        },
    }
}
DOC_B2C_FAILURE: dict[str, Any] = {
    "Result": {
        "ResultType": 0,
        "ResultCode": 2001,
        "ResultDesc": "The initiator information is invalid.",
        "OriginatorConversationID": "payout-2024-000124",
        "ConversationID": "AG_20240707_201062f6f6f5804f7a33",
        "TransactionID": "SG722NMVXQ",
        "ReferenceData": {
            "ReferenceItem": {
                "Key": "QueueTimeoutURL",
                "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit",
            }
        },
    }
}


def test_doc_b2c_success() -> None:
    result = parse_b2c_result(orjson.dumps(DOC_B2C_SUCCESS))
    assert (result.outcome, result.result_code, result.receipt) == ("succeeded", "0", "SG632NMUAB")
    assert (result.amount_cents, result.receiver_phone) == (1_000, "254712345678")
    assert result.receiver_name == "JANE WANJIKU DOE"
    assert result.completed_at == datetime(2024, 7, 6, 22, 48, 52, tzinfo=EAT)
    assert result.utility_balance_cents == 895_926_960
    assert result.working_balance_cents == 119_937_100
    assert result.charges_paid_balance_cents == -198_000
    assert result.recipient_registered is True
    assert (result.originator_conversation_id, result.conversation_id) == (
        "payout-2024-000123",
        "AG_20240706_2010364430d9bbdaf872",
    )


def test_doc_b2c_failure_has_no_receipt() -> None:
    result = parse_b2c_result(orjson.dumps(DOC_B2C_FAILURE))
    assert (result.outcome, result.result_code, result.receipt) == ("failed", "2001", None)
    assert result.amount_cents is None
    assert "password" in result.message


def test_envelope_normalisation() -> None:
    result = parse_result(orjson.dumps(DOC_B2C_SUCCESS))
    assert (result.result_type, result.is_final) == ("0", True)
    assert result.parameters["TransactionAmount"] == 10
    assert result.reference_items == {
        "QueueTimeoutURL": "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit"
    }
    assert len(result.parameter_list) == 8


def test_single_result_parameter_object_and_reference_item_array() -> None:
    # B2B failure sample: one parameter collapsed to an object; B2B success: an array of refs.
    body = result_body(
        ResultType="0",
        ResultCode="2001",
        ResultDesc="The initiator information is invalid.",
        OriginatorConversationID="12337-23509183-5",
        ConversationID="AG_20200120_0000657265d5fa9ae5c0",
        TransactionID="OAK0000000",
        ResultParameters={"ResultParameter": {"Key": "BOCompletedTime", "Value": 20200120164825}},
        ReferenceData={
            "ReferenceItem": [
                {"Key": "BillReferenceNumber", "Value": "19008"},
                {"Key": "QueueTimeoutURL", "Value": "https://x/queue"},
                {"Key": "Occasion"},
            ]
        },
    )
    result = parse_result(body)
    assert result.parameters == {"BOCompletedTime": 20200120164825}
    assert result.reference_items == {
        "BillReferenceNumber": "19008",
        "QueueTimeoutURL": "https://x/queue",
        "Occasion": None,  # a Key without Value (doc §7)
    }
    assert (result.result_type, result.result_code) == ("0", "2001")


@pytest.mark.parametrize(("code", "expected"), [(0, "0"), ("0", "0"), (2001, "2001"), (" 1 ", "1")])
def test_codes_as_numbers_or_strings(code: Any, expected: str) -> None:
    doc = copy.deepcopy(DOC_B2C_FAILURE)
    doc["Result"]["ResultCode"] = code
    assert parse_b2c_result(orjson.dumps(doc)).result_code == expected


def test_amounts_as_strings_are_fine() -> None:
    doc = copy.deepcopy(DOC_B2C_SUCCESS)
    doc["Result"]["ResultParameters"]["ResultParameter"][0]["Value"] = "10.00"
    doc["Result"]["ResultParameters"]["ResultParameter"][4]["Value"] = "8959269.60"
    result = parse_b2c_result(orjson.dumps(doc))
    assert (result.amount_cents, result.utility_balance_cents) == (1_000, 895_926_960)


def test_missing_values_and_parameters_are_tolerated() -> None:
    doc = copy.deepcopy(DOC_B2C_SUCCESS)
    params = doc["Result"]["ResultParameters"]["ResultParameter"]
    doc["Result"]["ResultParameters"]["ResultParameter"] = [
        {"Key": "TransactionAmount"},  # no Value
        params[1],
    ]
    result = parse_b2c_result(orjson.dumps(doc))
    assert (result.receipt, result.amount_cents, result.receiver_name) == ("SG632NMUAB", None, None)
    assert (result.utility_balance_cents, result.completed_at, result.recipient_registered) == (
        None,
        None,
        None,
    )


def test_a_success_without_receipt_parameter_uses_the_transaction_id() -> None:
    doc = copy.deepcopy(DOC_B2C_SUCCESS)
    del doc["Result"]["ResultParameters"]
    assert parse_b2c_result(orjson.dumps(doc)).receipt == "SG632NMUAB"


def test_result_type_1_is_still_pending() -> None:
    doc = copy.deepcopy(DOC_B2C_SUCCESS)
    doc["Result"]["ResultType"] = 1
    result = parse_b2c_result(orjson.dumps(doc))
    assert (result.outcome, result.receipt) == ("pending", None)


def test_b2c_table_holds_every_doc_code() -> None:
    doc_codes = {"0", "1", "2", "3", "4", "8", "11", "21", "2001", "2006", "2028", "2040", "8006"}
    assert doc_codes | {"SFC_IC0003"} <= set(B2C_RESULTS)
    assert {code for code, (o, _) in B2C_RESULTS.items() if o == "succeeded"} == {"0"}
    assert all(message.strip() for _, message in B2C_RESULTS.values())


@pytest.mark.parametrize("code", ["15", "17", "19", "100000001", "SIM_QUEUE_TIMEOUT", "9999"])
def test_codes_that_do_not_say_what_happened_are_pending(code: str) -> None:
    doc = copy.deepcopy(DOC_B2C_FAILURE)
    doc["Result"]["ResultCode"] = code
    assert parse_b2c_result(orjson.dumps(doc)).outcome == "pending"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "no Result"),
        (b'{"Body": {}}', "no Result"),
        (result_body(ResultCode=0), "OriginatorConversationID"),
        (result_body(ConversationID="AG_1"), "ResultCode"),
        (result_body(ConversationID="AG_1", ResultCode=True), "ResultCode"),
        (
            result_body(
                ConversationID="AG_1", ResultCode=0, ResultParameters={"ResultParameter": 5}
            ),
            "ResultParameter",
        ),
    ],
)
def test_malformed_results(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedResult, match=reason):
        parse_result(body)


def test_malformed_result_is_a_malformed_callback() -> None:
    assert issubclass(MalformedResult, MalformedCallback)
    doc = copy.deepcopy(DOC_B2C_SUCCESS)
    doc["Result"]["ResultParameters"]["ResultParameter"][0]["Value"] = "ten"
    with pytest.raises(MalformedCallback, match="amount"):
        parse_b2c_result(orjson.dumps(doc))


def test_an_odd_value_shape_is_kept_as_text() -> None:
    body = result_body(
        ConversationID="AG_1",
        ResultCode=0,
        ResultParameters={"ResultParameter": [{"Key": "X", "Value": {"a": 1}}, {"Value": 1}]},
    )
    assert parse_result(body).parameters == {"X": '{"a":1}'}


# --- value helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(10, 1000), (8959269.6, 895926960), ("-1980.00", -198000), ("1,000.50", 100050), ("", None)],
)
def test_cents(value: Any, expected: int | None) -> None:
    assert cents(value) == expected


@pytest.mark.parametrize("value", ["abc", 0.001, "Infinity", "NaN"])
def test_cents_refuses_non_amounts(value: Any) -> None:
    with pytest.raises(MalformedResult):
        cents(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("254712345678 - JANE WANJIKU DOE", ("254712345678", "JANE WANJIKU DOE")),
        ("0712345678 - John Doe", ("0712345678", "John Doe")),
        ("254712345678-JANE", ("254712345678", "JANE")),
        ("JANE DOE", (None, "JANE DOE")),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_public_name(value: Any, expected: tuple[str | None, str | None]) -> None:
    assert public_name(value) == expected


def test_completed_time_reads_both_formats() -> None:
    at = datetime(2024, 7, 6, 22, 48, 52, tzinfo=EAT)
    assert completed_time("06.07.2024 22:48:52") == at
    assert completed_time(20240706224852) == at
    assert completed_time("yesterday") is None


# --- Transaction Status (doc §10) --------------------------------------------------------------

STATUS_PARAMETERS: list[dict[str, Any]] = [
    {"Key": "DebitPartyName", "Value": "600310 - Safaricom333"},
    {"Key": "DebitPartyName", "Value": "254708374149 - John Doe"},
    {"Key": "OriginatorConversationID", "Value": "3211-416020-3"},
    {"Key": "InitiatedTime", "Value": 20180223054112},
    {"Key": "DebitAccountType", "Value": "Utility Account"},
    {"Key": "DebitPartyCharges", "Value": "Fee For B2C Payment|KES|22.40"},
    {"Key": "TransactionReason"},
    {"Key": "ReasonType", "Value": "Business Payment to Customer via API"},
    {"Key": "TransactionStatus", "Value": "Completed"},
    {"Key": "FinalisedTime", "Value": 20180223054112},
    {"Key": "Amount", "Value": "300"},
    {"Key": "ConversationID", "Value": "AG_20180223_000041b09c22e613d6c9"},
    {"Key": "ReceiptNo", "Value": "MBN31H462N"},
]


def status_body(code: Any = 0, status: str | None = "Completed", **extra: Any) -> bytes:
    params = [p for p in STATUS_PARAMETERS if p["Key"] != "TransactionStatus"]
    if status is not None:
        params.append({"Key": "TransactionStatus", "Value": status})
    return result_body(
        ResultType=0,
        ResultCode=code,
        ResultDesc="The service request has been accepted successfully.",
        OriginatorConversationID="10816-694520-2",
        ConversationID="AG_20180223_000059c4a1cdd1b4d1cb",
        TransactionID="MBN0000000",
        ResultParameters={"ResultParameter": params},
        ReferenceData={"ReferenceItem": {"Key": "Occasion"}},
        **extra,
    )


def test_doc_transaction_status() -> None:
    status = parse_transaction_status(status_body())
    assert (status.lookup, status.outcome, status.status) == ("found", "succeeded", "Completed")
    assert (status.receipt, status.amount_cents) == ("MBN31H462N", 30_000)
    assert status.debit_party == "600310 - Safaricom333"
    assert status.credit_party == "254708374149 - John Doe"
    assert status.original_originator_conversation_id == "3211-416020-3"
    assert status.original_conversation_id == "AG_20180223_000041b09c22e613d6c9"
    assert status.initiated_at == datetime(2018, 2, 23, 5, 41, 12, tzinfo=EAT)
    assert status.reason_type == "Business Payment to Customer via API"
    assert status.query_conversation_id == "AG_20180223_000059c4a1cdd1b4d1cb"


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("Completed", "succeeded"),
        ("Cancelled", "failed"),
        ("Declined", "failed"),
        ("Expired", "expired"),
        ("Initiated", "pending"),
        ("Authorized", "pending"),
        ("Pending", "pending"),
        ("Reversed", "pending"),
        (None, "pending"),
    ],
)
def test_transaction_status_lifecycle(value: str | None, outcome: str) -> None:
    status = parse_transaction_status(status_body(status=value))
    assert (status.lookup, status.outcome) == ("found", outcome)


@pytest.mark.parametrize(
    ("code", "lookup"),
    [
        ("2032", "not_found"),
        (2001, "failed"),
        ("21", "failed"),
        ("17", "pending"),
        ("X1", "pending"),
    ],
)
def test_a_status_query_that_did_not_find_says_nothing_about_the_money(
    code: Any, lookup: str
) -> None:
    status = parse_transaction_status(status_body(code=code))
    assert (status.lookup, status.outcome) == (lookup, "pending")


def test_status_query_request_by_receipt_or_conversation() -> None:
    daraja = DarajaConnector(ACCOUNT)
    query = StatusQuery("https://x/r", "https://x/t", transaction_id="NEF61H8J60")
    request = daraja.transaction_status_request("tok", query)
    assert request.url.endswith("/mpesa/transactionstatus/v1/query")
    body = body_of(request)
    assert decrypt(body.pop("SecurityCredential")) == "Op3r@tor#1"
    assert body == {
        "Initiator": "apiop1",
        "CommandID": "TransactionStatusQuery",
        "TransactionID": "NEF61H8J60",
        "PartyA": "600992",
        "IdentifierType": "4",
        "ResultURL": "https://x/r",
        "QueueTimeOutURL": "https://x/t",
        "Remarks": "OK",
        "Occasion": "",
    }
    by_id = StatusQuery("https://x/r", "https://x/t", original_conversation_id="payout-1")
    body = body_of(daraja.transaction_status_request("tok", by_id))
    assert body["OriginalConversationID"] == "payout-1"
    assert "TransactionID" not in body
    with pytest.raises(ValueError, match="transaction_id"):
        StatusQuery("https://x/r", "https://x/t")
    with pytest.raises(ValueError, match="shortcode"):
        StatusQuery("https://x/r", "https://x/t", transaction_id="A", party_a="1")


# --- Reversal (doc §11) ------------------------------------------------------------------------


def test_reversal_request_uses_the_misspelt_field() -> None:
    daraja = DarajaConnector(ACCOUNT)
    order = ReversalOrder("PDU91HIVIT", 200, "https://x/r", "https://x/t", receiver_party="603021")
    request = daraja.reversal_request("tok", order)
    assert request.url.endswith("/mpesa/reversal/v1/request")
    body = body_of(request)
    body.pop("SecurityCredential")
    assert body == {
        "Initiator": "apiop1",
        "CommandID": "TransactionReversal",
        "TransactionID": "PDU91HIVIT",
        "Amount": "200",
        "ReceiverParty": "603021",
        "RecieverIdentifierType": "11",
        "ResultURL": "https://x/r",
        "QueueTimeOutURL": "https://x/t",
        "Remarks": "Payment reversal",
        "Occasion": "",
    }
    default = ReversalOrder("PDU91HIVIT", 200, "https://x/r", "https://x/t")
    assert body_of(daraja.reversal_request("t", default))["ReceiverParty"] == "600984"


def test_reversal_success() -> None:
    body = result_body(
        ResultType=0,
        ResultCode=0,
        ResultDesc="The service request is processed successfully.",
        OriginatorConversationID="f1e2-4b95-a71d-b30d3cdbb7a7942864",
        ConversationID="AG_20240706_20106e9209f64bebd05b",
        TransactionID="SG651O7VTO",
        ResultParameters={
            "ResultParameter": [
                {
                    "Key": "DebitAccountBalance",
                    "Value": "Utility Account|KES|7722179.62|7722179.62|0.00|0.00",
                },
                {"Key": "Amount", "Value": 200.0},
                {"Key": "TransCompletedTime", "Value": 20240706111524},
                {"Key": "OriginalTransactionID", "Value": "PDU91HIVIT"},
                {"Key": "Charge", "Value": 0.0},
                {"Key": "CreditPartyPublicName", "Value": "254708374149 - John Doe"},
                {"Key": "DebitPartyPublicName", "Value": "603021 - Org"},
            ]
        },
        ReferenceData={"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": "https://x"}},
    )
    reversal = parse_reversal_result(body)
    assert (reversal.outcome, reversal.reversal_receipt) == ("succeeded", "SG651O7VTO")
    assert (reversal.original_transaction_id, reversal.amount_cents) == ("PDU91HIVIT", 20_000)
    assert reversal.debit_account == Account(
        "Utility Account", "KES", 772_217_962, (772_217_962, 0, 0)
    )
    assert reversal.completed_at == datetime(2024, 7, 6, 11, 15, 24, tzinfo=EAT)
    assert (reversal.credit_party_name, reversal.charge_cents) == ("254708374149 - John Doe", 0)


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("R000001", "failed"),
        ("R000002", "failed"),
        (1, "failed"),
        (11, "failed"),
        (2006, "failed"),
        ("26", "failed"),
        ("17", "pending"),
    ],
)
def test_reversal_codes(code: Any, outcome: str) -> None:
    body = result_body(
        ResultCode=code, ResultDesc="x", ConversationID="AG_1", TransactionID="OAK0000000"
    )
    reversal = parse_reversal_result(body)
    assert (reversal.outcome, reversal.reversal_receipt) == (outcome, None)


def test_reversal_table_holds_the_doc_codes() -> None:
    doc = {"0", "R000001", "R000002", "1", "11", "21", "2001", "2006", "2028", "8006"}
    assert doc <= set(REVERSAL_RESULTS)


# --- Account Balance (doc §12) -----------------------------------------------------------------

DOC_BALANCE = (
    "Working Account|KES|700000.00|700000.00|0.00|0.00&Float Account|KES|0.00|0.00|0.00|0.00"
    "&Utility Account|KES|228037.00|228037.00|0.00|0.00&Charges Paid Account|KES|-1540.00|"
    "-1540.00|0.00|0.00&Organization Settlement Account|KES|0.00|0.00|0.00|0.00"
)


def test_doc_account_balance_string() -> None:
    accounts = parse_accounts(DOC_BALANCE)
    assert [a.name for a in accounts] == [
        "Working Account",
        "Float Account",
        "Utility Account",
        "Charges Paid Account",
        "Organization Settlement Account",
    ]
    assert accounts[2] == Account("Utility Account", "KES", 22_803_700, (22_803_700, 0, 0))
    assert accounts[3].available_cents == -154_000


def test_account_balance_result_with_string_codes() -> None:
    body = result_body(
        ResultType="0",
        ResultCode="0",
        ResultDesc="The service request is processed successfully.",
        OriginatorConversationID="16917-22577599-3",
        ConversationID="AG_20200206_00005e091a8ec6b9eac5",
        TransactionID="OB641GN5TE",
        ResultParameters={
            "ResultParameter": [
                {"Key": "AccountBalance", "Value": DOC_BALANCE},
                {"Key": "BOCompletedTime", "Value": 20200109125710},
            ]
        },
        ReferenceData={"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": "https://x"}},
    )
    balance = parse_account_balance(body)
    assert balance.outcome == "succeeded"
    utility = balance.account("UTILITY ACCOUNT")
    assert utility is not None
    assert utility.available_cents == 22_803_700
    assert balance.account("Nothing") is None
    assert balance.completed_at == datetime(2020, 1, 9, 12, 57, 10, tzinfo=EAT)


def test_account_balance_failure_has_no_accounts() -> None:
    body = result_body(ResultCode="2001", ResultDesc="x", ConversationID="AG_1")
    balance = parse_account_balance(body)
    assert (balance.outcome, balance.accounts) == ("failed", ())


@pytest.mark.parametrize("text", ["Working Account|KES", "Working Account|KES|abc"])
def test_bad_account_strings(text: str) -> None:
    with pytest.raises(MalformedResult):
        parse_accounts(text)


def test_account_balance_request() -> None:
    daraja = DarajaConnector(ACCOUNT)
    request = daraja.account_balance_request("tok", BalanceQuery("https://x/r", "https://x/t"))
    assert request.url.endswith("/mpesa/accountbalance/v1/query")
    body = body_of(request)
    body.pop("SecurityCredential")
    assert body == {
        "Initiator": "apiop1",
        "CommandID": "AccountBalance",
        "PartyA": "600992",
        "IdentifierType": "4",
        "Remarks": "Balance",
        "QueueTimeOutURL": "https://x/t",
        "ResultURL": "https://x/r",
    }


def test_b2c_result_from_an_already_parsed_envelope() -> None:
    envelope = parse_result(orjson.dumps(DOC_B2C_SUCCESS))
    assert b2c_result(envelope) == parse_b2c_result(orjson.dumps(DOC_B2C_SUCCESS))
