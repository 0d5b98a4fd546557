"""A SACCO's core-banking API, Apache Fineract shaped
(https://fineract.apache.org/docs/current/, the API reference). Pure: builds
:class:`HttpRequest` values and parses :class:`HttpResponse` values into small result types.

| Flow                 | Wire                                                   | Source       |
|----------------------|--------------------------------------------------------|--------------|
| auth                 | Basic user:password + Fineract-Platform-TenantId       | Fineract API |
| member by number     | GET /clients?externalId={member number}                | unverified 1 |
| member's accounts    | GET /clients/{clientId}/accounts                       | Fineract     |
| deposit, withdrawal  | POST /savingsaccounts/{id}/transactions?command=...    | Fineract API |
| loan disbursement    | POST /loans/{loanId}?command=disburse                  | Fineract API |
| loan repayment       | POST /loans/{loanId}/transactions?command=repayment    | Fineract API |
| status by externalId | GET /runreports/SwitchTransactionByExternalId?...      | unverified 2 |
| errors               | {httpStatusCode, userMessageGlobalisationCode, errors} | Fineract     |

1. SACCOs that moved to Fineract commonly keep the member number as the client's ``externalId``;
   ``/clients`` filters on it. Which field a given SACCO uses is set up per SACCO (unverified).
2. Fineract has no tenant-wide "transaction by externalId" read; stretchy reports
   (``/runreports/{name}``, ``genericResultSet=false`` for plain rows) are its standard way to add
   one. The report name and its columns are OUR convention, installed by the SACCO for us.

Money safety: every money-moving call carries our payment id as ``externalId`` (and
``receiptNumber``), the same on every attempt; the SACCO answers a repeated ``externalId`` with
the first result or a duplicate error (Fineract's enforcement depends on its version,
unverified), and :meth:`SaccoApiConnector.lookup_request` finds it afterwards. Amounts are
sent as decimal strings with ``locale`` (Fineract parses numbers by locale), never floats.

Loan repayments go to the member's active loan (:meth:`Accounts.loan_to_repay`); a member
without one is declined before anything is sent. An overpayment (more than the outstanding
balance) is the SACCO's call, not ours: Fineract by default books it and marks the loan
``Overpaid`` (status 700, the excess held as a credit balance the SACCO refunds with its
``creditBalanceRefund`` command; Fineract's own end-to-end tests show this). A SACCO set up to
block overpayments (proposed as FINERACT-1052, not known to be merged) refuses it with a 403 we
read as ``declined``; its error code is unverified. The switch does not refuse on its own: the
balance it read may be stale by the time the repayment lands.

A refusal is an :class:`ApiError` value whose ``kind`` says what it proves::

    retriable  429/503: refused before any work (resend allowed)
    rejected   400/404: the request was wrong; nothing happened
    declined   403 domain rule (dormant account, insufficient funds, ...); nothing happened
    duplicate  the SACCO already has this externalId: look it up, never resend
    auth       401 or not permitted: our credentials; nothing happened
    unknown    500/502/504 or an unreadable answer: it may have happened
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

from connectors.common import EAT as EAT
from connectors.common import Refusal, cents, decimal_text
from connectors.http import HttpRequest, HttpResponse
from connectors.sacco.registry import Sacco

DATE_FORMAT = "dd MMMM yyyy"  # Fineract's Java pattern, as in Fineract's API reference
LOCALE = "en"
TENANT_HEADER = "Fineract-Platform-TenantId"
LOOKUP_REPORT = "SwitchTransactionByExternalId"
CLIENTS_PATH = "/clients"
SAVINGS_PATH = "/savingsaccounts"
LOANS_PATH = "/loans"
REPORTS_PATH = "/runreports/"
_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,2})?$")
_EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")

ErrorKind = Literal["retriable", "rejected", "declined", "duplicate", "auth", "unknown"]
TxnKind = Literal["deposit", "withdrawal", "disbursement", "repayment"]
# 400s that are business rules, not malformed requests: nothing happened, and resending the
# same request will not help (Fineract raises them as validation errors).
_DOMAIN_400 = frozenset({"error.msg.loan.repayment.or.waiver.account.is.not.active"})


class ApiError(Refusal[ErrorKind]):
    """A refusal in the SACCO's vocabulary (module docstring); ``code`` is Fineract's
    userMessageGlobalisationCode, or "http_<status>"."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Member:
    client_id: int
    member_number: str
    name: str
    active: bool


