"""No log line of the switch or its actors carries a full phone number, account number, token or
secret (README, Operations). A sandbox switch in its own process at DEBUG, its console (the api's
lines and the actors' lines that Ray forwards) captured to a file; the test knows every value it
sent, so it can look for each one. Also: lines carry the merchant and payment ids."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from switch.merchants import NewMerchant

from .helpers import SANDBOX_TRIGGERS, Api, for_up_to, unique_phone
from .switch_process import ROOT, sandbox_switch

pytestmark = pytest.mark.integration


def _airtel_phone() -> str:
    while True:
        digits = f"{uuid.uuid4().int % 10**6:06d}"
        if digits[-4:] not in SANDBOX_TRIGGERS:
            return "0733" + digits


async def _final(api: Api, kind: str, pid: str) -> dict[str, Any]:
    for _ in for_up_to():
        async with api.http.get(f"{api.base}/v1/{kind}/{pid}", headers=api.auth) as r:
            body: dict[str, Any] = await r.json()
        if body.get("status") in ("succeeded", "failed", "expired"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"{pid} not final: {body}")


async def test_no_log_line_carries_a_phone_account_token_or_secret(tmp_path: Path) -> None:
    async with sandbox_switch(tmp_path, "logs", SWITCH_LOG_LEVEL="DEBUG") as (port, env):
        made = subprocess.run(
            [sys.executable, "-m", "switch", "merchant", "create", "--name", "Log shop",
             "--webhook-url", "https://shop.example/hooks"],
            env=env, cwd=ROOT, capture_output=True, check=True,
        )  # fmt: skip
        created = NewMerchant(**orjson.loads(made.stdout))
        async with aiohttp.ClientSession() as http:
            api = Api(http, f"http://127.0.0.1:{port}", created, "logs")
            await api.login()
            stk, airtel, b2c = unique_phone(), _airtel_phone(), unique_phone()
            account = "0150123456789"  # the sandbox bank's account of JAMES WANJIKU OMONDI
            paid = await api.pay(stk, amount="20000")
            status, pulled, _ = await api.create(
                {"method": "auto", "amount": "5000", "currency": "KES", "phone": airtel,
                 "reference": "LOG2"}, key=uuid.uuid4().hex,
            )  # fmt: skip
            assert status == 202, pulled
            for pid in (paid["id"], pulled["id"]):
                assert (await _final(api, "payments", pid))["status"] == "succeeded"
            status, payout = await api.payout(b2c, amount="500")
            assert status == 202, payout
            bank = {"bank_code": "68", "account_number": account,
                    "account_name": "James Wanjiku Omondi"}  # fmt: skip
            headers = {**api.auth, "Idempotency-Key": uuid.uuid4().hex}
            body = {"method": "bank_transfer", "amount": "1500", "currency": "KES",
                    "reference": "LOG3", "bank": bank}  # fmt: skip
            async with http.post(f"{api.base}/v1/payouts", json=body, headers=headers) as r:
                transfer = await r.json()
                assert r.status == 202, transfer
            for pid in (payout["id"], transfer["id"]):
                assert (await _final(api, "payouts", pid))["status"] == "succeeded"
            # A search by phone puts the number in a query string; a bad token in a header.
            async with http.get(
                f"{api.base}/v1/payments", params={"phone": stk}, headers=api.auth
            ) as r:
                assert r.status == 200
            async with http.get(
                f"{api.base}/v1/balance", headers={"Authorization": f"Bearer {api.token}x"}
            ) as r:
                assert r.status == 401
        await asyncio.sleep(2.0)  # the actors' last lines reach the console through Ray
    text = (tmp_path / "switch.log").read_text()
    lines = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
    procs = {line.get("proc", "") for line in lines}
    assert any(p.startswith("shard-") for p in procs), procs  # the actors' lines are in it
    secrets = {
        "client secret": created.client_secret,
        "webhook secret": created.webhook_secret,
        "access token": api.token,
        "account number": account,
        **{f"phone {p}": p[1:] for p in (stk, airtel, b2c)},  # 7XXXXXXXX: in every spelling
    }
    for what, value in secrets.items():
        assert value and value not in text, f"a log line carries the {what}"
    assert any(
        line.get("merchant_id") == created.merchant_id and "http" in line for line in lines
    ), "request lines name the merchant"
    assert any(line.get("payment_id") == paid["id"] for line in lines), "and the payment"
    assert os.path.getsize(tmp_path / "switch.log") > 0
