"""The operator's view of the provider float (M-Pesa Account Balance)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from app.stack import Stack
from infra.merchants import create_operator_client

from .helpers import Api, basic_auth, for_up_to

pytestmark = pytest.mark.integration


async def test_the_operator_reads_the_float_and_merchants_may_not(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    assert stack.state is not None
    client = await create_operator_client(stack.state.cols)
    form = {"grant_type": "client_credentials"}
    async with http.post(
        f"{stack.api_url}/v1/oauth/token",
        data=form,
        headers=basic_auth(client["client_id"], client["client_secret"]),
    ) as resp:
        token = (await resp.json())["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    url = f"{stack.api_url}/v1/operator/provider-balance"
    async with http.post(url, headers=auth) as resp:
        assert resp.status == 202
        query = await resp.json()
    for _ in for_up_to():
        async with http.get(f"{url}/{query['id']}", headers=auth) as resp:
            body = await resp.json()
        if body["status"] != "requested":
            break
        await asyncio.sleep(0.1)
    assert body["status"] == "answered"
    names = {a["name"] for a in body["accounts"]}
    assert "Utility Account" in names
    utility = next(a for a in body["accounts"] if a["name"] == "Utility Account")
    assert utility["currency"] == "KES"
    assert "." not in utility["available"] or len(utility["available"].split(".")[1]) == 2

    async with http.post(url, headers=merchant.auth) as resp:
        assert resp.status == 403
