"""A SACCO core-banking simulator on aiohttp, speaking the Fineract-shaped API of
:mod:`connectors.sacco.api` for one or more tenants (one tenant per SACCO).

API routes (under ``/fineract-provider/api/v1``)::

    GET  /clients?externalId={member}           GET /clients/{id}/accounts
    POST /savingsaccounts/{id}/transactions?command=deposit|withdrawal
    POST /loans/{id}?command=disburse           GET /runreports/{report}?R_externalId=...
    POST /loans/{id}/transactions?command=repayment

Control routes (not the SACCO's; for tests, bench and demo)::

    GET /__sim/config   PATCH /__sim/config   GET /__sim/stats   POST /__sim/reset
    GET /__sim/ledger[?tenant=]   GET /__sim/members/{tenant}/{member}  (balances, loan owed
    and overpaid included; ``refuse_overpayment`` is a config knob)

Members and triggers: :mod:`.book`. A money-moving call is booked (or refused) before any
answer is written; latency, the slow trigger and dropped answers delay or lose the ANSWER, not
the work, which is what makes a client timeout ambiguous. A repeated externalId returns the
first transaction's answer (same amount and account) or a duplicate refusal: never booked twice.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from aiohttp import web

from connectors.sacco import api
from connectors.sacco.simulator import book
from connectors.sacco.simulator.book import Book, Kind, Member, Refused, Txn
from connectors.sacco.simulator.config import SimConfig, Tenant
from connectors.simkit.admin import (
    Answer,
    SimBase,
    drop,
    early_answers,
    json_response,
    sim_app,
    wire_errors,
)

BASE_PATH = "/fineract-provider/api/v1"
_BURSTS = {
    500: ("error.msg.platform.server.side.error", "Platform internal server error"),
    503: ("error.msg.service.unavailable", "Service temporarily unavailable"),
    429: ("error.msg.too.many.requests", "Too many requests"),
}


@dataclass(slots=True)
class Stats:
    member_lookups: int = 0
    account_lookups: int = 0
    money_calls: int = 0
    booked: int = 0
    replayed: int = 0  # a repeated externalId answered with the first result
    refused: int = 0
    answers_dropped: int = 0
    slow_answers: int = 0
    report_lookups: int = 0
    bursts: int = 0
    auth_refusals: int = 0


def fineract_error(status: int, code: str, message: str, param: str = "id") -> web.Response:
    """Fineract's error body: the specific code sits in ``errors[0]``."""
    top = "validation.msg.domain.rule.violation" if status == 403 else code
    body = {
        "developerMessage": message,
        "httpStatusCode": str(status),
        "defaultUserMessage": message,
        "userMessageGlobalisationCode": top,
        "errors": [
            {
                "developerMessage": message,
                "defaultUserMessage": message,
                "userMessageGlobalisationCode": code,
                "parameterName": param,
                "value": None,
                "args": [],
            }
        ],
    }
    return _json(body, status)


_json = json_response


