"""A route declared once: method, path, handler and what it takes and answers. Each api module
lists its routes in a ``ROUTE_TABLE`` beside its handlers; :mod:`api.route_table` gathers them,
:func:`register` puts them on the aiohttp router and :mod:`api.openapi` turns each into an
OpenAPI operation, adding what every route of a kind shares (the bearer check's 401 and 403, rate
limits' 429, a body's 400/413/415/422, the Idempotency-Key header and its 409). Permissions come
from :data:`switch.roles.ROUTES`, the one table a security review reads, never from here.

Request bodies are the handlers' own pydantic models; answers the handlers build as dicts are
described in :mod:`api.openapi_models`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from email.utils import formatdate
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api.errors import Handler

REF = "#/components/schemas/{model}"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


def schema_of(model: type[BaseModel] | str) -> Schema:
    return ref(model if isinstance(model, str) else model.__name__)


def any_of(*models: type[BaseModel] | str) -> Schema:
    return {"anyOf": [schema_of(m) for m in models]}


@dataclass(frozen=True)
class Answer:
    """One documented answer: its description and, per media type, its schema."""

    description: str
    content: dict[str, Schema] = field(default_factory=dict)
    headers: dict[str, Schema] = field(default_factory=dict)


def json_answer(description: str, schema: type[BaseModel] | str | Schema) -> Answer:
    body = schema if isinstance(schema, dict) else schema_of(schema)
    return Answer(description, {"application/json": body})


def csv_answer(description: str) -> Answer:
    return Answer(description, {"text/csv": {"type": "string"}})


def sse_answer(description: str) -> Answer:
    """SSE frames: ``event`` is the webhook type, ``data`` a WebhookEvent as JSON."""
    return Answer(description, {"text/event-stream": schema_of("WebhookEvent")})


def query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def limit_param(high: int, default: int) -> Schema:
    return query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": high, "default": default},
        f"Page size, 1 to {high}.",
    )


DAY = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
REPORT_DATES = (
    query("since", DAY, "First day (UTC, YYYY-MM-DD, inclusive)."),
    query("until", DAY, "Last day (UTC, YYYY-MM-DD, inclusive)."),
)
# A static directory is one aiohttp route; the document names one file of it.
STATIC_FILE = "/{filename}"


@dataclass(frozen=True)
class Route:
    """One route. ``handler``: the coroutine answering it, or a directory whose files it serves
    (the path then ends in ``/{filename}``). ``body``: the JSON request model, or media type ->
    schema. ``idempotency``: "required", "optional" (required unless a dry run) or "".
    ``security``: only where the usual bearer/client-credentials rule does not say it."""

    method: str
    path: str
    handler: Handler | Path
    tag: str
    summary: str
    answers: dict[int, Answer]
    body: type[BaseModel] | dict[str, Schema] | None = None
    body_required: bool = True
    errors: tuple[int, ...] = ()
    params: tuple[Schema, ...] = ()
    idempotency: str = ""
    description: str = ""
    error_texts: dict[int, str] = field(default_factory=dict)
    security: tuple[dict[str, list[str]], ...] | None = None
    provider: str = ""  # a callback's: whose source allow-list applies (api/hardening.py)
    # Deprecated on this day (docs/versioning.md): answers carry Deprecation (RFC 9745) and,
    # with a ``sunset`` day, Sunset (RFC 8594); ``successor``: the path that replaces it.
    deprecated: date | None = None
    sunset: date | None = None
    successor: str = ""

    @property
    def takes_json(self) -> bool:
        return isinstance(self.body, type) or (
            self.body is not None and "application/json" in self.body
        )


def registered_path(route: Route) -> str:
    """The path aiohttp knows the route by (a static directory's, without the file name)."""
    if isinstance(route.handler, Path):
        return route.path.removesuffix(STATIC_FILE)
    return route.path


def deprecation_headers(route: Route) -> dict[str, str]:
    """``Deprecation: @<epoch seconds>`` (RFC 9745), ``Sunset: <HTTP-date>`` (RFC 8594) and a
    ``Link`` to the successor, if any; empty for a route that is not deprecated."""
    if route.deprecated is None:
        return {}
    headers = {"Deprecation": f"@{_midnight(route.deprecated)}"}
    if route.sunset is not None:
        headers["Sunset"] = formatdate(_midnight(route.sunset), usegmt=True)
    if route.successor:
        headers["Link"] = f'<{route.successor}>; rel="successor-version"'
    return headers


def _midnight(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())


def _with_headers(handler: Handler, headers: dict[str, str]) -> Handler:
    """The handler, its answers (errors too) carrying ``headers``."""

    async def deprecated(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers)
            raise
        if not response.prepared:
            response.headers.update(headers)
        return response

    return deprecated


def register(app: web.Application, routes: Iterable[Route]) -> None:
    """Each route on the router, in order (aiohttp matches in registration order)."""
    for route in routes:
        if isinstance(route.handler, Path):
            app.router.add_static(registered_path(route), route.handler)
            continue
        headers = deprecation_headers(route)
        handler = _with_headers(route.handler, headers) if headers else route.handler
        if route.method == "GET":
            app.router.add_get(route.path, handler)  # and HEAD, answered as GET
        else:
            app.router.add_route(route.method, route.path, handler)


# --- provider callbacks: called by the provider, not by a client ------------------------------

CALLBACK_ACK = json_answer(
    "Acknowledged, once the change is persisted", {"type": "object", "additionalProperties": True}
)
CALLBACK_BODY: dict[str, Schema] = {
    "application/json": {"type": "object", "description": "The provider's own payload."}
}
CALLBACK_ERRORS = (400, 403, 404)
CALLBACK_TEXTS = {
    400: "Malformed payload, or one that does not match the stored payment",
    403: "The caller's address is not on the provider's allow-list",
    404: "Forged token, or no such payment",
}


def callback_route(
    path: str,
    handler: Handler,
    summary: str,
    provider: str,
    description: str = "",
    errors: tuple[int, ...] = (),
    error_texts: dict[int, str] | None = None,
) -> Route:
    """A provider's callback: its payload as the provider sends it, acknowledged once stored."""
    return Route(
        "POST",
        path,
        handler,
        "Provider callbacks",
        summary,
        {200: CALLBACK_ACK},
        body=CALLBACK_BODY,
        errors=(*CALLBACK_ERRORS, *errors),
        error_texts={**CALLBACK_TEXTS, **(error_texts or {})},
        description=description,
        provider=provider,
    )
