"""The OpenAPI 3.1 document of every route, generated from the route table the router registers
and from the handlers' request models and the response models, so the document cannot drift from
what the app serves and the handlers validate.

Each :class:`api.routes.Route` of :data:`api.route_table.ROUTE_TABLE` becomes an operation, with
what every route of its kind shares: security from :data:`switch.roles.ROUTES` (public routes say
``security: []``), the error answers of the middlewares (401/403 from the bearer and permission
checks, 429 from rate limits, 413 for any body and 400/415/422 for a JSON one) and the
Idempotency-Key header with its 400 and 409."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.models import (
    Balance,
    Error,
    OAuthError,
    Payment,
    Payout,
    PayoutCreate,
    TokenResponse,
    WebhookEvent,
)
from api.openapi_models import RESPONSE_MODELS
from api.route_table import REQUEST_MODELS, ROUTE_TABLE
from api.routes import REF, Answer, Route, Schema, json_answer, ref
from switch.idempotency import MAX_KEY_LENGTH
from switch.roles import CLIENT_SCOPES, PUBLIC, ROUTES, SCOPES, SESSION

ERROR_TEXTS = {
    400: "Bad request: malformed JSON, or a missing or unusable Idempotency-Key",
    401: "Missing, forged, expired or revoked bearer token",
    403: "This token does not allow the route (scope, role, or two-factor needed)",
    404: "No such object for this merchant",
    409: "Idempotency-Key reused with a different body, or a conflicting state",
    413: "Body too large (64 KiB)",
    415: "Send the body as application/json",
    422: "Invalid fields: each one named with the reason",
    429: "Too many requests: wait for Retry-After (RateLimit headers say the budget)",
    501: "Not available in this deployment",
    502: "The provider refused the request",
    503: "Temporarily unavailable (a shard, the database or an open circuit); retry after "
    "Retry-After",
}
RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}
IDEMPOTENCY_KEY = (
    "Your unique key for this request (1 to 255 printable ASCII characters). The same key and "
    "body return the first answer; the same key with another body is a 409."
)
BODY_METHODS = ("POST", "PUT", "PATCH")


def idempotency_header(required: bool) -> Schema:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": required,
        "description": IDEMPOTENCY_KEY
        + ("" if required else " Required unless `dry_run` is true."),
        # Printable ASCII; no space at either end (HTTP would strip it).
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "pattern": r"^[!-~]([ -~]*[!-~])?$",
        },
    }


def path_parameters(path: str) -> list[Schema]:
    """Each ``{name}`` of the path, a string (ids are opaque to clients)."""
    names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{") and seg.endswith("}")]
    return [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]


def error_answer(code: int, text: str | None = None) -> Answer:
    answer = json_answer(text or ERROR_TEXTS[code], "Error")
    if code in (429, 503):
        return Answer(answer.description, answer.content, {"Retry-After": RETRY_AFTER})
    return answer


def security_of(op: Route) -> list[dict[str, list[str]]]:
    """Public routes: none. People-only routes: a session token. Others: a session token or an
    OAuth 2.0 client-credentials token holding the route's scope."""
    needed = ROUTES.get((op.method, op.path))
    if needed is None or needed == PUBLIC:
        return []
    if needed == SESSION or needed not in CLIENT_SCOPES:
        return [{"bearer": []}]
    return [{"bearer": []}, {"clientCredentials": [needed]}]


def _error_codes(op: Route, public: bool) -> set[int]:
    codes = set(op.errors)
    if op.path.startswith("/v1/"):
        codes.add(429)
        if not public:
            codes |= {401, 403}
    if op.body is not None and op.method in BODY_METHODS:
        codes.add(413)
        if op.takes_json:  # a form (the token route) is read by its handler, OAuth's way
            codes |= {400, 415, 422}
    if op.idempotency:
        codes |= {400, 409}
    return codes


