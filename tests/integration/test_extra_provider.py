"""A provider added through the registry alone (tests/fixtures/tkash: its description, orders,
gateway and simulator, named by SWITCH_PROVIDER_MODULES) collects and pays out through the
public API of an unmodified switch: validation, routing, fees, the shard, its own gateway actor
and simulator, postings and the ledger."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from .helpers import basic_auth, for_up_to
from .switch_process import ROOT, sandbox_switch

pytestmark = pytest.mark.integration

TELKOM = "0771234567"


async def _merchant(env: dict[str, str]) -> dict[str, Any]:
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "switch", "merchant", "create", "--name", "Telkom Duka"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    )
    created: dict[str, Any] = orjson.loads(out.stdout)
    return created


async def _until(http: aiohttp.ClientSession, url: str, auth: dict[str, str]) -> dict[str, Any]:
    for _ in for_up_to():
        async with http.get(url, headers=auth) as resp:
            body: dict[str, Any] = await resp.json()
        if body.get("status") in ("succeeded", "failed", "expired"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} still {body}")


async def test_a_provider_added_through_the_registry_alone_collects_and_pays_out(
    tmp_path: Path,
) -> None:
    extra = {"SWITCH_PROVIDER_MODULES": "tests.fixtures.tkash.provider", "PYTHONPATH": str(ROOT)}
    async with sandbox_switch(tmp_path, "tkash", **extra) as (port, env):
        base = f"http://127.0.0.1:{port}"
        merchant = await _merchant(env)
        async with aiohttp.ClientSession() as http:
            basic = basic_auth(merchant["client_id"], merchant["client_secret"])
            form = {"grant_type": "client_credentials"}
            async with http.post(f"{base}/v1/oauth/token", data=form, headers=basic) as resp:
                token = (await resp.json())["access_token"]
            auth = {"Authorization": f"Bearer {token}"}

            async def send(path: str, body: dict[str, Any]) -> dict[str, Any]:
                headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
                async with http.post(f"{base}{path}", json=body, headers=headers) as resp:
                    answer: dict[str, Any] = await resp.json()
                    assert resp.status == 202, answer
                    return answer

            collect = {"amount": "500", "currency": "KES", "phone": TELKOM, "reference": "T1"}
            created = await send("/v1/payments", {"method": "tkash_push", **collect})
            paid = await _until(http, f"{base}/v1/payments/{created['id']}", auth)
            assert paid["status"] == "succeeded", paid
            assert paid["provider"]["name"] == "tkash"
            assert paid["provider"]["receipt"].startswith("TK")

            payout = {"amount": "100", "currency": "KES", "phone": TELKOM, "reference": "P1"}
            sent = await send("/v1/payouts", {"method": "auto", **payout})
            assert sent["method"] == "tkash_payout"  # the Telkom number's own wallet first
            done = await _until(http, f"{base}/v1/payouts/{sent['id']}", auth)
            assert done["status"] == "succeeded", done
            assert done["fee"] == "10"  # the rail's default fee, from its description

            async with http.get(f"{base}/v1/balance", headers=auth) as resp:
                balance = await resp.json()
            assert Decimal(balance["available"]) == 390  # 500 collected, 100 + 10 paid out
