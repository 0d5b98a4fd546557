"""Benefit payments through the public API on the real stack: a programme, its registry (CSV
upload with duplicates refused), name checks against the Daraja simulator's registered names,
runs approved by a second person and paid through the payout batches, the exceptions report
tied to the journal, retries, concurrent runs and approvals, a crash of the batch actor during
an approval, and a cycle of 2,000 beneficiaries.

Each payout's fate is also read from the simulator (``GET /__sim/b2c?phone=``): a beneficiary
paid twice would show two paid B2C records for their phone.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from connectors.mpesa.simulator.triggers import registered_name
from switch.benefits import NAIROBI, cycle_of
from switch.payments import now_utc

from .helpers import unique_phone
from .test_users import Person, invite, owner_with_totp

pytestmark = pytest.mark.integration

CYCLE = cycle_of(now_utc())
TODAY = now_utc().astimezone(NAIROBI).date().isoformat()
FIELDS = "national_id,phone,name,amount,method,bank_code,account_number,eligible_from"


class Agency:
    """An agency's maker (the owner) and checker (a finance person), both with two-factor."""

    def __init__(self, maker: Person, checker: Person) -> None:
        self.maker, self.checker = maker, checker

    async def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        status, answer, _ = await self.maker.call(method, path, body, headers or None)
        return status, answer

    async def upload(self, programme: str, text: str) -> tuple[int, Any]:
        url = f"{self.maker.base}/v1/benefits/programmes/{programme}/beneficiaries/upload"
        headers = {**self.maker.auth, "Content-Type": "text/csv"}
        async with self.maker.http.post(url, data=text.encode(), headers=headers) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def agency(stack: Stack, http: aiohttp.ClientSession) -> Agency:
    owner = await owner_with_totp(http, stack.api_url)
    finance = await invite(owner, "finance")
    await finance.enrol_totp()
    return Agency(owner, finance)


def national_ids(count: int) -> list[str]:
    return [str(n) for n in random.sample(range(10_000_000, 99_999_999), count)]


def spelled(name: str, n: int) -> str:
    """The registered name as a registry may spell it: another order, case, an initial."""
    first, middle, last = name.split()
    return [f"{last}, {first} {middle}", f"{first.title()} {middle[0]}. {last.title()}",
            f"{first.lower()} {middle.lower()} {last.lower()}"][n % 3]  # fmt: skip


async def fund(agency: Agency, shillings: int) -> None:
    status, answer = await agency.call(
        "POST",
        "/v1/sandbox/fund",
        {"amount": str(shillings)},
        **{"Idempotency-Key": uuid.uuid4().hex},
    )
    assert status in (200, 201), answer


async def programme(agency: Agency, amount: str = "10") -> str:
    body = {"name": "Cash transfer", "rail": "mpesa_b2c", "amount": amount, "reference": "CT-OVC"}
    status, answer = await agency.call(
        "POST", "/v1/benefits/programmes", body, **{"Idempotency-Key": uuid.uuid4().hex}
    )
    assert status == 201, answer
    return str(answer["id"])


async def new_run(agency: Agency, pid: str, key: str | None = None) -> dict[str, Any]:
    status, run = await agency.call(
        "POST", f"/v1/benefits/programmes/{pid}/runs", {"cycle": CYCLE},
        **{"Idempotency-Key": key or uuid.uuid4().hex},
    )  # fmt: skip
    assert status == 201, run
    return dict(run)


async def approve(person: Person, run_id: str) -> tuple[int, Any]:
    status, answer, _ = await person.call("POST", f"/v1/benefits/runs/{run_id}/approve")
    return status, answer


async def settled(agency: Agency, run_id: str, within: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status, run = await agency.call("GET", f"/v1/benefits/runs/{run_id}")
        assert status == 200, run
        if run["state"] == "completed":
            return dict(run)
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.3)


async def sim_paid(http: aiohttp.ClientSession, sim_url: str) -> Counter[str]:
    """How many B2C payouts the simulator paid to each phone (2547... form)."""
    async with http.get(f"{sim_url}/__sim/b2c", params={"state": "completed"}) as resp:
        assert resp.status == 200
        return Counter(str(r["phone"]) for r in await resp.json())


def msisdn(phone: str) -> str:
    return "254" + phone[1:]