class Simulator(SimBase[SimConfig]):
    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.books: dict[str, Book] = {t: Book(x.sacco_code) for t, x in config.tenants.items()}
        self.stats = Stats()

    def book_of(self, sacco_code: str) -> Book:
        """The books of a SACCO by its code (tests compare them with the switch's view)."""
        return next(b for b in self.books.values() if b.code == sacco_code)

    # --- members ---------------------------------------------------------------------------

    async def clients(self, request: web.Request) -> web.Response:
        self.stats.member_lookups += 1
        sacco = self._gate(request, "read")
        number = request.query.get("externalId", "")
        member = sacco.member(number) if number else None
        items = [] if member is None else [_client(member)]
        await self._lag()
        return _json({"totalFilteredRecords": len(items), "pageItems": items})

    async def accounts(self, request: web.Request) -> web.Response:
        self.stats.account_lookups += 1
        sacco = self._gate(request, "read")
        member = sacco.by_client(_int(request.match_info["client_id"]))
        await self._lag()
        if member is None:
            return fineract_error(404, "error.msg.client.id.invalid", "Client does not exist")
        return _json(_accounts(member))

    # --- money -----------------------------------------------------------------------------

    async def savings_txn(self, request: web.Request) -> web.Response:
        sacco = self._gate(request, "money")
        command = request.query.get("command", "")
        if command not in ("deposit", "withdrawal"):
            return fineract_error(
                400, "error.msg.command.unsupported", f"Unsupported command {command}"
            )
        member = sacco.by_savings(_int(request.match_info["account_id"]))
        kind: Kind = "deposit" if command == "deposit" else "withdrawal"
        return await self._money(request, sacco, member, kind, "transactionDate")

    async def loan_command(self, request: web.Request) -> web.Response:
        sacco = self._gate(request, "money")
        if request.query.get("command") != "disburse":
            return fineract_error(400, "error.msg.command.unsupported", "Unsupported command")
        member = sacco.by_loan(_int(request.match_info["loan_id"]))
        return await self._money(request, sacco, member, "disbursement", "actualDisbursementDate")

    async def loan_txn(self, request: web.Request) -> web.Response:
        sacco = self._gate(request, "money")
        command = request.query.get("command", "")
        if command != "repayment":
            return fineract_error(
                400, "error.msg.command.unsupported", f"Unsupported command {command}"
            )
        member = sacco.by_loan(_int(request.match_info["loan_id"]))
        if member is None:  # Fineract's answer for a loan id it does not have
            self.stats.money_calls += 1
            self.stats.refused += 1
            return fineract_error(404, "error.msg.loan.id.invalid", "Loan does not exist")
        return await self._money(request, sacco, member, "repayment", "transactionDate")

    async def _money(
        self, request: web.Request, sacco: Book, member: Member | None, kind: Kind, date_field: str
    ) -> web.Response:
        self.stats.money_calls += 1
        if member is None:
            self.stats.refused += 1
            return fineract_error(404, "error.msg.account.id.invalid", "Account does not exist")
        try:
            amount, external_id = _money_body(await request.read(), date_field)
            txn, fresh = sacco.post(
                kind, member, amount, external_id, "api", time.time(),
                refuse_overpayment=self.config.refuse_overpayment,
            )  # fmt: skip
            if not fresh and (txn.kind, txn.amount_minor, txn.member_number) != (
                kind,
                amount,
                member.member_number,
            ):
                raise Refused(
                    403,
                    "error.msg.transaction.duplicate.externalId",
                    f"A transaction with externalId {external_id} already exists",
                )
        except Refused as exc:
            self.stats.refused += 1
            await self._lag()
            return fineract_error(exc.status, exc.code, exc.message)
        if fresh:
            self.stats.booked += 1
        else:
            self.stats.replayed += 1
        # The work is done; only the answer is delayed or lost from here on.
        if book.trigger(member.member_number) == book.SLOW:
            self.stats.slow_answers += 1
            await asyncio.sleep(self.config.slow_delay)
        await self._lag()
        if self.config.drop_answers > 0:
            self.config.drop_answers -= 1
            self.stats.answers_dropped += 1
            return drop(request)
        return _json(_posted(member, txn))

    # --- status by externalId --------------------------------------------------------------

    async def report(self, request: web.Request) -> web.Response:
        self.stats.report_lookups += 1
        sacco = self._gate(request, "read")
        if request.match_info["report"] != api.LOOKUP_REPORT:
            return fineract_error(404, "error.msg.report.name.not.found", "Report not found")
        txn = sacco.ledger.get(request.query.get("R_externalId", ""))
        await self._lag()
        rows = [] if txn is None else [_report_row(sacco, txn)]
        if request.query.get("genericResultSet", "true") != "false":
            return fineract_error(400, "error.msg.report.format", "Only genericResultSet=false")
        return _json(rows)

    # --- gate: outage, bursts, auth --------------------------------------------------------

    def _gate(self, request: web.Request, api_kind: str) -> Book:
        """Raises an HTTP answer (aiohttp's way) when the call is refused before any work."""
        burst = self.config.error_burst
        if burst.hits(api_kind):
            burst.count -= 1
            self.stats.bursts += 1
            code, message = _BURSTS[burst.status]
            raise Answer(fineract_error(burst.status, code, message))
        tenant_id = request.headers.get(api.TENANT_HEADER, "")
        tenant = self.config.tenants.get(tenant_id)
        if tenant is None:
            raise Answer(fineract_error(400, "error.msg.tenant.not.found", "Invalid tenant"))
        if self.config.check_auth and not _authorised(request, tenant):
            self.stats.auth_refusals += 1
            raise Answer(
                fineract_error(401, "error.msg.not.authenticated", "Unauthenticated. Please login.")
            )
        return self.books[tenant_id]

    # --- control ---------------------------------------------------------------------------

    def config_json(self) -> dict[str, Any]:
        tenants = {t: x.sacco_code for t, x in self.config.tenants.items()}
        return {**super().config_json(), "tenants": tenants}

    def stats_json(self) -> dict[str, Any]:
        return asdict(self.stats)

    async def forget(self) -> None:
        self.books = {t: Book(x.sacco_code) for t, x in self.config.tenants.items()}
        self.stats = Stats()

    async def ledger(self, request: web.Request) -> web.Response:
        wanted = request.query.get("tenant")
        rows = [
            {"tenant": t, "sacco_code": b.code, **txn.to_json()}
            for t, b in self.books.items()
            if wanted in (None, t)
            for txn in b.ledger.values()
        ]
        return _json(rows)

    async def member(self, request: web.Request) -> web.Response:
        sacco = self.books.get(request.match_info["tenant"])
        found = sacco.members.get(request.match_info["member"]) if sacco else None
        if found is None:
            return _json({"error": "no such member seen yet"}, 404)
        return _json(asdict(found))


