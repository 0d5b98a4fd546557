"""Settlement through the public API on the real stack: the nominated account (proposed, then
confirmed by a second person with two-factor, then a cooling-off period), on-demand runs paying
the right amount to that account through the PesaLink simulator, the reserve kept, retried and
concurrent runs (and two schedulers) paying once, and a failed payout leaving the balance intact
and the run failed."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from api.settlement_runs import Settler
from api.settlement_worker import Scheduler
from app.stack import Stack
from infra.settlement_store import SCHEDULER_LEASE
from switch.payments import now_utc
from switch.settlement import as_utc

from .helpers import Api, unique_phone
from .test_users import Person, invite, owner_with_totp

pytestmark = pytest.mark.integration

HOLDER = ("68", "0020100014605", "John Doe")  # the PesaLink sandbox bank's own holder


async def people(stack: Stack, http: aiohttp.ClientSession) -> tuple[Person, Person, Api]:
    """An organisation's owner and a finance person, both signed in with two-factor, and the
    owner's session as a payments client (to collect the money that will be settled)."""
    owner = await owner_with_totp(http, stack.api_url)
    finance = await invite(owner, "finance")
    await finance.enrol_totp()
    payer = Api(http, stack.api_url, None, "settle", token=owner.token)  # type: ignore[arg-type]
    return owner, finance, payer


async def fund(payer: Api, *amounts: int) -> None:
    paid = [await payer.pay(unique_phone(), amount=str(a)) for a in amounts]
    for p in paid:
        assert (await payer.wait_for(p["id"]))["status"] == "succeeded"


async def nominate(owner: Person, finance: Person, name: str = HOLDER[2]) -> dict[str, Any]:
    bank = {"bank_code": HOLDER[0], "account_number": HOLDER[1], "account_name": name}
    status, proposed, _ = await owner.call(
        "PUT", "/v1/settlement/account", {"kind": "bank", "bank": bank}
    )
    assert status == 202, proposed
    change = proposed["pending_change"]["change_id"]
    status, confirmed, _ = await finance.call(
        "POST", "/v1/settlement/account/confirm", {"change_id": change}
    )
    assert status == 200, confirmed
    return dict(confirmed)


async def schedule(owner: Person, **body: Any) -> None:
    payload = {"frequency": "manual", "lag_days": 0, **body}
    status, answer, _ = await owner.call("PUT", "/v1/settlement/schedule", payload)
    assert status == 200, answer


