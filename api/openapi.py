"""The OpenAPI 3.1 document, generated from the request and response models in
:mod:`api.models`, so the document cannot drift from what the handlers validate."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.models import (
    Balance,
    Error,
    OAuthError,
    Payment,
    PaymentCreate,
    Payout,
    PayoutCreate,
    TokenResponse,
    WebhookEvent,
)

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Bad request (missing Idempotency-Key, malformed JSON)",
        401: "Missing, forged or expired bearer token",
        404: "No such payment for this merchant",
        409: "Idempotency-Key reused with a different body",
        422: "Invalid fields: each one named with the reason",
        503: "A shard is unavailable; retry with the same Idempotency-Key",
    }
    return {str(c): _json("Error", texts[c]) for c in codes}


def _sse(description: str) -> dict[str, Any]:
    """SSE frames: ``event`` is the webhook type, ``data`` a WebhookEvent as JSON."""
    return {
        "description": description,
        "content": {"text/event-stream": {"schema": _ref("WebhookEvent")}},
    }


IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "Your unique key for this request (at most 255 printable ASCII characters). "
    "The same key and body return the first answer; the same key with another body is a 409.",
    "schema": {"type": "string", "maxLength": 255},
}


def _paths() -> dict[str, Any]:
    return {
        "/v1/oauth/token": {
            "post": {
                "summary": "Get an access token (OAuth 2.0 client credentials)",
                "security": [{"clientBasic": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "required": ["grant_type"],
                                "properties": {
                                    "grant_type": {"const": "client_credentials"},
                                    "client_id": {"type": "string"},
                                    "client_secret": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json("TokenResponse", "An access token"),
                    "400": _json("OAuthError", "Unsupported grant type"),
                    "401": _json("OAuthError", "Unknown client or wrong secret"),
                },
            }
        },
        "/v1/payments": {
            "post": {
                "summary": "Create a payment (collect money)",
                "parameters": [IDEMPOTENCY_HEADER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("PaymentCreate")}},
                },
                "responses": {
                    "202": _json("Payment", "Stored; the provider is being asked"),
                    **_errors(400, 401, 409, 422, 503),
                },
            }
        },
        "/v1/payments/{payment_id}": {
            "get": {
                "summary": "Get a payment",
                "parameters": [
                    {
                        "name": "payment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {"200": _json("Payment", "The payment"), **_errors(401, 404, 503)},
            }
        },
        "/v1/payouts": {
            "post": {
                "summary": "Pay out to a phone (M-Pesa B2C); amount plus fee reserved first",
                "parameters": [IDEMPOTENCY_HEADER],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("PayoutCreate")}},
                },
                "responses": {
                    "202": _json("Payout", "Reserved and stored; M-Pesa is being asked"),
                    "422": _json("Error", "Invalid fields, or insufficient_balance"),
                    **_errors(400, 401, 409, 503),
                },
            }
        },
        "/v1/payouts/{payment_id}": {
            "get": {
                "summary": "Get a payout",
                "parameters": [
                    {
                        "name": "payment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {"200": _json("Payout", "The payout"), **_errors(401, 404, 503)},
            }
        },
        "/v1/balance": {
            "get": {
                "summary": "Your balance: available and reserved",
                "responses": {"200": _json("Balance", "The balance"), **_errors(401, 503)},
            }
        },
        "/v1/payments/{payment_id}/events": {
            "get": {
                "summary": "Follow a payment live (Server-Sent Events until its final status)",
                "parameters": [
                    {
                        "name": "payment_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _sse("The current state, then each status change"),
                    **_errors(401, 404),
                },
            }
        },
        "/v1/events": {
            "get": {
                "summary": "Every status change of your payments (Server-Sent Events; needs Redis)",
                "responses": {
                    "200": _sse("Status changes as they are persisted"),
                    "501": _json("Error", "No Redis configured"),
                    **_errors(401),
                },
            }
        },
    }


@cache
def openapi_document() -> dict[str, Any]:
    models: list[type[BaseModel]] = [
        PaymentCreate,
        PayoutCreate,
        Payout,
        Balance,
        Payment,
        Error,
        TokenResponse,
        OAuthError,
        WebhookEvent,
    ]
    _, schemas = models_json_schema(
        [
            (m, "validation" if m in (PaymentCreate, PayoutCreate) else "serialization")
            for m in models
        ],
        ref_template=REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kenya payment switch",
            "version": "0.1.0",
            "description": "Collect and pay out over Kenyan rails. Authenticate with "
            "POST /v1/oauth/token, then send `Authorization: Bearer <token>`.",
        },
        "servers": [{"url": "/"}],
        "paths": _paths(),
        "webhooks": {
            "payment": {
                "post": {
                    "summary": "A payment changed status (Standard Webhooks signature)",
                    "requestBody": {
                        "content": {"application/json": {"schema": _ref("WebhookEvent")}}
                    },
                    "responses": {"200": {"description": "Received"}},
                }
            }
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
        },
        "security": [{"bearer": []}],
    }
