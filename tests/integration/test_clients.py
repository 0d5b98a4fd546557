"""API clients through the public API: create (secret once), list (no secrets), rotate and revoke
with the old tokens refused at once; and the generation feed across api processes."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from infra.clients import GenerationFeed, bump_generation
from switch.clients import Generations

from .helpers import Api, basic_auth, for_up_to
from .test_users import Person, invite, owner_with_totp

pytestmark = pytest.mark.integration


async def client_token(
    http: aiohttp.ClientSession, base: str, client_id: str, secret: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{base}/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client_id, secret),
    ) as resp:
        return resp.status, await resp.json()


async def balance_status(http: aiohttp.ClientSession, base: str, token: str) -> int:
    async with http.get(f"{base}/v1/balance", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status


async def new_client(owner: Person, scopes: list[str], name: str = "shop backend") -> Any:
    status, body, headers = await owner.call(
        "POST", "/v1/clients", {"name": name, "scopes": scopes}
    )
    assert status == 201, body
    assert headers["Cache-Control"] == "no-store"
    return body


async def test_create_list_and_use_a_client(stack: Stack, http: aiohttp.ClientSession) -> None:
    owner = await owner_with_totp(http, stack.api_url)
    created = await new_client(owner, ["balance:read", "payments:read"])
    assert created["client_secret"].startswith("sec_")
    assert created["scopes"] == ["balance:read", "payments:read"]
    assert created["status"] == "active"

    status, listed, _ = await owner.call("GET", "/v1/clients")
    assert status == 200
    assert [c["id"] for c in listed["data"]] == [created["id"]]
    assert "secret" not in str(listed)  # neither the secret nor its hash
    assert stack.state is not None
    stored = await stack.state.cols.clients.find_one({"_id": created["id"]})
    assert stored is not None and created["client_secret"] not in str(stored)

    status, token = await client_token(http, stack.api_url, created["id"], created["client_secret"])
    assert status == 200
    assert token["scope"] == "balance:read payments:read"
    assert await balance_status(http, stack.api_url, token["access_token"]) == 200
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    async with http.post(f"{stack.api_url}/v1/payouts", json={}, headers=auth) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["details"] == [
            {"field": "scope", "reason": "needs payouts:write"}
        ]
    # A client cannot manage clients, whatever it holds.
    async with http.get(f"{stack.api_url}/v1/clients", headers=auth) as resp:
        assert resp.status == 403


@pytest.mark.parametrize(
    ("scopes", "status", "code"),
    [
        (["payments:fly"], 422, "validation_failed"),
        (["operator"], 403, "forbidden"),
        (["clients:manage"], 403, "forbidden"),
        ([], 422, "validation_failed"),
    ],
)
async def test_scopes_that_cannot_be_given(
    stack: Stack, http: aiohttp.ClientSession, scopes: list[str], status: int, code: str
) -> None:
    owner = await owner_with_totp(http, stack.api_url)
    got, body, _ = await owner.call("POST", "/v1/clients", {"name": "x", "scopes": scopes})
    assert (got, body["error"]["code"]) == (status, code)


async def test_rotate_stops_the_old_secret_and_its_tokens_at_once(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    owner = await owner_with_totp(http, stack.api_url)
    created = await new_client(owner, ["balance:read"])
    _, old = await client_token(http, stack.api_url, created["id"], created["client_secret"])
    assert await balance_status(http, stack.api_url, old["access_token"]) == 200

    status, rotated, _ = await owner.call("POST", f"/v1/clients/{created['id']}/rotate")
    assert status == 200, rotated
    assert rotated["client_secret"] != created["client_secret"]
    assert rotated["rotated_at"] is not None
    assert await balance_status(http, stack.api_url, old["access_token"]) == 401
    status, err = await client_token(http, stack.api_url, created["id"], created["client_secret"])
    assert (status, err["error"]) == (401, "invalid_client")
    status, new = await client_token(http, stack.api_url, created["id"], rotated["client_secret"])
    assert status == 200
    assert await balance_status(http, stack.api_url, new["access_token"]) == 200


async def test_revoke_stops_every_token_at_once(stack: Stack, http: aiohttp.ClientSession) -> None:
    owner = await owner_with_totp(http, stack.api_url)
    created = await new_client(owner, ["balance:read"])
    tokens = [
        (await client_token(http, stack.api_url, created["id"], created["client_secret"]))[1]
        for _ in range(2)
    ]
    for token in tokens:
        assert await balance_status(http, stack.api_url, token["access_token"]) == 200

    status, revoked, _ = await owner.call("DELETE", f"/v1/clients/{created['id']}")
    assert (status, revoked["status"]) == (200, "revoked")
    for token in tokens:
        assert await balance_status(http, stack.api_url, token["access_token"]) == 401
    status, _ = await client_token(http, stack.api_url, created["id"], created["client_secret"])
    assert status == 401
    status, listed, _ = await owner.call("GET", "/v1/clients")
    assert [c["status"] for c in listed["data"]] == ["revoked"]
    assert (await owner.call("DELETE", f"/v1/clients/{created['id']}"))[0] == 404
    assert (await owner.call("POST", f"/v1/clients/{created['id']}/rotate"))[0] == 404


async def test_another_merchants_client_is_not_found(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    owner = await owner_with_totp(http, stack.api_url)
    other = merchant.merchant.client_id
    assert (await owner.call("POST", f"/v1/clients/{other}/rotate"))[0] == 404
    assert (await owner.call("DELETE", f"/v1/clients/{other}"))[0] == 404
    status, listed, _ = await owner.call("GET", "/v1/clients")
    assert status == 200
    assert other not in str(listed)
    # The legacy merchant client still works.
    assert await balance_status(http, stack.api_url, merchant.token) == 200


async def test_developer_clients_are_limited_to_the_developers_scopes(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    owner = await owner_with_totp(http, stack.api_url)
    developer = await invite(owner, "developer")
    status, err, _ = await developer.call(
        "POST", "/v1/clients", {"name": "x", "scopes": ["payments:write"]}
    )
    assert (status, err["error"]["code"]) == (403, "mfa_required")
    await developer.enrol_totp()
    await new_client(developer, ["payments:write", "payments:read"])
    status, err, _ = await developer.call(
        "POST", "/v1/clients", {"name": "x", "scopes": ["payouts:write"]}
    )
    assert (status, err["error"]["details"]) == (
        403,
        [{"field": "scopes", "reason": "your role lacks payouts:write"}],
    )


async def test_a_developer_cannot_rotate_a_client_holding_more_than_its_role(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """Issue 10, finding 3: rotation hands out the client's rights, so it is checked as creation
    is; refused with 403 and nothing changes (the old secret still works)."""
    owner = await owner_with_totp(http, stack.api_url)
    payouts = await new_client(owner, ["payouts:write", "balance:read"], "payouts backend")
    developer = await invite(owner, "developer")
    status, err, _ = await developer.call("POST", f"/v1/clients/{payouts['id']}/rotate")
    assert (status, err["error"]["code"]) == (403, "mfa_required")
    await developer.enrol_totp()
    status, err, _ = await developer.call("POST", f"/v1/clients/{payouts['id']}/rotate")
    assert status == 403, err
    assert err["error"]["code"] == "forbidden"
    assert err["error"]["details"] == [
        {"field": "scopes", "reason": "your role lacks payouts:write"}
    ]
    assert "client_secret" not in err
    assert stack.state is not None
    stored = await stack.state.cols.clients.find_one({"_id": payouts["id"]})
    assert stored is not None and "rotated_at" not in stored
    status, token = await client_token(http, stack.api_url, payouts["id"], payouts["client_secret"])
    assert status == 200
    assert await balance_status(http, stack.api_url, token["access_token"]) == 200
    # A client within the developer's role it may rotate; the rotation records who did it.
    own = await new_client(owner, ["payments:read"], "reader")
    status, rotated, _ = await developer.call("POST", f"/v1/clients/{own['id']}/rotate")
    assert status == 200, rotated
    _, me, _ = await developer.call("GET", "/v1/users/me")
    stored = await stack.state.cols.clients.find_one({"_id": own["id"]})
    assert stored is not None and stored["rotated_by"] == f"user:{me['id']}"


async def test_generations_reach_another_api_process(stack: Stack) -> None:
    """Two feeds stand for two api processes: one announces, the other hears it over Redis;
    without Redis, the periodic reload carries it."""
    assert stack.state is not None
    cols = stack.state.cols
    url = stack.settings.redis_url
    assert url
    here, there = GenerationFeed(Generations(), cols, url), GenerationFeed(Generations(), cols, url)
    lonely = GenerationFeed(Generations(), cols, None, refresh=0.2)
    for feed in (here, there, lonely):
        await feed.start()
    try:
        await asyncio.wait_for(there.subscribed.wait(), 5)
        subject = "cli_feedtest"
        # Redis path: announce without writing the database, so only the message can carry it.
        await here.announce(subject, 7)
        assert not here.generations.accepts(subject, 6)
        for _ in for_up_to():
            if not there.generations.accepts(subject, 6):
                break
            await asyncio.sleep(0.01)
        assert not there.generations.accepts(subject, 6)
        # No Redis: the database reload.
        gen = await bump_generation(cols, "cli_feedtest2")
        await asyncio.sleep(0.6)
        assert not lonely.generations.accepts("cli_feedtest2", gen - 1)
        assert lonely.generations.accepts("cli_feedtest2", gen)
    finally:
        for feed in (here, there, lonely):
            await feed.stop()