@dataclass(frozen=True, slots=True)
class MemberNotFound:
    member_number: str


@dataclass(frozen=True, slots=True)
class Account:
    account_id: int
    account_no: str
    product: str
    status: str  # Fineract's status.value: Active, Approved, Closed, ...
    usable: bool  # savings: active; loan: waiting for disbursal
    dormant: bool = False
    repayable: bool = False  # loan: status.active (disbursed, money owed)
    outstanding_minor: int | None = None  # loan: ``loanBalance`` when the SACCO sends it


@dataclass(frozen=True, slots=True)
class Accounts:
    savings: tuple[Account, ...]
    loans: tuple[Account, ...]

    def savings_account(self) -> Account | None:
        """The account money goes to or comes from: the first active one, else the first (the
        SACCO then says why it cannot be used)."""
        usable = [a for a in self.savings if a.usable and not a.dormant]
        candidates = usable or list(self.savings)
        return candidates[0] if candidates else None

    def loan_to_disburse(self) -> Account | None:
        return next((a for a in self.loans if a.usable), None)

    def loan_to_repay(self) -> Account | None:
        """The loan a repayment goes to: the member's oldest active loan (lowest id). A paybill
        reference like ``12345LN`` names no loan; applying money to the oldest debt first is
        common SACCO practice (unverified), and the SACCO can reallocate."""
        active = [a for a in self.loans if a.repayable]
        return min(active, key=lambda a: a.account_id) if active else None


@dataclass(frozen=True, slots=True)
class Posted:
    """A money-moving call the SACCO booked: ``transaction_id`` is its receipt."""

    external_id: str
    transaction_id: str


@dataclass(frozen=True, slots=True)
class Transaction:
    """A booked transaction found by our externalId (the lookup report's row)."""

    external_id: str
    transaction_id: str
    kind: str
    amount_minor: int
    account_no: str
    member_number: str
    member_name: str
    reversed: bool


@dataclass(frozen=True, slots=True)
class TransactionNotFound:
    external_id: str


