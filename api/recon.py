"""Reconciliation for the switch operator (scope ``operator``): ingest each provider's own
record, match it against the switch's payments, and work the breaks queue
(:mod:`api.recon_breaks`).

- ``POST /v1/operator/recon/pulls`` ``{since?, until?}``: M-Pesa Pull Transactions now, for every
  C2B shortcode merchants registered (default: the last 48 hours, all Pull Transactions keeps);
  the same runs on a schedule (``SWITCH_RECON_PULL_INTERVAL`` seconds; 0: never), in one api
  process at a time (a lease, :mod:`infra.leases`), followed by a run over what it pulled;
- ``POST /v1/operator/recon/statements?source=...`` a file as the provider gives it: the M-Pesa
  organisation statement CSV (``mpesa_statement``, with ``shortcode``), an Airtel statement
  (``airtel_statement``), a bank statement as MT940 (``bank_mt940``) or camt.053
  (``bank_camt053``), the switch's collection account statement where the providers settle
  (``bank_settlement``, either format); a file that cannot be read is refused whole (422
  naming the line);
- ``POST /v1/operator/recon/runs`` ``{sources, since, until}``: match, store the breaks,
  answer the counts and the breaks found (:mod:`switch.recon.matching`); the source
  ``transfers`` lists transfers left ``refund_failed`` (:mod:`switch.recon.transfers`), and
  ``bank_settlement`` checks each settlement credit against the run's matched provider
  records of its day (:mod:`switch.recon.settlement`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.collection import AsyncCollection

from api import recon_breaks, recon_refunds
from api.auth import CLAIMS
from api.background import stop_task
from api.batches import read_limited
from api.errors import error_response, json_response
from api.payments import parse_body
from api.recon_breaks import RECON, Recon
from api.routes import Route, callback_route, json_answer, query
from api.state import STATE, AppState
from connectors.airtel.records import BadAirtelStatement, parse_airtel_statement
from connectors.http import TransportError
from connectors.mpesa import DarajaAccount, DarajaConnector
from connectors.mpesa.pull import pull
from connectors.mpesa.records import PULL_WINDOW_HOURS, BadRecords, parse_org_statement
from connectors.pesalink.records import BadStatement, parse_camt053, parse_mt940
from connectors.sacco.journal import Journal
from connectors.sacco.records import SOURCE as SACCO
from connectors.sacco.records import result_records
from connectors.transport import AiohttpTransport
from infra.leases import Leases
from infra.recon import ReconStore
from switch.ids import new_id, random_token
from switch.payments import iso, now_utc
from switch.recon.matching import Window, match
from switch.recon.records import SOURCES, ProviderRecord
from switch.recon.settlement import SOURCE as SETTLEMENT
from switch.recon.settlement import judge as settlements
from switch.recon.transfers import SOURCE as TRANSFERS
from switch.recon.transfers import findings as refund_findings

log = logging.getLogger(__name__)

MAX_STATEMENT = 20 * 1024 * 1024
FILES = ("mpesa_statement", "airtel_statement", "bank_mt940", "bank_camt053", "bank_settlement")
STATEMENT_TYPES = frozenset({"text/csv", "application/csv", "text/plain", "application/xml"})
LOOKBACK = timedelta(hours=1)  # a record in the window may belong to a payment made just before
PULL_LEASE = "recon_pull"
SCHEDULED_MARGIN = timedelta(minutes=5)  # a payment this recent may not be in the record yet
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_WINDOW = timedelta(days=93)  # a quarter: one run reads every payment of its window
_LOOP = web.AppKey("recon_loop", asyncio.Task[None])


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    since: datetime | None = Field(None, description="Start (ISO 8601); default: 48 hours ago.")
    until: datetime | None = Field(None, description="End (ISO 8601); default: now.")


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: Annotated[list[str], Field(min_length=1, max_length=len(SOURCES))]
    since: datetime
    until: datetime


# --- ingestion -----------------------------------------------------------------------------------


async def pull_mpesa(state: AppState, store: ReconStore, since: datetime, until: datetime) -> Any:
    """Pull Transactions for every registered C2B shortcode, ingested."""
    settings = state.settings
    account = DarajaAccount(
        settings.mpesa_base_url,
        settings.mpesa_consumer_key,
        settings.mpesa_consumer_secret,
        settings.mpesa_shortcode,
        settings.mpesa_passkey,
    )
    connector = DarajaConnector(account, settings.provider_timeout)
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    shortcodes = sorted([d["_id"] async for d in state.cols.c2b_routes.find({}, {"_id": 1})])
    transport = AiohttpTransport(limit=4)
    total, batch = 0, new_id("pull")
    try:
        for shortcode in shortcodes:
            records = await pull(
                transport,
                connector,
                shortcode,
                settings.mpesa_pull_nominated_number,
                f"{base}/callbacks/mpesa/pull",
                since,
                until,
            )
            total += await store.ingest(records, batch)
    finally:
        await transport.close()
    return {"object": "recon_pull", "shortcodes": shortcodes, "records": total}


async def pulls(request: web.Request) -> web.Response:
    body = await parse_body(request, Period) if request.can_read_body else Period()
    if isinstance(body, web.Response):
        return body
    now = now_utc()
    until = _utc(body.until) if body.until else now
    since = _utc(body.since) if body.since else until - timedelta(hours=PULL_WINDOW_HOURS)
    # Pull Transactions keeps 48 hours: a window outside them is refused here, never sent.
    oldest = now - timedelta(hours=PULL_WINDOW_HOURS, minutes=5)
    problems = [
        {"field": name, "reason": "must be within the last 48 hours"}
        for name, at in (("since", since), ("until", until))
        if not oldest <= at <= now + timedelta(minutes=5)
    ]
    if not problems and until <= since:
        problems.append({"field": "until", "reason": "must be after since"})
    if problems:
        return error_response(422, "validation_failed", "the request has invalid fields", problems)
    try:
        answer = await pull_mpesa(request.app[STATE], _store(request), since, until)
    except (BadRecords, TransportError) as exc:
        return error_response(502, "provider_refused", f"M-Pesa Pull Transactions: {exc}")
    return json_response(answer)


def _store(request: web.Request) -> ReconStore:
    return request.app[RECON].store(request.app[STATE])


def parse_statement(source: str, shortcode: str, data: bytes) -> list[ProviderRecord]:
    if source == "mpesa_statement":
        return parse_org_statement(data, shortcode)
    if source == "airtel_statement":
        return parse_airtel_statement(data)
    if source == "bank_mt940":
        return parse_mt940(data)
    if source == "bank_settlement":  # the collection account's statement, either format
        read = parse_camt053 if data.lstrip().startswith(b"<") else parse_mt940
        return [replace(r, source=SETTLEMENT) for r in read(data)]
    return parse_camt053(data)


async def statements(request: web.Request) -> web.Response:
    source = request.query.get("source", "")
    shortcode = request.query.get("shortcode", "")
    problems = []
    if source not in FILES:
        problems.append({"field": "source", "reason": f"must be one of {', '.join(FILES)}"})
    if source == "mpesa_statement" and not (shortcode.isdigit() and 5 <= len(shortcode) <= 7):
        problems.append({"field": "shortcode", "reason": "the statement's shortcode, 5-7 digits"})
    if problems:
        return error_response(422, "validation_failed", "the request has invalid fields", problems)
    data = await read_limited(request, MAX_STATEMENT)
    if data is None:
        return error_response(413, "body_too_large", "a statement is at most 20 MiB")
    try:
        records = parse_statement(source, shortcode, data)
    except (BadRecords, BadStatement, BadAirtelStatement) as exc:
        detail = [{"field": "body", "reason": str(exc)}]
        return error_response(422, "unreadable_statement", "the statement cannot be read", detail)
    count = await _store(request).ingest(records, new_id("stm"))
    return json_response({"object": "recon_ingest", "source": source, "records": count})


# --- runs ----------------------------------------------------------------------------------------


async def sacco_results(state: AppState, store: ReconStore) -> set[str]:
    """Every file SACCO's result files, as its gateway kept them in its journal, ingested again
    (the same file gives the same records); answers the payment ids written to file SACCOs."""
    root = Path(state.settings.sacco_outbox_dir)
    written: set[str] = set()
    for code in await asyncio.to_thread(_file_saccos, root):
        journal = Journal(root / code)
        batches = [data for _, data in await journal.batches()]
        results = [data for _, data in await journal.results()]
        records, ids = result_records(code, batches, results)
        await store.ingest(records, f"sacco:{code}")
        written |= ids
    return written


def _file_saccos(root: Path) -> list[str]:
    """The SACCO codes with a journal under the outbox folder (file SACCOs only)."""
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if (d / "journal").is_dir())


async def run_recon(
    state: AppState,
    store: ReconStore,
    sources: list[str],
    since: datetime,
    until: datetime,
    by: str,
) -> dict[str, Any]:
    written = await sacco_results(state, store) if SACCO in sources else None
    everything = await store.records_of(sources, since, until)
    refunded = await store.refund_receipts() if "mpesa_statement" in sources else set()
    records = [r for r in everything if r.source != SETTLEMENT and r.receipt not in refunded]
    txns = await store.payments(state.cols.payments, sources, since - LOOKBACK, until, records)
    if written is not None:  # an API SACCO's payments are not in any file
        sacco = SOURCES[SACCO].methods
        txns = [t for t in txns if t.method not in sacco or t.payment_id in written]
    matched = [s for s in sources if s != SETTLEMENT]
    findings = match(txns, records, matched, Window(since, until)) if matched else []
    if SETTLEMENT in sources:  # the third way: the bank against the matched provider records
        findings += settlements([r for r in everything if r.source == SETTLEMENT], findings)
    if TRANSFERS in sources:
        findings += refund_findings(
            await store.failed_refunds(state.cols.payments, since - LOOKBACK, until)
        )
    now = now_utc()
    run = {
        "_id": new_id("rcn"),
        "sources": sources,
        "since": since,
        "until": until,
        "by": by,
        "at": now,
        "counts": dict(Counter(f.kind for f in findings)),
    }
    await store.save_run(run, findings, now)
    return {
        "id": run["_id"],
        "object": "recon_run",
        "sources": sources,
        "since": iso(since),
        "until": iso(until),
        "counts": run["counts"],
        "cleared": run["cleared"],
        "breaks": [
            {"id": f.id, "kind": f.kind, "provider": f.provider, "key": f.key, "detail": f.detail}
            for f in findings
            if f.is_break
        ],
    }


async def runs(request: web.Request) -> web.Response:
    body = await parse_body(request, RunBody)
    if isinstance(body, web.Response):
        return body
    problems = [
        {"field": "sources", "reason": f"unknown source {s}; one of {', '.join(SOURCES)}"}
        for s in body.sources
        if s not in SOURCES
    ]
    since, until = _utc(body.since), _utc(body.until)
    for name, at in (("since", since), ("until", until)):
        if not EARLIEST <= at <= now_utc() + timedelta(days=1):
            problems.append({"field": name, "reason": "must be a time from 2000 until tomorrow"})
    if until <= since or until - since > MAX_WINDOW:
        problems.append({"field": "until", "reason": "must be after since, by at most 93 days"})
    if problems:
        return error_response(422, "validation_failed", "the request has invalid fields", problems)
    by = f"operator:{request[CLAIMS].client_id}"
    answer = await run_recon(
        request.app[STATE],
        _store(request),
        sorted(set(body.sources)),
        since,
        until,
        by,
    )
    return json_response(answer, 201)


def _utc(at: datetime) -> datetime:
    """In UTC; a time whose offset takes it outside what a datetime holds reads as the first
    or last one (and is then refused as out of range)."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    try:
        return at.astimezone(UTC)
    except OverflowError:
        return (datetime.min if at.year < 2 else datetime.max).replace(tzinfo=UTC)


