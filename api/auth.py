"""OAuth 2.0 client credentials (RFC 6749 §4.4) and the bearer check on every ``/v1`` route.

The token route answers errors in RFC 6749's own shape (``error``, ``error_description``), which
OAuth client libraries expect; every other route uses the switch's error body.

Which routes need a token is said by :data:`switch.roles.ROUTES` (``public`` ones do not); what the
token must allow is checked next, by :mod:`api.permissions`. A genuine, unexpired token is still
refused when its subject's generation was raised since it was minted (client rotated or revoked,
password changed): :data:`FEED` answers from memory (see :mod:`infra.clients`). A client bound
to a certificate (RFC 8705, :mod:`switch.mtls`) gets a token only over mutual TLS with it, and
the token is accepted only on connections that present it.
"""

from __future__ import annotations

import base64
import binascii
import time
from urllib.parse import parse_qsl

from aiohttp import web

from api.errors import Handler, error_response, json_response
from api.models import TokenResponse
from api.mtls import peer_thumbprint
from api.routes import Answer, Route, json_answer, ref
from api.state import STATE, AppState
from infra.clients import GenerationFeed, current_generation
from switch.clients import secret_holder
from switch.logs import merchant_id as log_merchant
from switch.roles import PUBLIC, client_token_scope, permission_for
from switch.signing import check_client_secret
from switch.tokens import Claims, mint, verify

TOKEN_PATH = "/v1/oauth/token"  # noqa: S105 - a URL path, not a secret
CLAIMS = web.RequestKey("claims", Claims)
FEED = web.AppKey("token_generation_feed", GenerationFeed)


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
    # The generation is read before the secret is checked: a rotation landing in between then
    # yields a token of the old generation, which is refused, never a live one.
    gen = await current_generation(state.cols, creds[0])
    doc = await state.cols.clients.find_one({"_id": creds[0]})
    if (
        not doc
        or doc.get("status") != "active"
        or not check_client_secret(creds[1], doc["secret_hash"])
    ):
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    bound_to = doc.get("cert_thumbprint")
    if bound_to and peer_thumbprint(request) != bound_to:
        return _oauth_error(
            401,
            "invalid_client",
            "this client is bound to a certificate: present it over mutual TLS",
        )
    ttl = state.settings.token_ttl
    scope = client_token_scope(str(doc.get("scope", "")), "scopes" in doc)
    expires = int(time.time()) + ttl
    issuer = secret_holder(doc) or ""
    access = mint(
        state.secret_key,
        doc["merchant_id"],
        doc["_id"],
        scope,
        expires,
        gen=gen,
        issuer=issuer,
        x5t=bound_to or None,
    )
    body = {"access_token": access, "token_type": "Bearer", "expires_in": ttl, "scope": scope}
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _needs_token(request: web.Request) -> bool:
    resource = request.match_info.route.resource
    if resource is None:  # no such route: aiohttp answers 404/405, but not to strangers on /v1
        return request.path.startswith("/v1/")
    return permission_for(request.method, resource.canonical) != PUBLIC


def _claims(request: web.Request) -> Claims | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        return None
    claims = verify(request.app[STATE].secret_key, value.strip(), time.time())
    feed = request.app.get(FEED)
    if claims is None:
        return None
    if feed is not None and not feed.generations.accepts(claims.client_id, claims.gen):
        return None
    return claims


@web.middleware
async def bearer_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _needs_token(request):
        return await handler(request)
    claims = _claims(request)
    if claims is None:
        return error_response(
            401,
            "unauthorized",
            "a valid, unexpired bearer token is required (POST /v1/oauth/token)",
            headers={"WWW-Authenticate": 'Bearer realm="switch"'},
        )
    if claims.x5t is not None and peer_thumbprint(request) != claims.x5t:
        return error_response(
            401,
            "unauthorized",
            "this token is bound to a client certificate: present it over mutual TLS",
            headers={"WWW-Authenticate": 'Bearer realm="switch", error="invalid_token"'},
        )
    request[CLAIMS] = claims
    log_merchant.set(claims.merchant_id)  # every log line of this request names the merchant
    return await handler(request)


# RFC 6749 §4.4: credentials as HTTP Basic or in the form; OAuth's own error shape.
_OAUTH_ERROR = {"application/json": ref("OAuthError")}
ROUTE_TABLE = (
    Route(
        "POST",
        TOKEN_PATH,
        token,
        "Authentication",
        "Get an access token (OAuth 2.0 client credentials)",
        {
            200: json_answer("An access token", TokenResponse),
            400: Answer("Unsupported grant type", _OAUTH_ERROR),
            401: Answer("Unknown client or wrong secret", _OAUTH_ERROR),
        },
        body={
            "application/x-www-form-urlencoded": {
                "type": "object",
                "required": ["grant_type"],
                "properties": {
                    "grant_type": {"const": "client_credentials"},
                    "client_id": {"type": "string"},
                    "client_secret": {"type": "string"},
                },
            }
        },
        description="Send your client id and secret as HTTP Basic credentials, or as "
        "`client_id` and `client_secret` in the form.",
        error_texts={429: "Too many attempts from this address"},
        security=({"clientBasic": []}, {}),
    ),
)
