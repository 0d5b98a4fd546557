"""The Fineract-shaped SACCO API connector, pure: requests built, answers parsed, refusals
classified by what they prove."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from connectors.http import HttpResponse
from connectors.sacco.api import (
    Account,
    ApiError,
    Member,
    MemberNotFound,
    Posted,
    SaccoApiConnector,
    Transaction,
    TransactionNotFound,
    format_amount,
    parse_amount,
    parse_error,
)
from connectors.sacco.registry import sandbox_registry

BASE = "https://core.example/fineract-provider/api/v1"
STIMA = sandbox_registry(BASE)["STIMA"]
NOW = datetime(2024, 6, 6, 22, 30, tzinfo=UTC)  # 7 June in Nairobi


def conn() -> SaccoApiConnector:
    return SaccoApiConnector(STIMA, timeout=4.0)


def answer(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(body))


def fineract_error(status: int, code: str, message: str = "msg") -> HttpResponse:
    top = "validation.msg.domain.rule.violation" if status == 403 else code
    return answer(
        status,
        {
            "httpStatusCode": str(status),
            "defaultUserMessage": message,
            "userMessageGlobalisationCode": top,
            "errors": [{"userMessageGlobalisationCode": code, "defaultUserMessage": message}],
        },
    )


def test_headers_carry_basic_auth_and_tenant() -> None:
    req = conn().member_request("12345")
    assert req.method == "GET"
    assert req.url == f"{BASE}/clients?externalId=12345&limit=2"
    assert req.headers["Fineract-Platform-TenantId"] == "stima"
    user_pass = base64.b64decode(req.headers["Authorization"].removeprefix("Basic "))
    assert user_pass == b"switch:sandbox-password"
    assert req.timeout == 4.0


def test_deposit_body_is_dated_in_nairobi_with_a_decimal_string() -> None:
    req = conn().deposit_request(42, 150_050, "pay_s0_1", "INV-1", NOW)
    assert req.url == f"{BASE}/savingsaccounts/42/transactions?command=deposit"
    assert orjson.loads(req.body or b"") == {
        "dateFormat": "dd MMMM yyyy",
        "locale": "en",
        "transactionDate": "07 June 2024",
        "transactionAmount": "1500.50",
        "paymentTypeId": 1,
        "receiptNumber": "pay_s0_1",
        "externalId": "pay_s0_1",
        "note": "INV-1",
    }
    assert req.headers["Content-Type"] == "application/json"


def test_withdrawal_and_disbursement_paths() -> None:
    w = conn().withdrawal_request(42, 100, "p1", "", NOW)
    assert w.url.endswith("/savingsaccounts/42/transactions?command=withdrawal")
    d = conn().disburse_request(7, 100, "p2", "", NOW)
    assert d.url.endswith("/loans/7?command=disburse")
    body = orjson.loads(d.body or b"")
    assert body["actualDisbursementDate"] == "07 June 2024"
    assert body["externalId"] == "p2"


def test_naive_time_and_odd_ids_stay_off_the_wire() -> None:
    with pytest.raises(ValueError, match="time-zone"):
        conn().deposit_request(1, 100, "p1", "", datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="externalId"):
        conn().deposit_request(1, 100, "p 1", "", NOW)
    with pytest.raises(ValueError, match="positive"):
        conn().deposit_request(1, 0, "p1", "", NOW)


def test_lookup_request_uses_the_report() -> None:
    req = conn().lookup_request("pay_s0_1")
    assert req.url == (
        f"{BASE}/runreports/SwitchTransactionByExternalId?R_externalId=pay_s0_1"
        "&genericResultSet=false"
    )


def test_parse_member() -> None:
    body = {
        "pageItems": [{"id": 9, "externalId": "12345", "displayName": "Jane W", "active": True}]
    }
    assert conn().parse_member(answer(200, body), "12345") == Member(9, "12345", "Jane W", True)
    empty = {"totalFilteredRecords": 0, "pageItems": []}
    assert conn().parse_member(answer(200, empty), "12345") == MemberNotFound("12345")
    other = {"pageItems": [{"id": 9, "externalId": "123456"}]}  # a looser search: not ours
    assert conn().parse_member(answer(200, other), "12345") == MemberNotFound("12345")
    assert isinstance(conn().parse_member(answer(200, {}), "12345"), ApiError)


def test_parse_accounts_and_choice() -> None:
    body = {
        "savingsAccounts": [
            {"id": 1, "accountNo": "S1", "productName": "Shares", "status": {"value": "Closed"}},
            {"id": 2, "accountNo": "S2", "productName": "FOSA",
             "status": {"value": "Active", "active": True}, "subStatus": {"dormant": False}},
            {"accountNo": "S3", "status": {"active": True}},
        ],
        "loanAccounts": [
            {"id": 5, "accountNo": "L5",
             "status": {"value": "Active", "waitingForDisbursal": False}},
            {"id": 6, "accountNo": "L6",
             "status": {"value": "Approved", "waitingForDisbursal": True}},
        ],
    }  # fmt: skip
    accounts = conn().parse_accounts(answer(200, body))
    assert not isinstance(accounts, ApiError)
    assert [a.account_id for a in accounts.savings] == [1, 2]  # no id: left out
    assert accounts.savings_account() == Account(2, "S2", "FOSA", "Active", True, False)
    loan = accounts.loan_to_disburse()
    assert loan is not None
    assert loan.account_id == 6


def test_parse_posted() -> None:
    ok = answer(200, {"savingsId": 2, "resourceId": 77, "resourceExternalId": "p1"})
    assert conn().parse_posted(ok, "p1") == Posted("p1", "77")
    disbursed = answer(200, {"loanId": 6, "resourceId": 6, "subResourceId": 78})
    assert conn().parse_posted(disbursed, "p2") == Posted("p2", "78")
    other = answer(200, {"resourceId": 77, "resourceExternalId": "p9"})
    error = conn().parse_posted(other, "p1")
    assert isinstance(error, ApiError)
    assert error.kind == "unknown"  # an answer about another transaction proves nothing
    assert conn().parse_posted(answer(200, {}), "p1") == ApiError(
        "unknown", "unreadable", "answer without a transaction id", 200
    )


def test_parse_lookup() -> None:
    row = {
        "external_id": "p1", "transaction_id": 77, "transaction_type": "deposit",
        "amount": "1500.50", "account_no": "S2", "member_number": "12345",
        "member_name": "Jane W", "reversed": False,
    }  # fmt: skip
    assert conn().parse_lookup(answer(200, [row]), "p1") == Transaction(
        "p1", "77", "deposit", 150_050, "S2", "12345", "Jane W", False
    )
    assert conn().parse_lookup(answer(200, []), "p1") == TransactionNotFound("p1")
    reversed_first = [{**row, "reversed": True, "transaction_id": 70}, row]
    found = conn().parse_lookup(answer(200, reversed_first), "p1")
    assert isinstance(found, Transaction)
    assert found.transaction_id == "77"  # the live one wins over a reversed one
    bad = conn().parse_lookup(answer(200, [{**row, "amount": "1.234"}]), "p1")
    assert isinstance(bad, ApiError)


@pytest.mark.parametrize(
    ("resp", "kind", "code"),
    [
        (fineract_error(400, "validation.msg.validation.errors.exist"), "rejected", None),
        (fineract_error(404, "error.msg.saving.account.id.invalid"), "rejected", None),
        (
            fineract_error(
                403, "error.msg.savingsaccount.transaction.insufficient.account.balance"
            ),
            "declined",
            "error.msg.savingsaccount.transaction.insufficient.account.balance",
        ),
        (fineract_error(403, "error.msg.transaction.duplicate.externalId"), "duplicate", None),
        (fineract_error(409, "error.msg.conflict"), "duplicate", None),
        (fineract_error(401, "error.msg.not.authenticated"), "auth", None),
        (fineract_error(403, "error.msg.not.authorized"), "auth", None),
        (fineract_error(503, "error.msg.service.unavailable"), "retriable", None),
        (answer(429, None), "retriable", "http_429"),
        (fineract_error(500, "error.msg.platform.server.side.error"), "unknown", None),
        (HttpResponse(502, b"<html>bad gateway</html>"), "unknown", "http_502"),
    ],
)
def test_errors_are_classified_by_what_they_prove(
    resp: HttpResponse, kind: str, code: str | None
) -> None:
    error = parse_error(resp)
    assert error.kind == kind
    if code:
        assert error.code == code
    assert error.http_status == resp.status


def test_amounts() -> None:
    assert format_amount(150_050) == "1500.50"
    assert format_amount(1) == "0.01"
    assert parse_amount("1,500.50") == 150_050
    assert parse_amount(1500) == 150_000
    assert parse_amount(1500.5) == 150_050
    for bad in ("1.234", "abc", True, None, "-1"):
        with pytest.raises(ValueError, match="amount"):
            parse_amount(bad)


def test_only_api_saccos_get_a_connector() -> None:
    with pytest.raises(ValueError, match="not reached by API"):
        SaccoApiConnector(sandbox_registry()["WAUMINI"])


# --- loan repayments ----------------------------------------------------------------------------


def test_repayment_request_follows_sacco_md() -> None:
    req = conn().repayment_request(7, 150_000, "pay_s0_9", "M-Pesa SG632NMUAB acc 12345LN", NOW)
    assert req.method == "POST"
    assert req.url == f"{BASE}/loans/7/transactions?command=repayment"
    assert orjson.loads(req.body or b"") == {
        "dateFormat": "dd MMMM yyyy",
        "locale": "en",
        "transactionDate": "07 June 2024",
        "transactionAmount": "1500.00",
        "paymentTypeId": 1,
        "receiptNumber": "pay_s0_9",
        "externalId": "pay_s0_9",
        "note": "M-Pesa SG632NMUAB acc 12345LN",
    }
    with pytest.raises(ValueError, match="externalId"):
        conn().repayment_request(7, 100, "pay/9", "", NOW)
    with pytest.raises(ValueError, match="positive"):
        conn().repayment_request(7, 0, "p", "", NOW)


def loan(loan_id: int, status: dict[str, Any], balance: Any = "0.00") -> dict[str, Any]:
    return {"id": loan_id, "accountNo": f"L{loan_id}", "status": status, "loanBalance": balance}


ACTIVE = {"value": "Active", "active": True, "waitingForDisbursal": False}
OVERPAID = {"value": "Overpaid", "active": False, "overpaid": True}
APPROVED = {"value": "Approved", "active": False, "waitingForDisbursal": True}


def loans_of(*items: dict[str, Any]) -> Any:
    accounts = conn().parse_accounts(answer(200, {"savingsAccounts": [], "loanAccounts": items}))
    assert not isinstance(accounts, ApiError)
    return accounts


def test_repayment_goes_to_the_oldest_active_loan() -> None:
    accounts = loans_of(
        loan(9, ACTIVE, "5000.00"), loan(4, OVERPAID), loan(6, ACTIVE, 1250.5), loan(2, APPROVED)
    )
    chosen = accounts.loan_to_repay()
    assert chosen is not None
    assert (chosen.account_id, chosen.outstanding_minor, chosen.repayable) == (6, 125_050, True)
    assert accounts.loan_to_disburse().account_id == 2  # the disbursement choice is unchanged
    assert [a.repayable for a in accounts.loans] == [True, False, True, False]


def test_no_active_loan_means_nothing_to_repay() -> None:
    assert loans_of().loan_to_repay() is None
    assert loans_of(loan(4, OVERPAID), loan(2, APPROVED)).loan_to_repay() is None
    closed = {"value": "Closed (obligations met)", "active": False}
    assert loans_of(loan(3, closed)).loan_to_repay() is None


def test_a_missing_or_odd_loan_balance_is_unknown_not_zero() -> None:
    no_balance = {"id": 5, "status": ACTIVE}
    odd = loan(6, ACTIVE, "12.345")
    accounts = loans_of(no_balance, odd)
    assert [a.outstanding_minor for a in accounts.loans] == [None, None]
    assert accounts.loan_to_repay() is not None  # the SACCO still decides


def test_parse_repayment_answer() -> None:
    body = {"officeId": 1, "clientId": 3, "loanId": 6, "resourceId": 91,
            "resourceExternalId": "pay_s0_9"}  # fmt: skip
    assert conn().parse_posted(answer(200, body), "pay_s0_9") == Posted("pay_s0_9", "91")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "error.msg.loan.repayment.or.waiver.account.is.not.active"),
        (403, "error.msg.loan.repayment.overpayment.not.allowed"),
    ],
)
def test_repayment_refusals_are_declines(status: int, code: str) -> None:
    """Both are business rules (nothing happened); a plain 400 stays a rejected request."""
    error = parse_error(fineract_error(status, code))
    assert (error.kind, error.code) == ("declined", code)
    assert parse_error(fineract_error(400, "validation.msg.loan.id.invalid")).kind == "rejected"
