"""The permission middleware's decisions and the bearer check, on a small app."""

from __future__ import annotations

import json
import time

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.auth import FEED, bearer_middleware
from api.permissions import permission_middleware, refusal
from api.state import STATE
from infra.clients import GenerationFeed
from switch.clients import Generations
from switch.tokens import Claims, mint

KEY = b"k" * 32


def _claims(scope: str, kind: str = "client", mfa: bool = False) -> Claims:
    return Claims("mch_1", "cli_1", scope, 2**40, "t", kind=kind, mfa=mfa)


def _code(resp: web.Response | None) -> tuple[int, str] | None:
    if resp is None:
        return None
    assert isinstance(resp.body, bytes)
    return resp.status, json.loads(resp.body)["error"]["code"]


def test_public_passes_without_claims() -> None:
    assert refusal("public", None) is None


def test_unknown_route_is_refused_even_to_a_full_token() -> None:
    assert _code(refusal(None, _claims("payments:write operator"))) == (403, "forbidden")


def test_scope_needed() -> None:
    assert refusal("payouts:write", _claims("payouts:write")) is None
    assert _code(refusal("payouts:write", _claims("payouts:read payments:write"))) == (
        403,
        "forbidden",
    )
    assert _code(refusal("payouts:write", None)) == (401, "unauthorized")


def test_session_routes_refuse_api_clients() -> None:
    assert refusal("session", _claims("", kind="session")) is None
    assert _code(refusal("session", _claims("payments:write"))) == (403, "forbidden")


def test_management_needs_a_two_factor_session() -> None:
    scope = "clients:manage users:manage"
    assert _code(refusal("clients:manage", _claims(scope, kind="session"))) == (403, "mfa_required")
    assert refusal("clients:manage", _claims(scope, kind="session", mfa=True)) is None
    # An API client holding the scope somehow still needs a person with TOTP.
    assert _code(refusal("users:manage", _claims(scope, mfa=True))) == (403, "mfa_required")


class _State:
    secret_key = KEY


async def _ok(_: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _client(generations: Generations) -> TestClient[web.Request, web.Application]:
    app = web.Application(middlewares=[bearer_middleware, permission_middleware])
    app[STATE] = _State()  # type: ignore[assignment]
    feed = GenerationFeed(generations, None, None)  # type: ignore[arg-type]
    app[FEED] = feed
    app.router.add_get("/v1/balance", _ok)
    app.router.add_post("/v1/payouts", _ok)
    app.router.add_get("/v1/not-in-the-table", _ok)
    app.router.add_get("/healthz", _ok)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def _bearer(scope: str, gen: int = 0, client_id: str = "cli_1") -> dict[str, str]:
    token = mint(KEY, "mch_1", client_id, scope, int(time.time()) + 60, gen=gen)
    return {"Authorization": f"Bearer {token}"}


async def test_middlewares_together() -> None:
    generations = Generations()
    client = await _client(generations)
    try:
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/v1/balance")).status == 401
        assert (await client.get("/v1/balance", headers=_bearer("balance:read"))).status == 200
        assert (await client.post("/v1/payouts", headers=_bearer("balance:read"))).status == 403
        full = _bearer("balance:read payouts:write payments:write")
        assert (await client.get("/v1/not-in-the-table", headers=full)).status == 403
        assert (await client.get("/v1/nowhere")).status == 401  # strangers learn nothing
        assert (await client.get("/nowhere")).status == 404
    finally:
        await client.close()


async def test_a_raised_generation_refuses_older_tokens_at_once() -> None:
    generations = Generations()
    client = await _client(generations)
    try:
        old, new = _bearer("balance:read", gen=0), _bearer("balance:read", gen=1)
        other = _bearer("balance:read", gen=0, client_id="cli_2")
        assert (await client.get("/v1/balance", headers=old)).status == 200
        generations.raise_to("cli_1", 1)
        assert (await client.get("/v1/balance", headers=old)).status == 401
        assert (await client.get("/v1/balance", headers=new)).status == 200
        assert (await client.get("/v1/balance", headers=other)).status == 200
    finally:
        await client.close()
