"""Input and transport hardening around every route (OWASP API8:2023, misconfiguration).

- Header limits: bytes per header line and number of headers, enforced by aiohttp's parser
  (:func:`server_args`, given to the AppRunner); a request beyond them gets aiohttp's own 400 and
  a closed connection before any handler runs.
- ``Content-Type``: a ``/v1`` request with a body must say JSON (or, where a route takes
  files, one of its types), else 415. Bodies stay under 64 KiB (``client_max_size``; 413).
- One error body (:mod:`api.errors`) for 404, 405 (with ``Allow``), 413 and 415.
- Response headers: ``Strict-Transport-Security`` on TLS connections, ``nosniff`` everywhere,
  ``Cache-Control: no-store`` on ``/v1`` answers (they carry personal and payment data).
- Provider callbacks may be restricted to each provider's source addresses (403 otherwise).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.errors import Handler, error_response
from api.routes import Route
from api.state import AppState
from infra.metrics import CALLBACKS
from switch.config import Settings
from switch.netguard import AllowList, client_ip
from switch.providers import ProviderSpec, providers

JSON = frozenset({"application/json"})
CSV = frozenset({"text/csv", "application/csv"})
# Routes whose body is not (only) JSON. The token route reads an RFC 6749 form and answers
# errors in OAuth's own shape, so it is left to its handler.
BODY_TYPES: Mapping[tuple[str, str], frozenset[str]] = {
    ("POST", "/v1/payouts/batches"): JSON | CSV,
    # A benefits programme's registry (api/benefits.py).
    ("POST", "/v1/benefits/programmes/{programme_id}/beneficiaries/upload"): CSV,
    # Statement files as providers and banks give them (api/recon.py).
    ("POST", "/v1/operator/recon/statements"): CSV | {"text/plain", "application/xml"},
    # ISO 20022 participants (api/hub_iso.py): a pacs.008 to the hub, a bank's pacs.002.
    ("POST", "/v1/hub/transfers"): JSON | {"application/xml"},
    ("POST", "/v1/hub/iso/pacs.002"): frozenset({"application/xml"}),
    # KYC documents as files (api/kyc.py checks the content itself).
    ("POST", "/v1/kyc/applications/{application_id}/documents"): frozenset(
        {"application/pdf", "image/png", "image/jpeg"}
    ),
}
UNCHECKED = frozenset({("POST", "/v1/oauth/token")})
WITH_BODY = frozenset({"POST", "PUT", "PATCH"})

log = logging.getLogger(__name__)


def server_args(settings: Settings) -> dict[str, Any]:
    """aiohttp server limits for the api's AppRunner: header line/field size and count."""
    return {
        "max_line_size": settings.max_header_bytes,
        "max_field_size": settings.max_header_bytes,
        "max_headers": settings.max_headers,
    }


def accepted(content_type: str, allowed: frozenset[str]) -> bool:
    """``application/json``, a ``+json`` type when JSON is allowed, or a listed type. Pure."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    return ctype in allowed or ("application/json" in allowed and ctype.endswith("+json"))


def content_type_refusal(
    method: str, route: str, content_type: str, has_body: bool
) -> web.Response | None:
    """The 415 for a ``/v1`` body in a type the route does not take; None otherwise. Pure."""
    if method not in WITH_BODY or not has_body or not route.startswith("/v1/"):
        return None
    if (method, route) in UNCHECKED:
        return None
    allowed = BODY_TYPES.get((method, route), JSON)
    if accepted(content_type, allowed):
        return None
    return error_response(
        415,
        "unsupported_media_type",
        f"send the body as {' or '.join(sorted(allowed))}",
        [{"field": "Content-Type", "reason": f"{content_type or 'missing'} is not accepted"}],
    )


def hsts_value(max_age: int) -> str | None:
    return f"max-age={max_age}" if max_age > 0 else None


@dataclass(frozen=True)
class Guards:
    callers: Mapping[str, AllowList]  # provider -> allowed callback sources
    callback_of: Mapping[str, str]  # a callback route's path -> its provider
    proxies: AllowList
    hsts: str | None


def callers_of(settings: Settings, spec: ProviderSpec) -> str:
    """Who may call a provider's callbacks: its ``callback_allowlist_<name>`` setting, else,
    outside sandbox mode, the sources its description names (M-Pesa's C2B confirmations carry
    no per-payment token). ``0.0.0.0/0,::/0`` lets anyone in."""
    configured: str = getattr(settings, f"callback_allowlist_{spec.name}", "")
    if configured or settings.sandbox:
        return configured
    return spec.callback_sources


def guards_from(settings: Settings, callback_of: Mapping[str, str] | None = None) -> Guards:
    return Guards(
        callback_of=callback_of or {},
        callers={spec.name: AllowList.parse(callers_of(settings, spec)) for spec in providers()},
        proxies=AllowList.parse(settings.trusted_proxies),
        hsts=hsts_value(settings.hsts_max_age),
    )


GUARDS = web.AppKey("hardening_guards", Guards)


def install(app: web.Application, state: AppState, routes: Iterable[Route]) -> None:
    """Called by ``create_app``: the guards from the settings and the route table (whose
    callback each route is), and the response-header hook."""
    app[GUARDS] = guards_from(state.settings, {r.path: r.provider for r in routes if r.provider})
    app.on_response_prepare.append(_security_headers)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    guards = request.app.get(GUARDS)
    if guards is not None and guards.hsts and request.secure:
        response.headers.setdefault("Strict-Transport-Security", guards.hsts)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/v1/"):
        response.headers.setdefault("Cache-Control", "no-store")


def _callback_refusal(request: web.Request, route: str, guards: Guards) -> web.Response | None:
    provider = guards.callback_of.get(route)
    if provider is None:
        return None
    allow = guards.callers.get(provider)
    if allow is None or not allow.networks:
        return None
    caller = client_ip(request.remote, request.headers.get("X-Forwarded-For"), guards.proxies)
    if allow.allows(caller):
        return None
    CALLBACKS.labels(provider, "source_refused").inc()
    log.warning("%s callback from %s refused: not on its allow-list", provider, caller)
    return error_response(403, "forbidden", "callbacks are not accepted from this address")


@web.middleware
async def hardening_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outside the bearer check: callback sources, and 405 in the error shape with ``Allow``."""
    guards = request.app.get(GUARDS)
    resource = request.match_info.route.resource
    if guards is not None and resource is not None:
        refused = _callback_refusal(request, resource.canonical, guards)
        if refused is not None:
            return refused
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as exc:
        allow = ", ".join(sorted(exc.allowed_methods))
        return error_response(
            405,
            "method_not_allowed",
            f"{exc.method} is not allowed here; use {allow}",
            headers={"Allow": allow},
        )


@web.middleware
async def content_type_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside the permission check (a stranger gets 401, not 415)."""
    resource = request.match_info.route.resource
    if resource is not None:
        refused = content_type_refusal(
            request.method,
            resource.canonical,
            request.headers.get("Content-Type", ""),
            request.body_exists,
        )
        if refused is not None:
            return refused
    return await handler(request)