class SaccoApiConnector:
    """One SACCO's API: URLs, headers and bodies; no I/O."""

    def __init__(self, sacco: Sacco, timeout: float = 10.0) -> None:
        if sacco.integration != "api" or not sacco.base_url:
            raise ValueError(f"SACCO {sacco.code} is not reached by API")
        self.sacco = sacco
        self.timeout = timeout
        self._base = sacco.base_url.rstrip("/")
        basic = base64.b64encode(f"{sacco.username}:{sacco.password}".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {basic}",
            TENANT_HEADER: sacco.tenant or "",
            "Accept": "application/json",
        }

    # --- members ---------------------------------------------------------------------------

    def member_request(self, member_number: str) -> HttpRequest:
        query = urlencode({"externalId": member_number, "limit": 2})
        return self._get(f"{CLIENTS_PATH}?{query}")

    def parse_member(
        self, resp: HttpResponse, member_number: str
    ) -> Member | MemberNotFound | ApiError:
        body = resp.json()
        if resp.status != 200 or not isinstance(body, dict):
            return parse_error(resp)
        items = body.get("pageItems")
        if not isinstance(items, list):
            return ApiError("unknown", "unreadable", "client search without pageItems", 200)
        found = [
            i for i in items if isinstance(i, dict) and str(i.get("externalId")) == member_number
        ]
        if not found:
            return MemberNotFound(member_number)
        item = found[0]
        client_id = item.get("id")
        if isinstance(client_id, bool) or not isinstance(client_id, int):
            return ApiError("unknown", "unreadable", "client without an id", 200)
        name = str(item.get("displayName") or "").strip()
        return Member(client_id, member_number, name, item.get("active") is True)

    def accounts_request(self, client_id: int) -> HttpRequest:
        return self._get(f"{CLIENTS_PATH}/{client_id}/accounts")

    def parse_accounts(self, resp: HttpResponse) -> Accounts | ApiError:
        body = resp.json()
        if resp.status != 200 or not isinstance(body, dict):
            return parse_error(resp)
        savings = tuple(_account(a, "active") for a in _dicts(body.get("savingsAccounts")))
        loans = tuple(_loan(a) for a in _dicts(body.get("loanAccounts")))
        # An account without a readable id cannot be addressed: leave it out.
        return Accounts(
            tuple(a for a in savings if a.account_id > 0),
            tuple(a for a in loans if a.account_id > 0),
        )

    # --- money-moving calls ----------------------------------------------------------------

    def deposit_request(
        self, account_id: int, amount_minor: int, external_id: str, note: str, now: datetime
    ) -> HttpRequest:
        return self._savings("deposit", account_id, amount_minor, external_id, note, now)

    def withdrawal_request(
        self, account_id: int, amount_minor: int, external_id: str, note: str, now: datetime
    ) -> HttpRequest:
        return self._savings("withdrawal", account_id, amount_minor, external_id, note, now)

    def disburse_request(
        self, loan_id: int, amount_minor: int, external_id: str, note: str, now: datetime
    ) -> HttpRequest:
        body = {
            **_dated("actualDisbursementDate", now),
            "transactionAmount": format_amount(amount_minor),
            "paymentTypeId": self.sacco.payment_type_id,
            "externalId": _checked_id(external_id),
            "note": note,
        }
        return self._post(f"{LOANS_PATH}/{loan_id}?command=disburse", body)

    def repayment_request(
        self, loan_id: int, amount_minor: int, external_id: str, note: str, now: datetime
    ) -> HttpRequest:
        """Fineract API: our payment id is both ``externalId`` (idempotency, lookup) and
        ``receiptNumber`` (what the SACCO's staff see on the loan statement)."""
        body = {
            **_dated("transactionDate", now),
            "transactionAmount": format_amount(amount_minor),
            "paymentTypeId": self.sacco.payment_type_id,
            "receiptNumber": external_id,
            "externalId": _checked_id(external_id),
            "note": note,
        }
        return self._post(f"{LOANS_PATH}/{loan_id}/transactions?command=repayment", body)

    def _savings(
        self,
        command: str,
        account_id: int,
        amount_minor: int,
        external_id: str,
        note: str,
        now: datetime,
    ) -> HttpRequest:
        body = {
            **_dated("transactionDate", now),
            "transactionAmount": format_amount(amount_minor),
            "paymentTypeId": self.sacco.payment_type_id,
            "receiptNumber": external_id,
            "externalId": _checked_id(external_id),
            "note": note,
        }
        return self._post(f"{SAVINGS_PATH}/{account_id}/transactions?command={command}", body)

    def parse_posted(self, resp: HttpResponse, external_id: str) -> Posted | ApiError:
        """The answer to a money-moving call: the booked transaction, or why not."""
        body = resp.json()
        if resp.status != 200 or not isinstance(body, dict):
            return parse_error(resp)
        # Disbursement answers name the loan as resourceId; the transaction is subResourceId.
        # Savings and loan transactions (repayment) answer the transaction as resourceId.
        txn = body.get("subResourceId", body.get("resourceId"))
        if isinstance(txn, bool) or not isinstance(txn, int | str) or str(txn) == "":
            return ApiError("unknown", "unreadable", "answer without a transaction id", 200)
        echoed = body.get("resourceExternalId")
        if echoed is not None and echoed != external_id:
            return ApiError("unknown", "unreadable", "answer names another externalId", 200)
        return Posted(external_id, str(txn))

    # --- status by our id ------------------------------------------------------------------

    def lookup_request(self, external_id: str) -> HttpRequest:
        query = urlencode({"R_externalId": _checked_id(external_id), "genericResultSet": "false"})
        return self._get(f"{REPORTS_PATH}{quote(LOOKUP_REPORT)}?{query}")

    def parse_lookup(
        self, resp: HttpResponse, external_id: str
    ) -> Transaction | TransactionNotFound | ApiError:
        body = resp.json()
        if resp.status != 200 or not isinstance(body, list):
            return parse_error(resp)
        rows = [r for r in _dicts(body) if r.get("external_id") == external_id]
        live = [r for r in rows if r.get("reversed") is not True]
        if not rows:
            return TransactionNotFound(external_id)
        try:
            return _transaction((live or rows)[0])
        except (KeyError, ValueError) as exc:
            return ApiError("unknown", "unreadable", f"unreadable report row: {exc}", 200)

    # --- helpers ---------------------------------------------------------------------------

    def _get(self, path: str) -> HttpRequest:
        return HttpRequest("GET", self._base + path, dict(self._headers), None, self.timeout)

    def _post(self, path: str, body: dict[str, Any]) -> HttpRequest:
        return HttpRequest.json("POST", self._base + path, body, dict(self._headers), self.timeout)


