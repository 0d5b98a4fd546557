"""OAuth 2.0 client credentials (RFC 6749 §4.4) and the bearer check on every ``/v1`` route.

The token route answers errors in RFC 6749's own shape (``error``, ``error_description``), which
OAuth client libraries expect; every other route uses the switch's error body.
"""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import parse_qsl

from aiohttp import web

from api.errors import Handler, error_response, json_response
from api.state import STATE, AppState
from switch.signing import check_client_secret
from switch.tokens import Claims, mint, verify

TOKEN_PATH = "/v1/oauth/token"  # noqa: S105 - a URL path, not a secret
DEFAULT_SCOPE = "payments:read payments:write"
CLAIMS = web.RequestKey("claims", Claims)


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="switch"'
    return json_response({"error": error, "error_description": description}, status, headers)


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


async def token(request: web.Request) -> web.Response:
    state: AppState = request.app[STATE]
    raw = (await request.read()).decode(errors="replace")
    form = dict(parse_qsl(raw)) if raw and "=" in raw else {}
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    creds = _basic_credentials(request.headers.get("Authorization", ""))
    if creds is None and form.get("client_id"):
        creds = (form["client_id"], form.get("client_secret", ""))
    if creds is None:
        return _oauth_error(401, "invalid_client", "client credentials are required")
    doc = await state.cols.clients.find_one({"_id": creds[0]})
    if (
        not doc
        or doc.get("status") != "active"
        or not check_client_secret(creds[1], doc["secret_hash"])
    ):
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    ttl = state.settings.token_ttl
    scope = doc.get("scope", DEFAULT_SCOPE)
    access = mint(state.secret_key, doc["merchant_id"], doc["_id"], scope, int(time.time()) + ttl)
    body = {"access_token": access, "token_type": "Bearer", "expires_in": ttl, "scope": scope}
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@web.middleware
async def bearer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/") or request.path == TOKEN_PATH:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    claims = None
    if scheme.lower() == "bearer" and value:
        claims = verify(request.app[STATE].secret_key, value.strip(), time.time())
    if claims is None:
        return error_response(
            401,
            "unauthorized",
            "a valid, unexpired bearer token is required (POST /v1/oauth/token)",
            headers={"WWW-Authenticate": 'Bearer realm="switch"'},
        )
    request[CLAIMS] = claims
    return await handler(request)
