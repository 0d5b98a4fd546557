"""Webhook endpoints, their secrets, test events, the delivery log and resends (issue 13 item 4;
rules in :mod:`switch.webhooks`). Permission ``webhooks:manage``: an API client may hold it, so a
merchant made by the CLI (no people) manages its webhooks with its software.

URLs are checked against server-side request forgery when set (and again at every delivery). A
secret is shown once, when its endpoint is made or rotated. Test events and resends are sent from
here, once each, with the SSRF-guarded transport, and logged like the shards' deliveries; a resend
keeps the event's id (``webhook-id``), so receivers deduplicate it. Changes are audited.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import json_response
from api.merchant_settings import actor, checked_url
from api.payments import parse_body
from api.routes import Route, json_answer, query
from api.search import opened
from api.state import STATE, AppState
from infra.netguard import GuardedTransport
from infra.storage.mongo import Doc
from infra.webhook_sender import post_event
from infra.webhook_store import (
    create_endpoint,
    endpoints_of,
    find_deliveries,
    rotate_secret,
    update_endpoint,
    write_log,
)
from switch.errors import NotFound, ValidationFailed
from switch.ids import new_id
from switch.logs import request_id
from switch.netguard import MAX_URL, display_url
from switch.payments import from_doc, now_utc
from switch.search import _instant
from switch.webhooks import (
    ALL_EVENTS,
    DELIVERY_STATUSES,
    MAX_DESCRIPTION,
    MAX_ENDPOINTS,
    LogEntry,
    delivery_view,
    endpoint_view,
    event_body,
    event_seq,
    filter_problems,
    target_of,
    test_event,
)

log = logging.getLogger(__name__)

MAX_OVERLAP = 7 * 86400
MAX_RESEND = 100  # log entries per resend call
RESEND_CONCURRENCY = 8


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: StrictStr = Field(max_length=MAX_URL, description="An http(s) URL on a public address.")
    description: StrictStr = Field("", max_length=MAX_DESCRIPTION)
    events: list[StrictStr] = Field(
        default_factory=lambda: [ALL_EVENTS],
        description="Event types wanted: payment.succeeded, payment.* or * (all).",
    )


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: StrictStr | None = Field(None, max_length=MAX_URL)
    description: StrictStr | None = Field(None, max_length=MAX_DESCRIPTION)
    events: list[StrictStr] | None = None
    enabled: bool | None = Field(None, description="false pauses deliveries; true resumes them.")


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    overlap_seconds: int = Field(
        86400,
        ge=0,
        le=MAX_OVERLAP,
        description="How long the old secret keeps signing too (0: it stops at once).",
    )


class ResendIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: StrictStr | None = Field(None, max_length=100)
    endpoint_id: StrictStr | None = Field(None, max_length=100)
    since: StrictStr | None = Field(None, description="ISO 8601 time: events from then on")
    until: StrictStr | None = Field(None, description="ISO 8601 time: events before then")
    status: StrictStr | None = Field(None, description="Only deliveries in this status")


def _checked_events(events: list[str]) -> None:
    problems = filter_problems(events)
    if problems:
        raise ValidationFailed(
            "the event filters are refused", [{"field": "events", "reason": p} for p in problems]
        )


async def _audit(request: web.Request, action: str, target: str, before: Any, after: Any) -> None:
    state, claims = request.app[STATE], request[CLAIMS]
    try:
        await audit_log(state).append(
            actor(claims),
            action,
            target,
            before=before,
            after=after,
            request_id=request_id.get(None) or None,
        )
    except Exception:  # the change stands: refusing it for want of a record would be worse
        log.exception("audit of %s on %s not recorded", action, target)


def _audited(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "url": display_url(doc.get("url")),
        "events": doc.get("events"),
        "enabled": doc.get("enabled"),
        "description": doc.get("description"),
    }


async def _endpoint(request: web.Request) -> dict[str, Any]:
    state, claims = request.app[STATE], request[CLAIMS]
    doc = await state.cols.webhook_endpoints.find_one(
        {"_id": request.match_info["endpoint_id"], "merchant_id": claims.merchant_id}
    )
    if doc is None:
        raise NotFound("no such webhook endpoint")
    return doc


async def create(request: web.Request) -> web.Response:
    parsed = await parse_body(request, EndpointIn)
    if isinstance(parsed, web.Response):
        return parsed
    state, claims = request.app[STATE], request[CLAIMS]
    _checked_events(parsed.events)
    await checked_url(state.settings.webhook_allow_private, parsed.url, "url")
    existing = await endpoints_of(state.cols, claims.merchant_id)
    if len(existing) >= MAX_ENDPOINTS:
        raise ValidationFailed(
            "too many endpoints", [{"field": "url", "reason": f"at most {MAX_ENDPOINTS}"}]
        )
    doc, secret = await create_endpoint(
        state.cols, claims.merchant_id, parsed.url, parsed.description, parsed.events
    )
    await _audit(
        request, "webhook_endpoint.created", f"webhook_endpoint:{doc['_id']}", None, _audited(doc)
    )
    return json_response({**endpoint_view(doc, now_utc()), "secret": secret}, status=201)


async def list_all(request: web.Request) -> web.Response:
    state, claims = request.app[STATE], request[CLAIMS]
    now = now_utc()
    docs = await endpoints_of(state.cols, claims.merchant_id)
    return json_response({"object": "list", "data": [endpoint_view(d, now) for d in docs]})


async def get_one(request: web.Request) -> web.Response:
    return json_response(endpoint_view(await _endpoint(request), now_utc()))


async def patch(request: web.Request) -> web.Response:
    parsed = await parse_body(request, EndpointPatch)
    if isinstance(parsed, web.Response):
        return parsed
    state, claims = request.app[STATE], request[CLAIMS]
    changes = parsed.model_dump(exclude_none=True)
    if "events" in changes:
        _checked_events(changes["events"])
    if "url" in changes:
        await checked_url(state.settings.webhook_allow_private, changes["url"], "url")
    done = await update_endpoint(
        state.cols, claims.merchant_id, request.match_info["endpoint_id"], changes
    )
    if done is None:
        raise NotFound("no such webhook endpoint")
    before, after = done
    await _audit(
        request,
        "webhook_endpoint.updated",
        f"webhook_endpoint:{after['_id']}",
        _audited(before),
        _audited(after),
    )
    return json_response(endpoint_view(after, now_utc()))


async def delete(request: web.Request) -> web.Response:
    state = request.app[STATE]
    doc = await _endpoint(request)
    await state.cols.webhook_endpoints.delete_one({"_id": doc["_id"]})
    await _audit(
        request, "webhook_endpoint.deleted", f"webhook_endpoint:{doc['_id']}", _audited(doc), None
    )
    return json_response({**endpoint_view(doc, now_utc()), "deleted": True})


async def rotate(request: web.Request) -> web.Response:
    parsed = await parse_body(request, RotateIn)
    if isinstance(parsed, web.Response):
        return parsed
    state, claims = request.app[STATE], request[CLAIMS]
    done = await rotate_secret(
        state.cols,
        claims.merchant_id,
        request.match_info["endpoint_id"],
        timedelta(seconds=parsed.overlap_seconds),
    )
    if done is None:
        raise NotFound("no such webhook endpoint")
    doc, secret = done
    await _audit(
        request,
        "webhook_endpoint.secret_rotated",
        f"webhook_endpoint:{doc['_id']}",
        None,
        {"overlap_seconds": parsed.overlap_seconds},
    )
    return json_response({**endpoint_view(doc, now_utc()), "secret": secret})


async def _events(state: AppState, summarised: list[Doc]) -> dict[str, dict[str, Any]]:
    """The payment events of summarised deliveries (whose body the log does not keep), made
    again from their payments as the shard made them, by event id."""
    wanted = {d["event_id"]: event_seq(d["event_id"]) for d in summarised}
    ids = list({named[0] for named in wanted.values() if named is not None})
    if not ids:
        return {}
    docs = [d async for d in state.cols.payments.find({"_id": {"$in": ids}})]
    payments = {d["_id"]: from_doc(d) for d in await opened(state, docs)}
    events = {}
    for evt, named in wanted.items():
        payment = payments.get(named[0]) if named is not None else None
        if payment is None or named is None:
            continue  # not a payment's event, or the payment is gone
        for entry in payment.history:
            if entry.seq == named[1]:
                events[evt] = event_body(payment, entry)
    return events


Item = tuple[dict[str, Any], dict[str, Any], bytes, Doc | None]


async def _send(state: AppState, merchant_id: str, items: list[Item]) -> list[LogEntry]:
    """Send each (endpoint, event, body, seed) once, a few at a time; log every attempt in one
    write (``seed``: the summarised delivery it resends, which its entry starts with)."""
    transport = GuardedTransport(allow_private=state.settings.webhook_allow_private)
    slots = asyncio.Semaphore(RESEND_CONCURRENCY)
    now = now_utc()

    async def one(
        endpoint: dict[str, Any], event: dict[str, Any], body: bytes, seed: Doc | None
    ) -> LogEntry:
        async with slots:
            target = target_of(endpoint, now)
            a = await post_event(
                transport, target, event["id"], body, state.settings.webhook_timeout
            )
        status = "delivered" if a.ok else "failed"
        return LogEntry(merchant_id, target.id, event, body, a, status, seed=seed)

    try:
        entries = await asyncio.gather(*(one(*item) for item in items))
    finally:
        await transport.close()
    await write_log(state.cols, list(entries))
    return list(entries)


async def send_test(request: web.Request) -> web.Response:
    state, claims = request.app[STATE], request[CLAIMS]
    doc = await _endpoint(request)
    event = test_event(doc["_id"], new_id("evt_test"), now_utc())
    await _send(state, claims.merchant_id, [(doc, event, orjson.dumps(event), None)])
    found = await state.cols.webhook_deliveries.find_one({"_id": f"{event['id']}:{doc['_id']}"})
    assert found is not None
    return json_response(delivery_view(found))


def _window(name: str, text: str | None, end: bool) -> datetime | None:
    if text is None:
        return None
    try:
        return _instant(name, text, end)
    except ValueError as exc:
        raise ValidationFailed("bad filter", [{"field": name, "reason": str(exc)}]) from None


def _status(text: str | None) -> str | None:
    if text is not None and text not in DELIVERY_STATUSES:
        reason = f"one of {', '.join(DELIVERY_STATUSES)}"
        raise ValidationFailed("bad filter", [{"field": "status", "reason": reason}])
    return text


async def deliveries(request: web.Request) -> web.Response:
    state, claims = request.app[STATE], request[CLAIMS]
    q = request.query
    try:
        limit = min(max(int(q.get("limit", "50")), 1), 200)
    except ValueError:
        raise ValidationFailed(
            "bad filter", [{"field": "limit", "reason": "not a number"}]
        ) from None
    found = await find_deliveries(
        state.cols,
        claims.merchant_id,
        limit,
        endpoint_id=q.get("endpoint_id"),
        event_id=q.get("event_id"),
        status=_status(q.get("status")),
        since=_window("since", q.get("since"), False),
        until=_window("until", q.get("until"), True),
    )
    docs = [delivery_view(d) for d in found]
    return json_response({"object": "list", "data": docs})


async def resend(request: web.Request) -> web.Response:
    """Send logged events again, each to the endpoint it was for, with its own id."""
    parsed = await parse_body(request, ResendIn)
    if isinstance(parsed, web.Response):
        return parsed
    state, claims = request.app[STATE], request[CLAIMS]
    if parsed.event_id is None and parsed.since is None:
        raise ValidationFailed(
            "say what to resend",
            [{"field": "event_id", "reason": "give an event_id, or since (and until)"}],
        )
    logged = await find_deliveries(
        state.cols,
        claims.merchant_id,
        MAX_RESEND + 1,
        newest=False,
        endpoint_id=parsed.endpoint_id,
        event_id=parsed.event_id,
        status=_status(parsed.status),
        since=_window("since", parsed.since, False),
        until=_window("until", parsed.until, True),
        with_body=True,
    )
    more, logged = len(logged) > MAX_RESEND, logged[:MAX_RESEND]
    endpoints = {d["_id"]: d for d in await endpoints_of(state.cols, claims.merchant_id)}
    rebuilt = await _events(state, [d for d in logged if "body" not in d])
    items: list[Item] = []
    for d in logged:
        endpoint = endpoints.get(d["endpoint_id"])
        if endpoint is None:  # a deleted endpoint gets nothing
            continue
        if "body" in d:
            body = d["body"].encode()
            items.append((endpoint, orjson.loads(body), body, None))
        elif d["event_id"] in rebuilt:  # summarised: its entry starts with the first attempt
            event = rebuilt[d["event_id"]]
            items.append((endpoint, event, orjson.dumps(event), d))
    entries = await _send(state, claims.merchant_id, items)
    await _audit(
        request,
        "webhook.resent",
        f"merchant:{claims.merchant_id}",
        None,
        {"events": len(entries), **parsed.model_dump(exclude_none=True)},
    )
    return json_response(
        {
            "object": "webhook_resend",
            "resent": len(entries),
            "delivered": sum(1 for e in entries if e.attempt.ok),
            "failed": sum(1 for e in entries if not e.attempt.ok),
            "has_more": more,
            "deliveries": [
                {
                    "id": f"{e.event['id']}:{e.endpoint_id}",
                    "event_id": e.event["id"],
                    "endpoint_id": e.endpoint_id,
                    "status": e.status,
                    "status_code": e.attempt.status_code,
                    "error": e.attempt.error,
                }
                for e in entries
            ],
        }
    )


_ANY = {"type": "object"}
_ID = "/v1/webhook-endpoints/{endpoint_id}"
_TAG = "Webhooks"
ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/webhook-endpoints",
        create,
        _TAG,
        "Add a webhook endpoint; its signing secret is shown once",
        {201: json_answer("The endpoint and its secret", _ANY)},
        body=EndpointIn,
    ),
    Route(
        "GET",
        "/v1/webhook-endpoints",
        list_all,
        _TAG,
        "Your webhook endpoints",
        {200: json_answer("The endpoints", _ANY)},
    ),
    Route(
        "GET",
        _ID,
        get_one,
        _TAG,
        "One webhook endpoint",
        {200: json_answer("The endpoint", _ANY)},
        errors=(404,),
    ),
    Route(
        "PATCH",
        _ID,
        patch,
        _TAG,
        "Change an endpoint's URL, filters, description; enable or disable it",
        {200: json_answer("The endpoint", _ANY)},
        body=EndpointPatch,
        errors=(404,),
    ),
    Route(
        "DELETE",
        _ID,
        delete,
        _TAG,
        "Delete a webhook endpoint",
        {200: json_answer("The endpoint, deleted", _ANY)},
        errors=(404,),
    ),
    Route(
        "POST",
        f"{_ID}/rotate-secret",
        rotate,
        _TAG,
        "A new signing secret (shown once); the old one keeps signing for the overlap",
        {200: json_answer("The endpoint and its new secret", _ANY)},
        body=RotateIn,
        errors=(404,),
    ),
    Route(
        "POST",
        f"{_ID}/test",
        send_test,
        _TAG,
        "Send a webhook_endpoint.test event to the endpoint now; answers the delivery",
        {200: json_answer("The delivery", _ANY)},
        errors=(404,),
        body_required=False,
    ),
    Route(
        "GET",
        "/v1/webhook-deliveries",
        deliveries,
        _TAG,
        "The delivery log, newest first: attempts, status codes, latency, errors",
        {200: json_answer("The deliveries", _ANY)},
        errors=(422,),
        params=(
            query("endpoint_id", {"type": "string"}, "Only this endpoint's"),
            query("event_id", {"type": "string"}, "Only this event's"),
            query("status", {"enum": list(DELIVERY_STATUSES)}, "Only in this status"),
            query("since", {"type": "string"}, "Events from then on (ISO 8601 or a date)"),
            query("until", {"type": "string"}, "Events before then (ISO 8601 or a date)"),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "At most (50)"),
        ),
    ),
    Route(
        "POST",
        "/v1/webhook-deliveries/resend",
        resend,
        _TAG,
        "Send logged events again (one event, or a time range; at most 100 a call), same ids",
        {200: json_answer("What was resent", _ANY)},
        body=ResendIn,
    ),
)
