"""DarajaConnector: requests it builds and answers it parses, with MockTransport for the flow."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from connectors.http import HttpRequest, HttpResponse
from connectors.mpesa import (
    AccessToken,
    DarajaAccount,
    DarajaConnector,
    ProviderError,
    StkAccepted,
    StkPending,
    StkPushOrder,
    StkResult,
    password,
)
from connectors.transport import MockTransport

PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
NOW = datetime(2021, 6, 28, 6, 24, 8, tzinfo=UTC)  # 09:24:08 in Nairobi
TS = "20210628092408"
ACCOUNT = DarajaAccount(
    base_url="https://sandbox.safaricom.co.ke/",
    consumer_key="key-123",
    consumer_secret="secret-456",
    shortcode="174379",
    passkey=PASSKEY,
)
ORDER = StkPushOrder(150, "254712345678", "INV0001", "Order 1", "https://example.co.ke/hooks/stk")

# doc §4, synchronous acknowledgement.
DOC_ACCEPTED = {
    "MerchantRequestID": "2654-4b64-97ff-b827b542881d3130",
    "CheckoutRequestID": "ws_CO_1007202409152617172396192",
    "ResponseCode": "0",
    "ResponseDescription": "Success. Request accepted for processing",
    "CustomerMessage": "Success. Request accepted for processing",
}
# doc §5, final state reached (note the three "s" and the string ResultCode).
DOC_QUERY_FINAL = {
    "ResponseCode": "0",
    "ResponseDescription": "The service request has been accepted successsfully",
    "MerchantRequestID": "22205-34066-1",
    "CheckoutRequestID": "ws_CO_13012021093521236557",
    "ResultCode": "1032",
    "ResultDesc": "Request cancelled by user",
}
# doc §5, while the customer has not acted.
DOC_QUERY_PENDING = {
    "requestId": "ws_CO_20022018230142206",
    "errorCode": "500.001.1001",
    "errorMessage": "The transaction is being processed",
}


def answer(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(payload), {"Content-Type": "application/json"})


@pytest.fixture
def daraja() -> DarajaConnector:
    return DarajaConnector(ACCOUNT, timeout=7.5)


def body_of(request: HttpRequest) -> dict[str, Any]:
    assert request.body is not None
    loaded: dict[str, Any] = orjson.loads(request.body)
    return loaded


# --- account -------------------------------------------------------------------------------------


def test_account_repr_keeps_secrets_out() -> None:
    text = repr(ACCOUNT)
    assert "secret-456" not in text
    assert "key-123" not in text
    assert PASSKEY not in text
    assert "174379" in text


@pytest.mark.parametrize(
    "change",
    [{"shortcode": "1743"}, {"shortcode": "abc123"}, {"transaction_type": "PayBill"}],
)
def test_account_refuses_bad_settings(change: dict[str, str]) -> None:
    fields = {
        "base_url": "https://x",
        "consumer_key": "k",
        "consumer_secret": "s",
        "shortcode": "174379",
        "passkey": "p",
        **change,
    }
    with pytest.raises(ValueError, match=r"shortcode|transaction_type"):
        DarajaAccount(**fields)


# --- OAuth -------------------------------------------------------------------------------------


def test_token_request_is_a_basic_auth_get(daraja: DarajaConnector) -> None:
    request = daraja.token_request()
    assert request.method == "GET"
    assert request.url == (
        "https://sandbox.safaricom.co.ke/oauth/v1/generate?grant_type=client_credentials"
    )
    scheme, encoded = request.headers["Authorization"].split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded) == b"key-123:secret-456"
    assert request.body is None
    assert request.timeout == 7.5


@pytest.mark.parametrize("expires_in", ["3599", 3599, 3599.0])
def test_token_expiry_keeps_a_safety_margin(daraja: DarajaConnector, expires_in: Any) -> None:
    resp = answer(200, {"access_token": "c9SQxWWhmdVRlyh0zh8gZDTkubVF", "expires_in": expires_in})
    token = daraja.parse_token(resp, now=1_000.0)
    assert token == AccessToken("c9SQxWWhmdVRlyh0zh8gZDTkubVF", 1_000.0 + 3599 - 60)


def test_token_without_expires_in_assumes_the_documented_hour(daraja: DarajaConnector) -> None:
    token = daraja.parse_token(answer(200, {"access_token": "abc"}), now=0.0)
    assert token == AccessToken("abc", 3540.0)


def test_a_very_short_token_life_never_goes_negative(daraja: DarajaConnector) -> None:
    token = daraja.parse_token(answer(200, {"access_token": "a", "expires_in": "30"}), now=5.0)
    assert token == AccessToken("a", 5.0)


def test_wrong_credentials_give_a_rejection(daraja: DarajaConnector) -> None:
    error = daraja.parse_token(HttpResponse(400, b""), now=0.0)
    assert error == ProviderError("rejected", "", "HTTP 400 with an empty body", 400)


@pytest.mark.parametrize(
    "payload",
    [{}, {"access_token": ""}, {"access_token": "a", "expires_in": "soon"}, ["a"], "x"],
)
def test_a_garbled_token_answer_is_retriable(daraja: DarajaConnector, payload: Any) -> None:
    error = daraja.parse_token(answer(200, payload), now=0.0)
    assert isinstance(error, ProviderError)
    assert error.kind == "retriable"


# --- STK push ----------------------------------------------------------------------------------


def test_stk_push_request_matches_the_doc(daraja: DarajaConnector) -> None:
    request = daraja.stk_push_request("tok-1", ORDER, NOW)
    assert request.method == "POST"
    assert request.url == "https://sandbox.safaricom.co.ke/mpesa/stkpush/v1/processrequest"
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.timeout == 7.5
    assert body_of(request) == {
        "BusinessShortCode": 174379,
        "Password": password("174379", PASSKEY, TS),
        "Timestamp": TS,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 150,
        "PartyA": "254712345678",
        "PartyB": "174379",
        "PhoneNumber": "254712345678",
        "CallBackURL": "https://example.co.ke/hooks/stk",
        "AccountReference": "INV0001",
        "TransactionDesc": "Order 1",
    }


def test_buy_goods_sends_the_till_as_party_b() -> None:
    till = DarajaAccount(
        "https://x", "k", "s", "174379", "p", "CustomerBuyGoodsOnline", party_b="5123456"
    )
    body = body_of(DarajaConnector(till).stk_push_request("t", ORDER, NOW))
    assert (body["TransactionType"], body["PartyB"]) == ("CustomerBuyGoodsOnline", "5123456")


def test_longest_allowed_reference_and_description_pass(daraja: DarajaConnector) -> None:
    order = StkPushOrder(1, "254112345678", "A" * 12, "D" * 13, "https://x.test/cb")
    body = body_of(daraja.stk_push_request("t", order, NOW))
    assert (body["AccountReference"], body["TransactionDesc"]) == ("A" * 12, "D" * 13)


@pytest.mark.parametrize(
    ("reference", "description", "field"),
    [("A" * 13, "ok", "AccountReference"), ("ok", "D" * 14, "TransactionDesc")],
)
def test_over_long_fields_are_guarded(
    daraja: DarajaConnector, reference: str, description: str, field: str
) -> None:
    order = StkPushOrder(1, "254712345678", reference, description, "https://x.test/cb")
    with pytest.raises(ValueError, match=field):
        daraja.stk_push_request("t", order, NOW)


def test_doc_acknowledgement_is_accepted(daraja: DarajaConnector) -> None:
    assert daraja.parse_stk_push(answer(200, DOC_ACCEPTED)) == StkAccepted(
        merchant_request_id="2654-4b64-97ff-b827b542881d3130",
        checkout_request_id="ws_CO_1007202409152617172396192",
        customer_message="Success. Request accepted for processing",
    )


def err(code: str, message: str) -> dict[str, str]:
    return {"requestId": "r", "errorCode": code, "errorMessage": message}


@pytest.mark.parametrize(
    ("status", "payload", "kind"),
    [
        (404, err("404.001.03", "Invalid Access Token"), "invalid_token"),
        (400, err("400.002.02", "Bad Request - Invalid PhoneNumber"), "rejected"),
        (500, err("500.001.1001", "Wrong credentials"), "rejected"),
        (503, err("500.003.02", "System is busy. Please try again in few minutes."), "retriable"),
        (500, err("500.003.1001", "Internal Server Error"), "unknown"),
        (200, {**DOC_ACCEPTED, "ResponseCode": "1"}, "unknown"),
        (200, {**DOC_ACCEPTED, "CheckoutRequestID": None}, "unknown"),
        (200, [], "unknown"),
    ],
)
def test_push_answers_that_are_not_an_acceptance(
    daraja: DarajaConnector, status: int, payload: Any, kind: str
) -> None:
    result = daraja.parse_stk_push(answer(status, payload))
    assert isinstance(result, ProviderError)
    assert (result.kind, result.http_status) == (kind, status)


def test_an_empty_200_to_a_push_is_unknown(daraja: DarajaConnector) -> None:
    result = daraja.parse_stk_push(HttpResponse(200, b""))
    assert isinstance(result, ProviderError)
    assert result.kind == "unknown"


# --- STK query ---------------------------------------------------------------------------------


def test_stk_query_request_matches_the_doc(daraja: DarajaConnector) -> None:
    request = daraja.stk_query_request("tok-2", "ws_CO_1", NOW)
    assert request.url == "https://sandbox.safaricom.co.ke/mpesa/stkpushquery/v1/query"
    assert request.headers["Authorization"] == "Bearer tok-2"
    assert body_of(request) == {
        "BusinessShortCode": "174379",
        "Password": password("174379", PASSKEY, TS),
        "Timestamp": TS,
        "CheckoutRequestID": "ws_CO_1",
    }


def test_doc_query_answer_with_a_string_result_code(daraja: DarajaConnector) -> None:
    result = daraja.parse_stk_query(answer(200, DOC_QUERY_FINAL))
    assert isinstance(result, StkResult)
    assert (result.result_code, result.outcome) == ("1032", "failed")
    assert result.checkout_request_id == "ws_CO_13012021093521236557"
    assert (result.amount, result.receipt, result.phone) == (None, None, None)


def test_query_success(daraja: DarajaConnector) -> None:
    payload = {**DOC_QUERY_FINAL, "ResultCode": "0", "ResultDesc": "The service request is ..."}
    result = daraja.parse_stk_query(answer(200, payload))
    assert isinstance(result, StkResult)
    assert result.outcome == "succeeded"


def test_query_being_processed_is_pending(daraja: DarajaConnector) -> None:
    resp = answer(500, DOC_QUERY_PENDING)
    assert daraja.parse_stk_query(resp) == StkPending("ws_CO_20022018230142206")
    assert daraja.parse_stk_query(resp, checkout_request_id="ws_CO_x") == StkPending("ws_CO_x")


def test_query_accepted_without_a_result_is_pending(daraja: DarajaConnector) -> None:
    payload = {k: v for k, v in DOC_QUERY_FINAL.items() if not k.startswith("Result")}
    assert daraja.parse_stk_query(answer(200, payload)) == StkPending("ws_CO_13012021093521236557")


@pytest.mark.parametrize(
    ("status", "code", "message", "kind"),
    [
        (400, "400.002.02", "Bad Request - Invalid CheckoutRequestID", "rejected"),
        (500, "500.001.1001", "Wrong credentials", "rejected"),
        (404, "404.001.03", "Invalid Access Token", "invalid_token"),
        (429, "500.003.02", "Error Occurred: Spike Arrest Violation", "retriable"),
        (500, "500.003.1001", "Internal Server Error", "unknown"),
    ],
)
def test_query_errors(
    daraja: DarajaConnector, status: int, code: str, message: str, kind: str
) -> None:
    result = daraja.parse_stk_query(answer(status, err(code, message)))
    assert isinstance(result, ProviderError)
    assert result.kind == kind


def test_a_query_200_without_ids_is_unknown(daraja: DarajaConnector) -> None:
    result = daraja.parse_stk_query(answer(200, {"ResultCode": "0"}))
    assert isinstance(result, ProviderError)
    assert result.kind == "unknown"


# --- a whole flow through the transport seam ---------------------------------------------------


class FakeDaraja:
    """Answers like Daraja: pending on the first query, the doc's final answer afterwards."""

    def __init__(self) -> None:
        self.queries = 0

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        if "/oauth/" in request.url:
            return answer(200, {"access_token": "tok-9", "expires_in": "3599"})
        if request.url.endswith("/processrequest"):
            return answer(200, DOC_ACCEPTED)
        self.queries += 1
        if self.queries == 1:
            return answer(500, DOC_QUERY_PENDING)
        return answer(200, {**DOC_QUERY_FINAL, "ResultCode": "0"})


async def test_token_push_and_queries_through_mock_transport(daraja: DarajaConnector) -> None:
    transport = MockTransport(FakeDaraja())
    token = daraja.parse_token(await transport.send(daraja.token_request()), now=0.0)
    assert isinstance(token, AccessToken)
    accepted = daraja.parse_stk_push(
        await transport.send(daraja.stk_push_request(token.value, ORDER, NOW))
    )
    assert isinstance(accepted, StkAccepted)
    cid = accepted.checkout_request_id
    first = daraja.stk_query_request(token.value, cid, NOW)
    pending = daraja.parse_stk_query(await transport.send(first), checkout_request_id=cid)
    assert pending == StkPending(cid)
    final = daraja.parse_stk_query(await transport.send(first))
    assert isinstance(final, StkResult)
    assert final.outcome == "succeeded"
    assert [r.method for r in transport.sent] == ["GET", "POST", "POST", "POST"]
    assert all(r.headers["Authorization"] == "Bearer tok-9" for r in transport.sent[1:])
