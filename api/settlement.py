"""Settlement of a merchant's balance to its nominated account: the account (proposed by one
person, confirmed by a second, then a cooling-off period), the schedule and reserve, on-demand
runs, and the runs and their reports (JSON and CSV).

The scheduler runs in every api process (:mod:`api.settlement_worker`); a lease in MongoDB lets
one work at a time, and the run ids make any overlap harmless.
"""

from __future__ import annotations

import logging
import re
from datetime import time
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.merchant_settings import actor
from api.models import BankAccount, PaybillAccount
from api.payments import maker_of, parse_body
from api.routes import Route, csv_answer, json_answer, limit_param, query
from api.settlement_models import SettlementList, SettlementSettings, SettlementView, schema
from api.settlement_runs import (
    SettlementRefused,
    Settler,
    merchant_reserve,
    operator_reserve,
    schedule_of,
)
from api.state import STATE, AppState
from switch import settlement as rules
from switch.errors import NotFound
from switch.ids import random_token
from switch.logs import request_id
from switch.money import format_minor
from switch.payments import now_utc
from switch.rails import RAILS
from switch.settlement_report import report, reports_csv

log = logging.getLogger(__name__)
SETTLER = web.AppKey("settler", Settler)
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class AccountIn(BaseModel):
    """The account settlements pay: a bank account on PesaLink (``kind`` ``bank``) or an M-Pesa
    paybill and the account in it (``kind`` ``paybill``, paid by B2B)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["bank", "paybill"] = "bank"
    bank: BankAccount | None = None
    paybill: PaybillAccount | None = None

    @model_validator(mode="after")
    def _destination(self) -> AccountIn:
        given = getattr(self, self.kind)
        if given is None:
            raise ValueError(f"{self.kind}: a {self.kind} account is required for kind {self.kind}")
        other = "paybill" if self.kind == "bank" else "bank"
        if getattr(self, other) is not None:
            raise ValueError(f"{other}: give only the {self.kind} account for kind {self.kind}")
        if rules.settlement_rail(self.kind, RAILS) is None:
            raise ValueError(f"kind: no payout rail reaches a {self.kind} account yet")
        return self


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    change_id: str = Field(
        description="The proposal being confirmed (as GET /v1/settlement/account shows it), so "
        "a proposal swapped in meanwhile is not confirmed by mistake.",
        max_length=64,
    )


class ReserveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fixed: Annotated[str, Field(pattern=r"^[0-9]{1,9}$")] = Field(
        "0", description="Whole shillings always kept."
    )
    percent: float = Field(0, ge=0, le=100, description="Of the last `days` days' collections.")
    days: int = Field(7, ge=1, le=90)


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    frequency: Literal["daily", "manual"] = Field(
        description="`daily`: the switch settles at the cut-off; `manual`: on demand only."
    )
    cutoff: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        "17:00", description="HH:MM, Africa/Nairobi."
    )
    lag_days: Literal[0, 1] = Field(
        1, description="0: T+0; 1: T+1 (the last day's collections wait for the next run)."
    )
    reserve: ReserveIn = Field(default_factory=ReserveIn)


def _inherited(account: dict[str, Any] | None, owner: str | None) -> dict[str, Any] | None:
    """A sub-merchant paid to its aggregator's account says whose it is."""
    return {**account, "inherited_from": owner} if account and owner else account


def _view(settings: dict[str, Any] | None, state: AppState) -> dict[str, Any]:
    settings = settings or {}
    cooling_off = state.settings.settlement_cooling_off

    def shown(account: dict[str, Any] | None) -> dict[str, Any] | None:
        if not account:
            return None
        iso = {k: _iso(account.get(k)) for k in ("proposed_at", "confirmed_at", "usable_from")}
        return {
            "kind": account["kind"],
            "bank_code": account.get("bank_code"),
            **(
                {"business_number": account["business_number"]}
                if account.get("business_number")
                else {}
            ),
            "account_number": rules.mask_account(account.get("account_number") or ""),
            "account_name": account.get("account_name"),
            "proposed_by": account.get("proposed_by"),
            "confirmed_by": account.get("confirmed_by"),
            **{k: v for k, v in iso.items() if v is not None},
        }

    pending = settings.get("pending")
    schedule = schedule_of(settings)
    reserve = operator_reserve(state).stricter(merchant_reserve(settings))  # what is kept
    return {
        "object": "settlement_settings",
        "account": _inherited(shown(settings.get("account")), settings.get("account_of")),
        "pending_change": {"change_id": pending["change_id"], **(shown(pending) or {})}
        if pending
        else None,
        "cooling_off_seconds": cooling_off,
        "schedule": {
            "frequency": schedule.frequency,
            "cutoff": schedule.cutoff.strftime("%H:%M"),
            "lag_days": schedule.lag_days,
            "timezone": "Africa/Nairobi",
            "next_run_at": _iso(settings.get("next_due")),
        },
        "reserve": {
            "fixed": format_minor(reserve.fixed_minor),
            "percent": reserve.percent_bps / 100,
            "days": reserve.days,
        },
    }


