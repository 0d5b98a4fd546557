"""Onboarding with KYC, the operators' review (scope ``operator``; the reviewer is
``operator:<client id>``, one per person). Rules in :mod:`switch.kyc`.

- ``GET /v1/operator/kyc/applications[?status=submitted]``: the queue, oldest first;
- ``GET /v1/operator/kyc/applications/{id}``: everything, opened (PIN, directors), with the
  checks, the risk score and the decisions;
- ``GET .../documents/{document_id}``: the document's bytes, opened. Only operators see them,
  and each view is in the audit trail before the bytes leave (no record, no document);
- ``POST .../approve {reason?}``, ``.../reject {reason}``, ``.../request-changes {reason}``.

An approval that completes the count makes the merchant ``verified`` (never lifting a
suspension) and tells the shard that owns it, so live payments start at once.

The older ``PUT /v1/operator/merchants/{id}/kyc`` (api/reviews.py) keeps working: ``pending``
and ``suspended`` apply at once (restricting moves no money), but ``verified`` follows the same
four-eyes rule, as if above the risk threshold, since it carries no checks: the first operator's
call is a proposal (202), a second operator's confirms it (:func:`propose_verified`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.kyc import UPLOAD_TYPES, audit, document_view, opened, principal, store, summary
from api.payments import parse_body
from api.routes import Answer, Route, json_answer, limit_param, query
from api.state import STATE, AppState
from switch import kyc
from switch.errors import ValidationFailed
from switch.kyc_files import open_bytes
from switch.payments import iso, now_utc

log = logging.getLogger(__name__)
Doc = dict[str, Any]
STATUSES = ("draft", "submitted", "changes_requested", "approved", "rejected")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Annotated[str, Field(min_length=3, max_length=kyc.MAX_REASON)] | None = Field(
        None, description="Why: required to reject or to ask for changes."
    )


async def _tell_shard(state: AppState, merchant_id: str) -> None:
    try:
        await state.router.of_merchant(merchant_id).kyc_changed(merchant_id)
    except Exception:  # the shard restarts with an empty cache; else its cache ends in 30 s
        log.warning("shard not told of the KYC change of %s", merchant_id, exc_info=True)


async def _verify_merchant(state: AppState, merchant_id: str, reason: str) -> bool:
    """The merchant becomes ``verified`` unless suspended (an approval lifts no suspension)."""
    result = await state.cols.merchants.update_one(
        {"_id": merchant_id, "kyc_status": {"$ne": "suspended"}},
        {
            "$set": {
                "kyc_status": "verified",
                "kyc_status_reason": reason,
                "kyc_status_updated_at": now_utc(),
            },
            "$unset": {"kyc_proposal": ""},
        },
    )
    await _tell_shard(state, merchant_id)
    return result.matched_count == 1


# --- views and the queue ---------------------------------------------------------------------


async def operator_view(state: AppState, app: Doc) -> Doc:
    details = await opened(state, app)
    documents = await (await store(state)).documents_of(app["_id"])
    return {
        **summary(app),
        "kra_pin": details["kra_pin"],
        "directors": details["directors"],
        "documents": [document_view(d) for d in documents],
        "assessment": app.get("assessment"),
        "approvals_needed": app.get("approvals_needed"),
        "approvals": app.get("approvals") or [],
        "created_by": app["created_by"],
        "submitted_by": app.get("submitted_by"),
        "decisions": [{**d, "at": iso(d["at"])} for d in app.get("decisions") or []],
    }


async def list_queue(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationFailed(
            "invalid query", [{"field": "status", "reason": f"one of {', '.join(STATUSES)}"}]
        )
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise ValidationFailed("invalid query", [{"field": "limit", "reason": "1 to 500"}])
    state = request.app[STATE]
    found = await (await store(state)).listing(None, status, int(raw))
    data = [
        {
            **summary(a),
            "risk": (a.get("assessment") or {}).get("score"),
            "approvals_needed": a.get("approvals_needed"),
            "approvals": a.get("approvals") or [],
        }
        for a in found
    ]
    return json_response({"object": "list", "data": data})


async def _app(request: web.Request) -> tuple[AppState, Doc]:
    state = request.app[STATE]
    app = await (await store(state)).get(request.match_info["application_id"])
    if app is None:
        raise web.HTTPNotFound(reason="no such application")
    return state, app


async def get_application(request: web.Request) -> web.Response:
    state, app = await _app(request)
    return json_response(await operator_view(state, app))


async def get_document(request: web.Request) -> web.Response:
    state, app = await _app(request)
    kyc_store = await store(state)
    doc = await kyc_store.document(request.match_info["document_id"], app["_id"])
    if doc is None:
        return error_response(404, "not_found", "no such document")
    viewer = principal(request[CLAIMS])
    # The record first: a view that cannot be recorded does not happen.
    await audit(
        state,
        viewer,
        "kyc.document.view",
        f"kyc:{app['_id']}",
        None,
        {"document": doc["_id"], "kind": doc["kind"]},
    )
    dek = await state.sealer().ring.get(doc["key_id"], doc["key_version"])
    data = open_bytes(bytes(doc["sealed"]), dek, doc["_id"], app["_id"])
    name = doc["filename"].replace('"', "")
    return web.Response(
        body=data,
        content_type=doc["content_type"],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# --- decisions -------------------------------------------------------------------------------


async def _decide(request: web.Request, decision: kyc.Decision) -> web.Response:
    body = await parse_body(request, DecisionIn) if request.can_read_body else DecisionIn()
    if isinstance(body, web.Response):
        return body
    state, app = await _app(request)
    reviewer, kyc_store = principal(request[CLAIMS]), await store(state)
    for _ in range(5):  # another reviewer may decide at the same moment: decide again on theirs
        at = now_utc()
        step = kyc.decide(app, decision, reviewer, body.reason, at)
        if isinstance(step, kyc.Refused):
            return error_response(step.status, step.code, step.message)
        changes = {**step.changes, "status": step.status, "updated_at": at}
        if step.status != "submitted":
            changes["decided_at"] = at
        changed = await kyc_store.change(app["_id"], app["version"], changes, step.record)
        if changed is not None:
            break
        app = await kyc_store.get(app["_id"]) or app
    else:
        return error_response(409, "changed_meanwhile", "the application keeps changing: retry")
    target = f"kyc:{app['_id']}"
    await audit(
        state,
        reviewer,
        f"kyc.{step.record['decision']}",
        target,
        {"status": app["status"]},
        {"status": step.status, "reason": body.reason},
    )
    if step.verified:
        verified = await _verify_merchant(
            state, app["merchant_id"], f"KYC application {app['_id']}"
        )
        await audit(
            state,
            reviewer,
            "merchant.kyc",
            f"merchant:{app['merchant_id']}",
            None,
            {
                "value": "verified" if verified else "suspended (kept)",
                "reason": f"KYC application {app['_id']} approved",
            },
        )
    return json_response(await operator_view(state, changed))


async def approve(request: web.Request) -> web.Response:
    return await _decide(request, "approve")


async def reject(request: web.Request) -> web.Response:
    return await _decide(request, "reject")


async def request_changes(request: web.Request) -> web.Response:
    return await _decide(request, "request_changes")


# --- the older route's "verified" (api/reviews.py) -------------------------------------------


async def propose_verified(request: web.Request, merchant_id: str, reason: str) -> web.Response:
    """``PUT /v1/operator/merchants/{id}/kyc {state: verified}``: a proposal, applied when a
    second operator makes the same call. Both calls are audited."""
    state = request.app[STATE]
    operator = principal(request[CLAIMS])
    for _ in range(5):
        doc = await state.cols.merchants.find_one(
            {"_id": merchant_id}, {"kyc_status": 1, "kyc_proposal": 1}
        )
        if doc is None:
            return error_response(404, "not_found", f"no merchant {merchant_id}")
        pending = doc.get("kyc_proposal")
        outcome = kyc.merchant_decision(pending, operator)
        if isinstance(outcome, kyc.Refused):
            return error_response(outcome.status, outcome.code, outcome.message)
        applies, approvals = outcome
        guard = (
            {"_id": merchant_id, "kyc_proposal": pending}
            if pending
            else {"_id": merchant_id, "kyc_proposal": {"$exists": False}}
        )
        if applies:
            update: Doc = {
                "$set": {
                    "kyc_status": "verified",
                    "kyc_status_reason": reason,
                    "kyc_status_updated_at": now_utc(),
                },
                "$unset": {"kyc_proposal": ""},
            }
        else:
            update = {"$set": {"kyc_proposal": {"approvals": approvals, "reason": reason}}}
        if (await state.cols.merchants.update_one(guard, update)).modified_count == 1:
            break
    else:
        return error_response(409, "changed_meanwhile", "the merchant keeps changing: retry")
    action = "merchant.kyc" if applies else "merchant.kyc.propose"
    await audit(
        state,
        operator,
        action,
        f"merchant:{merchant_id}",
        {"value": doc.get("kyc_status")},
        {"value": "verified", "reason": reason, "approvals": approvals},
    )
    if not applies:
        return json_response(
            {
                "object": "merchant",
                "id": merchant_id,
                "kyc_status": doc.get("kyc_status"),
                "reason": reason,
                "pending": {
                    "kyc_status": "verified",
                    "approvals": approvals,
                    "approvals_needed": 2,
                },
            },
            202,
        )
    await _tell_shard(state, merchant_id)
    return json_response(
        {"object": "merchant", "id": merchant_id, "kyc_status": "verified", "reason": reason}
    )


_VIEW = json_answer("The application", {"type": "object", "additionalProperties": True})
_ID = "/v1/operator/kyc/applications/{application_id}"


def _decision_route(path: str, handler: Any, summary_text: str) -> Route:
    return Route(
        "POST",
        _ID + path,
        handler,
        "Operator",
        summary_text,
        {200: _VIEW},
        body=DecisionIn,
        body_required=False,
        errors=(404, 409),
        error_texts={
            403: "Not an operator, or you created or submitted it (four eyes)",
            409: "Not in review, or you approved it already",
        },
    )


ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/operator/kyc/applications",
        list_queue,
        "Operator",
        "KYC applications, oldest first (the review queue with ?status=submitted)",
        {200: json_answer("Applications", {"type": "object", "additionalProperties": True})},
        errors=(422,),
        params=(
            query("status", {"type": "string", "enum": list(STATUSES)}, "Only this status."),
            limit_param(500, 100),
        ),
    ),
    Route(
        "GET",
        _ID,
        get_application,
        "Operator",
        "A KYC application with its checks",
        {200: _VIEW},
        errors=(404,),
    ),
    Route(
        "GET",
        _ID + "/documents/{document_id}",
        get_document,
        "Operator",
        "A KYC document, opened (each view is audited)",
        {
            200: Answer(
                "The file", {t: {"type": "string", "format": "binary"} for t in UPLOAD_TYPES}
            )
        },
        errors=(404,),
    ),
    _decision_route("/approve", approve, "Approve a KYC application"),
    _decision_route("/reject", reject, "Reject a KYC application (a reason is required)"),
    _decision_route("/request-changes", request_changes, "Ask the applicant for changes"),
)
