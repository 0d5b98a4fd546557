"""The permission check on every route, from the one table in :mod:`switch.roles`.

Runs after the bearer check (:mod:`api.auth`), which put the token's claims on the request. A
route the table does not name is refused whatever the token; ``public`` routes pass; ``session``
routes need a person's token; the rest need their scope in the token, and the permissions that
manage people or credentials need a session whose login passed TOTP.
"""

from __future__ import annotations

from aiohttp import web

from api.auth import CLAIMS
from api.errors import Handler, error_response
from switch.roles import MFA_FOR_PEOPLE, MFA_REQUIRED, PUBLIC, SESSION, allowed, permission_for
from switch.tokens import Claims


def refusal(needed: str | None, claims: Claims | None) -> web.Response | None:
    """The answer refusing ``claims`` a route needing ``needed``; None when allowed. Pure."""
    if needed == PUBLIC:
        return None
    if needed is None:
        return error_response(403, "forbidden", "this route is not open to any token")
    if claims is None:
        return error_response(401, "unauthorized", "a valid, unexpired bearer token is required")
    if needed == SESSION:
        if claims.kind != "session":
            return error_response(
                403, "forbidden", "this route is for people signed in (POST /v1/auth/login)"
            )
        return None
    if not allowed(claims.scope, needed):
        return error_response(
            403,
            "forbidden",
            f"this token does not allow {needed}",
            [{"field": "scope", "reason": f"needs {needed}"}],
        )
    person = claims.kind == "session"
    if (needed in MFA_REQUIRED or (person and needed in MFA_FOR_PEOPLE)) and not (
        person and claims.mfa
    ):
        return error_response(
            403,
            "mfa_required",
            "enrol two-factor sign-in (POST /v1/users/me/totp, then /confirm) and sign in "
            "with a code to use this route",
        )
    return None


@web.middleware
async def permission_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    resource = request.match_info.route.resource
    if resource is None:  # no such route or method: aiohttp's own 404/405
        return await handler(request)
    refused = refusal(permission_for(request.method, resource.canonical), request.get(CLAIMS))
    return refused or await handler(request)