def _iso(at: Any) -> str | None:
    return None if at is None else rules.as_utc(at).isoformat().replace("+00:00", "Z")


async def _audit(request: web.Request, action: str, before: Any, after: Any) -> None:
    state, claims = request.app[STATE], request[CLAIMS]
    try:
        await audit_log(state).append(
            actor(claims),
            action,
            f"merchant:{claims.merchant_id}",
            before=before,
            after=after,
            request_id=request_id.get(None) or None,
        )
    except Exception:  # the change stands; the log line says the record is missing
        log.exception("audit of %s for %s not recorded", action, claims.merchant_id)


async def get_settings(request: web.Request) -> web.Response:
    settler = request.app[SETTLER]
    found = await settler.settings_of(request[CLAIMS].merchant_id)
    return json_response(_view(found, request.app[STATE]))


async def propose_account(request: web.Request) -> web.Response:
    """A person proposes the account; it pays nothing until a second person confirms it and
    the cooling-off period has passed."""
    parsed = await parse_body(request, AccountIn)
    if isinstance(parsed, web.Response):
        return parsed
    claims, settler = request[CLAIMS], request.app[SETTLER]
    pending = {
        "change_id": "sac_" + random_token(12),
        "kind": parsed.kind,
        **_account_fields(parsed),
        "proposed_by": actor(claims),
        "proposed_at": now_utc(),
    }
    saved = await settler.store.set_fields(claims.merchant_id, {"pending": pending})
    masked = {**pending, "account_number": rules.mask_account(pending["account_number"])}
    await _audit(
        request, "settlement.account_proposed", None, {k: str(v) for k, v in masked.items()}
    )
    view = _view(saved, request.app[STATE])
    return json_response(view, 202)


def _account_fields(parsed: AccountIn) -> dict[str, Any]:
    """A bank account, or a paybill stored as its business number and the account in it (the
    ``account_number`` of views and reports)."""
    if parsed.paybill is not None:
        return {
            "business_number": parsed.paybill.business_number,
            "account_number": parsed.paybill.account_reference,
            "account_name": None,
        }
    bank = parsed.bank
    assert bank is not None  # the validator checked
    return {
        "bank_code": bank.bank_code,
        "account_number": bank.account_number,
        "account_name": bank.account_name,
    }


async def confirm_account(request: web.Request) -> web.Response:
    parsed = await parse_body(request, ConfirmIn)
    if isinstance(parsed, web.Response):
        return parsed
    state, claims, settler = request.app[STATE], request[CLAIMS], request.app[SETTLER]
    current = await settler.store.account(claims.merchant_id) or {}
    pending = current.get("pending")
    if not pending or pending["change_id"] != parsed.change_id:
        raise NotFound(f"no pending settlement account change {parsed.change_id}")
    me = actor(claims)
    problem = rules.confirmation_problem(
        pending["proposed_by"], me, claims.kind == "session", claims.mfa
    )
    if problem:
        return error_response(403, "four_eyes_required", problem)
    now = now_utc()
    account = {k: v for k, v in pending.items() if k != "change_id"}
    account.update(
        confirmed_by=me,
        confirmed_at=now,
        usable_from=rules.usable_from(now, state.settings.settlement_cooling_off),
    )
    saved = await settler.store.set_fields(
        claims.merchant_id,
        {"account": account, "pending": None},
        {"pending.change_id": parsed.change_id},
    )
    if saved is None:  # confirmed or replaced by someone else meanwhile
        raise NotFound(f"no pending settlement account change {parsed.change_id}")
    before = current.get("account") or {}
    await _audit(
        request,
        "settlement.account_confirmed",
        {"account_number": rules.mask_account(before.get("account_number") or "")},
        {
            "change_id": parsed.change_id,
            "bank_code": account.get("bank_code"),
            "business_number": account.get("business_number"),
            "account_number": rules.mask_account(account["account_number"]),
            "proposed_by": account["proposed_by"],
        },
    )
    return json_response(_view(saved, state))


async def put_schedule(request: web.Request) -> web.Response:
    parsed = await parse_body(request, ScheduleIn)
    if isinstance(parsed, web.Response):
        return parsed
    state, claims, settler = request.app[STATE], request[CLAIMS], request.app[SETTLER]
    hour, minute = (int(x) for x in parsed.cutoff.split(":"))
    cutoff = time(hour, minute)
    changes: dict[str, Any] = {
        "schedule": {
            "frequency": parsed.frequency,
            "cutoff": parsed.cutoff,
            "lag_days": parsed.lag_days,
        },
        "reserve": {
            "fixed_minor": int(parsed.reserve.fixed) * 100,
            "percent_bps": round(parsed.reserve.percent * 100),
            "days": parsed.reserve.days,
        },
        "next_due": rules.next_cutoff(now_utc(), cutoff) if parsed.frequency == "daily" else None,
    }
    saved = await settler.store.set_fields(claims.merchant_id, changes)
    await _audit(request, "settlement.schedule", None, parsed.model_dump())
    return json_response(_view(saved, state))


