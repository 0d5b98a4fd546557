"""Reading benefit runs over HTTP (api/benefits_runs.py makes, approves and retries them):
``GET /v1/benefits/runs/{run_id}`` (state and counts, from the batches' headers),
``GET .../report`` and ``GET .../report.csv`` (the auditors' exceptions report, with totals tied to
the journal). A run's payouts are read from its payout batches (``BatchPort``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api import benefits_registry as reg
from api import openapi_models as out
from api.auth import CLAIMS
from api.batches import BATCHES
from api.errors import error_response, json_response
from api.routes import Route, csv_answer, json_answer
from api.state import STATE
from infra.benefits_store import BenefitsStore, run_paths
from switch.benefits_report import (
    exceptions_csv,
    merchant_debit,
    minor,
    outcomes,
    payment_exceptions,
    progress,
    summary,
)
from switch.errors import Unavailable
from switch.messages import Reply
from switch.money import format_minor
from switch.payments import iso

Doc = dict[str, Any]
TAG = "Benefits"
PAGE = 1000
_RUN = "/v1/benefits/runs/{run_id}"


async def load_run(request: web.Request) -> tuple[BenefitsStore, Doc] | web.Response:
    store = await reg.benefits_of(request.app)
    rid = request.match_info["run_id"]
    run = await store.run(request[CLAIMS].merchant_id, rid)
    if run is None:
        return error_response(404, "not_found", f"no benefit run {rid}")
    return store, run


async def _page(request: web.Request, merchant_id: str, batch_id: str, offset: int,
                limit: int) -> Reply:  # fmt: skip
    try:
        return await request.app[BATCHES].get(merchant_id, batch_id, offset, limit)
    except Exception as exc:
        raise Unavailable("payout batches are unavailable; retry") from exc


async def _batch(request: web.Request, merchant_id: str, batch_id: str) -> Doc | None:
    """A batch with every item (None: no such batch)."""
    items: list[Doc] = []
    offset = 0
    while True:
        reply = await _page(request, merchant_id, batch_id, offset, PAGE)
        if reply.status == 404:
            return None
        items += reply.body["items"]
        if not reply.body.get("has_more"):
            return {**reply.body, "items": items}
        offset += PAGE


async def batch_items(request: web.Request, merchant_id: str, batch_id: str) -> list[Doc] | None:
    found = await _batch(request, merchant_id, batch_id)
    return None if found is None else list(found["items"])


async def _all_items(request: web.Request, run: Doc) -> tuple[list[Doc], int, bool]:
    """(items of every attempt, fees in cents, whether every stored batch is complete)."""
    items: list[Doc] = []
    fees, complete = 0, True
    for batch in run["batches"]:
        found = await _batch(request, run["merchant_id"], batch)
        if found is None:
            complete = False
            continue
        items += found["items"]
        fees += minor(found["totals"]["fees"])
        complete = complete and found["state"] == "completed"
    return items, fees, complete


async def run_view(request: web.Request, run: Doc) -> Doc:
    """The run with counts from its batches' headers (reading 2,000 items on every poll of a
    run's state would cost the batch actor more than paying them)."""
    counts, complete = [], True
    for batch in run["batches"]:
        reply = await _page(request, run["merchant_id"], batch, 0, 1)
        if reply.status == 404:
            complete = False
            continue
        counts.append(reply.body["counts"])
        complete = complete and reply.body["state"] == "completed"
    state = run["state"]
    if state == "paying" and complete:
        state = "completed"
    exceptions = run["exceptions"] + run.get("approval_exceptions", [])
    return {
        "id": run["_id"],
        "object": "benefit_run",
        "programme_id": run["programme_id"],
        "cycle": run["cycle"],
        "state": state,
        "eligibility_as_of": run["as_of"],
        "made_by": run["made_by"],
        "approved_by": run.get("approver"),
        "planned": {
            "count": len(run["planned"]),
            "amount": format_minor(sum(p["amount_minor"] for p in run["planned"])),
        },
        "exceptions": len(exceptions),
        **progress(counts),
        "attempts": len(run["batches"]),
        "batches": run["batches"],
        "report_url": f"/v1/benefits/runs/{run['_id']}/report",
        "created_at": iso(run["created_at"]),
    }


async def get_run(request: web.Request) -> web.Response:
    found = await load_run(request)
    if isinstance(found, web.Response):
        return found
    return json_response(await run_view(request, found[1]))


async def _report(request: web.Request, store: BenefitsStore, run: Doc) -> Doc:
    state = request.app[STATE]
    sealer = state.sealer()
    await sealer.ready_for(run, run_paths)
    sealer.open(run, paths=run_paths)
    items, fees, _ = await _all_items(request, run)
    found = outcomes(items)
    refusals = await store.refusals_of(run["programme_id"])
    exceptions = [
        *run["exceptions"],
        *run.get("approval_exceptions", []),
        *payment_exceptions(found),
        *(
            {
                "beneficiary_id": r["existing"],
                "kind": "duplicate_registration",
                "stage": f"registration (line {r['line']})",
                "detail": f"{r['field']} already registered",
            }
            for r in refusals
        ),
    ]
    people = await store.people_by_id(sorted({e["beneficiary_id"] for e in exceptions}))
    for e in exceptions:
        doc = people.get(e["beneficiary_id"])
        e["name"] = (await reg.opened(sealer, doc))["name"] if doc else None
    journal = await store.journal_of(found.payment_ids)
    debit = merchant_debit(journal, run["merchant_id"])
    return {
        "object": "benefit_run_report",
        "run_id": run["_id"],
        "programme_id": run["programme_id"],
        "cycle": run["cycle"],
        "registered": run["registered"],
        "made_by": run["made_by"],
        "approved_by": run.get("approver"),
        "totals": summary(run["planned"], found, fees, exceptions, debit, len(journal)),
        "exceptions": exceptions,
    }


async def report(request: web.Request) -> web.Response:
    found = await load_run(request)
    if isinstance(found, web.Response):
        return found
    return json_response(await _report(request, *found))


async def report_csv(request: web.Request) -> web.Response:
    found = await load_run(request)
    if isinstance(found, web.Response):
        return found
    body = await _report(request, *found)
    return web.Response(
        body=exceptions_csv(body["exceptions"]),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{body["run_id"]}-exceptions.csv"'},
    )


ROUTE_TABLE = (
    Route(
        "GET",
        _RUN,
        get_run,
        TAG,
        "A run: its state and counts",
        {200: json_answer("The run", out.BenefitRun)},
        errors=(404, 503),
    ),
    Route(
        "GET",
        _RUN + "/report",
        report,
        TAG,
        "The auditors' exceptions report, with totals tied to the journal",
        {200: json_answer("The report", out.BenefitRunReport)},
        errors=(404, 503),
    ),
    Route(
        "GET",
        _RUN + "/report.csv",
        report_csv,
        TAG,
        "The exceptions report as CSV",
        {200: csv_answer("One row per exception")},
        errors=(404, 503),
    ),
)
