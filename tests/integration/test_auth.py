"""OAuth 2.0 client credentials and the bearer check, through the public API."""

from __future__ import annotations

import time

import aiohttp
import pytest

from app.stack import Stack
from switch.tokens import mint

from .helpers import Api, basic_auth, stk_body

pytestmark = pytest.mark.integration


async def _token(http: aiohttp.ClientSession, base: str, **kw: object) -> tuple[int, dict]:
    async with http.post(f"{base}/v1/oauth/token", **kw) as resp:  # type: ignore[arg-type]
        assert resp.headers.get("Cache-Control") == "no-store"
        return resp.status, await resp.json()


async def test_token_by_basic_auth_and_by_form_fields(merchant: Api) -> None:
    m = merchant.merchant
    form = {"grant_type": "client_credentials"}
    status, body = await _token(
        merchant.http, merchant.base, data=form, headers=basic_auth(m.client_id, m.client_secret)
    )
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert "payments:write" in body["scope"]
    form_creds = {**form, "client_id": m.client_id, "client_secret": m.client_secret}
    status, body = await _token(merchant.http, merchant.base, data=form_creds)
    assert status == 200 and body["access_token"].startswith("sk1.")


async def test_wrong_secret_and_wrong_grant_are_refused(merchant: Api) -> None:
    m = merchant.merchant
    bad = basic_auth(m.client_id, m.client_secret + "x")
    status, body = await _token(
        merchant.http, merchant.base, data={"grant_type": "client_credentials"}, headers=bad
    )
    assert (status, body["error"]) == (401, "invalid_client")
    good = basic_auth(m.client_id, m.client_secret)
    status, body = await _token(
        merchant.http, merchant.base, data={"grant_type": "password"}, headers=good
    )
    assert (status, body["error"]) == (400, "unsupported_grant_type")


@pytest.mark.parametrize(
    "header",
    [None, "Bearer nonsense", "Basic abc", "Bearer sk1.e30.AAAA"],
)
async def test_v1_routes_need_a_valid_token(merchant: Api, header: str | None) -> None:
    headers = {"Idempotency-Key": "k1"} | ({"Authorization": header} if header else {})
    async with merchant.http.post(
        f"{merchant.base}/v1/payments", json=stk_body(), headers=headers
    ) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_expired_and_foreign_key_tokens_are_refused(merchant: Api, stack: Stack) -> None:
    assert stack.state is not None
    m = merchant.merchant
    expired = mint(
        stack.state.secret_key, m.merchant_id, m.client_id, "payments:write", int(time.time()) - 1
    )
    forged = mint(
        b"another key" * 3, m.merchant_id, m.client_id, "payments:write", int(time.time()) + 600
    )
    for token in (expired, forged):
        headers = {"Authorization": f"Bearer {token}"}
        async with merchant.http.get(f"{merchant.base}/v1/payments/pay_s0_x", headers=headers) as r:
            assert r.status == 401
