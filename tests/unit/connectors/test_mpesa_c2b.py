"""C2B with recorded payloads (doc §6): URL rules, register/simulate requests and answers, the
validation/confirmation body and our answers to it."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from connectors.http import HttpResponse
from connectors.mpesa import (
    C2B_REJECT_CODES,
    C2bAccepted,
    C2bRegistration,
    C2bSimulation,
    DarajaAccount,
    DarajaConnector,
    MalformedC2b,
    MalformedCallback,
    ProviderError,
    c2b_accept,
    c2b_confirmation_ack,
    c2b_reject,
    check_c2b_url,
    msisdn_matches,
    parse_c2b_payment,
)
from connectors.mpesa.c2b import msisdn_form, parse_c2b_ack

DARAJA = DarajaConnector(DarajaAccount("https://sandbox.safaricom.co.ke", "k", "s", "600984", "p"))

# doc §6, validation and confirmation payload.
DOC_PAYMENT = {
    "TransactionType": "Pay Bill",
    "TransID": "RKL51ZDR4F",
    "TransTime": "20231121121325",
    "TransAmount": "5.00",
    "BusinessShortCode": "600966",
    "BillRefNumber": "ACC001",
    "InvoiceNumber": "",
    "OrgAccountBalance": "25.00",
    "ThirdPartyTransID": "",
    "MSISDN": "2547 ***** 126",
    "FirstName": "JOHN",
    "MiddleName": "",
    "LastName": "",
}


def body_of(payload: Any) -> bytes:
    return orjson.dumps(payload)


# --- URL rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://example.co.ke/c2b/confirm",
        "https://example.co.ke/c2b/validate?shop=1",
        "http://127.0.0.1:8080/hooks/c2b",
    ],
)
def test_acceptable_urls(url: str) -> None:
    assert check_c2b_url(url) is None


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("https://example.co.ke/mpesa/confirm", "mpesa"),
        ("https://example.co.ke/M-PESA/confirm", "m-pesa"),
        ("https://safaricom-hooks.example.com/c", "safaricom"),
        ("https://example.co.ke/run.EXE", "exe"),
        ("https://example.co.ke/cmd/confirm", "cmd"),
        ("https://example.co.ke/SqlHook", "sql"),
        ("https://example.co.ke/c2b?Query=1", "query"),
    ],
)
def test_forbidden_words_in_any_case(url: str, word: str) -> None:
    reason = check_c2b_url(url)
    assert reason is not None
    assert repr(word) in reason


@pytest.mark.parametrize(
    "url",
    ["https://abcd.ngrok.io/c", "https://x.ngrok-free.app/c", "https://mockbin.org/bin/1"],
)
def test_tunnels_are_blocked(url: str) -> None:
    assert "blocked" in (check_c2b_url(url) or "")


@pytest.mark.parametrize("url", ["ftp://example.co.ke/c", "example.co.ke/c", "https:///c"])
def test_not_a_url(url: str) -> None:
    assert check_c2b_url(url) is not None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.co.ke/c", "HTTPS"),
        ("https://localhost/c", "public"),
        ("https://10.0.0.4/c", "public"),
        ("https://192.168.1.10:8443/c", "public"),
    ],
)
def test_production_needs_public_https(url: str, reason: str) -> None:
    assert check_c2b_url(url) is None
    assert reason in (check_c2b_url(url, production=True) or "")


def test_production_accepts_a_public_https_url() -> None:
    assert check_c2b_url("https://shop.example.co.ke/c2b/confirm", production=True) is None
    assert check_c2b_url("https://196.201.214.200/c", production=True) is None


# --- register and simulate ---------------------------------------------------------------------


def test_register_request_matches_the_doc() -> None:
    registration = C2bRegistration(
        "600984", "https://example.co.ke/c2b/confirm", "https://example.co.ke/c2b/validate"
    )
    request = DARAJA.c2b_register_request("tok", registration)
    assert request.url == "https://sandbox.safaricom.co.ke/mpesa/c2b/v2/registerurl"
    assert orjson.loads(request.body or b"") == {
        "ShortCode": "600984",
        "ResponseType": "Completed",
        "ConfirmationURL": "https://example.co.ke/c2b/confirm",
        "ValidationURL": "https://example.co.ke/c2b/validate",
    }
    v1 = DARAJA.c2b_register_request("tok", registration, version=1)
    assert v1.url.endswith("/mpesa/c2b/v1/registerurl")
    with pytest.raises(ValueError, match="version"):
        DARAJA.c2b_register_request("tok", registration, version=3)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"response_type": "completed"}, "response_type"),
        ({"shortcode": "60"}, "shortcode"),
        ({"confirmation_url": "https://x.co.ke/mpesa"}, "confirmation_url"),
        ({"validation_url": "https://x.ngrok.io/v"}, "validation_url"),
    ],
)
def test_registration_validates(change: dict[str, str], match: str) -> None:
    fields = {
        "shortcode": "600984",
        "confirmation_url": "https://example.co.ke/c",
        "validation_url": "https://example.co.ke/v",
        **change,
    }
    with pytest.raises(ValueError, match=match):
        C2bRegistration(**fields)  # type: ignore[arg-type]


def test_simulate_request_matches_the_doc() -> None:
    request = DARAJA.c2b_simulate_request(
        "tok", C2bSimulation("600984", 1, "254708374149", "ACC001")
    )
    assert request.url.endswith("/mpesa/c2b/v2/simulate")
    assert orjson.loads(request.body or b"") == {
        "ShortCode": 600984,
        "CommandID": "CustomerPayBillOnline",
        "Amount": 1,
        "Msisdn": 254708374149,
        "BillRefNumber": "ACC001",
    }
    till = C2bSimulation("600984", 1, "254708374149", None, "CustomerBuyGoodsOnline")
    assert "BillRefNumber" not in orjson.loads(DARAJA.c2b_simulate_request("t", till).body or b"")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 250_001}, "amount"),
        ({"msisdn": "0708374149"}, "msisdn"),
        ({"bill_ref": "A" * 21}, "bill_ref"),
        ({"command_id": "PayBill"}, "command_id"),
    ],
)
def test_simulation_validates(change: dict[str, Any], match: str) -> None:
    fields = {"shortcode": "600984", "amount": 1, "msisdn": "254708374149", "bill_ref": "A"}
    with pytest.raises(ValueError, match=match):
        C2bSimulation(**{**fields, **change})


@pytest.mark.parametrize(
    ("payload", "description"),
    [
        (
            {
                "OriginatorCoversationID": "6e86-45dd-91ac-fd5d4178ab523408729",
                "ResponseCode": "0",
                "ResponseDescription": "Success",
            },
            "Success",
        ),
        (
            {
                "OriginatorConversationID": "6e86-45dd-91ac-fd5d4178ab523408729",
                "ResponseCode": 0,
                "ResponseDescription": "success",
            },
            "success",
        ),
    ],
)
def test_register_answer_with_either_spelling(payload: dict[str, Any], description: str) -> None:
    answer = DARAJA.parse_c2b_ack(HttpResponse(200, body_of(payload)))
    assert answer == C2bAccepted("6e86-45dd-91ac-fd5d4178ab523408729", description)


def test_register_refusals() -> None:
    busy = {"errorCode": "500.003.1001", "errorMessage": "Urls are already registered."}
    error = parse_c2b_ack(HttpResponse(500, body_of(busy)))
    assert isinstance(error, ProviderError)
    assert (error.code, error.kind) == ("500.003.1001", "unknown")
    odd = parse_c2b_ack(HttpResponse(200, body_of({"ResponseCode": "1"})))
    assert isinstance(odd, ProviderError)
    assert odd.kind == "unknown"


# --- validation and confirmation payloads ------------------------------------------------------


def test_doc_payload() -> None:
    payment = parse_c2b_payment(body_of(DOC_PAYMENT))
    assert (payment.trans_id, payment.amount_cents, payment.bill_ref) == (
        "RKL51ZDR4F",
        500,
        "ACC001",
    )
    assert (payment.transaction_type, payment.shortcode, payment.trans_time) == (
        "Pay Bill",
        "600966",
        "20231121121325",
    )
    assert (payment.org_account_balance_cents, payment.third_party_trans_id) == (2_500, "")
    assert (payment.msisdn, payment.msisdn_form) == ("2547 ***** 126", "masked")
    assert (payment.full_name, payment.first_name, payment.last_name) == ("JOHN", "JOHN", "")
    assert payment.paid_by("254712345126")
    assert not payment.paid_by("254712345127")


def test_v1_hashed_msisdn_and_whole_amounts() -> None:
    digest = hashlib.sha256(b"254708374149").hexdigest()
    payload = {**DOC_PAYMENT, "MSISDN": digest, "TransAmount": "10", "OrgAccountBalance": ""}
    payment = parse_c2b_payment(body_of(payload))
    assert (payment.msisdn_form, payment.amount_cents) == ("hashed", 1_000)
    assert payment.org_account_balance_cents is None
    assert payment.paid_by("254708374149")
    assert not payment.paid_by("254708374148")


def test_numbers_and_missing_fields_are_tolerated() -> None:
    payload = {"TransID": "RKL51ZDR4F", "TransAmount": 5.5, "BusinessShortCode": 600966}
    payment = parse_c2b_payment(body_of(payload))
    assert (payment.amount_cents, payment.shortcode, payment.msisdn_form) == (
        550,
        "600966",
        "absent",
    )
    assert (payment.bill_ref, payment.first_name, payment.transaction_type) == ("", "", "")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"nope", "not JSON"),
        (b"[]", "object"),
        (body_of({**DOC_PAYMENT, "TransID": ""}), "TransID"),
        (body_of({**DOC_PAYMENT, "TransAmount": ""}), "TransAmount"),
        (body_of({**DOC_PAYMENT, "TransAmount": "five"}), "TransAmount"),
        (body_of({**DOC_PAYMENT, "TransAmount": "5.001"}), "TransAmount"),
    ],
)
def test_malformed_payloads(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedC2b, match=reason):
        parse_c2b_payment(body)
    assert issubclass(MalformedC2b, MalformedCallback)


@pytest.mark.parametrize(
    ("disguised", "phone", "form", "match"),
    [
        ("25470****149", "254708374149", "masked", True),  # the v1 doc sample's mask
        ("2547 ***** 126", "254712345126", "masked", True),
        ("2547 ***** 126", "254112345126", "masked", False),
        ("254708374149", "254708374149", "plain", True),
        ("", "254708374149", "absent", False),
        ("not a number", "254708374149", "masked", False),
    ],
)
def test_msisdn_matching(disguised: str, phone: str, form: str, match: bool) -> None:
    assert msisdn_form(disguised) == form
    assert msisdn_matches(disguised, phone) is match


# --- our answers -------------------------------------------------------------------------------


def test_validation_answers() -> None:
    assert orjson.loads(c2b_accept()) == {"ResultCode": "0", "ResultDesc": "Accepted"}
    assert orjson.loads(c2b_accept("ref-1")) == {
        "ResultCode": "0",
        "ResultDesc": "Accepted",
        "ThirdPartyTransID": "ref-1",
    }
    assert orjson.loads(c2b_reject("C2B00012")) == {
        "ResultCode": "C2B00012",
        "ResultDesc": "Rejected",
    }
    assert orjson.loads(c2b_reject())["ResultCode"] == "C2B00016"
    with pytest.raises(ValueError, match="code"):
        c2b_reject("C2B00099")  # type: ignore[arg-type]


def test_reject_codes_are_the_doc_table() -> None:
    assert C2B_REJECT_CODES == {
        "C2B00011": "Invalid MSISDN",
        "C2B00012": "Invalid Account Number",
        "C2B00013": "Invalid Amount",
        "C2B00014": "Invalid KYC Details",
        "C2B00015": "Invalid Shortcode",
        "C2B00016": "Other Error",
    }


def test_confirmation_ack_has_a_numeric_code() -> None:
    assert orjson.loads(c2b_confirmation_ack()) == {"ResultCode": 0, "ResultDesc": "Success"}