def format_amount(minor: int) -> str:
    """Cents to Fineract's decimal string: 150050 -> "1500.50"."""
    if minor <= 0:
        raise ValueError("amount must be positive")
    return decimal_text(minor)


def parse_amount(value: Any) -> int:
    """A Fineract amount (number or decimal string, "1,500.00" too) to cents; ValueError if it
    is not an exact, finite amount of cents at least zero."""
    try:
        return cents(value, grouped=True)
    except ValueError as exc:
        raise ValueError(f"amount: {exc}") from None


def parse_error(resp: HttpResponse) -> ApiError:
    """Any non-success answer, classified by what it proves (module docstring)."""
    body = resp.json()
    code, message = f"http_{resp.status}", f"HTTP {resp.status}"
    if isinstance(body, dict):
        errors = _dicts(body.get("errors"))
        first = errors[0] if errors else body
        code = str(
            first.get("userMessageGlobalisationCode")
            or body.get("userMessageGlobalisationCode")
            or code
        )
        message = str(first.get("defaultUserMessage") or body.get("defaultUserMessage") or message)
    return ApiError(_kind(resp.status, code), code, message, resp.status)


def _kind(status: int, code: str) -> ErrorKind:
    if "duplicate" in code.lower() or status == 409:
        return "duplicate"
    if status == 401 or code == "error.msg.not.authorized":
        return "auth"
    if status in (429, 503):
        return "retriable"
    if status == 403:
        return "declined"
    if code in _DOMAIN_400:
        return "declined"
    if status in (400, 404, 405):
        return "rejected"
    return "unknown"


def _dated(field: str, now: datetime) -> dict[str, str]:
    if now.tzinfo is None:
        raise ValueError("needs a time-zone-aware datetime")
    day = now.astimezone(EAT)
    return {"dateFormat": DATE_FORMAT, "locale": LOCALE, field: day.strftime("%d %B %Y")}


def _checked_id(external_id: str) -> str:
    if not _EXTERNAL_ID.fullmatch(external_id):
        raise ValueError(f"externalId {external_id!r} must be 1-100 of A-Z a-z 0-9 _ . : -")
    return external_id


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _account(item: dict[str, Any], usable_flag: str) -> Account:
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    sub = item.get("subStatus") if isinstance(item.get("subStatus"), dict) else {}
    assert isinstance(status, dict)
    assert isinstance(sub, dict)
    account_id = item.get("id")
    return Account(
        account_id=account_id
        if isinstance(account_id, int) and not isinstance(account_id, bool)
        else 0,
        account_no=str(item.get("accountNo") or ""),
        product=str(item.get("productName") or ""),
        status=str(status.get("value") or ""),
        usable=status.get(usable_flag) is True,
        dormant=sub.get("dormant") is True,
    )


def _loan(item: dict[str, Any]) -> Account:
    account = _account(item, "waitingForDisbursal")
    status = item.get("status")
    active = isinstance(status, dict) and status.get("active") is True
    try:  # ``loanBalance``: the client-accounts summary's outstanding total (unverified name)
        outstanding: int | None = parse_amount(item["loanBalance"])
    except (KeyError, ValueError):
        outstanding = None  # absent or unreadable: the SACCO still decides on the repayment
    return replace(account, repayable=active, outstanding_minor=outstanding)


def _transaction(row: dict[str, Any]) -> Transaction:
    return Transaction(
        external_id=str(row["external_id"]),
        transaction_id=str(row["transaction_id"]),
        kind=str(row["transaction_type"]),
        amount_minor=parse_amount(row["amount"]),
        account_no=str(row.get("account_no") or ""),
        member_number=str(row.get("member_number") or ""),
        member_name=str(row.get("member_name") or ""),
        reversed=row.get("reversed") is True,
    )
