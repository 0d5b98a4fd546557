"""Monthly disbursement runs of a benefits programme over HTTP.

- ``POST /v1/benefits/programmes/{programme_id}/runs`` ``{"cycle": "2026-12"}`` (Idempotency-Key):
  plans a run: the beneficiaries eligible in the cycle, less those another run of the cycle
  holds, each destination's registered name checked (api/benefits_checks.py). Stored as
  ``awaiting_approval`` with every exception; nothing is paid.
- ``POST /v1/benefits/runs/{run_id}/approve``: a person other than the one who made the run
  (four eyes) approves it. The claims (programme, cycle, beneficiary) are stored first, then one
  payout batch (api/batches.py's machinery: ``BatchPort``) pays the claimed beneficiaries.
  Approving again (a retry, a crash in the middle, two approvers at once) carries the same run
  on: the claims exist, and the batch's key is the run's, so it is the same batch.
- ``POST /v1/benefits/runs/{run_id}/retry``: once the last batch is complete, its failed payouts
  are sent again in a new batch under the same claims (attempt + 1, moved under a guard, so two
  retries at once move each claim once). A failed payout moved no money, so none is paid twice.
- reading a run and its exceptions report: api/benefits_reads.py.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from api import benefits_registry as reg
from api import openapi_models as out
from api.auth import CLAIMS
from api.batches import BATCHES, payout_checker
from api.benefits_checks import check_all
from api.benefits_models import RunCreate, run_id
from api.benefits_reads import batch_items, load_run, run_view
from api.bills_common import bills_of, note_event
from api.errors import error_response, json_response
from api.merchant_settings import actor
from api.payments import maker_of, validated
from api.routes import Route, json_answer
from api.state import STATE, AppState
from infra.benefits_store import BenefitsStore, personal_paths, run_paths
from switch.batches import BatchItem, batch_id_for, batch_request_hash
from switch.benefits import (
    PAID_UNCHECKED,
    Candidate,
    as_of,
    beneficiary_of_item,
    claim_key,
    cycle_problem,
    item_id,
    plan,
)
from switch.errors import Unavailable
from switch.idempotency import request_hash, scoped_key
from switch.money import format_minor
from switch.payments import now_utc
from switch.pii import Sealer

log = logging.getLogger(__name__)
Doc = dict[str, Any]
TAG = "Benefits"


def _batch_key(run: Doc, attempt: int) -> str:
    return f"benefits:{run['_id']}:{attempt}"


def _batch_id(state: AppState, run: Doc, attempt: int) -> str:
    return batch_id_for(state.secret_key, scoped_key(run["merchant_id"], _batch_key(run, attempt)))


async def _notify(request: web.Request, run: Doc, kind: str, seq: int = 0) -> None:
    """Tell the merchant (a signed webhook from the outbox invoices and standing orders use,
    api/bills_worker.py); stored with a stable id, so a repeated step is one event."""
    data = {"id": run["_id"], "object": "benefit_run", "programme_id": run["programme_id"],
            "cycle": run["cycle"], "state": run["state"], "seq": seq}  # fmt: skip
    owner = {"_id": run["_id"], "merchant_id": run["merchant_id"]}
    await note_event(await bills_of(request.app), owner, kind, data)


# --- planning ------------------------------------------------------------------------------------


async def create_run(request: web.Request) -> web.Response:
    store = await reg.benefits_of(request.app)
    state, merchant_id = request.app[STATE], request[CLAIMS].merchant_id
    programme = await store.programme(merchant_id, request.match_info["programme_id"])
    if programme is None:
        return error_response(404, "not_found", "no such benefit programme")
    checked = await validated(request, RunCreate)
    if isinstance(checked, web.Response):
        return checked
    key, raw, body = checked
    rid, digest = run_id(state.secret_key, merchant_id, key), request_hash(raw)
    stored = await store.run(merchant_id, rid)
    if stored is not None:
        return await _replay(request, stored, digest, programme["_id"])
    now = now_utc()
    problem = cycle_problem(body.cycle, now)
    if problem:
        details = [{"field": "cycle", "reason": problem}]
        return error_response(422, "validation_failed", "the request has invalid fields", details)
    run = await _plan(request, store, programme, body.cycle, rid)
    run |= {"request_hash": digest, "created_at": now, "updated_at": now}
    sealer = state.sealer()
    await sealer.ready(merchant_id)
    existing = await store.insert_once(store.runs, sealer.seal(run, rid, merchant_id, run_paths))
    if existing is not None:
        return await _replay(request, existing, digest, programme["_id"])
    after = {"programme": programme["_id"], "cycle": body.cycle, "planned": len(run["planned"])}
    await reg.audit(request, "benefits.run.create", rid, after)
    await _notify(request, run, "benefit_run.awaiting_approval")
    return json_response(await run_view(request, run), 201)


async def _replay(
    request: web.Request, stored: Doc, digest: str, programme_id: str
) -> web.Response:
    if stored["request_hash"] != digest or stored["programme_id"] != programme_id:
        return error_response(409, "idempotency_conflict", "this key was used with another body")
    view = await run_view(request, stored)
    return json_response(view, headers={"Idempotent-Replayed": "true"})


async def _plan(
    request: web.Request, store: BenefitsStore, programme: Doc, cycle: str, rid: str
) -> Doc:
    state = request.app[STATE]
    sealer = state.sealer()
    people = {d["_id"]: d for d in await store.people_of(programme["_id"])}
    keys = {claim_key(programme["_id"], cycle, b): b for b in people}
    claimed = {keys[k]: c["run_id"] for k, c in (await store.claimed(list(keys))).items()}
    candidates = [
        Candidate(
            b, d["version"], reg.history(d), reg.amount_of(programme, d), d["payout"]["method"]
        )
        for b, d in people.items()
    ]
    day = as_of(cycle, now_utc())
    planned = plan(candidates, day, claimed, rid)
    to_check = [await reg.opened(sealer, dict(people[c.beneficiary_id])) for c in planned.to_check]
    checks = {
        c.beneficiary_id: c
        for c in await check_all(state, to_check, programme["name_match_threshold"])
    }
    exceptions: list[Doc] = [
        {
            "beneficiary_id": s.beneficiary_id,
            "kind": s.kind,
            "stage": "planning",
            "detail": s.detail,
        }
        for s in planned.skipped
    ]
    payable = []
    for c in planned.to_check:
        found = checks[c.beneficiary_id]
        if found.kind in PAID_UNCHECKED:  # paid, and the report says the name was not checked
            exceptions.append({"beneficiary_id": c.beneficiary_id, "kind": found.kind,
                               "stage": "name check", "detail": found.detail})  # fmt: skip
        if found.kind is None or found.kind in PAID_UNCHECKED:
            payable.append({"beneficiary_id": c.beneficiary_id, "version": c.version,
                            "amount_minor": c.amount_minor, "method": c.method,
                            "score": found.score})  # fmt: skip
            continue
        entry: Doc = {
            "beneficiary_id": c.beneficiary_id,
            "kind": found.kind,
            "stage": "name check",
            "detail": found.detail,
            "score": found.score,
        }
        if found.registered_name:
            entry["registered_name"] = found.registered_name
        exceptions.append(entry)
    return {
        "_id": rid,
        "object": "benefit_run",
        "merchant_id": programme["merchant_id"],
        "programme_id": programme["_id"],
        "cycle": cycle,
        "as_of": day.isoformat(),
        "state": "awaiting_approval",
        "maker": await maker_of(request),
        "made_by": actor(request[CLAIMS]),
        "approver": None,
        "planned": payable,
        "exceptions": exceptions,
        "approval_exceptions": [],
        "batches": [],
        "registered": len(people),
    }


# --- approving and paying ------------------------------------------------------------------------


async def approve(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    if claims.kind != "session":
        return error_response(
            403, "four_eyes_required", "a run is approved by a person signed in, not an API client"
        )
    found = await load_run(request)
    if isinstance(found, web.Response):
        return found
    store, run = found
    me = f"user:{claims.client_id}"
    if me == run["maker"] or actor(claims) == run["made_by"]:
        return error_response(403, "four_eyes_required", "the maker of a run cannot approve it")
    state = request.app[STATE]
    if run["state"] == "awaiting_approval":
        first = [_batch_id(state, run, 1)] if run["planned"] else []
        fields = {"state": "approved", "approver": me, "approved_at": now_utc(), "batches": first}
        moved = await store.set_run(run["_id"], {"state": "awaiting_approval"}, fields)
        if moved is not None:
            await reg.audit(request, "benefits.run.approve", run["_id"], {"approver": me})
            await _notify(request, moved, "benefit_run.approved")
        run = moved or await store.run(run["merchant_id"], run["_id"]) or run
    await _pay(request, store, run)
    run = await store.run(run["merchant_id"], run["_id"]) or run
    return json_response(await run_view(request, run))


async def _pay(request: web.Request, store: BenefitsStore, run: Doc) -> None:
    """Claims first, then the batch, then the run is ``paying``; until then every step can be
    repeated (an approval retried after a crash finds the claims and the batch again)."""
    if run["state"] != "approved":
        return
    extra: list[Doc] = []
    batches = list(run["batches"])
    if batches:
        extra = await _claim(request, store, run, batches[0])
        if not await _send(request, store, run, 1, batches[0]):
            batches = []  # every beneficiary was claimed by another run: nothing to pay
    fields = {"state": "paying", "approval_exceptions": extra, "batches": batches}
    await store.set_run(run["_id"], {"state": "approved"}, fields)


async def _claim(request: web.Request, store: BenefitsStore, run: Doc, batch: str) -> list[Doc]:
    """Store this run's claims on its planned beneficiaries (before any money moves); the
    exceptions found: a beneficiary changed since planning, or claimed by another run."""
    sealer = request.app[STATE].sealer()
    await sealer.ready(run["merchant_id"])
    planned = {p["beneficiary_id"]: p for p in run["planned"]}
    keys = {claim_key(run["programme_id"], run["cycle"], b): b for b in planned}
    held = await store.claimed(list(keys))
    unclaimed = [b for k, b in keys.items() if k not in held]
    people = await store.people_by_id(unclaimed)
    extra, fresh = [], []
    for b in unclaimed:
        doc = people.get(b)
        if doc is None or doc["version"] != planned[b]["version"]:
            detail = "its details or eligibility changed after the name check; plan again"
            extra.append({"beneficiary_id": b, "kind": "changed_since_planning",
                          "stage": "approval", "detail": detail})  # fmt: skip
            continue
        key = claim_key(run["programme_id"], run["cycle"], b)
        fresh.append({"_id": key, "merchant_id": run["merchant_id"], "run_id": run["_id"],
                      "programme_id": run["programme_id"], "cycle": run["cycle"],
                      "beneficiary_id": b, "attempt": 1, "batch_id": batch,
                      "amount_minor": planned[b]["amount_minor"], "phone": doc["phone"],
                      "payout": doc["payout"], "created_at": now_utc()})  # fmt: skip
    # Sealed in the registry bound to the beneficiary: opened and sealed again bound to the claim.
    for c in fresh:
        await sealer.ready_for(c, personal_paths)
    await store.claim([_sealed_claim(sealer, c) for c in fresh])
    for key, claim in (await store.claimed(list(keys))).items():
        if claim["run_id"] != run["_id"]:
            extra.append({"beneficiary_id": keys[key], "kind": "already_claimed",
                          "stage": "approval",
                          "detail": f"paid in this cycle by run {claim['run_id']}"})  # fmt: skip
    return extra


def _sealed_claim(sealer: Sealer, claim: Doc) -> Doc:
    """A claim with the destination opened from the registry and sealed again, bound to it."""
    opened = sealer.open({**claim, "_id": claim["beneficiary_id"]}, paths=personal_paths)
    opened["_id"] = claim["_id"]
    return sealer.seal(opened, claim["_id"], claim["merchant_id"], personal_paths)


async def _send(
    request: web.Request, store: BenefitsStore, run: Doc, attempt: int, batch: str
) -> bool:
    """Create (or find again) the payout batch of ``attempt``: the claims that name it. False
    when no claim names it (nothing to send)."""
    state = request.app[STATE]
    sealer = state.sealer()
    programme = await store.programme(run["merchant_id"], run["programme_id"]) or {}
    claims = [c for c in await store.claims_of(run["_id"]) if c["batch_id"] == batch]
    if not claims:
        return False
    check = payout_checker(run["merchant_id"], state.saccos, run["maker"])
    items = []
    for n, claim in enumerate(claims, start=1):
        await sealer.ready_for(claim, personal_paths)
        sealer.open(claim, paths=personal_paths)
        body = _payout_body(programme, run, claim)
        verdict = check(body)
        if verdict.command is None:  # the registry validated it: a rail's limits changed
            log.warning(
                "benefit run %s: %s cannot be paid: %s",
                run["_id"],
                claim["beneficiary_id"],
                verdict.errors,
            )
            continue
        ident = item_id(claim["beneficiary_id"], claim["attempt"])
        items.append(
            BatchItem(n, ident, body, verdict.method, verdict.amount_minor, verdict.command)
        )
    try:
        reply = await request.app[BATCHES].create(
            run["merchant_id"], _batch_key(run, attempt), batch_request_hash(items), items
        )
    except Exception as exc:
        raise Unavailable("payout batches are unavailable; approve again to carry on") from exc
    if reply.status not in (200, 202):
        log.error("benefit run %s: batch %s refused: %s", run["_id"], batch, reply.body)
        raise Unavailable("the run's payout batch could not be stored; approve again")
    return True


def _payout_body(programme: Doc, run: Doc, claim: Doc) -> Doc:
    payout = claim["payout"]
    body: Doc = {
        "method": payout["method"],
        "amount": format_minor(int(claim["amount_minor"])),
        "currency": "KES",
        "reference": f"{programme.get('reference', 'BENEFIT')} {run['cycle']}",
        "remarks": f"Benefit {run['cycle']}",
    }
    if payout["method"] == "bank_transfer":
        body["bank"] = {
            "bank_code": payout["bank_code"],
            "account_number": payout["account_number"],
        }
    elif payout["method"] == "sacco":
        body["sacco"] = {
            "sacco_code": payout["sacco_code"],
            "member_number": payout["member_number"],
            "purpose": "deposit",
        }
    else:  # a wallet: M-Pesa or Airtel Money
        body["phone"] = claim["phone"]
    return body


# --- retrying failed payouts ---------------------------------------------------------------------


async def retry(request: web.Request) -> web.Response:
    found = await load_run(request)
    if isinstance(found, web.Response):
        return found
    store, run = found
    if run["state"] != "paying" or not run["batches"]:
        return error_response(409, "not_paying", "only an approved run that paid can be retried")
    state, batches = request.app[STATE], list(run["batches"])
    latest = await batch_items(request, run["merchant_id"], batches[-1])
    if latest is None:  # the newest batch was never stored (a crash): carry that retry on
        previous = (
            await batch_items(request, run["merchant_id"], batches[-2]) if len(batches) > 1 else []
        )
        await _move_failed(store, run, previous or [], batches[-1])
        await _send(request, store, run, len(batches), batches[-1])
    else:
        if any(i["status"] not in ("succeeded", "failed", "expired", "refused") for i in latest):
            return error_response(409, "still_paying", "the last attempt has payouts in flight")
        failed = [i for i in latest if i["status"] in ("failed", "expired", "refused")]
        if not failed:
            return error_response(409, "nothing_to_retry", "no payout of the last attempt failed")
        nxt = _batch_id(state, run, len(batches) + 1)
        moved = await store.set_run(run["_id"], {"batches": batches}, {"batches": [*batches, nxt]})
        if moved is None:
            return error_response(409, "retry_in_progress", "another retry of this run started")
        await _move_failed(store, run, failed, nxt)
        await _send(request, store, run, len(batches) + 1, nxt)
        await reg.audit(request, "benefits.run.retry", run["_id"], {"attempt": len(batches) + 1})
        await _notify(request, moved, "benefit_run.retried", len(batches) + 1)
    run = await store.run(run["merchant_id"], run["_id"]) or run
    return json_response(await run_view(request, run), 202)


async def _move_failed(store: BenefitsStore, run: Doc, failed: list[Doc], batch: str) -> None:
    for item in failed:
        if item["status"] not in ("failed", "expired", "refused"):
            continue
        ben, attempt = beneficiary_of_item(item["item_id"])
        key = claim_key(run["programme_id"], run["cycle"], ben)
        await store.next_attempt(key, run["_id"], attempt, batch)


_RUN = "/v1/benefits/runs/{run_id}"

ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/benefits/programmes/{programme_id}/runs",
        create_run,
        TAG,
        "Plan a disbursement run for a cycle: eligible beneficiaries, names checked",
        {
            201: json_answer("The run, awaiting approval", out.BenefitRun),
            200: json_answer("A replay", out.BenefitRun),
        },
        body=RunCreate,
        errors=(404, 409, 503),
        idempotency="required",
    ),
    Route(
        "POST",
        _RUN + "/approve",
        approve,
        TAG,
        "Approve a run (a person other than its maker); its payouts are sent",
        {200: json_answer("The run", out.BenefitRun)},
        body_required=False,
        errors=(403, 404, 503),
    ),
    Route(
        "POST",
        _RUN + "/retry",
        retry,
        TAG,
        "Send the last attempt's failed payouts again (same claims: nobody paid twice)",
        {202: json_answer("The run", out.BenefitRun)},
        body_required=False,
        errors=(404, 409, 503),
    ),
)
