"""Operations routes: ``/metrics`` (Prometheus), ``/healthz`` (alive), ``/readyz`` (database
and actors answering), ``/openapi.json`` and ``/docs`` (Swagger UI from local files)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import swagger_ui_bundle
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Metric, generate_latest

from api.errors import json_response
from api.openapi import openapi_document
from api.state import STATE, AppState
from switch.metrics import REGISTRY

SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)

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
        await asyncio.wait_for(state.actors.ping_all(), timeout=5)
        placement = await asyncio.wait_for(state.actors.placement(), timeout=5)
        checks["shards"] = "ok"
    except Exception as exc:
        checks["shards"] = f"down: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks, "nodes": placement}
    return json_response(body, 200 if ready else 503)


async def openapi(_: web.Request) -> web.Response:
    return json_response(openapi_document())


async def docs(_: web.Request) -> web.Response:
    return web.Response(text=DOCS_PAGE, content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/docs", docs)
    app.router.add_static("/docs/assets", SWAGGER_DIR)