def _operation(op: Route) -> dict[str, Any]:
    needed = ROUTES.get((op.method, op.path))
    public = needed in (None, PUBLIC)
    responses: dict[int, Answer] = dict(op.answers)
    for code in _error_codes(op, public):
        responses.setdefault(code, error_answer(code, op.error_texts.get(code)))
    params = [*path_parameters(op.path), *op.params]
    if op.idempotency:
        params.append(idempotency_header(op.idempotency == "required"))
    out: dict[str, Any] = {
        "tags": [op.tag],
        "summary": op.summary,
        "operationId": _operation_id(op),
        "responses": {str(c): _answer(a) for c, a in sorted(responses.items())},
        "security": security_of(op) if op.security is None else list(op.security),
    }
    description = op.description
    if needed not in (None, PUBLIC):
        who = "a signed-in person (any role)" if needed == SESSION else f"`{needed}`"
        description = f"Needs {who}. {description}".strip()
    if description:
        out["description"] = description
    if needed is not None:
        out["x-permission"] = needed
    if op.deprecated is not None:  # docs/versioning.md: the Deprecation and Sunset headers say when
        out["deprecated"] = True
    if params:
        out["parameters"] = params
    if op.body is not None:
        content = (
            {"application/json": {"schema": ref(op.body.__name__)}}
            if isinstance(op.body, type)
            else {media: {"schema": schema} for media, schema in op.body.items()}
        )
        out["requestBody"] = {"required": op.body_required, "content": content}
    return out


def _operation_id(op: Route) -> str:
    words = [p.strip("{}") for p in op.path.split("/") if p and p != "v1"]
    return op.method.lower() + "_" + "_".join(w.replace("-", "_").replace(".", "_") for w in words)


def _answer(answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    if answer.content:
        out["content"] = {media: {"schema": s} for media, s in answer.content.items()}
    if answer.headers:
        out["headers"] = answer.headers
    return out


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for op in ROUTE_TABLE:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return paths


def _batch_item(schemas: dict[str, Any]) -> dict[str, Any]:
    """A batch line: a payout body (the PayoutCreate schema itself) plus its ``item_id``."""
    item: dict[str, Any] = copy.deepcopy(schemas[PayoutCreate.__name__])
    item["title"] = "PayoutBatchItem"
    item["properties"] = {
        "item_id": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{1,64}$",
            "description": "Your id of the line, unique in the batch.",
        },
        **item["properties"],
    }
    item["required"] = ["item_id", *item.get("required", [])]
    return item


def _schemas() -> dict[str, Any]:
    served: list[type[BaseModel]] = [
        Payment,
        Payout,
        Balance,
        Error,
        TokenResponse,
        OAuthError,
        WebhookEvent,
        *RESPONSE_MODELS,
    ]
    _, schemas = models_json_schema(
        [(m, "validation") for m in REQUEST_MODELS] + [(m, "serialization") for m in served],
        ref_template=REF,
    )
    defs: dict[str, Any] = schemas["$defs"]
    defs["PayoutBatchItem"] = _batch_item(defs)
    return defs


@cache
def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kenya payment switch",
            "version": "0.1.0",
            "description": "Collect and pay out over Kenyan rails. Software authenticates with "
            "POST /v1/oauth/token (client credentials); people sign in with POST "
            "/v1/auth/login. Send either token as `Authorization: Bearer <token>`. Every error "
            "has the body `{error: {code, message, details}}`.",
        },
        "servers": [{"url": "/"}],
        "paths": _paths(),
        "webhooks": {
            "payment": {
                "post": {
                    "summary": "A payment changed status (Standard Webhooks signature)",
                    "requestBody": {
                        "content": {"application/json": {"schema": ref("WebhookEvent")}}
                    },
                    "responses": {"200": {"description": "Received"}},
                }
            }
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API client's token (POST /v1/oauth/token) or a "
                    "person's session token (POST /v1/auth/login).",
                },
                "clientCredentials": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "/v1/oauth/token",
                            "scopes": {s: SCOPES[s] for s in sorted(CLIENT_SCOPES)},
                        }
                    },
                },
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
        },
        "security": [{"bearer": []}],
    }
