"""API clients of the caller's merchant: ``POST/GET /v1/clients``, ``POST
/v1/clients/{id}/rotate``, ``DELETE /v1/clients/{id}``. Rotating or revoking raises the client's
token generation and announces it on the process's :class:`~infra.clients.GenerationFeed`, so its
tokens stop at once in every api process. A client can only be given scopes that are client
scopes and that the person creating it holds (a developer cannot mint a payouts client). Rotating
hands its caller the client's new secret, hence every right of the client: the same rule applies
to the scopes the client's tokens carry, so a developer cannot rotate a payouts client to get
payout rights. Both routes also need ``clients:manage`` with a two-factor session
(:mod:`api.permissions`).
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api import openapi_models as out
from api.auth import CLAIMS, FEED
from api.errors import json_response
from api.routes import Route, json_answer
from api.state import STATE
from api.users import actor_of, audit, read_model
from infra.clients import (
    GenerationFeed,
    bump_generation,
    create_client,
    find_active_client,
    list_clients,
    revoke_client,
    rotate_client,
)
from switch.clients import Generations, public_view, token_scopes
from switch.errors import NotFound, ValidationFailed
from switch.roles import SCOPES, grant_refusals
from switch.users import Forbidden

Scope = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class ClientIn(BaseModel):
    """A new API client for the caller's merchant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    scopes: list[Scope] = Field(min_length=1, max_length=20)


def _check_scopes(wanted: list[str], held: str) -> None:
    unknown = sorted(set(wanted) - set(SCOPES))
    if unknown:
        raise ValidationFailed(
            "the request has invalid fields",
            [{"field": "scopes", "reason": f"unknown scope: {s}"} for s in unknown],
        )
    _check_grant(wanted, held, "give a client")


def _check_grant(wanted: list[str], held: str, doing: str) -> None:
    """403 unless every scope of ``wanted`` is a client scope that ``held`` holds."""
    details = grant_refusals(wanted, held)
    if details:
        raise Forbidden(
            f"you cannot {doing} a scope that is not a client scope or that your role lacks",
            details,
        )


async def create(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    body = await read_model(request, ClientIn)
    _check_scopes(body.scopes, claims.scope)
    state = request.app[STATE]
    doc, secret = await create_client(
        state.cols, claims.merchant_id, body.name, body.scopes, actor_of(claims)
    )
    view = public_view(doc)
    await audit(request, "client.create", f"client:{doc['_id']}", after=view)
    headers = {"Cache-Control": "no-store", "Location": f"/v1/clients/{doc['_id']}"}
    return json_response({**view, "client_secret": secret}, 201, headers)


async def list_all(request: web.Request) -> web.Response:
    docs = await list_clients(request.app[STATE].cols, request[CLAIMS].merchant_id)
    return json_response({"object": "list", "data": [public_view(d) for d in docs]})


async def rotate(request: web.Request) -> web.Response:
    claims, client_id = request[CLAIMS], request.match_info["client_id"]
    cols = request.app[STATE].cols
    current = await find_active_client(cols, claims.merchant_id, client_id)
    if current is None:
        raise NotFound("no such active client")
    # The new secret carries every right of the client: refused (nothing changes) unless the
    # caller could have created it.
    _check_grant(token_scopes(current), claims.scope, "rotate a client holding")
    try:
        doc, secret = await rotate_client(cols, current, actor_of(claims))
    except LookupError:
        raise NotFound("no such active client") from None
    await request.app[FEED].announce(client_id, await bump_generation(cols, client_id))
    view = public_view(doc)
    await audit(request, "client.rotate", f"client:{client_id}", after=view)
    return json_response({**view, "client_secret": secret}, headers={"Cache-Control": "no-store"})


async def revoke(request: web.Request) -> web.Response:
    claims, client_id = request[CLAIMS], request.match_info["client_id"]
    cols = request.app[STATE].cols
    try:
        doc = await revoke_client(cols, claims.merchant_id, client_id)
    except LookupError:
        raise NotFound("no such active client") from None
    await request.app[FEED].announce(client_id, await bump_generation(cols, client_id))
    view = public_view(doc)
    await audit(
        request, "client.revoke", f"client:{client_id}", before={"status": "active"}, after=view
    )
    return json_response(view)


async def _start(app: web.Application) -> None:
    await app[FEED].start()


async def _stop(app: web.Application) -> None:
    await app[FEED].stop()


def install(app: web.Application) -> None:
    state = app[STATE]
    app[FEED] = GenerationFeed(Generations(), state.cols, state.settings.redis_url)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)


ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/clients",
        create,
        "API clients",
        "Create an API client; its secret is shown once",
        {201: json_answer("The client and its secret", out.ClientWithSecret)},
        body=ClientIn,
    ),
    Route(
        "GET",
        "/v1/clients",
        list_all,
        "API clients",
        "Your organisation's API clients",
        {200: json_answer("The clients", out.ClientList)},
    ),
    Route(
        "POST",
        "/v1/clients/{client_id}/rotate",
        rotate,
        "API clients",
        "A new secret; the old secret and its tokens stop at once",
        {200: json_answer("The client and its new secret", out.ClientWithSecret)},
        errors=(404,),
    ),
    Route(
        "DELETE",
        "/v1/clients/{client_id}",
        revoke,
        "API clients",
        "Revoke an API client; its tokens stop at once",
        {200: json_answer("The client, revoked", out.Client)},
        errors=(404,),
    ),
)