def registry(rows: list[tuple[str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS.split(","))
    writer.writerows([nid, phone, name, "", "", "", "", ""] for nid, phone, name in rows)
    return out.getvalue()


# --- a small cycle with every exception ----------------------------------------------------------


async def test_a_cycle_pays_the_eligible_once_and_reports_every_exception(
    agency: Agency, stack: Stack, http: aiohttp.ClientSession, sim: str
) -> None:
    await fund(agency, 1000)
    pid = await programme(agency)
    ids = national_ids(9)
    good = [unique_phone() for _ in range(4)]
    rows = [(ids[n], p, spelled(registered_name(msisdn(p)), n)) for n, p in enumerate(good)]
    mismatch = unique_phone()
    rows.append((ids[4], mismatch, "Peter Kamau Njoroge Wekesa"))
    unregistered = unique_phone("2040")
    rows.append((ids[5], unregistered, "Grace Akinyi"))
    declined = unique_phone("2006")  # the name checks, the payout fails (account status)
    rows.append((ids[6], declined, spelled(registered_name(msisdn(declined)), 0)))
    suspended = unique_phone()
    rows.append((ids[7], suspended, spelled(registered_name(msisdn(suspended)), 1)))
    # Duplicates: a national ID registered above, a phone registered above.
    rows.append((ids[0], unique_phone(), "Someone Else"))
    rows.append((ids[8], good[1], "Another Person"))
    status, uploaded = await agency.upload(pid, registry(rows))
    assert status == 201, uploaded
    assert uploaded["counts"] == {"rows": 10, "created": 8, "unchanged": 0, "duplicates": 2}
    assert [d["line"] for d in uploaded["duplicates"]] == [10, 11]

    # The same file again registers nobody twice: the rows are the people already there.
    status, again = await agency.upload(pid, registry(rows))
    assert (status, again["counts"]["created"], again["counts"]["unchanged"]) == (200, 0, 8)

    status, page = await agency.call("GET", f"/v1/benefits/programmes/{pid}/beneficiaries")
    by_phone = {b["phone"]: b for b in page["data"]}
    target = by_phone[msisdn(suspended)]
    change = {"eligibility": {"status": "suspended", "effective": TODAY, "reason": "audit"}}
    status, changed = await agency.call(
        "PATCH", f"/v1/benefits/programmes/{pid}/beneficiaries/{target['id']}", change
    )
    assert (status, changed["status"]) == (200, "suspended"), changed

    run = await new_run(agency, pid)
    assert run["state"] == "awaiting_approval" and run["planned"]["count"] == 5, run
    # The maker cannot approve; the checker can.
    status, refused = await approve(agency.maker, run["id"])
    assert (status, refused["error"]["code"]) == (403, "four_eyes_required")
    status, approved = await approve(agency.checker, run["id"])
    assert status == 200, approved
    done = await settled(agency, run["id"])
    assert (done["paid"], done["failed"]) == (4, 1), done

    status, rep = await agency.call("GET", f"/v1/benefits/runs/{run['id']}/report")
    assert status == 200, rep
    kinds = sorted(e["kind"] for e in rep["exceptions"])
    assert kinds == sorted(
        ["name_mismatch", "unregistered_phone", "payment_failed", "ineligible",
         "duplicate_registration", "duplicate_registration"]
    ), rep["exceptions"]  # fmt: skip
    totals = rep["totals"]
    assert totals["paid_amount"] == "40" and totals["journal"]["ties"] is True, totals
    assert totals["journal"]["debited"] == "100", totals  # 4 x (10 + 15 fee)
    paid = await sim_paid(http, sim)
    assert [paid[msisdn(p)] for p in good] == [1, 1, 1, 1]
    assert [paid[msisdn(p)] for p in (mismatch, unregistered, suspended, declined)] == [0] * 4

    url = f"{agency.maker.base}/v1/benefits/runs/{run['id']}/report.csv"
    async with http.get(url, headers=agency.maker.auth) as resp:
        assert resp.status == 200
        table = list(csv.DictReader(io.StringIO(await resp.text())))
    assert sorted(r["kind"] for r in table) == kinds

    # A second run of the cycle pays nobody again.
    rerun = await new_run(agency, pid)
    assert rerun["planned"]["count"] == 0, rerun
