"""Finding payments, statements, summaries and exports through the public API (issue 12,
items 1 and 2), on the real stack."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from infra.merchants import create_merchant
from switch import downloads
from switch.security.crypto import derive_key
from tests.integration.conftest import Stack
from tests.integration.helpers import Api, unique_phone

pytestmark = pytest.mark.integration


async def _get(api: Api, path: str, **params: str) -> tuple[int, Any]:
    async with api.http.get(f"{api.base}{path}", params=params, headers=api.auth) as resp:
        body = await resp.json() if "json" in resp.content_type else await resp.text()
        return resp.status, body


async def _list(api: Api, path: str, **params: str) -> list[str]:
    status, body = await _get(api, path, **params)
    assert status == 200, body
    return [p["id"] for p in body["data"]]


@pytest.fixture
async def other(stack: Stack, receiver: Any, http: aiohttp.ClientSession) -> Api:
    assert stack.state is not None
    created = await create_merchant(stack.state.cols, "Other Ltd", f"{receiver.url}/other")
    api = Api(http, stack.api_url, created, "other")
    await api.login()
    return api


async def test_each_filter_narrows_and_bad_filters_are_named(merchant: Api) -> None:
    phone_a, phone_b = unique_phone(), unique_phone()
    a = await merchant.pay(phone_a, amount="120", reference="REFA")
    b = await merchant.pay(phone_b, amount="250", reference="REFB", description="=HYPERLINK(1)")
    for p in (a, b):
        await merchant.wait_for(p["id"])
    _, shown_a = await merchant.get(a["id"])
    receipt = shown_a["provider"]["receipt"]
    everything = await _list(merchant, "/v1/payments")
    assert everything[:2] == [b["id"], a["id"]]  # newest first
    assert await _list(merchant, "/v1/payments", phone=phone_a) == [a["id"]]
    assert await _list(merchant, "/v1/payments", reference="REFB") == [b["id"]]
    assert await _list(merchant, "/v1/payments", amount_min="200") == [b["id"]]
    assert await _list(merchant, "/v1/payments", amount_max="200") == [a["id"]]
    assert await _list(merchant, "/v1/payments", receipt=receipt) == [a["id"]]
    assert await _list(merchant, "/v1/payments", status="succeeded", reference="REFA") == [a["id"]]
    assert await _list(merchant, "/v1/payments", status="failed") == []
    assert await _list(merchant, "/v1/payments", method="airtel_ussd") == []
    assert await _list(merchant, "/v1/payments", provider="mpesa", reference="REFA") == [a["id"]]
    since = shown_a["created_at"]
    created_b = datetime.fromisoformat(b["created_at"].replace("Z", "+00:00"))
    assert await _list(merchant, "/v1/payments", created_since=b["created_at"]) == [b["id"]]
    until = (created_b - timedelta(milliseconds=1)).isoformat()
    assert b["id"] not in await _list(merchant, "/v1/payments", created_until=until)
    assert set(await _list(merchant, "/v1/payments", updated_since=since)) == {a["id"], b["id"]}
    assert await _list(merchant, "/v1/payouts") == []
    status, body = await _get(
        merchant, "/v1/payments", status="paid", created_since="tuesday", colour="red"
    )
    assert status == 400 and body["error"]["code"] == "invalid_filter"
    assert {d["field"] for d in body["error"]["details"]} == {"status", "created_since", "colour"}


async def test_pages_are_stable_while_payments_arrive_and_cursors_stay_home(
    merchant: Api, other: Api
) -> None:
    first = [await merchant.pay(unique_phone(), reference="PAGE") for _ in range(5)]
    seen: list[str] = []
    status, page = await _get(merchant, "/v1/payments", reference="PAGE", limit="2")
    assert status == 200 and page["next_cursor"]
    seen += [p["id"] for p in page["data"]]
    arriving = asyncio.gather(*(merchant.pay(unique_phone(), reference="PAGE") for _ in range(4)))
    while page["next_cursor"]:
        cursor = page["next_cursor"]
        # Another merchant cannot use it, nor can the same merchant with other filters.
        refused, body = await _get(other, "/v1/payments", reference="PAGE", cursor=cursor)
        assert refused == 400 and body["error"]["details"][0]["field"] == "cursor"
        refused, body = await _get(merchant, "/v1/payments", reference="X", cursor=cursor)
        assert refused == 400 and body["error"]["details"][0]["field"] == "cursor"
        status, page = await _get(
            merchant, "/v1/payments", reference="PAGE", limit="2", cursor=cursor
        )
        assert status == 200, page
        seen += [p["id"] for p in page["data"]]
    later = await arriving
    assert seen == [p["id"] for p in reversed(first)]  # every one once, newest first
    assert {p["id"] for p in later}.isdisjoint(seen)  # newer ones are on a fresh first page
    assert await _list(other, "/v1/payments", reference="PAGE") == []
    forged = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    status, _ = await _get(merchant, "/v1/payments", reference="PAGE", cursor=forged)
    assert status == 400


async def test_a_statement_reconciles_to_the_balance_and_summaries_add_up(merchant: Api) -> None:
    paid = [await merchant.pay(unique_phone(), amount=a) for a in ("150", "300")]
    for p in paid:
        await merchant.wait_for(p["id"])
    status, out = await merchant.payout(unique_phone(), amount="100")
    assert status == 202, out
    await merchant.for_payouts().wait_for(out["id"])
    assert await _list(merchant, "/v1/payouts") == [out["id"]]
    today = datetime.now(UTC).astimezone().date().isoformat()
    span = {"since": (datetime.now(UTC) - timedelta(days=1)).date().isoformat()}
    span["until"] = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    status, st = await _get(merchant, "/v1/statements", **span)
    assert status == 200, st
    balance = await merchant.balance()
    total = sum(Decimal(e["amount"]) for e in st["entries"])
    assert Decimal(st["opening_balance"]) + total == Decimal(st["closing_balance"])
    assert Decimal(st["closing_balance"]) == Decimal(balance["available"])
    kinds = [e["kind"] for e in st["entries"]]
    assert kinds.count("collection") == 2 and "payout_reserve" in kinds
    assert st["entries"][-1]["balance"] == st["closing_balance"]
    status, text = await _get(merchant, "/v1/statements", format="csv", **span)
    assert status == 200 and text.splitlines()[-1].endswith(st["closing_balance"])
    status, summary = await _get(merchant, "/v1/reports/summary", granularity="month", **span)
    assert status == 200, summary
    [month] = summary["periods"]
    assert month["by_method"]["mpesa_stk"]["amount"] == "450"
    assert month["by_method"]["mpesa_b2c"]["count"] == 1 and month["success_rate"] == 1.0
    status, body = await _get(merchant, "/v1/statements", since=today)
    assert status == 400 and body["error"]["details"][0]["field"] == "until"


async def test_an_export_job_downloads_once_ready_through_a_signed_expiring_link(
    merchant: Api, other: Api, stack: Stack
) -> None:
    assert stack.state is not None
    p = await merchant.pay(unique_phone(), reference="EXP", description="=HYPERLINK(1)")
    await merchant.wait_for(p["id"])
    headers = merchant.auth
    body = {"kind": "payments", "filters": {"reference": "EXP"}}
    async with merchant.http.post(f"{merchant.base}/v1/exports", json=body, headers=headers) as r:
        assert r.status == 202, await r.text()
        job = await r.json()
    bad = {"kind": "payments", "filters": {"colour": "red"}}
    async with merchant.http.post(f"{merchant.base}/v1/exports", json=bad, headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"]["details"][0]["field"] == "filters.colour"
    deadline = time.monotonic() + 20
    while job["status"] == "running" and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        _, job = await _get(merchant, f"/v1/exports/{job['id']}")
    assert job["status"] == "ready" and job["rows"] == 1, job
    assert (await _get(other, f"/v1/exports/{job['id']}"))[0] == 404
    async with merchant.http.get(f"{merchant.base}{job['download_url']}") as r:  # no token
        assert r.status == 200
        rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert rows[0]["id"] == p["id"] and rows[0]["description"] == "'=HYPERLINK(1)"
    tampered = job["download_url"].replace("expires=", "expires=9")
    async with merchant.http.get(f"{merchant.base}{tampered}") as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "bad_signature"
    key = derive_key(stack.state.secret_key, "export-links")
    expired = downloads.link(key, job["id"], merchant.merchant.merchant_id, int(time.time()) - 901)
    async with merchant.http.get(f"{merchant.base}{expired}") as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "link_expired"
    moved = downloads.link(key, job["id"], other.merchant.merchant_id, int(time.time()))
    async with merchant.http.get(f"{merchant.base}{moved}") as r:
        assert r.status == 403


async def _ready(merchant: Api, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, job = await _get(merchant, f"/v1/exports/{job_id}")
        if job["status"] != "running":
            return dict(job)
        await asyncio.sleep(0.2)
    raise AssertionError(f"export {job_id} still running")


async def test_an_export_whose_worker_died_is_made_again_once_over_the_same_range(
    merchant: Api, stack: Stack
) -> None:
    """A job left running by a process that died (its heartbeat silent) is made again by the
    worker asked about it, listing what existed when it was asked for; a dead worker's chunks
    never mix into the new file."""
    from api.exports import STALE_S
    from infra import exports as store

    assert stack.state is not None
    cols = stack.state.cols
    first = await merchant.pay(unique_phone(), reference="EXPDEAD")
    await merchant.wait_for(first["id"])
    asked = datetime.now(UTC)
    later = await merchant.pay(unique_phone(), reference="EXPDEAD")  # after the request
    await merchant.wait_for(later["id"])
    silent = asked - timedelta(seconds=STALE_S + 1)
    job_id = f"exp_dead{int(time.time() * 1000)}"
    await store.create(
        cols,
        {
            "_id": job_id,
            "merchant_id": merchant.merchant.merchant_id,
            "kind": "payments",
            "filters": {"reference": "EXPDEAD"},
            "status": "running",
            "created_at": asked,
            "as_of": asked,
            "attempt": 1,
            "heartbeat": silent,
        },
    )
    # The dead worker had stored half a file.
    await store.chunks(cols).insert_one(
        {"_id": store.chunk_id(job_id, 1, 0), "job": job_id, "data": b"half,a,file\n"}
    )
    job = await _ready(merchant, job_id)
    assert job["status"] == "ready" and job["rows"] == 1, job
    async with merchant.http.get(f"{merchant.base}{job['download_url']}") as r:
        text = await r.text()
    assert "half,a,file" not in text
    assert [row["id"] for row in csv.DictReader(io.StringIO(text))] == [first["id"]]
    stored = await store.jobs(cols).find_one({"_id": job_id})
    assert stored is not None and stored["attempt"] == 2
    # The dead worker waking up cannot overwrite the outcome of the attempt that replaced it.
    await store.finish(cols, job_id, 1, {"status": "failed"})
    assert (await _ready(merchant, job_id))["status"] == "ready"