async def wait_run(person: Person, run_id: str, within: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        status, run, _ = await person.call("GET", f"/v1/settlements/{run_id}")
        assert status == 200, run
        if run["status"] in ("succeeded", "failed", "skipped"):
            return dict(run)
        assert time.monotonic() < deadline, run
        await asyncio.sleep(0.2)


async def sim_transfers(http: aiohttp.ClientSession, stack: Stack, reference: str) -> list[Any]:
    url = f"{stack.sim_urls['pesalink']}/__sim/transfers?reference={reference}"
    async with http.get(url) as resp:
        assert resp.status == 200
        body = await resp.json()
    return list(body if isinstance(body, list) else body.get("transfers", body.get("data", [])))


async def payouts_of(stack: Stack, merchant_id: str) -> list[dict[str, Any]]:
    assert stack.state is not None
    found = stack.state.cols.payments.find({"merchant_id": merchant_id, "method": "bank_transfer"})
    return [d async for d in found]


async def test_an_unconfirmed_or_self_confirmed_account_is_never_paid(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    owner, finance, payer = await people(stack, http)
    await fund(payer, 1000)
    bank = {"bank_code": HOLDER[0], "account_number": HOLDER[1]}
    status, proposed, _ = await owner.call("PUT", "/v1/settlement/account", {"bank": bank})
    assert status == 202, proposed
    change = proposed["pending_change"]["change_id"]
    assert proposed["account"] is None
    # A proposal pays nothing.
    status, refused, _ = await owner.call("POST", "/v1/settlements")
    assert (status, refused["error"]["code"]) == (409, "no_settlement_account"), refused
    # Its proposer cannot confirm it; an API client cannot either (people with two-factor only).
    status, refused, _ = await owner.call(
        "POST", "/v1/settlement/account/confirm", {"change_id": change}
    )
    assert (status, refused["error"]["code"]) == (403, "four_eyes_required"), refused
    async with http.post(
        f"{stack.api_url}/v1/settlement/account/confirm",
        json={"change_id": change},
        headers=merchant.auth,
    ) as resp:
        assert resp.status == 403
    # A paybill kind without the paybill: refused with the field named.
    status, refused, _ = await owner.call("PUT", "/v1/settlement/account", {"kind": "paybill"})
    assert status == 422 and refused["error"]["details"][0]["field"] == "paybill", refused
    # The second person confirms; the cooling-off period still pays nothing.
    status, confirmed, _ = await finance.call(
        "POST", "/v1/settlement/account/confirm", {"change_id": change}
    )
    assert status == 200, confirmed
    assert confirmed["account"]["account_number"].endswith(HOLDER[1][-4:])
    status, refused, _ = await owner.call("POST", "/v1/settlements")
    assert (status, refused["error"]["code"]) == (409, "settlement_account_cooling_off")
    assert await payouts_of(stack, owner.merchant_id) == []


async def test_on_demand_settlement_pays_the_balance_less_reserve_once(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    owner, finance, payer = await people(stack, http)
    await fund(payer, 10_000, 10_000)  # 2 x (10,000 - 150 fee) = 19,700
    await schedule(owner, reserve={"fixed": "1000"})
    await nominate(owner, finance)
    await asyncio.sleep(2.1)  # the test stack's cooling-off
    # Five clients at once: one run, one payout.
    answers = await asyncio.gather(*(owner.call("POST", "/v1/settlements") for _ in range(5)))
    assert sorted(a[0] for a in answers) == [200, 200, 200, 200, 201], answers
    assert len({a[1]["id"] for a in answers}) == 1
    run = await wait_run(owner, answers[0][1]["id"])
    assert run["status"] == "succeeded", run
    assert (run["balance_available"], run["reserve"], run["fee"]) == ("19700", "1000", "50")
    assert run["amount"] == "18650"
    # The bank got it, once, to the nominated account.
    [sent] = await sim_transfers(http, stack, run["payout_id"])
    assert (sent["amount_cents"], sent["account_number"], sent["paid"]) == (
        1_865_000,
        HOLDER[1],
        True,
    )
    status, balance, _ = await owner.call("GET", "/v1/balance")
    assert balance == {"object": "balance", "currency": "KES", "available": "1000", "reserved": "0"}
    # The journal: one reservation and one settlement of that payout, nothing else.
    assert stack.state is not None
    kinds = sorted(
        [d["kind"] async for d in stack.state.cols.journal.find({"payment_id": run["payout_id"]})]
    )
    assert kinds == ["payout_reserve", "payout_settle"]
    # Asking again is the same run; the payout is the run's.
    status, again, headers = await owner.call("POST", "/v1/settlements")
    assert (status, again["id"], headers.get("Idempotent-Replayed")) == (200, run["id"], "true")
    assert len(await payouts_of(stack, owner.merchant_id)) == 1
    # Listed, and as CSV.
    status, listed, _ = await owner.call("GET", "/v1/settlements")
    assert [r["id"] for r in listed["data"]] == [run["id"]]
    async with http.get(
        f"{stack.api_url}/v1/settlements/{run['id']}/report.csv", headers=owner.auth
    ) as resp:
        text = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/csv"
    assert "18650" in text and HOLDER[1] not in text


async def test_a_failed_payout_leaves_the_balance_and_fails_the_run(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    owner, finance, payer = await people(stack, http)
    await fund(payer, 5000)  # 4,925 available
    await schedule(owner)
    await nominate(owner, finance, name="Nobody Atall")  # the bank's holder is John Doe
    await asyncio.sleep(2.1)
    status, started, _ = await owner.call("POST", "/v1/settlements")
    assert status == 201, started
    run = await wait_run(owner, started["id"])
    assert run["status"] == "failed" and run["failure"], run
    status, balance, _ = await owner.call("GET", "/v1/balance")
    assert (balance["available"], balance["reserved"]) == ("4925", "0")
    assert await sim_transfers(http, stack, run["payout_id"]) == []


async def test_two_schedulers_pay_a_due_settlement_once(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    owner, finance, payer = await people(stack, http)
    await fund(payer, 3000)  # 2,955 available
    await nominate(owner, finance)
    await asyncio.sleep(2.1)
    assert stack.state is not None
    # Two processes' schedulers (other holders than the api's own), the lease forgotten so both
    # try, and the run due now (T+0, daily).
    await schedule(owner, frequency="daily", lag_days=0)
    first, second = Settler(stack.state), Settler(stack.state)
    await first.store.accounts.update_one(
        {"_id": owner.merchant_id}, {"$set": {"next_due": now_utc() - timedelta(seconds=1)}}
    )
    await first.store.leases.collection.delete_many({"_id": SCHEDULER_LEASE})
    results = await asyncio.gather(
        Scheduler(first, 5, "test-a").once(),
        Scheduler(second, 5, "test-b").once(),
        first.tick(),  # and a pass that ignores the lease altogether
        second.tick(),
    )
    assert [r is None for r in results[:2]].count(True) >= 1, results
    await first.store.drop_lease("test-a")
    await first.store.drop_lease("test-b")
    _, listed, _ = await owner.call("GET", "/v1/settlements")
    [run] = listed["data"]
    done = await wait_run(owner, run["id"])
    assert (done["status"], done["trigger"], done["amount"]) == ("succeeded", "scheduled", "2905")
    [payout] = await payouts_of(stack, owner.merchant_id)
    assert len(await sim_transfers(http, stack, payout["_id"])) == 1
    settings = await first.store.account(owner.merchant_id)
    assert settings is not None and as_utc(settings["next_due"]) > now_utc()
