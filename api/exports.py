"""Large exports as background jobs: ``POST /v1/exports`` starts one (payments, payouts, a
statement or a summary, over any range, with the same filters as the list and report routes),
``GET /v1/exports/{id}`` tells its status and, once ready, a signed download link that expires
(switch/downloads.py), and ``GET /v1/exports/{id}/download`` serves the CSV to whoever holds a
valid link. The job runs in the api process that took it; its file is kept in MongoDB
(infra/exports.py), so any worker serves the download. A job whose process died is made again by
the process asked about it next (after its heartbeat has been silent for ``STALE_S``), over the
same range: a payments export lists what existed when it was asked for (``as_of``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.gov import collections_of
from api.payments import parse_body
from api.routes import Route, json_answer, query
from api.search import bad_filters, blind_indexed, opened
from api.state import STATE, AppState
from api.statements import statement_of, summary_of
from infra import exports as store
from infra.finder import find, merchant_since, whole
from infra.gov_store import GovStore
from switch import downloads, gov, reports, statements
from switch.csvsafe import line
from switch.ids import new_id
from switch.payments import from_doc, iso, now_utc, view
from switch.search import MAX_LIMIT, FilterError, Filters, parse_filters
from switch.security.crypto import derive_key

log = logging.getLogger(__name__)
_RUNNING: set[asyncio.Task[None]] = set()
HEARTBEAT_S = 5.0
STALE_S = 4 * HEARTBEAT_S
MAX_ATTEMPTS = 3
PAYMENT_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "method",
    "provider",
    "amount",
    "fee",
    "currency",
    "reference",
    "description",
    "phone",
    "receipt",
)


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["payments", "payouts", "statement", "summary", "gov_collections"]
    filters: Annotated[dict[str, str], Field(max_length=20)] = Field(
        default_factory=dict,
        description="The list route's filters (payments, payouts) or the report's parameters "
        "(statement, summary, gov_collections: since, until, account or granularity), as query "
        "strings are.",
    )


def link_key(state: AppState) -> bytes:
    return derive_key(state.secret_key, "export-links")


def _checked(body: ExportIn) -> Filters | dict[str, Any]:
    """The job's parameters, checked now so a bad one is a 400 and no job."""
    if body.kind in ("payments", "payouts"):
        return parse_filters(body.kind, {k: v for k, v in body.filters.items() if k != "cursor"})
    by_kind: dict[str, dict[str, tuple[str, ...]]] = {
        "statement": {"account": statements.ACCOUNTS},
        "summary": {"granularity": ("day", "month")},
    }
    choices = by_kind.get(body.kind, {})
    return reports.parse_report_query(body.filters, choices, max_days=None)


async def create_export(request: web.Request) -> web.Response:
    body = await parse_body(request, ExportIn)
    if isinstance(body, web.Response):
        return body
    try:
        params = _checked(body)
    except FilterError as exc:
        exc.details = [{**d, "field": f"filters.{d['field']}"} for d in exc.details]
        return bad_filters(exc)
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    now = now_utc()
    job = {
        "_id": new_id("exp"),
        "merchant_id": merchant_id,
        "kind": body.kind,
        "filters": dict(body.filters),
        "status": "running",
        "created_at": now,
        "as_of": now,
        "attempt": 1,
        "heartbeat": now,
    }
    await store.create(state.cols, job)
    _start(state, job, params)
    return json_response(_shown(state, job), 202, {"Location": f"/v1/exports/{job['_id']}"})


def _start(state: AppState, job: dict[str, Any], params: Filters | dict[str, Any]) -> None:
    task = asyncio.create_task(_run(state, job, params))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)


async def _resumed(state: AppState, job: dict[str, Any]) -> dict[str, Any]:
    """The job, taken over and started again here if its worker died (its heartbeat silent
    for ``STALE_S``); failed after ``MAX_ATTEMPTS``."""
    now = now_utc()
    if job["status"] != "running" or job.get("heartbeat", now) > now - timedelta(seconds=STALE_S):
        return job
    claimed = await store.claim_stale(state.cols, job["_id"], now, now - timedelta(seconds=STALE_S))
    if claimed is None:
        return job  # not stale after all, or another worker took it
    if claimed["attempt"] > MAX_ATTEMPTS:
        failed = {"status": "failed", "failure": "the export could not be made; start another"}
        await store.finish(state.cols, job["_id"], claimed["attempt"], failed)
        return {**claimed, **failed}
    log.warning("export %s: its worker stopped; making it again here", job["_id"])
    body = ExportIn(kind=claimed["kind"], filters=claimed["filters"])
    _start(state, claimed, _checked(body))
    return claimed


def _shown(state: AppState, job: dict[str, Any]) -> dict[str, Any]:
    shown = {
        "id": job["_id"],
        "object": "export",
        "kind": job["kind"],
        "filters": job["filters"],
        "status": job["status"],
        "created_at": iso(job["created_at"]),
        "rows": job.get("rows"),
        "bytes": job.get("bytes"),
        "download_url": None,
        "expires_in": None,
    }
    if job["status"] == "ready":
        key = link_key(state)
        shown["download_url"] = downloads.link(
            key, job["_id"], job["merchant_id"], int(time.time())
        )
        shown["expires_in"] = downloads.LINK_SECONDS
    if job["status"] == "failed":
        shown["failure"] = job.get("failure")
    return shown


