"""Statements and summaries: ``GET /v1/statements`` (an account of the merchant's balance from
the journal, with running balances) and ``GET /v1/reports/summary`` (daily or monthly totals by
method, provider and status), as JSON or as CSV streamed row by row, for up to a month of
Nairobi days; longer ranges are export jobs (api/exports.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import date
from typing import Any

from aiohttp import web

from api.auth import CLAIMS
from api.errors import json_response
from api.routes import Answer, Route, query
from api.search import bad_filters
from api.state import STATE, AppState
from infra.finder import created_between, journal_since
from switch import reports, statements
from switch.csvsafe import lines
from switch.search import FilterError

CHOICES_STATEMENT = {"account": statements.ACCOUNTS}
CHOICES_SUMMARY = {"granularity": ("day", "month")}


async def statement_of(
    state: AppState, merchant_id: str, account: statements.Account, since: date, until: date
) -> statements.Statement:
    start, end = statements.day_range(since, until)
    name = statements.account_name(merchant_id, account)
    balance, docs = await journal_since(
        state.cols.journal, state.cols.balances, merchant_id, name, start
    )
    rows = [statements.row_of(d) for d in docs]
    return statements.build(merchant_id, account, start, end, balance, rows)


async def summary_of(
    state: AppState, merchant_id: str, granularity: reports.Granularity, since: date, until: date
) -> list[dict[str, Any]]:
    start, end = statements.day_range(since, until)
    docs: list[dict[str, Any]] = []
    windows = created_between(state.cols.payments, merchant_id, start, end, reports.SUMMARY_FIELDS)
    async for window in windows:
        docs += window
    return reports.summarise(docs, granularity)


async def stream_csv(
    request: web.Request, filename: str, rows: Iterable[list[str]] | AsyncIterator[list[str]]
) -> web.StreamResponse:
    """CSV written to the client as it is made (each cell made safe: switch/csvsafe.py)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        }
    )
    await response.prepare(request)
    if isinstance(rows, AsyncIterator):
        async for row in rows:
            await response.write("".join(lines([row])).encode())
    else:
        for text in lines(rows):
            await response.write(text.encode())
    await response.write_eof()
    return response


async def get_statement(request: web.Request) -> web.StreamResponse:
    try:
        q = reports.parse_report_query(request.query, CHOICES_STATEMENT)
    except FilterError as exc:
        return bad_filters(exc)
    merchant_id = request[CLAIMS].merchant_id
    st = await statement_of(request.app[STATE], merchant_id, q["account"], q["since"], q["until"])
    if q["format"] == "csv":
        name = f"statement-{q['account']}-{q['since']}-{q['until']}.csv"
        return await stream_csv(request, name, statements.csv_rows(st))
    return json_response(st.to_json())


async def get_summary(request: web.Request) -> web.StreamResponse:
    try:
        q = reports.parse_report_query(request.query, CHOICES_SUMMARY)
    except FilterError as exc:
        return bad_filters(exc)
    merchant_id = request[CLAIMS].merchant_id
    periods = await summary_of(
        request.app[STATE], merchant_id, q["granularity"], q["since"], q["until"]
    )
    if q["format"] == "csv":
        name = f"summary-{q['granularity']}-{q['since']}-{q['until']}.csv"
        return await stream_csv(request, name, reports.csv_rows(periods))
    body = {
        "object": "summary",
        "granularity": q["granularity"],
        "time_zone": "Africa/Nairobi",
        "currency": "KES",
        "periods": periods,
    }
    return json_response(body)


DAY = {"type": "string", "format": "date"}
DATES = (
    query("since", DAY, "First Nairobi day (YYYY-MM-DD, inclusive).", required=True),
    query("until", DAY, "Last Nairobi day (inclusive); at most 31 days.", required=True),
    query("format", {"enum": list(reports.FORMATS), "default": "json"}, "json or csv."),
)
OBJECT = {"type": "object", "additionalProperties": True}


def both(description: str) -> Answer:
    return Answer(description, {"application/json": OBJECT, "text/csv": {"type": "string"}})


ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/statements",
        get_statement,
        "Reports",
        "A statement of your balance: opening, every entry with its running balance, closing",
        {200: both("The statement (JSON, or CSV with format=csv)")},
        errors=(400,),
        params=(
            *DATES,
            query(
                "account",
                {"enum": list(statements.ACCOUNTS), "default": "available"},
                "Which account of your balance.",
            ),
        ),
        error_texts={400: "A bad or missing parameter (named)"},
    ),
    Route(
        "GET",
        "/v1/reports/summary",
        get_summary,
        "Reports",
        "Daily or monthly totals by method, provider and status (Nairobi days)",
        {200: both("The summary (JSON, or CSV with format=csv)")},
        errors=(400,),
        params=(
            *DATES,
            query(
                "granularity",
                {"enum": ["day", "month"], "default": "day"},
                "One row per Nairobi day or per month.",
            ),
        ),
        error_texts={400: "A bad or missing parameter (named)"},
    ),
)