async def pull_callback(request: web.Request) -> web.Response:
    """What Daraja posts to a Pull registration's CallBackURL is undocumented: acknowledged
    and logged; the records are read by query."""
    log.info("Pull Transactions callback (%d bytes) acknowledged", len(await request.read()))
    return json_response({"ResultCode": 0, "ResultDesc": "Accepted"})


# --- the schedule --------------------------------------------------------------------------------


async def _scheduled(app: web.Application) -> None:
    state = app[STATE]
    store = app[RECON].store(state)
    interval = state.settings.recon_pull_interval
    leases, holder = pull_leases(state), f"recon_{random_token(9)}"
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                # One api process at a time (``serve --workers N``); it keeps the lease while
                # it lives, and a dead holder's lapses after two intervals.
                if await leases.take(PULL_LEASE, holder, now_utc(), interval * 2):
                    until = now_utc() - SCHEDULED_MARGIN
                    since = until - timedelta(hours=PULL_WINDOW_HOURS)
                    await pull_mpesa(state, store, since, until)
                    await run_recon(state, store, ["mpesa_pull"], since, until, "schedule")
            except Exception:
                log.exception("scheduled reconciliation failed; trying again next time")
    finally:
        with contextlib.suppress(Exception):  # stopping: at worst the lease lapses
            await asyncio.shield(leases.drop(PULL_LEASE, holder))


