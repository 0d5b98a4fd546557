"""The aiohttp application: middlewares (request id and metrics, errors, bearer tokens) and
routes."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from api import (
    auth,
    batches,
    bills_worker,
    c2b,
    clients,
    hardening,
    hub_common,
    hub_switch_payee,
    hub_windows,
    openapi,
    ops,
    ratelimit,
    recon,
    settlement,
    settlement_worker,
    sub_merchants,
    users,
)
from api.benefits_registry import BENEFITS, Benefits
from api.errors import Handler, error_middleware
from api.permissions import permission_middleware
from api.route_table import ROUTE_TABLE
from api.routes import register
from api.state import STATE, AppState
from infra.metrics import HTTP_LATENCY, HTTP_REQUESTS
from switch.ids import random_token
from switch.logs import access_message, loggable_path, mask_text, payment_id, request_id

MAX_BODY = 64 * 1024
access_log = logging.getLogger("api.access")


@web.middleware
async def observe_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.headers.get("X-Request-Id", "")[:64] or random_token(9)
    request_id.set(rid)
    # The payment a route names (its log lines carry it; the merchant is set by bearer_middleware).
    payment_id.set(request.match_info.get("payment_id") or None)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        HTTP_REQUESTS.labels(route, request.method, str(status)).inc()
        HTTP_LATENCY.labels(route).observe(elapsed)
        _log_request(request, resource is not None, status, elapsed)


def _log_request(request: web.Request, matched: bool, status: int, elapsed: float) -> None:
    """One INFO line per request. The path only (a query may carry a phone number), with the
    callback tokens cut out; a stream's line is written when it ends."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    path = mask_text(loggable_path(request.path, request.match_info if matched else None))
    access_log.info(
        access_message(request.method, path, status, elapsed),
        extra={
            "http": {
                "method": request.method,
                "path": path,
                "status": status,
                "ms": round(elapsed * 1000, 1),
            }
        },
    )


def create_app(state: AppState) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[
            observe_middleware,
            error_middleware,
            hardening.hardening_middleware,  # callback sources, 405 with Allow
            auth.bearer_middleware,
            ratelimit.ratelimit_middleware,  # after the token is known: per client and merchant
            permission_middleware,
            sub_merchants.acting_middleware,  # Switch-Sub-Merchant, once the caller may act
            hardening.content_type_middleware,  # 415, once the caller is known
        ],
    )
    app[STATE] = state
    app[batches.BATCHES] = state.actors.batches
    app[BENEFITS] = Benefits()
    app[ops.OPENAPI] = openapi.openapi_document()
    register(app, ROUTE_TABLE)
    c2b.install(app)
    recon.install(app)
    users.install(app)
    clients.install(app)
    hub_common.install(app)
    hub_windows.install(app)
    hub_switch_payee.install(app)
    settlement.install(app)
    settlement_worker.install(app)
    bills_worker.install(app)
    # Security platform (issue 6): rate limits, response headers.
    ratelimit.install(app, state)
    hardening.install(app, state, ROUTE_TABLE)
    return app
