"""The route table: one declaration per route feeds both the aiohttp router and the OpenAPI
document (tests/unit/api/test_openapi.py checks the document; here, the router's side)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from api.app import create_app
from api.route_table import DOCUMENTED_AS, REQUEST_MODELS, ROUTE_TABLE
from api.routes import Route, json_answer, register, registered_path
from switch.roles import ROUTES
from tests.unit.api.ports import in_process_state


async def _ok(_: web.Request) -> web.Response:
    return web.Response()


def _routes(app: web.Application) -> dict[tuple[str, str], Any]:
    out = {}
    for route in app.router.routes():
        assert route.resource is not None
        out[(route.method, route.resource.canonical)] = route.handler
    return out


def test_register_puts_each_route_on_the_router_in_order(tmp_path: Path) -> None:
    answer = {200: json_answer("ok", {"type": "object"})}
    table = (
        Route("GET", "/a/{id}", _ok, "T", "a", answer),
        Route("DELETE", "/a/{id}", _ok, "T", "a", answer),
        Route("GET", "/files/{filename}", tmp_path, "T", "files", answer),
    )
    app = web.Application()
    register(app, table)
    got = [(r.method, r.resource.canonical) for r in app.router.routes() if r.resource]
    assert got == [
        ("HEAD", "/a/{id}"),  # beside GET, as aiohttp's add_get does
        ("GET", "/a/{id}"),
        ("DELETE", "/a/{id}"),
        ("GET", "/files"),  # a static directory: one route for its files
        ("HEAD", "/files"),
    ]
    assert registered_path(table[2]) == "/files"


def test_the_app_serves_each_declared_route_with_its_handler() -> None:
    served = _routes(create_app(in_process_state()))
    for route in ROUTE_TABLE:
        key = (route.method, registered_path(route))
        assert key in served, key
        if not isinstance(route.handler, Path):
            assert served[key] is route.handler, key
    declared = {(r.method, registered_path(r)) for r in ROUTE_TABLE}
    assert {k for k in served if k[0] != "HEAD"} == declared


def test_each_route_is_declared_once_and_has_a_permission() -> None:
    keys = [(r.method, registered_path(r)) for r in ROUTE_TABLE]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(ROUTES)


def test_documented_as_and_request_models_come_from_the_table() -> None:
    assert DOCUMENTED_AS == {
        "/docs/assets": "/docs/assets/{filename}",
        "/console/assets": "/console/assets/{filename}",
    }
    names = {m.__name__ for m in REQUEST_MODELS}
    assert {"PaymentCreate", "PayoutCreate", "SignUp", "LimitsBody", "ReviewBody"} <= names
    assert len(names) == len(REQUEST_MODELS) == 64  # one schema per model, none twice