async def settle_now(request: web.Request) -> web.Response:
    """Settle today's balance (the Nairobi date) now; once per merchant per date."""
    claims, settler = request[CLAIMS], request.app[SETTLER]
    day = rules.nairobi_today(now_utc())
    run, made = await settler.settle(claims.merchant_id, day, "on_demand", await maker_of(request))
    headers = {"Location": f"/v1/settlements/{run['_id']}"}
    if not made:
        headers["Idempotent-Replayed"] = "true"
    return json_response(report(run), 201 if made else 200, headers)


async def _one(request: web.Request) -> dict[str, Any]:
    settler, run_id = request.app[SETTLER], request.match_info["settlement_id"]
    run = await settler.store.run(run_id, request[CLAIMS].merchant_id)
    if run is None:
        raise NotFound(f"no settlement {run_id}")
    return await settler.advance(run)  # a paying run shows its payout's latest word


async def get_settlement(request: web.Request) -> web.Response:
    return json_response(report(await _one(request)))


async def get_settlement_csv(request: web.Request) -> web.Response:
    return csv_response(reports_csv([await _one(request)]), request.match_info["settlement_id"])


async def _page(request: web.Request) -> list[dict[str, Any]]:
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        limit = 0
    before = request.query.get("before")
    problems = []
    if not 1 <= limit <= 500:
        problems.append({"field": "limit", "reason": "an integer from 1 to 500"})
    if before is not None and not _DAY.match(before):
        problems.append({"field": "before", "reason": "a date, YYYY-MM-DD"})
    if problems:
        raise SettlementRefusedInput(problems)
    return await request.app[SETTLER].store.runs_of(request[CLAIMS].merchant_id, limit, before)


class SettlementRefusedInput(SettlementRefused):
    status = 422

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("validation_failed", "the request has invalid fields")
        self.details = details


async def list_settlements(request: web.Request) -> web.Response:
    runs = await _page(request)
    body = {"object": "list", "data": [report(r) for r in runs]}
    return json_response(body)


async def list_settlements_csv(request: web.Request) -> web.Response:
    return csv_response(reports_csv(await _page(request)), "settlements")


def csv_response(body: bytes, name: str) -> web.Response:
    return web.Response(
        body=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def install(app: web.Application) -> None:
    app[SETTLER] = Settler(app[STATE])


PAGE = (
    limit_param(500, 50),
    query("before", {"type": "string", "format": "date"}, "Only runs of earlier dates."),
)
TAG = "Settlement"
SETTINGS = schema(SettlementSettings)
RUN = schema(SettlementView)
ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/settlement/account",
        get_settings,
        TAG,
        "Your settlement settings: the account, a pending change, schedule and reserve",
        {200: json_answer("The settings", SETTINGS)},
    ),
    Route(
        "PUT",
        "/v1/settlement/account",
        propose_account,
        TAG,
        "Propose the account settlements pay (a second person confirms it)",
        {202: json_answer("Proposed; pending a second person's confirmation", SETTINGS)},
        body=AccountIn,
    ),
    Route(
        "POST",
        "/v1/settlement/account/confirm",
        confirm_account,
        TAG,
        "Confirm a proposed settlement account (not its proposer; two-factor)",
        {200: json_answer("Confirmed; paid after the cooling-off period", SETTINGS)},
        body=ConfirmIn,
        errors=(404,),
        error_texts={403: "Not a second person signed in with two-factor"},
    ),
    Route(
        "PUT",
        "/v1/settlement/schedule",
        put_schedule,
        TAG,
        "Set the schedule (daily at a Nairobi cut-off, T+0 or T+1, or manual) and reserve",
        {200: json_answer("The settings", SETTINGS)},
        body=ScheduleIn,
    ),
    Route(
        "POST",
        "/v1/settlements",
        settle_now,
        TAG,
        "Settle today's balance now (once per merchant and Nairobi date)",
        {
            201: json_answer("The run, started", RUN),
            200: json_answer("Today's run, already started", RUN),
        },
        errors=(409, 503),
        error_texts={409: "No confirmed account, or it is in its cooling-off period"},
    ),
    Route(
        "GET",
        "/v1/settlements",
        list_settlements,
        TAG,
        "Your settlement runs, newest first",
        {200: json_answer("The runs", schema(SettlementList))},
        params=PAGE,
        errors=(422,),
        error_texts={422: "A bad page size or date, each named with the reason"},
    ),
    Route(
        "GET",
        "/v1/settlements.csv",
        list_settlements_csv,
        TAG,
        "Your settlement runs as CSV (cells a spreadsheet would run are escaped)",
        {200: csv_answer("One row per run")},
        params=PAGE,
        errors=(422,),
        error_texts={422: "A bad page size or date, each named with the reason"},
    ),
    Route(
        "GET",
        "/v1/settlements/{settlement_id}",
        get_settlement,
        TAG,
        "A settlement run's report",
        {200: json_answer("The report", RUN)},
        errors=(404,),
    ),
    Route(
        "GET",
        "/v1/settlements/{settlement_id}/report.csv",
        get_settlement_csv,
        TAG,
        "A settlement run's report as CSV",
        {200: csv_answer("The report")},
        errors=(404,),
    ),
)
