"""Operations routes: ``/metrics`` (Prometheus), ``/healthz`` (alive), ``/readyz`` (database
and actors answering), ``/openapi.json`` and ``/docs`` (Swagger UI from local files)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import swagger_ui_bundle
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Metric, generate_latest

from actors.ports import ping
from api import openapi_models as out
from api.errors import json_response
from api.routes import STATIC_FILE, Answer, Route, json_answer
from api.state import STATE, AppState
from infra.metrics import REGISTRY

SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
# The document, built from the route table by ``create_app`` (it imports every api module,
# this one included, so this module cannot import it).
OPENAPI = web.AppKey("openapi_document", dict[str, Any])

DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kenya switch API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});</script>
</body></html>"""


class _Snapshot:
    """A collector that yields families gathered beforehand (from the actors)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def merge(families: Iterable[Metric]) -> list[Metric]:
    """One family per name, samples from every process side by side."""
    merged: dict[str, Metric] = {}
    for family in families:
        target = merged.get(family.name)
        if target is None:
            target = Metric(family.name, family.documentation, family.type, family.unit)
            merged[family.name] = target
        target.samples.extend(family.samples)
    return list(merged.values())


async def metrics(request: web.Request) -> web.Response:
    state: AppState = request.app[STATE]
    try:
        remote = await asyncio.wait_for(state.actors.metrics(), timeout=5)
    except TimeoutError:
        remote = []
    local = list(REGISTRY.collect())
    for family in local:
        for sample in family.samples:
            sample.labels["actor"] = "api"
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(merge([*local, *remote])))
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(_: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    state: AppState = request.app[STATE]
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(state.cols.payments.database.command("ping"), timeout=2)
        checks["mongodb"] = "ok"
    except Exception as exc:
        checks["mongodb"] = f"down: {type(exc).__name__}"
    placement: dict[str, str] = {}
    try:
        await asyncio.wait_for(ping(state.actors), timeout=5)
        placement = await asyncio.wait_for(state.actors.placement(), timeout=5)
        checks["shards"] = "ok"
    except Exception as exc:
        checks["shards"] = f"down: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks, "nodes": placement}
    return json_response(body, 200 if ready else 503)


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[OPENAPI])


async def docs(_: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html")


ROUTE_TABLE = (
    Route(
        "GET",
        "/metrics",
        metrics,
        "Operations",
        "Prometheus metrics of the api and its actors",
        {200: Answer("Prometheus text format", {"text/plain": {"type": "string"}})},
    ),
    Route(
        "GET", "/healthz", healthz, "Operations", "Alive", {200: json_answer("Alive", out.Health)}
    ),
    Route(
        "GET",
        "/readyz",
        readyz,
        "Operations",
        "Ready: the database and the actors answer",
        {
            200: json_answer("Ready", out.Readiness),
            503: json_answer("Not ready: which check failed", out.Readiness),
        },
    ),
    Route(
        "GET",
        "/openapi.json",
        openapi,
        "Operations",
        "This document",
        {200: json_answer("OpenAPI 3.1", {"type": "object"})},
    ),
    Route(
        "GET",
        "/docs",
        docs,
        "Operations",
        "Interactive documentation (Swagger UI)",
        {200: Answer("The page", {"text/html": {"type": "string"}})},
    ),
    Route(
        "GET",
        "/docs/assets" + STATIC_FILE,
        SWAGGER_DIR,
        "Operations",
        "Swagger UI's files",
        # aiohttp's static files: its own answers, in whatever type the file has.
        {
            200: Answer("The file", {"*/*": {}}),
            403: Answer("Not a file", {"*/*": {}}),
            404: Answer("No such file", {"*/*": {}}),
        },
    ),
)
