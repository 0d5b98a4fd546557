"""The console's routes: its page, its static files and the per-rail figures it charts.

The page is one HTML shell; its scripts ask the public API for everything, with the session
token of ``POST /v1/auth/login`` (kept in the tab's sessionStorage). It is served with a strict
Content-Security-Policy (only this origin's scripts, styles and connections; no inline script)
and may not be framed.

``GET /v1/stats/rails``: success rate and created-to-final latency per rail, and provider call
latency, switch-wide, since the processes started, read from the switch's own Prometheus
samples (the same numbers as ``/metrics``, which is public; here they need ``payments:read``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from prometheus_client import Metric

from api.errors import json_response
from api.routes import STATIC_FILE, Answer, Route, Schema, json_answer
from api.state import STATE
from infra.metrics import REGISTRY
from switch.rails import RAILS
from switch.railstats import Sample, latency_rows, rail_rows

STATIC_DIR = Path(__file__).with_name("static")
# Outside STATIC_DIR: the page is only ever served with its headers.
PAGE = Path(__file__).with_name("index.html").read_bytes()
ACTORS_TIMEOUT_S = 5.0

# Everything from this origin only; no inline script or style, no plugins, no framing.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


async def page(_: web.Request) -> web.Response:
    return web.Response(body=PAGE, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


def _samples(families: list[Metric]) -> list[Sample]:
    return [Sample(s.name, s.labels, s.value) for f in families for s in f.samples]


async def rail_stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    complete = True
    try:
        remote = await asyncio.wait_for(state.actors.metrics(), timeout=ACTORS_TIMEOUT_S)
    except TimeoutError:
        remote, complete = [], False
    samples = _samples([*REGISTRY.collect(), *remote])
    body = {
        "object": "rail_stats",
        "complete": complete,
        "rails": rail_rows(samples, {m: r.provider for m, r in RAILS.items()}),
        "provider_calls": latency_rows(samples),
    }
    return json_response(body)


_COUNT = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}
_MS = {"type": ["number", "null"], "description": "Milliseconds; null before any call."}
_SECONDS = {
    "type": ["number", "null"],
    "description": "Seconds from creation to the final status, over payments the provider "
    "answered (succeeded or failed); null before any.",
}


def _rows(properties: Schema, optional: tuple[str, ...]) -> Schema:
    required = [name for name in properties if name not in optional]
    return {
        "type": "array",
        "items": {"type": "object", "required": required, "properties": properties},
    }


RAIL_STATS: Schema = {
    "type": "object",
    "required": ["object", "complete", "rails", "provider_calls"],
    "properties": {
        "object": {"const": "rail_stats"},
        "complete": {
            "type": "boolean",
            "description": "False when the actors did not answer in time (api figures only).",
        },
        "rails": _rows(
            {
                "method": _TEXT,
                "provider": _TEXT,
                **dict.fromkeys(("succeeded", "failed", "expired", "final"), _COUNT),
                "success_rate": {
                    "type": ["number", "null"],
                    "description": "succeeded / final, 0 to 1; null before any.",
                },
                "p50_s": _SECONDS,
                "p99_s": _SECONDS,
            },
            optional=("success_rate", "p50_s", "p99_s"),
        ),
        "provider_calls": _rows(
            {"provider": _TEXT, "operation": _TEXT, "calls": _COUNT, "p50_ms": _MS, "p95_ms": _MS},
            optional=("p50_ms", "p95_ms"),
        ),
    },
}

_HTML = {"text/html": {"type": "string"}}
ROUTE_TABLE = (
    Route("GET", "/console/", page, "Console", "The console's page", {200: Answer("It", _HTML)}),
    Route(
        "GET",
        "/console/assets" + STATIC_FILE,
        STATIC_DIR,
        "Console",
        "The console's scripts, styles and vendored Chart.js",
        # aiohttp's static files: its own answers, in whatever type the file has.
        {
            200: Answer("The file", {"*/*": {}}),
            403: Answer("Not a file", {"*/*": {}}),
            404: Answer("No such file", {"*/*": {}}),
        },
    ),
    Route(
        "GET",
        "/v1/stats/rails",
        rail_stats,
        "Operations",
        "Success rate per rail and provider call latency (switch-wide, since start)",
        {200: json_answer("Measured from the switch's own metrics", RAIL_STATS)},
    ),
)