async def _run(state: AppState, job: dict[str, Any], params: Filters | dict[str, Any]) -> None:
    attempt = job["attempt"]
    writer = store.ChunkWriter(state.cols, job["_id"], attempt)
    heart = asyncio.create_task(_heartbeat(state, job["_id"], attempt))
    rows = 0
    try:
        async for row in _rows(state, job, params):
            await writer.write(line(row))
            rows += 1
        await writer.flush()
        done = {"status": "ready", "rows": rows - 1, "bytes": writer.bytes, "chunks": writer.count}
    except Exception:
        log.exception("export %s failed", job["_id"])
        done = {"status": "failed", "failure": "the export could not be made; start another"}
    finally:
        heart.cancel()
    done["finished_at"] = now_utc()
    await store.finish(state.cols, job["_id"], attempt, done)


async def _heartbeat(state: AppState, job_id: str, attempt: int) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_S)
        try:
            await store.beat(state.cols, job_id, attempt, now_utc())
        except Exception:  # the next beat may get through; a silent one only costs a re-run
            log.warning("export %s: heartbeat not stored", job_id)


async def _rows(
    state: AppState, job: dict[str, Any], params: Filters | dict[str, Any]
) -> AsyncIterator[list[str]]:
    merchant_id, kind = job["merchant_id"], job["kind"]
    if isinstance(params, Filters):
        async for row in _payment_rows(state, merchant_id, params, job["as_of"]):
            yield row
        return
    if kind == "statement":
        st = await statement_of(
            state, merchant_id, params["account"], params["since"], params["until"]
        )
        for row in statements.csv_rows(st):
            yield row
        return
    if kind == "gov_collections":  # an agency's collections per revenue head (api/gov.py)
        store = GovStore(state.cols.payments.database)
        found = await collections_of(store, merchant_id, params["since"], params["until"])
        for row in gov.csv_rows(found):
            yield row
        return
    periods = await summary_of(
        state, merchant_id, params["granularity"], params["since"], params["until"]
    )
    for row in reports.csv_rows(periods):
        yield row


async def _payment_rows(
    state: AppState, merchant_id: str, f: Filters, as_of: datetime
) -> AsyncIterator[list[str]]:
    yield list(PAYMENT_COLUMNS)
    since = await merchant_since(state.cols.merchants, merchant_id) or as_of
    # What existed when the export was asked for, however late (or often) it is made.
    until = min(f.created_until, as_of) if f.created_until else as_of
    f = blind_indexed(state, replace(f, limit=MAX_LIMIT, created_until=until))
    pos = None
    while True:
        found = await find(state.cols.payments, merchant_id, f, pos, since, as_of)
        docs = await opened(state, await whole(state.cols.payments, [d["_id"] for d in found.docs]))
        for doc in docs:
            v = view(from_doc(doc))
            yield [
                v["id"],
                v["created_at"],
                v["updated_at"],
                v["status"],
                v["method"],
                v["provider"]["name"],
                v["amount"],
                v["fee"],
                v["currency"],
                v["reference"],
                v["description"],
                v["phone"] or "",
                v["provider"].get("receipt") or "",
            ]
        if found.next is None:
            return
        pos = found.next


async def get_export(request: web.Request) -> web.Response:
    state = request.app[STATE]
    job = await store.get(state.cols, request.match_info["export_id"], request[CLAIMS].merchant_id)
    if job is None:
        return error_response(404, "not_found", "no such export")
    return json_response(_shown(state, await _resumed(state, job)))


async def download(request: web.Request) -> web.StreamResponse:
    """Public: the signed link is the credential (it names the merchant it was made for)."""
    state = request.app[STATE]
    export_id = request.match_info["export_id"]
    job = await store.jobs(state.cols).find_one({"_id": export_id})
    refused = downloads.refusal(
        link_key(state),
        export_id,
        job["merchant_id"] if job else "",
        request.query.get("expires", ""),
        request.query.get("signature", ""),
        int(time.time()),
    )
    if job is None or refused == "bad_signature":
        return error_response(403, "bad_signature", "this link is not valid")
    if refused == "link_expired":
        return error_response(
            403, "link_expired", "this link has expired: ask for the export again"
        )
    if job["status"] != "ready":
        return error_response(409, "not_ready", "the export is not ready")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{job["kind"]}-{export_id}.csv"',
        }
    )
    await response.prepare(request)
    async for data in store.read_chunks(job, state.cols):
        await response.write(data)
    await response.write_eof()
    return response


EXPORT = {"type": "object", "additionalProperties": True}
ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/exports",
        create_export,
        "Reports",
        "Start an export (payments, payouts, a statement or a summary; any range) as a job",
        {202: json_answer("Started; poll it", EXPORT)},
        body=ExportIn,
        errors=(400,),
        error_texts={400: "A bad filter (named)"},
    ),
    Route(
        "GET",
        "/v1/exports/{export_id}",
        get_export,
        "Reports",
        "An export's status; once ready, a signed download link (15 minutes)",
        {200: json_answer("The export", EXPORT)},
        errors=(404,),
    ),
    Route(
        "GET",
        "/v1/exports/{export_id}/download",
        download,
        "Reports",
        "Download an export's CSV through its signed link",
        {200: json_answer("The CSV", {"type": "string"})},
        errors=(403, 409),
        params=(
            query("expires", {"type": "string"}, "From the link.", required=True),
            query("signature", {"type": "string"}, "From the link.", required=True),
        ),
        security=(),
        error_texts={403: "bad_signature or link_expired", 409: "Not ready yet"},
    ),
)
