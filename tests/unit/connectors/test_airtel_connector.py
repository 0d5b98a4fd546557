"""AirtelConnector: requests it builds and answers it parses, with MockTransport for the flow.

Payloads are recorded from Airtel's Open API documentation (doc §N: see
connectors/airtel/transformers.py)."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from connectors.airtel import (
    AccessToken,
    AirtelAccount,
    AirtelConnector,
    CallbackHashMismatch,
    CollectionAccepted,
    CollectionOrder,
    DisbursementOrder,
    EncryptionKey,
    MalformedCallback,
    ProviderError,
    RefundResult,
    TransactionResult,
    callback_hash,
)
from connectors.airtel.simulator import decrypt_pin, public_key_b64, public_key_pem
from connectors.http import HttpRequest, HttpResponse
from connectors.transport import MockTransport
from tests.unit.connectors.samples import AIRTEL_PUSH_ACCEPTED as DOC_PUSH_ACCEPTED

BASE = "https://openapiuat.airtel.africa"
CALLBACK_KEY = "portal-private-key"
ACCOUNT = AirtelAccount(
    base_url=BASE + "/",
    client_id="client-123",
    client_secret="secret-456",
    pin="2580",
    public_key=public_key_b64(),
)
ORDER = CollectionOrder("ORD-20240607-0001", 10_000, "254733123456", "Order 1001")
PAYOUT = DisbursementOrder("PAYOUT-0001", 50_000, "733123456", "Loan 5521")

DOC_TOKEN: dict[str, Any] = {
    "access_token": "pQWBjnwY0gS04euamZVVl4zDWfE4Pqkp",
    "expires_in": "180",
    "token_type": "bearer",
}
# doc §5, enquiry success and failure.
DOC_ENQUIRY_SUCCESS: dict[str, Any] = {
    "data": {
        "transaction": {
            "airtel_money_id": "133410367531",
            "id": "ORD-20240607-0001",
            "message": "Your transaction has been successfully processed",
            "status": "TS",
        }
    },
    "status": {
        "code": "200",
        "message": "SUCCESS",
        "result_code": "ESB000010",
        "response_code": "DP00800001001",
        "success": True,
    },
}
DOC_ENQUIRY_FAILURE: dict[str, Any] = {
    "data": {
        "transaction": {
            "airtel_money_id": "C36XXXXXXX67",
            "id": "ORD-20240607-0002",
            "status": "TF",
        }
    },
    "status": {
        "response_code": "DP00800001005",
        "code": "200",
        "success": False,
        "message": "FAILED",
    },
}
# doc §7.
DOC_REFUND_REQUEST: dict[str, Any] = {"transaction": {"airtel_money_id": "133410367531"}}
DOC_REFUND_ANSWER: dict[str, Any] = {
    "data": {"transaction": {"airtel_money_id": "133410367531", "status": "SUCCESS"}},
    "status": {
        "code": "200",
        "message": "SUCCESS",
        "result_code": "ESB000010",
        "response_code": "DP00800001006",
        "success": True,
    },
}
# doc §8.
DOC_DISBURSEMENT_ANSWER: dict[str, Any] = {
    "data": {
        "transaction": {
            "reference_id": "133412377178",
            "airtel_money_id": "disburs-6EJL6CWF1D-ba1451ae-d96a-4393-b46c-b2a26cff71a3",
            "id": "PAYOUT-0001",
            "status": "TS",
        }
    },
    "status": {
        "code": "200",
        "message": "You have deposited KES 500 ... Trans ID: 133412387177 ...",
        "result_code": "ESB000010",
        "response_code": "DP00900001001",
        "success": True,
    },
}


def answer(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(payload), {"Content-Type": "application/json"})


def body_of(request: HttpRequest) -> dict[str, Any]:
    assert request.body is not None
    loaded: dict[str, Any] = orjson.loads(request.body)
    return loaded


@pytest.fixture
def airtel() -> AirtelConnector:
    return AirtelConnector(ACCOUNT, timeout=7.5)


def hashed(connector_key: str = CALLBACK_KEY, **account: Any) -> AirtelConnector:
    fields = {"base_url": BASE, "client_id": "c", "client_secret": "s", **account}
    return AirtelConnector(AirtelAccount(callback_key=connector_key, **fields))


# --- account -------------------------------------------------------------------------------------


def test_account_repr_keeps_secrets_out() -> None:
    account = AirtelAccount(
        BASE,
        "client-123",
        "secret-456",
        pin="2580",
        public_key=public_key_b64(),
        callback_key="hmac-key-789",
    )
    text = repr(account)
    for secret in ("secret-456", "2580", "hmac-key-789", public_key_b64()[:40]):
        assert secret not in text
    assert "client-123" in text


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"pin": "12345"}, "pin"),
        ({"pin_padding": "oaep-md5"}, "pin_padding"),
        ({"hash_form": "sorted"}, "hash_form"),
        ({"callback_key": ""}, "callback_key"),
    ],
)
def test_account_refuses_bad_settings(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AirtelAccount(BASE, "c", "s", **change)


# --- OAuth (doc §2) ------------------------------------------------------------------------------


def test_token_request_is_a_json_client_credentials_post(airtel: AirtelConnector) -> None:
    request = airtel.token_request()
    assert (request.method, request.url) == ("POST", BASE + "/auth/oauth2/token")
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    assert body_of(request) == {
        "client_id": "client-123",
        "client_secret": "secret-456",
        "grant_type": "client_credentials",
    }
    assert request.timeout == 7.5


@pytest.mark.parametrize("expires_in", ["180", 180, 180.0])
def test_token_lives_three_minutes_less_a_margin(airtel: AirtelConnector, expires_in: Any) -> None:
    token = airtel.parse_token(answer(200, {**DOC_TOKEN, "expires_in": expires_in}), now=1_000.0)
    assert token == AccessToken("pQWBjnwY0gS04euamZVVl4zDWfE4Pqkp", 1_000.0 + 180 - 20)
    assert isinstance(token, AccessToken)
    assert token.is_valid(1_159.0) and not token.is_valid(1_160.0)
    assert "pQWB" not in repr(token)


def test_a_short_token_keeps_a_quarter_margin(airtel: AirtelConnector) -> None:
    token = airtel.parse_token(answer(200, {"access_token": "a", "expires_in": "8"}), now=0.0)
    assert token == AccessToken("a", 6.0)


def test_token_without_expires_in_assumes_180(airtel: AirtelConnector) -> None:
    assert airtel.parse_token(answer(200, {"access_token": "a"}), 0.0) == AccessToken("a", 160.0)


@pytest.mark.parametrize(
    "payload", [{}, {"access_token": ""}, {"access_token": "a", "expires_in": "soon"}, [1]]
)
def test_a_garbled_token_answer_is_retriable(airtel: AirtelConnector, payload: Any) -> None:
    error = airtel.parse_token(answer(200, payload), now=0.0)
    assert isinstance(error, ProviderError) and error.kind == "retriable"


def test_wrong_credentials_are_a_rejection(airtel: AirtelConnector) -> None:
    body = {"error": "invalid_client", "error_description": "Client authentication failed"}
    assert airtel.parse_token(answer(401, body), 0.0) == ProviderError(
        "rejected", "invalid_client", "Client authentication failed", 401
    )


# --- Collection push (doc §4) --------------------------------------------------------------------


def test_collection_request_matches_the_doc(airtel: AirtelConnector) -> None:
    request = airtel.collection_request("tok-1", ORDER)
    assert (request.method, request.url) == ("POST", BASE + "/merchant/v1/payments/")
    assert request.headers == {
        "Content-Type": "application/json",
        "Accept": "*/*",
        "Authorization": "Bearer tok-1",
        "X-Country": "KE",
        "X-Currency": "KES",
    }
    # The doc §4 sample, byte for byte in key order too.
    assert request.body == orjson.dumps(
        {
            "reference": "Order 1001",
            "subscriber": {"country": "KE", "currency": "KES", "msisdn": "733123456"},
            "transaction": {
                "amount": 100,
                "country": "KE",
                "currency": "KES",
                "id": "ORD-20240607-0001",
            },
        }
    )


def test_the_doc_acceptance_parses(airtel: AirtelConnector) -> None:
    assert airtel.parse_collection(answer(200, DOC_PUSH_ACCEPTED)) == CollectionAccepted(
        "ORD-20240607-0001", "SUCCESS", "DP00800001006", "SUCCESS"
    )


def test_an_acceptance_with_id_false_and_success_dot(airtel: AirtelConnector) -> None:
    body = {**DOC_PUSH_ACCEPTED, "data": {"transaction": {"id": False, "status": "Success."}}}
    accepted = airtel.parse_collection(answer(200, body))
    assert accepted == CollectionAccepted(None, "Success.", "DP00800001006", "SUCCESS")


def test_an_older_acceptance_without_response_code(airtel: AirtelConnector) -> None:
    status = {"code": "200", "message": "SUCCESS", "result_code": "ESB000010", "success": True}
    accepted = airtel.parse_collection(answer(200, {"status": status}))
    assert isinstance(accepted, CollectionAccepted) and accepted.transaction_id is None


def test_success_with_an_odd_code_is_unknown(airtel: AirtelConnector) -> None:
    status = {**DOC_PUSH_ACCEPTED["status"], "response_code": "DP00800001008"}
    error = airtel.parse_collection(answer(200, {"status": status}))
    assert error == ProviderError("unknown", "DP00800001008", "SUCCESS", 200)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (
            400,
            {
                "status": {
                    "response_code": "DP00800001005",
                    "code": "400",
                    "success": False,
                    "message": "Msisdn Not Found",
                }
            },
            "rejected",
            "DP00800001005",
        ),
        (
            400,
            {
                "status": {
                    "code": "400",
                    "result_code": "ESB000041",
                    "success": False,
                    "message": "External Transaction ID already exists",
                }
            },
            "duplicate",
            "ESB000041",
        ),
        (
            401,
            {"error": "invalid_token", "error_description": "expired"},
            "invalid_token",
            "invalid_token",
        ),
        (
            400,
            {"status": {"code": "400", "result_code": "ROUTER003", "success": False}},
            "rejected",
            "ROUTER003",
        ),
        (
            500,
            {"status": {"code": "500", "result_code": "ESB000001", "success": False}},
            "unknown",
            "ESB000001",
        ),
        (
            503,
            {"status": {"code": "503", "success": False, "message": "Service Unavailable"}},
            "retriable",
            "",
        ),
        (429, {}, "retriable", ""),
        (
            200,
            {"status": {"code": "200", "success": False, "response_code": "DP00800001010"}},
            "rejected",
            "DP00800001010",
        ),
    ],
)
def test_push_refusals(
    airtel: AirtelConnector, status: int, body: Any, kind: str, code: str
) -> None:
    error = airtel.parse_collection(answer(status, body))
    assert isinstance(error, ProviderError)
    assert (error.kind, error.code, error.http_status) == (kind, code, status)


# --- Collection enquiry (doc §5) -----------------------------------------------------------------


def test_enquiry_request(airtel: AirtelConnector) -> None:
    request = airtel.collection_enquiry_request("tok", "pay_s3/odd id")
    assert (request.method, request.url) == (
        "GET",
        BASE + "/standard/v1/payments/pay_s3%2Fodd%20id",
    )
    assert request.body is None
    assert request.headers["X-Country"] == "KE" and request.headers["X-Currency"] == "KES"
    assert request.headers["Authorization"] == "Bearer tok"


def test_the_doc_enquiry_success_parses(airtel: AirtelConnector) -> None:
    result = airtel.parse_collection_enquiry(answer(200, DOC_ENQUIRY_SUCCESS), "ORD-20240607-0001")
    assert result == TransactionResult(
        transaction_id="ORD-20240607-0001",
        status="TS",
        outcome="succeeded",
        message="Paid: the customer completed the payment.",
        provider_message="Your transaction has been successfully processed",
        airtel_money_id="133410367531",
        response_code="DP00800001001",
    )


def test_the_doc_enquiry_failure_parses(airtel: AirtelConnector) -> None:
    result = airtel.parse_collection_enquiry(answer(200, DOC_ENQUIRY_FAILURE), "ORD-20240607-0002")
    assert isinstance(result, TransactionResult)
    assert (result.outcome, result.status, result.response_code) == (
        "failed",
        "TF",
        "DP00800001005",
    )
    assert "did not enter their PIN" in result.message


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        ("TIP", "DP00800001006", "pending"),
        ("TA", "DP00800001000", "pending"),
        ("TE", "DP00800001029", "failed"),
    ],
)
def test_enquiry_in_progress_and_expired(
    airtel: AirtelConnector, status: str, code: str, outcome: str
) -> None:
    body = {
        "data": {"transaction": {"id": "o-1", "status": status}},
        "status": {"code": "200", "response_code": code, "success": status != "TE"},
    }
    result = airtel.parse_collection_enquiry(answer(200, body), "o-1")
    assert isinstance(result, TransactionResult)
    assert (result.outcome, result.expired) == (outcome, status == "TE")


@pytest.mark.parametrize(
    ("http", "status"),
    [
        (
            404,
            {
                "code": "404",
                "result_code": "ESB000045",
                "response_code": "DP00800001025",
                "success": False,
                "message": "Transaction not found",
            },
        ),
        (200, {"code": "200", "response_code": "DP00800001025", "success": False}),
        (400, {"code": "400", "result_code": "ESB000045", "success": False}),
    ],
)
def test_enquiry_not_found_is_pending_and_says_so(
    airtel: AirtelConnector, http: int, status: dict[str, Any]
) -> None:
    result = airtel.parse_collection_enquiry(answer(http, {"status": status}), "o-9")
    assert isinstance(result, TransactionResult)
    assert (result.transaction_id, result.outcome, result.found) == ("o-9", "pending", False)


def test_an_enquiry_answer_about_another_id_is_not_trusted(airtel: AirtelConnector) -> None:
    error = airtel.parse_collection_enquiry(answer(200, DOC_ENQUIRY_SUCCESS), "ORD-OTHER")
    assert isinstance(error, ProviderError) and error.kind == "unknown"


def test_an_enquiry_without_echo_uses_our_id(airtel: AirtelConnector) -> None:
    body = {
        "data": {"transaction": {"status": "TS", "airtel_money_id": 1}},
        "status": {"response_code": "DP00800001001", "success": True},
    }
    result = airtel.parse_collection_enquiry(answer(200, body), "o-3")
    assert isinstance(result, TransactionResult)
    assert (result.transaction_id, result.airtel_money_id) == ("o-3", "1")


def test_enquiry_with_an_expired_token(airtel: AirtelConnector) -> None:
    error = airtel.parse_collection_enquiry(answer(401, {"error": "invalid_token"}), "o")
    assert isinstance(error, ProviderError) and error.kind == "invalid_token"


# --- Callback with and without hash (doc §6) -----------------------------------------------------

TXN = {
    "id": "o-1",
    "message": "Paid KES 100 to ACME LTD, Trans ID MP1.",
    "status_code": "TS",
    "airtel_money_id": "MP1",
}


def test_without_a_key_no_hash_is_needed(airtel: AirtelConnector) -> None:
    result = airtel.parse_callback(orjson.dumps({"transaction": TXN}))
    assert (result.outcome, result.airtel_money_id) == ("succeeded", "MP1")


def test_with_a_key_a_good_hash_passes() -> None:
    body = orjson.dumps({"transaction": TXN, "hash": callback_hash(TXN, CALLBACK_KEY)})
    assert hashed().parse_callback(body).outcome == "succeeded"


def test_with_a_key_the_configured_form_is_used() -> None:
    good = callback_hash(TXN, CALLBACK_KEY, "transaction_only")
    body = orjson.dumps({"transaction": TXN, "hash": good})
    assert hashed(hash_form="transaction_only").parse_callback(body).outcome == "succeeded"
    with pytest.raises(CallbackHashMismatch):
        hashed().parse_callback(body)


@pytest.mark.parametrize(
    "body",
    [
        {"transaction": TXN},
        {"transaction": TXN, "hash": ""},
        {"transaction": TXN, "hash": callback_hash(TXN, "other-key")},
        {"transaction": {**TXN, "status_code": "TF"}, "hash": callback_hash(TXN, CALLBACK_KEY)},
    ],
)
def test_with_a_key_a_missing_or_wrong_hash_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(CallbackHashMismatch):
        hashed().parse_callback(orjson.dumps(body))


def test_a_hash_mismatch_is_a_malformed_callback() -> None:
    assert issubclass(CallbackHashMismatch, MalformedCallback)
    with pytest.raises(MalformedCallback):
        hashed().parse_callback(b"nope")


# --- Refund (doc §7) -----------------------------------------------------------------------------


def test_refund_request_matches_the_doc(airtel: AirtelConnector) -> None:
    request = airtel.refund_request("tok", "133410367531")
    assert (request.method, request.url) == ("POST", BASE + "/standard/v1/payments/refund")
    assert body_of(request) == DOC_REFUND_REQUEST
    assert request.headers["X-Currency"] == "KES"
    with pytest.raises(ValueError, match="airtel_money_id"):
        airtel.refund_request("tok", "")


def test_the_doc_refund_answer_is_a_refund(airtel: AirtelConnector) -> None:
    result = airtel.parse_refund(answer(200, DOC_REFUND_ANSWER), "133410367531")
    assert result == RefundResult(
        airtel_money_id="133410367531",
        outcome="succeeded",
        status="SUCCESS",
        response_code="DP00800001006",
        message="Refunded: Airtel Money returned the full amount to the customer.",
        provider_message="SUCCESS",
    )


def test_success_false_with_message_success_is_not_a_refund(airtel: AirtelConnector) -> None:
    # doc §7: one portal copy pairs "success": false with "message": "SUCCESS".
    body = {**DOC_REFUND_ANSWER, "status": {**DOC_REFUND_ANSWER["status"], "success": False}}
    result = airtel.parse_refund(answer(200, body), "133410367531")
    assert isinstance(result, RefundResult) and result.outcome == "pending"


def test_a_refund_with_a_failure_code_failed(airtel: AirtelConnector) -> None:
    body = {
        "data": {"transaction": {"airtel_money_id": "1", "status": "TF"}},
        "status": {"response_code": "DP00800001008", "success": False},
    }
    result = airtel.parse_refund(answer(200, body), "1")
    assert isinstance(result, RefundResult) and result.outcome == "failed"


@pytest.mark.parametrize(
    ("http", "status", "kind"),
    [
        (
            404,
            {
                "result_code": "ESB000045",
                "response_code": "DP00800001025",
                "message": "Transaction not found",
            },
            "rejected",
        ),
        (
            400,
            {
                "result_code": "ESB000011",
                "response_code": "DP00800001008",
                "message": "Transaction already refunded",
            },
            "duplicate",
        ),
        (500, {"result_code": "ESB000001", "message": "Something went wrong"}, "unknown"),
    ],
)
def test_refund_refusals(
    airtel: AirtelConnector, http: int, status: dict[str, Any], kind: str
) -> None:
    error = airtel.parse_refund(answer(http, {"status": {**status, "success": False}}), "1")
    assert isinstance(error, ProviderError) and error.kind == kind


# --- Disbursement (doc §8) -----------------------------------------------------------------------


def test_disbursement_request_matches_the_doc(airtel: AirtelConnector) -> None:
    request = airtel.disbursement_request("tok", PAYOUT)
    assert (request.method, request.url) == ("POST", BASE + "/standard/v1/disbursements/")
    body = body_of(request)
    pin = body.pop("pin")
    assert body == {
        "payee": {"msisdn": "733123456"},
        "reference": "Loan 5521",
        "transaction": {"amount": 500, "id": "PAYOUT-0001"},
    }
    assert list(body_of(request)) == ["payee", "reference", "pin", "transaction"]
    assert decrypt_pin(pin, "pkcs1v15") == "2580"
    assert request.headers["X-Country"] == "KE"


def test_the_encrypted_pin_is_made_once(airtel: AirtelConnector) -> None:
    assert airtel.encrypted_pin() == airtel.encrypted_pin()


@pytest.mark.parametrize("mode", ["oaep-sha1", "oaep-sha256"])
def test_the_pin_follows_the_account_padding(mode: Any) -> None:
    account = AirtelAccount(
        BASE, "c", "s", pin="9999", public_key=public_key_pem().decode(), pin_padding=mode
    )
    assert decrypt_pin(AirtelConnector(account).encrypted_pin(), mode) == "9999"


def test_a_payout_without_pin_or_key_is_refused_before_the_wire() -> None:
    with pytest.raises(ValueError, match="pin/public_key"):
        AirtelConnector(AirtelAccount(BASE, "c", "s")).disbursement_request("t", PAYOUT)


def test_the_doc_disbursement_answer_is_paid(airtel: AirtelConnector) -> None:
    result = airtel.parse_disbursement(answer(200, DOC_DISBURSEMENT_ANSWER), "PAYOUT-0001")
    assert result == TransactionResult(
        transaction_id="PAYOUT-0001",
        status="TS",
        outcome="succeeded",
        message="Paid out: the money reached the recipient's wallet.",
        provider_message="",
        airtel_money_id="disburs-6EJL6CWF1D-ba1451ae-d96a-4393-b46c-b2a26cff71a3",
        response_code="DP00900001001",
        reference_id="133412377178",
    )


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        ("TF", "DP00900001007", "failed"),
        ("TF", "DP00900001012", "failed"),
        ("TIP", "DP00900001006", "pending"),
        ("TA", "DP00900001000", "pending"),
        ("TA", "DP00900001014", "pending"),
    ],
)
def test_disbursement_declines_and_pending_are_values(
    airtel: AirtelConnector, status: str, code: str, outcome: str
) -> None:
    body = {
        "data": {"transaction": {"id": "PAYOUT-0001", "status": status}},
        "status": {"code": "200", "response_code": code, "success": False},
    }
    result = airtel.parse_disbursement(answer(200, body), "PAYOUT-0001")
    assert isinstance(result, TransactionResult)
    assert (result.outcome, result.response_code) == (outcome, code)


@pytest.mark.parametrize(
    ("http", "status", "kind"),
    [
        (
            400,
            {"response_code": "DP00900001017", "message": "Duplicate transaction id"},
            "duplicate",
        ),
        (200, {"response_code": "DP00900001017"}, "duplicate"),
        (400, {"result_code": "ROUTER115", "message": "Incorrect PIN"}, "rejected"),
        (400, {"result_code": "ROUTER116", "message": "Encrypted value"}, "rejected"),
        (400, {"result_code": "ROUTER117"}, "unknown"),
        (200, {"response_code": "DP00900001007"}, "rejected"),  # no transaction: nothing paid
        (500, {}, "unknown"),
        (503, {}, "retriable"),
    ],
)
def test_disbursement_refusals(
    airtel: AirtelConnector, http: int, status: dict[str, Any], kind: str
) -> None:
    body = {"status": {**status, "success": False}}
    if http == 200 and status.get("response_code") == "DP00900001017":
        body["data"] = {"transaction": {"id": "PAYOUT-0001", "status": "TF"}}
    error = airtel.parse_disbursement(answer(http, body), "PAYOUT-0001")
    assert isinstance(error, ProviderError) and error.kind == kind


def test_disbursement_enquiry(airtel: AirtelConnector) -> None:
    request = airtel.disbursement_enquiry_request("tok", "PAYOUT-0001")
    assert request.url == BASE + "/standard/v1/disbursements/PAYOUT-0001"
    found = airtel.parse_disbursement_enquiry(answer(200, DOC_DISBURSEMENT_ANSWER), "PAYOUT-0001")
    assert isinstance(found, TransactionResult) and found.outcome == "succeeded"
    missing = {"status": {"response_code": "DP00900001015", "success": False}}
    result = airtel.parse_disbursement_enquiry(answer(404, missing), "PAYOUT-0002")
    assert isinstance(result, TransactionResult) and not result.found


# --- Encryption keys (doc §8) --------------------------------------------------------------------


def test_encryption_keys(airtel: AirtelConnector) -> None:
    request = airtel.encryption_keys_request("tok")
    assert (request.method, request.url) == ("GET", BASE + "/v1/rsa/encryption-keys")
    body = {
        "data": {"key_id": "k1", "key": public_key_b64(), "valid_upto": "2030-01-01"},
        "status": {"response_code": "DP02010001001", "success": True},
    }
    key = airtel.parse_encryption_keys(answer(200, body))
    assert key == EncryptionKey("k1", public_key_b64(), "2030-01-01")
    error = airtel.parse_encryption_keys(answer(200, {"data": {}}))
    assert isinstance(error, ProviderError)


# --- A whole flow through MockTransport ----------------------------------------------------------


async def test_collect_then_enquire_through_the_mock_transport(airtel: AirtelConnector) -> None:
    answers = {
        "/auth/oauth2/token": answer(200, DOC_TOKEN),
        "/merchant/v1/payments/": answer(200, DOC_PUSH_ACCEPTED),
        "/standard/v1/payments/ORD-20240607-0001": answer(200, DOC_ENQUIRY_SUCCESS),
    }

    async def handler(request: HttpRequest) -> HttpResponse:
        return answers[request.url.removeprefix(BASE)]

    transport = MockTransport(handler)
    token = airtel.parse_token(await transport.send(airtel.token_request()), time.time())
    assert isinstance(token, AccessToken)
    accepted = airtel.parse_collection(
        await transport.send(airtel.collection_request(token.value, ORDER))
    )
    assert isinstance(accepted, CollectionAccepted)
    result = airtel.parse_collection_enquiry(
        await transport.send(airtel.collection_enquiry_request(token.value, ORDER.transaction_id)),
        ORDER.transaction_id,
    )
    assert isinstance(result, TransactionResult) and result.outcome == "succeeded"
    assert [r.method for r in transport.sent] == ["POST", "POST", "GET"]
    assert all(
        r.headers["Authorization"] == "Bearer pQWBjnwY0gS04euamZVVl4zDWfE4Pqkp"
        for r in transport.sent[1:]
    )