def _authorised(request: web.Request, tenant: Tenant) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return secrets.compare_digest(user.encode(), tenant.username.encode()) and (
        secrets.compare_digest(password.encode(), tenant.password.encode())
    )


def _money_body(raw: bytes, date_field: str) -> tuple[int, str]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise Refused(400, "validation.msg.invalid.json", "The request body must be JSON")
    for name in ("dateFormat", "locale", date_field, "transactionAmount", "externalId"):
        if body.get(name) in (None, ""):
            raise Refused(
                400, f"validation.msg.{name}.cannot.be.blank", f"The parameter {name} is mandatory."
            )
    try:
        amount = api.parse_amount(body["transactionAmount"])
    except ValueError as exc:
        raise Refused(
            400, "validation.msg.transactionAmount.invalid.decimal.format", str(exc)
        ) from None
    external_id = body["externalId"]
    if not isinstance(external_id, str) or len(external_id) > 100:
        raise Refused(400, "validation.msg.externalId.invalid", "externalId must be a string")
    return amount, external_id


def _client(member: Member) -> dict[str, Any]:
    return {
        "id": member.client_id,
        "accountNo": f"{member.client_id:09d}",
        "externalId": member.member_number,
        "status": {"id": 300, "code": "clientStatusType.active", "value": "Active"},
        "active": True,
        "displayName": member.name,
        "officeId": 1,
    }


def _accounts(member: Member) -> dict[str, Any]:
    savings = {
        "id": member.savings_id,
        "accountNo": member.savings_no(),
        "productName": "FOSA Savings",
        "status": {"id": 300, "code": "savingsAccountStatusType.active", "value": "Active",
                   "active": True},
        "subStatus": {"dormant": member.dormant},
        "accountBalance": _decimal(member.savings_minor),
    }  # fmt: skip
    loans = [] if member.loan_id is None else [_loan(member)]
    return {"savingsAccounts": [savings], "loanAccounts": loans}


