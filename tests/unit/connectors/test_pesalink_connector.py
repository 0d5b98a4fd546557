"""PesaLinkConnector: the requests it builds, the answers it parses, and a flow on MockTransport."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from connectors.http import HttpRequest, HttpResponse
from connectors.pesalink import (
    AccessToken,
    AccountInvalid,
    AccountName,
    DirectoryEntry,
    LinkedAccount,
    PesaLinkAccount,
    PesaLinkConnector,
    PhoneNotLinked,
    ProviderError,
    TransferNotFound,
    TransferOrder,
    TransferResult,
)
from connectors.pesalink import signature as sig
from connectors.pesalink.simulator.sandbox import PUBLIC_KEY_PEM, SIGNING_KEY_PEM
from connectors.transport import MockTransport
from tests.unit.connectors.samples import PESALINK_TRANSFER

BASE = "https://uat.finserve.africa"
ACCOUNT = PesaLinkAccount(
    base_url=BASE + "/",
    api_key="api-key-1",
    merchant_code="6146647020",
    consumer_secret="secret-1",
    signing_key_pem=SIGNING_KEY_PEM,
    source_account="0020100014605",
    source_name="John Doe",
)
NOW = datetime(2023, 10, 11, 21, 30, tzinfo=UTC)  # 00:30 on the 12th in Nairobi
ORDER = TransferOrder.to_account(
    "112194688993", 50_000, "57", "99901288715910", "Tom Doe", "Supplier payment"
)
PUBLIC = sig.load_public_key(PUBLIC_KEY_PEM)


@pytest.fixture
def bank() -> PesaLinkConnector:
    return PesaLinkConnector(ACCOUNT, timeout=7.0)


def answer(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(body))


def ok(data: dict[str, Any], code: int = 0) -> HttpResponse:
    return answer(200, {"status": True, "code": code, "message": "success", "data": data})


def error(status: int, code: int, message: str, data: dict[str, Any] | None = None) -> HttpResponse:
    body: dict[str, Any] = {"status": False, "code": code, "message": message}
    if data is not None:
        body["data"] = data
    return answer(status, body)


def signed_by_us(request: HttpRequest, *fields: str) -> bool:
    return sig.verify(PUBLIC, "".join(fields), request.headers["signature"])


def body(request: HttpRequest) -> Any:
    return orjson.loads(request.body or b"")


# --- secrets ------------------------------------------------------------------------------------


def test_secrets_stay_out_of_reprs() -> None:
    text = repr(ACCOUNT)
    assert "api-key-1" not in text and "secret-1" not in text and "PRIVATE" not in text
    assert "abc" not in repr(AccessToken("abc", 1.0))


def test_account_checks_its_source() -> None:
    with pytest.raises(ValueError, match="source_account"):
        PesaLinkAccount(BASE, "k", "m", "s", SIGNING_KEY_PEM, "00-20", "John")
    with pytest.raises(ValueError, match="source_name"):
        PesaLinkAccount(BASE, "k", "m", "s", SIGNING_KEY_PEM, "0020", " ")


# --- token --------------------------------------------------------------------------------------


def test_token_request(bank: PesaLinkConnector) -> None:
    request = bank.token_request()
    assert (request.method, request.url, request.timeout) == (
        "POST",
        BASE + "/authentication/api/v3/authenticate/merchant",
        7.0,
    )
    assert request.headers == {"Content-Type": "application/json", "Api-Key": "api-key-1"}
    assert body(request) == {"merchantCode": "6146647020", "consumerSecret": "secret-1"}


@pytest.mark.parametrize(
    ("fields", "lifetime"),
    [
        ({"expiresIn": "2024-03-22T10:53:06Z", "issuedAt": "2024-03-22T10:38:06Z"}, 900),
        ({"expiresIn": 3600}, 3600),
        ({"expiresIn": "3599"}, 3599),
        ({"expiresIn": "2024-03-22T10:53:06+00:00"}, 1_711_104_786 - 1_711_100_000),
        ({"expiresIn": "2024-03-22T10:53:06"}, 3600),  # no zone: could be anything, default
        ({"expiresIn": "soon"}, 3600),
        ({}, 3600),
    ],
)
def test_parse_token_lifetimes(
    bank: PesaLinkConnector, fields: dict[str, Any], lifetime: int
) -> None:
    resp = answer(200, {"accessToken": "tok", "tokenType": "Bearer", **fields})
    token = bank.parse_token(resp, now=1_711_100_000.0)
    assert token == AccessToken("tok", 1_711_100_000.0 + lifetime - 60)


def test_parse_token_refusals(bank: PesaLinkConnector) -> None:
    bad = error(401, 401100, "Invalid API key or merchant credentials")
    assert bank.parse_token(bad, 0.0) == ProviderError(
        "rejected", "401100", "Invalid API key or merchant credentials", 401
    )
    assert bank.parse_token(answer(200, {"tokenType": "Bearer"}), 0.0) == ProviderError(
        "retriable", "", "token answer without an accessToken", 200
    )
    assert bank.parse_token(HttpResponse(500, b""), 0.0).kind == "retriable"  # type: ignore[union-attr]


# --- account lookup -----------------------------------------------------------------------------


def test_account_lookup_request_is_signed_in_the_2_digit_form(bank: PesaLinkConnector) -> None:
    request = bank.account_lookup_request("tok", "0012", "0170197176640")
    assert request.url == BASE + "/v3-apis/transaction-api/v3.0/pesalink/accountLookup"
    assert request.headers["Authorization"] == "Bearer tok"
    assert body(request) == {
        "countryCode": "KE",
        "bankCode": "12",
        "accountNumber": "0170197176640",
    }
    assert signed_by_us(request, "KE", "12", "0170197176640")
    assert not signed_by_us(request, "KE", "0012", "0170197176640")


def test_account_lookup_refuses_a_bank_not_on_pesalink(bank: PesaLinkConnector) -> None:
    with pytest.raises(ValueError, match="Chase"):
        bank.account_lookup_request("tok", "30", "0170197176640")


def test_parse_account_lookup_found(bank: PesaLinkConnector) -> None:
    resp = ok({"bankCode": "12", "accountNumber": "0170197176640", "accountName": " John Doe "})
    assert bank.parse_account_lookup(resp, "0012", "0170197176640") == AccountName(
        "12", "National Bank of Kenya", "0170197176640", "John Doe"
    )


@pytest.mark.parametrize("reason", ["AC01", "AC04", "AC06"])
def test_parse_account_lookup_invalid(bank: PesaLinkConnector, reason: str) -> None:
    resp = error(200, 104101, "Account validation failed", {"reasonCode": reason})
    result = bank.parse_account_lookup(resp, "11", "0123451004")
    assert isinstance(result, AccountInvalid)
    assert (result.bank_code, result.reason_code) == ("11", reason)


def test_parse_account_lookup_without_a_known_reason(bank: PesaLinkConnector) -> None:
    resp = error(200, 104101, "Account validation failed")
    assert bank.parse_account_lookup(resp, "11", "0123") == AccountInvalid(
        "11", "0123", "", "The account cannot receive PesaLink transfers."
    )


@pytest.mark.parametrize(
    ("resp", "kind", "code"),
    [
        (
            error(200, 104101, "Account validation failed", {"reasonCode": "AB08"}),
            "retriable",
            "AB08",
        ),
        (ok({"bankCode": "12"}), "retriable", ""),
        (error(401, 401101, "Invalid or expired access token"), "invalid_token", "401101"),
        (error(400, 900100, "Invalid signature"), "rejected", "900100"),
        (error(500, 500100, "Internal server error"), "retriable", "500100"),
        (HttpResponse(502, b""), "retriable", ""),
    ],
)
def test_parse_account_lookup_errors(
    bank: PesaLinkConnector, resp: HttpResponse, kind: str, code: str
) -> None:
    result = bank.parse_account_lookup(resp, "11", "0123453008")
    assert isinstance(result, ProviderError)
    assert (result.kind, result.code) == (kind, code)


# --- phone lookup -------------------------------------------------------------------------------


def test_phone_lookup_request_sends_the_national_form(bank: PesaLinkConnector) -> None:
    request = bank.phone_lookup_request("tok", "+254722000000")
    assert request.url == BASE + "/v3-apis/transaction-api/v3.0/pesalink/inquire"
    assert body(request) == {"mobileNumber": "0722000000"}
    assert signed_by_us(request, "0722000000")


def test_parse_phone_lookup_v3_envelope(bank: PesaLinkConnector) -> None:
    resp = ok(
        {
            "mobileNumber": "0712345678",
            "banks": [
                {"bankCode": "1", "bankName": "KCB", "customerName": "JANE", "isDefault": False},
                {
                    "bankCode": "68",
                    "customerName": "JANE",
                    "accountNumber": "****5678",
                    "isDefault": True,
                },
                {"bankCode": "39", "customerName": "JANE"},  # not on PesaLink: dropped
                "junk",
            ],
        }
    )
    entry = bank.parse_phone_lookup(resp, "0712345678")
    assert entry == DirectoryEntry(
        "254712345678",
        (
            LinkedAccount("01", "KCB", "JANE", None, False),
            LinkedAccount("68", "Equity Bank Kenya", "JANE", "****5678", True),
        ),
    )
    assert isinstance(entry, DirectoryEntry) and entry.default.bank_code == "68"


def test_parse_phone_lookup_v2_bare_list(bank: PesaLinkConnector) -> None:
    # The shape Jenga v2 client libraries record for /transaction/v2/pesalink/inquire.
    resp = answer(
        200, {"banks": [{"bankCode": "31", "bankName": "Stanbic", "customerName": "John Doe"}]}
    )
    entry = bank.parse_phone_lookup(resp, "0722000000")
    assert isinstance(entry, DirectoryEntry)
    assert entry.default == LinkedAccount("31", "Stanbic", "John Doe", None, False)


@pytest.mark.parametrize(
    "resp",
    [error(200, 104102, "Mobile number is not registered on PesaLink"), ok({"banks": []})],
)
def test_parse_phone_lookup_not_linked(bank: PesaLinkConnector, resp: HttpResponse) -> None:
    assert isinstance(bank.parse_phone_lookup(resp, "0711000404"), PhoneNotLinked)


def test_parse_phone_lookup_unavailable_is_retriable(bank: PesaLinkConnector) -> None:
    result = bank.parse_phone_lookup(error(503, 503100, "Service unavailable"), "0711000404")
    assert isinstance(result, ProviderError) and result.kind == "retriable"


# --- transfer -----------------------------------------------------------------------------------


def test_transfer_to_account_is_the_doc_body_signed_with_the_doc_formula(
    bank: PesaLinkConnector,
) -> None:
    order = TransferOrder.to_account(
        "112194688993",
        50_000,
        "57",
        "99901288715910",
        "Tom Doe",
        "Supplier payment",
        "https://switch.example/hooks/pl/tok",
    )
    request = bank.transfer_request("tok", order, NOW)
    assert request.url == BASE + "/v3-apis/transaction-api/v3.0/remittance/pesalinkacc"
    doc = PESALINK_TRANSFER
    assert body(request) == {
        **doc,
        "transfer": {
            **doc["transfer"],
            "date": "2023-10-12",  # the date in Nairobi
            "callbackUrl": "https://switch.example/hooks/pl/tok",
        },
    }
    # doc §3.1: transfer.amount + currencyCode + reference + destination.name + source.accountNumber
    assert signed_by_us(request, "500.00", "KES", "112194688993", "Tom Doe", "0020100014605")


def test_transfer_to_phone(bank: PesaLinkConnector) -> None:
    order = TransferOrder.to_phone("po_1", 1_050, "+254712345678", "Jane Doe")
    request = bank.transfer_request("tok", order, NOW)
    assert request.url == BASE + "/v3-apis/transaction-api/v3.0/remittance/pesalinkMobile"
    sent = body(request)
    assert sent["destination"] == {
        "type": "mobile",
        "countryCode": "KE",
        "name": "Jane Doe",
        "mobileNumber": "0712345678",
    }
    assert "callbackUrl" not in sent["transfer"]
    assert signed_by_us(request, "10.50", "KES", "po_1", "Jane Doe", "0020100014605")
    chosen = TransferOrder.to_phone("po_2", 1_050, "0712345678", "Jane Doe", bank_code="0001")
    assert body(bank.transfer_request("tok", chosen, NOW))["destination"]["bankCode"] == "01"


def test_transfer_request_guards(bank: PesaLinkConnector) -> None:
    with pytest.raises(ValueError, match="maximum"):
        bank.transfer_request(
            "tok", TransferOrder.to_account("r", 99_999_901, "57", "12345", "T"), NOW
        )
    strict = PesaLinkConnector(PesaLinkAccount(**{**_fields(), "minimum_cents": 100_000}))
    with pytest.raises(ValueError, match=r"minimum of KES 1,000\.00"):
        strict.transfer_request("tok", ORDER, NOW)
    with pytest.raises(ValueError, match="time-zone-aware"):
        bank.transfer_request("tok", ORDER, datetime(2023, 10, 11))


def _fields() -> dict[str, Any]:
    return {
        "base_url": BASE,
        "api_key": "k",
        "merchant_code": "m",
        "consumer_secret": "s",
        "signing_key_pem": SIGNING_KEY_PEM,
        "source_account": "0020100014605",
        "source_name": "John Doe",
    }


def test_the_date_is_nairobis_whatever_the_clock_zone(bank: PesaLinkConnector) -> None:
    west = datetime(2023, 10, 11, 20, 59, tzinfo=timezone(timedelta(hours=-1)))  # 00:59 EAT
    assert body(bank.transfer_request("tok", ORDER, west))["transfer"]["date"] == "2023-10-12"


TRANSFER_DATA = {
    "transactionId": "000000403777",
    "reference": "112194688993",
    "status": "SUCCESS",
    "stateCode": 2,
    "amount": "500.00",
    "currencyCode": "KES",
    "destination": {
        "type": "bank",
        "bankCode": "57",
        "accountNumber": "99901288715910",
        "name": "Tom Doe",
    },
    "completedAt": "2023-10-12T00:30:01+03:00",
}


def test_parse_transfer_success(bank: PesaLinkConnector) -> None:
    result = bank.parse_transfer(ok(TRANSFER_DATA), ORDER)
    assert isinstance(result, TransferResult)
    assert (result.outcome, result.transaction_id, result.recipient_name) == (
        "succeeded",
        "000000403777",
        "Tom Doe",
    )


def test_parse_transfer_pending_and_failed(bank: PesaLinkConnector) -> None:
    pending = bank.parse_transfer(ok({**TRANSFER_DATA, "status": "PENDING"}, code=-1), ORDER)
    assert isinstance(pending, TransferResult) and pending.outcome == "pending"
    failed = bank.parse_transfer(
        ok({**TRANSFER_DATA, "status": "FAILED", "reasonCode": "AM04"}), ORDER
    )
    assert isinstance(failed, TransferResult)
    assert (failed.outcome, failed.reason_code) == ("failed", "AM04")


@pytest.mark.parametrize(
    ("resp", "kind"),
    [
        (ok({**TRANSFER_DATA, "reference": "someone-else"}), "unknown"),
        (ok({**TRANSFER_DATA, "amount": "1.001"}), "unknown"),
        (answer(200, {"status": True, "code": 0}), "unknown"),
        (answer(200, {"status": False, "code": 104102, "message": "not linked"}), "rejected"),
        (error(409, 409100, "Duplicate transaction reference"), "duplicate"),
        (error(504, 504100, "Gateway timeout"), "unknown"),
        (error(500, 500100, "Internal server error"), "unknown"),
        (error(503, 503100, "Service unavailable"), "retriable"),
        (error(401, 401101, "Invalid or expired access token"), "invalid_token"),
        (error(400, 400102, "limit"), "rejected"),
    ],
)
def test_parse_transfer_errors(bank: PesaLinkConnector, resp: HttpResponse, kind: str) -> None:
    result = bank.parse_transfer(resp, ORDER)
    assert isinstance(result, ProviderError) and result.kind == kind


# --- status enquiry -----------------------------------------------------------------------------


def test_status_request_is_a_signed_get(bank: PesaLinkConnector) -> None:
    request = bank.status_request("tok", "po/1 2")
    assert (request.method, request.body) == ("GET", None)
    assert request.url == BASE + "/v3-apis/transaction-api/v3.0/transactions/details/po%2F1%202"
    assert signed_by_us(request, "po/1 2")


def test_parse_status(bank: PesaLinkConnector) -> None:
    found = bank.parse_status(ok(TRANSFER_DATA), "112194688993")
    assert found == bank.parse_transfer(ok(TRANSFER_DATA), ORDER)
    missing = error(404, 404100, "Transaction not found")
    assert bank.parse_status(missing, "x") == TransferNotFound("x")
    no_route = bank.parse_status(error(404, 404101, "Resource not found"), "x")
    assert isinstance(no_route, ProviderError) and no_route.kind == "rejected"
    for resp in (error(500, 500100, "boom"), ok({**TRANSFER_DATA, "amount": []})):
        again = bank.parse_status(resp, "112194688993")
        assert isinstance(again, ProviderError) and again.kind == "retriable"


def test_parse_callback_is_the_enquirys_parser(bank: PesaLinkConnector) -> None:
    callback = orjson.dumps(
        {"callbackType": "PesaLinkTransfer", "status": True, "data": TRANSFER_DATA}
    )
    assert bank.parse_callback(callback) == bank.parse_status(ok(TRANSFER_DATA), "112194688993")


# --- a whole payout on the mock transport -------------------------------------------------------


async def test_lookup_then_pay_then_enquire_on_mock_transport(bank: PesaLinkConnector) -> None:
    async def handler(request: HttpRequest) -> HttpResponse:
        path = request.url.removeprefix(BASE)
        if path.endswith("/authenticate/merchant"):
            return answer(200, {"accessToken": "tok", "expiresIn": 3600})
        assert request.headers["Authorization"] == "Bearer tok"
        if path.endswith("/accountLookup"):
            return ok({"bankCode": "57", "accountName": "Tom Doe"})
        if path.endswith("/pesalinkacc"):
            return ok({**TRANSFER_DATA, "status": "PENDING"}, code=-1)
        return ok(TRANSFER_DATA)

    transport = MockTransport(handler)
    token = bank.parse_token(await transport.send(bank.token_request()), 0.0)
    assert isinstance(token, AccessToken)
    name = bank.parse_account_lookup(
        await transport.send(bank.account_lookup_request(token.value, "57", "99901288715910")),
        "57",
        "99901288715910",
    )
    assert isinstance(name, AccountName)
    order = TransferOrder.to_account(
        "112194688993", 50_000, "57", "99901288715910", name.account_name
    )
    first = bank.parse_transfer(
        await transport.send(bank.transfer_request(token.value, order, NOW)), order
    )
    assert isinstance(first, TransferResult) and first.outcome == "pending"
    final = bank.parse_status(
        await transport.send(bank.status_request(token.value, order.end_to_end_id)),
        order.end_to_end_id,
    )
    assert isinstance(final, TransferResult) and final.outcome == "succeeded"
    assert [r.method for r in transport.sent] == ["POST", "POST", "POST", "GET"]
