"""A route marked deprecated answers with Deprecation (RFC 9745) and Sunset (RFC 8594) headers,
errors included, and the document marks its operation deprecated (docs/versioning.md)."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.openapi import _operation
from api.routes import Route, json_answer, register

OLD = date(2026, 3, 1)
SUNSET = date(2026, 9, 1)


async def _ok(request: web.Request) -> web.Response:
    if request.query.get("fail"):
        raise web.HTTPNotFound()
    return web.json_response({"ok": True})


ROUTES = (
    Route("GET", "/v1/old", _ok, "ops", "Old", {200: json_answer("ok", {})}, deprecated=OLD,
          sunset=SUNSET, successor="/v1/new"),
    Route("GET", "/v1/new", _ok, "ops", "New", {200: json_answer("ok", {})}),
)  # fmt: skip


async def test_a_deprecated_route_says_so_and_when_it_goes() -> None:
    app = web.Application()
    register(app, ROUTES)
    async with TestClient(TestServer(app)) as client:
        old = await client.get("/v1/old")
        assert old.status == 200
        assert old.headers["Deprecation"] == "@1772323200"  # 2026-03-01T00:00:00Z
        assert old.headers["Sunset"] == "Tue, 01 Sep 2026 00:00:00 GMT"
        assert old.headers["Link"] == '</v1/new>; rel="successor-version"'
        failed = await client.get("/v1/old", params={"fail": "1"})
        assert failed.status == 404 and failed.headers["Sunset"] == old.headers["Sunset"]
        new = await client.get("/v1/new")
        assert "Deprecation" not in new.headers and "Sunset" not in new.headers


def test_the_document_marks_it_deprecated() -> None:
    assert _operation(ROUTES[0])["deprecated"] is True
    assert "deprecated" not in _operation(ROUTES[1])