def _loan(member: Member) -> dict[str, Any]:
    """Fineract's loan status flags. A multi-tranche loan can owe money AND have tranches
    waiting; the simulator shows both flags (Fineract's exact flags then are unverified)."""
    waiting = member.undisbursed_minor > 0
    if member.loan_active():
        sid, code, value = 300, "active", "Active"
    elif member.overpaid_minor > 0:
        sid, code, value = 700, "overpaid", "Overpaid"
    elif waiting:
        sid, code, value = 200, "approved", "Approved"
    else:
        sid, code, value = 600, "closed.obligations.met", "Closed (obligations met)"
    return {
        "id": member.loan_id,
        "accountNo": member.loan_no(),
        "productName": "Development Loan",
        "status": {
            "id": sid,
            "code": f"loanStatusType.{code}",
            "value": value,
            "waitingForDisbursal": waiting,
            "active": member.loan_active(),
            "overpaid": member.overpaid_minor > 0,
        },
        "loanBalance": _decimal(member.outstanding_minor),
    }


def _posted(member: Member, txn: Txn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "officeId": 1,
        "clientId": member.client_id,
        "resourceExternalId": txn.external_id,
        "changes": {"transactionAmount": api.format_amount(txn.amount_minor)},
    }
    if txn.kind == "disbursement":
        return {**body, "loanId": member.loan_id, "resourceId": member.loan_id,
                "subResourceId": txn.transaction_id}  # fmt: skip
    if txn.kind == "repayment":
        return {**body, "loanId": member.loan_id, "resourceId": txn.transaction_id}
    return {**body, "savingsId": member.savings_id, "resourceId": txn.transaction_id}


def _report_row(sacco: Book, txn: Txn) -> dict[str, Any]:
    member = sacco.members[txn.member_number]
    return {
        "external_id": txn.external_id,
        "transaction_id": txn.transaction_id,
        "transaction_type": txn.kind,
        "amount": api.format_amount(txn.amount_minor),
        "account_no": txn.account_no,
        "member_number": txn.member_number,
        "member_name": member.name,
        "reversed": txn.reversed,
        "transaction_date": time.strftime("%Y-%m-%d", time.gmtime(txn.booked_at)),
    }


def _decimal(minor: int) -> str:
    """A balance as Fineract shows it; unlike a transaction amount it may be zero."""
    return f"{minor // 100}.{minor % 100:02d}"


def _int(text: str) -> int:
    return int(text) if text.isdigit() else -1


SIMULATOR = web.AppKey("sacco_simulator", Simulator)

# Outage first, then the gate's refusals; unknown paths answer in Fineract's shape.
sacco_errors = wire_errors(
    SIMULATOR,
    outage=lambda _sim: fineract_error(503, *_BURSTS[503]),
    not_found=lambda: fineract_error(404, "error.msg.resource.not.found", "Resource not found"),
    not_allowed=lambda: fineract_error(405, "error.msg.method.not.allowed", "Method not allowed"),
)


def create_app(config: SimConfig | None = None) -> web.Application:
    sim = Simulator(config or SimConfig())
    app = sim_app(sim, SIMULATOR, [sacco_errors, early_answers])
    r, b = app.router, BASE_PATH
    r.add_get(b + api.CLIENTS_PATH, sim.clients)
    r.add_get(b + api.CLIENTS_PATH + "/{client_id}/accounts", sim.accounts)
    r.add_post(b + api.SAVINGS_PATH + "/{account_id}/transactions", sim.savings_txn)
    r.add_post(b + api.LOANS_PATH + "/{loan_id}", sim.loan_command)
    r.add_post(b + api.LOANS_PATH + "/{loan_id}/transactions", sim.loan_txn)
    r.add_get(b + api.REPORTS_PATH + "{report}", sim.report)
    r.add_get("/__sim/ledger", sim.ledger)
    r.add_get("/__sim/members/{tenant}/{member}", sim.member)
    return app
