"""Government collections through the public API: an agency (kind government, marked by the
operator) issues references; M-Pesa's C2B validation refuses unknown, expired and paid
references and wrong amounts before any money moves; verified payments count once each
(duplicated confirmations), racing payments never take more than the balance, a confirmation
that never went through validation is judged on arrival (excess kept apart); receipts (JSON and
printable), webhooks, and the daily report per revenue head agrees with the journal."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from switch.reports import nairobi_day

from .conftest import Receiver
from .helpers import Api, for_up_to
from .test_platform import _operator

pytestmark = pytest.mark.integration


async def _send(api: Api, method: str, path: str, body: Any = None, key: str | None = None):
    headers = {**api.auth, **({"Idempotency-Key": key} if key else {})}
    async with api.http.request(method, f"{api.base}{path}", json=body, headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers.get("Idempotent-Replayed")


def _reference(prn: str, amount: str, head: str = "Land rates", **extra: Any) -> dict[str, Any]:
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    return {"prn": prn, "revenue_head": head, "amount": amount, "expires_at": expires,
            "payer": {"name": "Achieng Otieno", "phone": "0712345678"}, **extra}  # fmt: skip


async def _pay(http: aiohttp.ClientSession, sim: str, shortcode: str, prn: str, amount: int):
    order = {"shortcode": shortcode, "amount": amount, "msisdn": "254712345678",
             "bill_ref": prn, "command_id": "CustomerPayBillOnline"}  # fmt: skip
    async with http.post(f"{sim}/__sim/c2b/pay", json=order) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def _until(api: Api, ref_id: str, check: Any, within: float = 30.0) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for _ in range(int(within * 10)):
        _, seen, _ = await _send(api, "GET", f"/v1/gov/references/{ref_id}")
        if check(seen):
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"{ref_id} never got there: {seen}")


async def _agency(stack: Stack, http: aiohttp.ClientSession, merchant: Api) -> str:
    """The merchant marked an agency by the operator, collecting on a fresh paybill."""
    shortcode = f"8{uuid.uuid4().int % 10**6:06d}"
    claim = {"shortcode": shortcode, "response_type": "Completed"}
    assert (await _send(merchant, "PUT", "/v1/c2b/registration", claim))[0] == 200
    paybill = {"shortcode": shortcode, "agency_name": "Kaunti Revenue"}
    status, body, _ = await _send(merchant, "PUT", "/v1/gov/paybill", paybill)
    assert (status, body["error"]["code"]) == (403, "not_an_agency"), body
    operator = await _operator(stack, http)
    path = f"/v1/operator/merchants/{merchant.merchant.merchant_id}"
    assert (await operator.call("PATCH", path, {"kind": "government"}))[0] == 200
    status, body, _ = await _send(merchant, "PUT", "/v1/gov/paybill", paybill)
    assert status == 200, body
    return shortcode


async def test_references_take_only_what_is_due_once(
    merchant: Api, receiver: Receiver, sim: str, stack: Stack, http: aiohttp.ClientSession
) -> None:
    shortcode = await _agency(stack, http, merchant)
    tag = uuid.uuid4().hex[:6].upper()

    # Issuing: fields named when wrong; idempotent by key; one PRN once per paybill.
    bad = {**_reference(f"LR{tag}1", "5000"), "expires_at": "2020-01-01T00:00:00Z"}
    status, body, _ = await _send(merchant, "POST", "/v1/gov/references", bad, key=f"x{tag}")
    assert (status, body["error"]["details"][0]["field"]) == (422, "expires_at"), body
    policy = {"mode": "minimum"}
    bad = _reference(f"LR{tag}1", "5000", partial_payments=policy)
    status, body, _ = await _send(merchant, "POST", "/v1/gov/references", bad, key=f"x{tag}")
    assert status == 422, body
    rates = _reference(f"LR{tag}1", "5000", partial_payments={"mode": "minimum", "minimum": "1000"})
    status, lr, _ = await _send(merchant, "POST", "/v1/gov/references", rates, key=f"a{tag}")
    assert (status, lr["status"], lr["outstanding"]) == (201, "issued", "5000"), lr
    status, again, replayed = await _send(
        merchant, "POST", "/v1/gov/references", rates, key=f"a{tag}"
    )
    assert (status, again["id"], replayed) == (200, lr["id"], "true")
    status, body, _ = await _send(merchant, "POST", "/v1/gov/references", rates, key=f"b{tag}")
    assert (status, body["error"]["code"]) == (409, "duplicate_reference")
    permit = _reference(f"BP{tag}", "2000", head="Business permit")
    status, bp, _ = await _send(merchant, "POST", "/v1/gov/references", permit, key=f"c{tag}")
    assert status == 201, bp

    # Refused at validation, nothing moves: unknown reference, too little, under the minimum.
    refused = [
        await _pay(http, sim, shortcode, f"NOPE{tag}", 2000),
        await _pay(http, sim, shortcode, f"BP{tag}", 1500),  # policy none: the whole amount
        await _pay(http, sim, shortcode, f"LR{tag}1", 500),  # under the minimum of 1000
        await _pay(http, sim, shortcode, f"LR{tag}1", 6000),  # more than is due
    ]
    assert [(p["state"], p["validation_result_code"]) for p in refused] == [
        ("rejected", "C2B00012"),
        ("rejected", "C2B00013"),
        ("rejected", "C2B00013"),
        ("rejected", "C2B00013"),
    ]

    # Every confirmation arrives twice; a payment still counts once.
    async with http.patch(f"{sim}/__sim/config", json={"duplicate_callbacks": 1}) as resp:
        assert resp.status == 200
    paid = await _pay(http, sim, shortcode, f"bp{tag}", 2000)  # case does not matter
    assert paid["state"] == "completed", paid
    done = await _until(merchant, bp["id"], lambda r: r["status"] == "paid")
    assert [(p["mpesa_receipt"], p["amount"]) for p in done["payments"]] == [
        (paid["trans_id"], "2000")
    ]
    again = await _pay(http, sim, shortcode, f"BP{tag}", 2000)
    assert (again["state"], again["validation_result_code"]) == ("rejected", "C2B00012")

    # Two customers race for the last 3,000 of the rates with 2,000 each: one is refused.
    first = await _pay(http, sim, shortcode, f"LR{tag}1", 2000)
    assert first["state"] == "completed"
    race = await asyncio.gather(
        _pay(http, sim, shortcode, f"LR{tag}1", 2000),
        _pay(http, sim, shortcode, f"LR{tag}1", 2000),
    )
    assert sorted(p["state"] for p in race) == ["completed", "rejected"], race
    partly = await _until(merchant, lr["id"], lambda r: r["paid"] == "4000")
    assert (partly["status"], partly["outstanding"]) == ("partially_paid", "1000")

    # The receipt: JSON and printable.
    number = done["payments"][0]["receipt_number"]
    status, receipt, _ = await _send(merchant, "GET", f"/v1/gov/receipts/{number}")
    assert status == 200, receipt
    assert (receipt["agency"], receipt["revenue_head"], receipt["amount"]) == (
        "Kaunti Revenue",
        "Business permit",
        "2000",
    )
    assert (receipt["mpesa_receipt"], receipt["balance_after"]) == (paid["trans_id"], "0")
    headers = {**merchant.auth, "Accept": "text/plain"}
    async with http.get(f"{merchant.base}/v1/gov/receipts/{number}", headers=headers) as resp:
        text = await resp.text()
    assert resp.content_type == "text/plain" and f"M-Pesa receipt  {paid['trans_id']}" in text

    # Cancelling a reference with money on it is refused; an unpaid one cancels.
    status, body, _ = await _send(merchant, "POST", f"/v1/gov/references/{lr['id']}/cancel")
    assert (status, body["error"]["code"]) == (409, "reference_in_use")
    spare = _reference(f"LR{tag}2", "700")
    _, spare_ref, _ = await _send(merchant, "POST", "/v1/gov/references", spare, key=f"d{tag}")
    status, body, _ = await _send(merchant, "POST", f"/v1/gov/references/{spare_ref['id']}/cancel")
    assert (status, body["status"], body["outstanding"]) == (200, "cancelled", "0")
    gone = await _pay(http, sim, shortcode, f"LR{tag}2", 700)
    assert gone["validation_result_code"] == "C2B00012"

    # Webhooks for the reference and the receipt.
    def kinds() -> list[tuple[str, str]]:
        return [(e["data"].get("id", e["data"].get("receipt_number")), e["type"])
                for e in receiver.events.get(merchant.hook, [])
                if e["type"].startswith("gov_")]  # fmt: skip

    for _ in for_up_to():
        if (bp["id"], "gov_reference.paid") in kinds() and (
            number,
            "gov_receipt.issued",
        ) in kinds():
            break
        await asyncio.sleep(0.1)
    assert [k for i, k in kinds() if i == bp["id"]] == [
        "gov_reference.issued",
        "gov_reference.paid",
    ]
    assert [k for i, k in kinds() if i == number] == ["gov_receipt.issued"]

    # The day's collections per revenue head agree with the journal.
    today = nairobi_day(datetime.now(UTC)).isoformat()
    query = f"/v1/gov/collections?since={today}&until={today}"
    status, report, _ = await _send(merchant, "GET", query)
    assert status == 200, report
    rows = {r["revenue_head"]: r for r in report["rows"]}
    assert (rows["Business permit"]["amount"], rows["Land rates"]["amount"]) == ("2000", "4000")
    assert (rows["Land rates"]["count"], report["reconciled"]) == (2, True)
    assert rows["Land rates"]["journal_amount"] == "4000"
    async with http.get(f"{merchant.base}{query}&format=csv", headers=merchant.auth) as resp:
        csv = await resp.text()
    assert csv.splitlines()[0] == "day,revenue_head,count,amount,journal_amount,reconciled"
    assert f"{today},Land rates,2,4000,4000,true" in csv.splitlines()

    # The same report as an export job (longer ranges), through the export machinery.
    job_body = {"kind": "gov_collections", "filters": {"since": today, "until": today}}
    status, job, _ = await _send(merchant, "POST", "/v1/exports", job_body)
    assert status == 202, job
    for _ in for_up_to():
        if job["status"] != "running":
            break
        await asyncio.sleep(0.2)
        _, job, _ = await _send(merchant, "GET", f"/v1/exports/{job['id']}")
    assert (job["status"], job["rows"]) == ("ready", 2), job
    async with http.get(f"{merchant.base}{job['download_url']}") as resp:
        assert f"{today},Business permit,1,2000,2000,true" in (await resp.text()).splitlines()


async def test_unvalidated_and_expired_payments(
    merchant: Api, sim: str, stack: Stack, http: aiohttp.ClientSession
) -> None:
    shortcode = await _agency(stack, http, merchant)
    tag = uuid.uuid4().hex[:6].upper()
    fee = _reference(f"FE{tag}", "1000", head="Market fee")
    _, ref, _ = await _send(merchant, "POST", "/v1/gov/references", fee, key=f"e{tag}")

    # Validation does not answer in time: M-Pesa's ResponseType (Completed) lets the money
    # through. The first payment fits and counts; the second is excess, never counted as paid.
    async with http.patch(f"{sim}/__sim/config", json={"c2b_validation_timeout": 0.001}) as resp:
        assert resp.status == 200
    unasked = [await _pay(http, sim, shortcode, f"FE{tag}", 1000) for _ in range(2)]
    assert [p["state"] for p in unasked] == ["completed", "completed"], unasked
    seen = await _until(merchant, ref["id"], lambda r: len(r["excess"]) == 1)
    assert all(p["validation"].startswith("no answer") for p in unasked), unasked
    assert (seen["status"], seen["paid"], seen["excess"][0]["amount"]) == ("paid", "1000", "1000")
    async with http.patch(f"{sim}/__sim/config", json={"c2b_validation_timeout": 8.0}) as resp:
        assert resp.status == 200

    # A reference past its expiry is expired and takes nothing more.
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    short = {**_reference(f"EX{tag}", "300", head="Parking"), "expires_at": soon}
    _, ex, _ = await _send(merchant, "POST", "/v1/gov/references", short, key=f"f{tag}")
    await _until(merchant, ex["id"], lambda r: r["status"] == "expired")
    late = await _pay(http, sim, shortcode, f"EX{tag}", 300)
    assert (late["state"], late["validation_result_code"]) == ("rejected", "C2B00012")
    _, listed, _ = await _send(merchant, "GET", "/v1/gov/references?status=expired")
    assert [r["id"] for r in listed["data"]] == [ex["id"]]
    # Both received payments are the agency's money (the excess to refund from it).
    for _ in for_up_to():
        if (await merchant.balance())["available"] == "1970":  # 2,000 less 1.5 %
            break
        await asyncio.sleep(0.1)
    assert (await merchant.balance())["available"] == "1970"
