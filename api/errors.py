"""Every error answer has the same body: ``{"error": {"code", "message", "details"}}``.
Domain errors are translated here, once; anything unexpected is a 500 with a request id and no
internals."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from switch.errors import ClientError, Unavailable

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return json_response(body, status, headers)


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``{field, reason}``, in the client's words."""
    details = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "body"
        reason = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            reason = "unknown field"
        elif ": " in reason and not err["loc"] and reason.split(": ", 1)[0].isidentifier():
            field, reason = reason.split(": ", 1)
        details.append({"field": field, "reason": reason})
    return details


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            return error_response(exc.status, _http_code(exc.status), exc.reason)
        raise
    except ClientError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except Unavailable as exc:
        return error_response(503, exc.code, str(exc), headers={"Retry-After": "1"})
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "an internal error occurred")


def _http_code(status: int) -> str:
    return {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(
        status, "http_error"
    )
