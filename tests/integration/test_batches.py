"""Bulk payouts through the public API against the Daraja simulator: a batch of 50 executed to
completion, a dry run with bad lines, a CSV upload, replays of the batch key, the results CSV
and an upload larger than the app's usual body limit.

The routes are wired in api/app.py; the batch executor is the batch actor (actors/runtime.py).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from typing import Any

import pytest

from .helpers import Api, unique_phone

pytestmark = pytest.mark.integration

BATCHES = "/v1/payouts/batches"


async def _post(
    api: Api,
    body: Any,
    key: str | None = None,
    *,
    csv_text: str | None = None,
    dry_run: bool = False,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = dict(api.auth)
    if key is not None:
        headers["Idempotency-Key"] = key
    url = f"{api.base}{BATCHES}" + ("?dry_run=true" if dry_run else "")
    if csv_text is not None:
        headers["Content-Type"] = "text/csv"
        request = api.http.post(url, data=csv_text.encode("utf-8-sig"), headers=headers)
    else:
        request = api.http.post(url, json=body, headers=headers)
    async with request as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def _get(api: Api, batch_id: str, **query: int) -> tuple[int, dict[str, Any]]:
    url = f"{api.base}{BATCHES}/{batch_id}"
    params = {k: str(v) for k, v in query.items()}
    async with api.http.get(url, params=params, headers=api.auth) as resp:
        return resp.status, await resp.json()


async def _results(api: Api, batch_id: str) -> tuple[str, list[dict[str, str]]]:
    url = f"{api.base}{BATCHES}/{batch_id}/results.csv"
    async with api.http.get(url, headers=api.auth) as resp:
        assert resp.status == 200, await resp.text()
        text = await resp.text()
        return resp.headers["Content-Type"], list(csv.DictReader(io.StringIO(text)))


async def _completed(api: Api, batch_id: str, within: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status, body = await _get(api, batch_id, limit=1000)
        assert status in (200, 503), body
        if status == 200 and body["state"] == "completed":
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} not completed after {within} s: {body}")
        await asyncio.sleep(0.3)


async def _fund(api: Api, shillings: int) -> None:
    paid = await api.pay(unique_phone(), amount=str(shillings))
    assert (await api.wait_for(paid["id"]))["status"] == "succeeded"


def _item(item_id: str, amount: str = "10", phone: str | None = None) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "method": "mpesa_b2c",
        "amount": amount,
        "currency": "KES",
        "phone": phone or unique_phone(),
        "reference": "SAL-2026-11",
    }


@pytest.fixture
async def wired(merchant: Api) -> Api:
    """The merchant, once the batch routes answer (they are wired in api/app.py: a 404 or a
    permission refusal here is a failure, not a reason to skip)."""
    status, body, _ = await _post(merchant, {"items": []}, dry_run=True)
    assert status not in (403, 404, 405), (status, body)
    return merchant


async def test_a_batch_of_50_payouts_runs_to_completion(wired: Api, sim: str) -> None:
    await _fund(wired, 2000)  # 1970 available: 50 x (10 + 15 fee) = 1250
    before = await wired.balance()
    items = [_item(f"emp-{n:03d}") for n in range(50)]
    key = uuid.uuid4().hex
    status, created, headers = await _post(wired, {"items": items}, key)
    assert status == 202, created
    batch_id = created["id"]
    assert headers["Location"] == f"{BATCHES}/{batch_id}"
    assert created["object"] == "payout_batch" and created["counts"]["total"] == 50

    body = await _completed(wired, batch_id)
    assert body["counts"]["succeeded"] == 50, body["counts"]
    assert body["totals"] == {
        "count": 50,
        "amount": "500",
        "succeeded": "500",
        "fees": "750",
        "by_method": {
            "mpesa_b2c": {"count": 50, "amount": "500", "succeeded": "500", "fees": "750"}
        },
    }
    ids = [i["payment_id"] for i in body["items"]]
    assert len(set(ids)) == 50 and all(i["provider_receipt"] for i in body["items"])
    payout = await wired.for_payouts().wait_for(ids[7])
    assert payout["status"] == "succeeded" and payout["amount"] == "10"
    assert payout["provider"]["receipt"] == body["items"][7]["provider_receipt"]
    assert await wired.balance() == {
        **before,
        "available": str(int(before["available"]) - 1250),
        "reserved": "0",
    }

    # Pages.
    status, page = await _get(wired, batch_id, offset=45, limit=10)
    assert status == 200
    assert [i["item_id"] for i in page["items"]] == [f"emp-{n:03d}" for n in range(45, 50)]
    assert page["has_more"] is False

    # The same key and items: the same batch, nothing paid twice; other items: 409.
    status, again, headers = await _post(wired, {"items": items}, key)
    assert status == 202 and again["id"] == batch_id
    assert headers.get("Idempotent-Replayed") == "true"
    status, conflict, _ = await _post(wired, {"items": items[:49]}, key)
    assert status == 409 and conflict["error"]["code"] == "idempotency_key_reused"
    assert (await wired.balance())["available"] == str(int(before["available"]) - 1250)

    content_type, rows = await _results(wired, batch_id)
    assert content_type.startswith("text/csv")
    assert len(rows) == 50
    assert rows[0]["item_id"] == "emp-000" and rows[0]["payment_id"] == ids[0]
    assert {r["status"] for r in rows} == {"succeeded"}
    assert all(r["provider_receipt"] and r["recipient_name"] for r in rows)
    # Names are shown to the merchant in clear (issue 10, finding 7), as the payout shows them.
    assert rows[7]["recipient_name"] == payout["recipient_name"]
    assert not any(r["recipient_name"].startswith("enc1.") for r in rows)
    assert all(i["recipient_name"] and "enc1." not in i["recipient_name"] for i in page["items"])


async def test_a_dry_run_reports_every_bad_line_and_a_bad_batch_creates_nothing(
    wired: Api,
) -> None:
    await _fund(wired, 1000)
    before = await wired.balance()
    items = [
        _item("ok-1"),
        _item("ok-1"),  # duplicate
        _item("airtel", phone="0733123456"),  # not a Safaricom number
        _item("tiny", amount="5"),  # below the B2C minimum
        {**_item("extra"), "colour": "blue"},
        _item("ok-2", amount="20"),
    ]
    status, report, _ = await _post(wired, {"items": items}, dry_run=True)
    assert status == 200, report
    assert report["valid"] is False
    assert report["counts"] == {"lines": 6, "valid": 2, "invalid": 4}
    assert report["totals"]["amount"] == "30"
    by_line = {line["line"]: line for line in report["lines"]}
    assert by_line[2]["errors"] == [
        {"field": "item_id", "reason": "duplicate item_id: first used on line 1"}
    ]
    assert by_line[3]["errors"][0]["field"] == "phone"
    assert by_line[4]["errors"][0]["field"] == "amount"
    assert by_line[5]["errors"] == [{"field": "colour", "reason": "unknown field"}]

    status, refused, _ = await _post(wired, {"items": items}, uuid.uuid4().hex)
    assert status == 422
    assert refused["error"]["code"] == "batch_invalid"
    assert {d["line"] for d in refused["error"]["details"]} == {2, 3, 4, 5}
    assert await wired.balance() == before  # nothing half-ran

    # A dry run of good lines changes nothing either.
    status, fine, _ = await _post(wired, {"items": [_item("a"), _item("b")]}, dry_run=True)
    assert status == 200 and fine["valid"] is True
    assert await wired.balance() == before


async def test_a_csv_upload_runs_and_its_results_download(wired: Api) -> None:
    await _fund(wired, 1000)
    declined = unique_phone("2040")
    csv_text = (
        "item_id,method,amount,currency,phone,reference,remarks\r\n"
        f"c1,mpesa_b2c,100,KES,{unique_phone()},LOAN-1,Loan disbursement\r\n"
        f"c2,mpesa_b2c,150,,{unique_phone()},LOAN-2,\r\n"
        f"c3,mpesa_b2c,200,KES,{declined},LOAN-3,\r\n"
    )
    key = uuid.uuid4().hex
    status, created, _ = await _post(wired, None, key, csv_text=csv_text)
    assert status == 202, created
    body = await _completed(wired, created["id"])
    assert (body["counts"]["succeeded"], body["counts"]["failed"]) == (2, 1)
    assert body["items"][2]["failure"]["code"] == "declined"

    status, again, headers = await _post(wired, None, key, csv_text=csv_text)
    assert status == 202 and again["id"] == created["id"]
    assert headers.get("Idempotent-Replayed") == "true"

    _, rows = await _results(wired, created["id"])
    assert [(r["item_id"], r["amount"], r["status"]) for r in rows] == [
        ("c1", "100", "succeeded"),
        ("c2", "150", "succeeded"),
        ("c3", "200", "failed"),
    ]
    assert rows[2]["failure_code"] == "declined" and rows[2]["failure_message"]
    assert rows[2]["provider_receipt"] == ""


async def test_a_csv_with_bad_columns_or_encoding_is_refused_whole(wired: Api) -> None:
    status, body, _ = await _post(
        wired, None, uuid.uuid4().hex, csv_text="item_id,method,amount,colour,reference\r\n"
    )
    assert status == 422
    assert body["error"]["details"][0]["field"] == "header"
    assert "colour" in body["error"]["details"][0]["reason"]
    headers = {**wired.auth, "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "text/csv"}
    latin = "item_id,method,amount,phone,reference\nx,mpesa_b2c,10,0712000000,Ré\n"
    url = f"{wired.base}{BATCHES}"
    async with wired.http.post(url, data=latin.encode("latin-1"), headers=headers) as resp:
        body = await resp.json()
        assert resp.status == 422
        assert body["error"]["details"][0]["reason"].startswith("not UTF-8")


async def test_payouts_beyond_the_balance_are_refused_item_by_item(wired: Api) -> None:
    status, created, _ = await _post(wired, {"items": [_item("p1"), _item("p2")]}, "k-poor")
    assert status == 202
    body = await _completed(wired, created["id"])
    assert body["counts"]["refused"] == 2
    assert {i["failure"]["code"] for i in body["items"]} == {"insufficient_balance"}


async def test_an_upload_beyond_the_apps_64_kib_is_read_and_beyond_5_mib_refused(
    wired: Api,
) -> None:
    rows = "".join(f"r{n},mpesa_b2c,10,0712{n:06d},SAL-2026-11\n" for n in range(2500))
    csv_text = "item_id,method,amount,phone,reference\n" + rows
    assert len(csv_text) > 64 * 1024
    status, report, _ = await _post(wired, None, csv_text=csv_text, dry_run=True)
    assert status == 200, report
    assert report["counts"] == {"lines": 2500, "valid": 2500, "invalid": 0}
    huge = "x" * (5 * 1024 * 1024 + 1)
    status, body, _ = await _post(wired, None, uuid.uuid4().hex, csv_text=huge)
    assert status == 413 and body["error"]["code"] == "body_too_large"


async def test_unknown_batches_are_404(wired: Api) -> None:
    assert (await _get(wired, "bat_" + "0" * 26))[0] == 404
    assert (await _get(wired, "nope"))[0] == 404
    url = f"{wired.base}{BATCHES}/bat_{'0' * 26}/results.csv"
    async with wired.http.get(url, headers=wired.auth) as resp:
        assert resp.status == 404