def pull_leases(state: AppState) -> Leases:
    return Leases(state.cols.journal.database["leases"])


async def _start(app: web.Application) -> None:
    state = app[STATE]
    if not isinstance(state.cols.payments, AsyncCollection):
        return  # an app without a database (unit tests)
    await app[RECON].store(state).ensure_indexes()
    if state.settings.recon_pull_interval > 0:
        app[_LOOP] = asyncio.create_task(_scheduled(app))


async def _stop(app: web.Application) -> None:
    await stop_task(app.get(_LOOP))


def install(app: web.Application) -> None:
    app[RECON] = Recon()
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)


OPERATOR_JSON = {"type": "object", "additionalProperties": True}
ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/operator/recon/pulls",
        pulls,
        "Reconciliation",
        "Pull M-Pesa's C2B records (Pull Transactions) now",
        {200: json_answer("Records pulled and stored", OPERATOR_JSON)},
        body=Period,
        body_required=False,
        errors=(422, 502),
        error_texts={502: "M-Pesa refused or did not answer"},
    ),
    Route(
        "POST",
        "/v1/operator/recon/statements",
        statements,
        "Reconciliation",
        "Ingest a provider's or bank's statement file",
        {200: json_answer("Records stored", OPERATOR_JSON)},
        body={t: {"type": "string"} for t in sorted(STATEMENT_TYPES)},
        params=(
            query(
                "source",
                {"type": "string", "enum": list(FILES)},
                "What the file is.",
                required=True,
            ),
            query("shortcode", {"type": "string"}, "The M-Pesa statement's shortcode."),
        ),
        errors=(400, 413, 415, 422),
        error_texts={
            413: "Larger than 20 MiB",
            422: "Bad parameters, or a file that cannot be read",
        },
    ),
    Route(
        "POST",
        "/v1/operator/recon/runs",
        runs,
        "Reconciliation",
        "Match the switch's payments against the stored records; breaks go to the queue",
        {201: json_answer("The run: counts by finding and the breaks found", OPERATOR_JSON)},
        body=RunBody,
    ),
    *recon_breaks.ROUTE_TABLE,
    *recon_refunds.ROUTE_TABLE,
    callback_route(
        "/callbacks/mpesa/pull", pull_callback, "M-Pesa Pull Transactions notice", "mpesa"
    ),
)
