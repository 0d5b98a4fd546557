"""Follow payments in real time with Server-Sent Events.

``GET /v1/payments/{id}/events`` sends the payment's current state, then each status change,
and ends after the final one. ``GET /v1/events`` streams every status change of the merchant's
payments (needs Redis). Event names are the webhook types (``payment.succeeded``...), ids are the
webhook ids, data is the same JSON, so a client can use either channel.

With Redis the shards' published events arrive within milliseconds; without Redis a single api
process falls back to reading the payment every half second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from api.auth import CLAIMS
from api.errors import error_response
from api.routes import Route, sse_answer
from api.state import STATE, AppState
from switch.ids import shard_of

HEARTBEAT_S = 15.0
POLL_S = 0.5
MAX_STREAM_S = 900.0
FINAL = ("succeeded", "failed", "expired")


async def _read(state: AppState, merchant_id: str, payment_id: str) -> dict[str, Any] | None:
    shard = shard_of(payment_id)
    if shard is None or shard >= state.router.count:
        return None
    reply = await state.router.get_payments[shard].call((merchant_id, payment_id))
    return reply.body if reply.status == 200 else None


def _frame(payment: dict[str, Any]) -> bytes:
    """A snapshot as an event; its id names the payment and status (webhook ids need the
    history sequence, which a snapshot does not carry)."""
    kind = f"{payment['object']}.{payment['status']}"
    event_id = f"{payment['id']}.{payment['status']}"
    body = {"id": event_id, "type": kind, "data": payment}
    return _sse(kind, event_id, orjson.dumps(body))


def _sse(event: str, event_id: str, data: bytes) -> bytes:
    return f"event: {event}\nid: {event_id}\n".encode() + b"data: " + data + b"\n\n"


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    return response


async def payment_events(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    payment_id = request.match_info["payment_id"]
    queue = state.hub.follow(merchant_id) if state.hub else None
    try:
        if state.hub is not None:
            # Subscribe first, then read: no change can fall between the two.
            await state.hub.subscribed(merchant_id)
        current = await _read(state, merchant_id, payment_id)
        if current is None:
            return error_response(404, "not_found", f"no payment {payment_id}")
        response = await _open(request)
        await response.write(_frame(current))
        shown = current["status"]
        deadline = time.monotonic() + MAX_STREAM_S
        while shown not in FINAL and time.monotonic() < deadline:
            fresh = await _next_state(state, queue, merchant_id, payment_id)
            if fresh is None:
                await response.write(b": keep-alive\n\n")
            elif fresh["status"] != shown:
                await response.write(_frame(fresh))
                shown = fresh["status"]
    finally:
        if queue is not None and state.hub is not None:
            state.hub.unfollow(merchant_id, queue)
    return response


async def _next_state(
    state: AppState,
    queue: asyncio.Queue[bytes | None] | None,
    merchant_id: str,
    payment_id: str,
) -> dict[str, Any] | None:
    """The payment after its next change, or None when nothing changed for a while."""
    if queue is None:
        await asyncio.sleep(POLL_S)
        return await _read(state, merchant_id, payment_id)
    deadline = time.monotonic() + HEARTBEAT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            item = await asyncio.wait_for(queue.get(), timeout=left)
        except TimeoutError:
            break
        if item is None:  # the subscription was lost: messages may be missing
            return await _read(state, merchant_id, payment_id)
        event = orjson.loads(item)
        if event["data"]["id"] == payment_id:
            data: dict[str, Any] = event["data"]
            return data
    # Quiet for a while: re-read, in case an event was published while we resubscribed.
    return await _read(state, merchant_id, payment_id)


async def merchant_events(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if state.hub is None:
        return error_response(
            501, "live_stream_unavailable", "the merchant event stream needs Redis (REDIS_URL)"
        )
    merchant_id = request[CLAIMS].merchant_id
    queue = state.hub.follow(merchant_id)
    await state.hub.subscribed(merchant_id)
    response = await _open(request)
    deadline = time.monotonic() + MAX_STREAM_S
    try:
        while time.monotonic() < deadline:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_S)
            except TimeoutError:
                item = None
            if item is None:
                await response.write(b": keep-alive\n\n")
                continue
            event = orjson.loads(item)
            await response.write(_sse(event["type"], event["id"], item))
    finally:
        state.hub.unfollow(merchant_id, queue)
    return response


ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/payments/{payment_id}/events",
        payment_events,
        "Payments",
        "Follow a payment live (Server-Sent Events until its final status)",
        {200: sse_answer("The current state, then each status change")},
        errors=(404, 503),
    ),
    Route(
        "GET",
        "/v1/events",
        merchant_events,
        "Payments",
        "Every status change of your payments (Server-Sent Events; needs Redis)",
        {200: sse_answer("Status changes as they are persisted")},
        errors=(501,),
        error_texts={501: "No Redis configured"},
    ),
)
