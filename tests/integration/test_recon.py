"""Reconciliation through the public API on the real stack: the simulators' own records (M-Pesa
Pull Transactions and org statement, the bank's MT940 and camt.053) with breaks injected on
request; a run finds every break and nothing else, and each resolution leaves the journal
balanced."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from connectors.mpesa.records import STATEMENT_HEADER
from switch.payments import now_utc

from .conftest import Receiver
from .helpers import Api, books_balance, for_up_to, unique_phone
from .test_compliance import Caller, _operator

pytestmark = pytest.mark.integration


def _auth(caller: Caller) -> dict[str, str]:
    return {"Authorization": f"Bearer {caller.token}"}


async def _sim(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with http.request(method, url, **kw) as resp:
        assert resp.status < 300, await resp.text()
        return await resp.json() if resp.content_type == "application/json" else await resp.read()


async def _ledger_ok(stack: Stack) -> None:
    assert stack.state is not None
    cols = stack.state.cols
    # The shards' last ticks may land between the reads of the journal and the balances.
    report = await books_balance(cols)
    assert report.ok, report.problems


async def _balance_becomes(merchant: Api, want: str, within: float = 30.0) -> None:
    for _ in range(int(within * 10)):
        if (await merchant.balance())["available"] == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"balance {await merchant.balance()} never became {want}")


async def test_mpesa_breaks_are_all_found_and_each_resolution_balances(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api, receiver: Receiver
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    sim = stack.sim_url
    await _sim(http, "DELETE", f"{sim}/__sim/breaks")
    held = await _suspense(stack)  # what earlier tests of the session left there
    shortcode = await register_paybill(http, merchant)

    async def pays(account: str, amount: str) -> dict[str, Any]:
        order = {
            "shortcode": shortcode,
            "amount": amount,
            "msisdn": "254712345678",
            "bill_ref": account,
            "command_id": "CustomerPayBillOnline",
        }
        paid: dict[str, Any] = await _sim(http, "POST", f"{sim}/__sim/c2b/pay", json=order)
        return paid

    matched = await pays("ACME-1", "250")
    changed = await pays("ACME-2", "300")
    doubled = await pays("ACME-3", "400")
    dropped = await pays("ACME-4", "600")
    # 1,550 less 1.5 %: the switch credited the four it was told of.
    await _balance_becomes(merchant, "1526.75")
    await _sim(http, "POST", f"{sim}/__sim/breaks", json={"kind": "drop_callback"})
    lost = await pays("ACME-9", "500")  # paid, but the confirmation never reaches the switch
    await _sim(
        http,
        "POST",
        f"{sim}/__sim/breaks",
        json={"kind": "change_amount", "ref": changed["trans_id"], "amount": "310"},
    )
    await _sim(
        http, "POST", f"{sim}/__sim/breaks", json={"kind": "duplicate", "ref": doubled["trans_id"]}
    )
    await _sim(
        http,
        "POST",
        f"{sim}/__sim/breaks",
        json={"kind": "drop_record", "ref": dropped["trans_id"]},
    )
    await _sim(
        http,
        "POST",
        f"{sim}/__sim/breaks",
        json={"kind": "stranger", "amount": "700", "account": "NOBODY", "shortcode": shortcode},
    )
    stranger = next(
        p
        for p in await _sim(http, "GET", f"{sim}/__sim/c2b?shortcode={shortcode}")
        if p["bill_ref"] == "NOBODY"
    )

    alice, bob = await _operator(stack, http), await _operator(stack, http)
    status, pulled = await alice.call("POST", "/v1/operator/recon/pulls")
    assert status == 200, pulled
    assert shortcode in pulled["shortcodes"]
    until = datetime.now(UTC) + timedelta(seconds=1)
    window = {"since": since.isoformat(), "until": until.isoformat()}
    status, run = await alice.call(
        "POST", "/v1/operator/recon/runs", json={"sources": ["mpesa_pull"], **window}
    )
    assert status == 201, run
    dropped_payment = await _payment_of(stack, dropped["trans_id"])
    mid = merchant.merchant.merchant_id
    ours = {
        p["trans_id"] for p in await _sim(http, "GET", f"{sim}/__sim/c2b?shortcode={shortcode}")
    }
    ours.add(dropped_payment)
    found = {b["key"]: b["kind"] for b in await _about_us(alice, run, ours, mid)}
    assert found == {
        changed["trans_id"]: "amount_mismatch",
        doubled["trans_id"]: "duplicate",
        dropped_payment: "missing_at_provider",
        lost["trans_id"]: "missing_in_switch",
        stranger["trans_id"]: "missing_in_switch",
    }
    assert run["counts"]["matched"] == 1  # the one nothing happened to
    assert matched["trans_id"] not in found
    # Money that belongs to nobody is booked to suspense: the lost and the stranger's payments
    # whole, what the changed amount adds, the duplicate's second copy.
    assert await _suspense(stack) - held == (500 + 700 + 10 + 400) * 100
    await _ledger_ok(stack)

    # The org statement the portal exports says the same (both sources together).
    csv = await _sim(http, "GET", f"{sim}/__sim/org-statement?shortcode={shortcode}")
    async with http.post(
        f"{stack.api_url}/v1/operator/recon/statements?source=mpesa_statement"
        f"&shortcode={shortcode}",
        data=csv,
        headers={**_auth(alice), "Content-Type": "text/csv"},
    ) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["records"] == 6  # 5 shown, the doubled one twice, one dropped
    status, both = await alice.call(
        "POST",
        "/v1/operator/recon/runs",
        json={"sources": ["mpesa_pull", "mpesa_statement"], **window},
    )
    both_ours = await _about_us(alice, both, ours, mid)
    assert {b["key"]: b["kind"] for b in both_ours} == found
    ids = {b["key"]: b["id"] for b in await _about_us(alice, run, ours, mid)}
    assert {b["id"] for b in both_ours} == set(ids.values())  # the same breaks, not new ones
    assert await _suspense(stack) - held == 161_000  # a second run books nothing twice
    await _a_made_up_line_is_refuted(stack, http, alice, shortcode, window)
    assert await _suspense(stack) - held == 161_000 + 90_000  # refuted, nobody's: still in suspense
    status, queue = await alice.call("GET", "/v1/operator/recon/breaks?status=open&limit=500")
    assert set(ids.values()) <= {b["id"] for b in queue["data"]}

    # Confirm the lost payment: the switch's own C2B path, checked against M-Pesa's record.
    path = f"/v1/operator/recon/breaks/{ids[lost['trans_id']]}"
    status, done = await alice.call(
        "POST", f"{path}/resolve", json={"action": "confirm", "reason": "callback lost"}
    )
    assert status == 200, done
    assert (
        done["status"] == "resolving"  # until a later run finds it matched
        and done["resolution"]["merchant_id"] == merchant.merchant.merchant_id
    )
    await _balance_becomes(merchant, "2019.25")  # + 500 less 1.5 %
    status, _ = await alice.call(
        "POST", f"{path}/resolve", json={"action": "confirm", "reason": "twice"}
    )
    assert status == 409  # resolved once

    # Allocate the stranger's money: proposed by one operator, approved by another.
    path = f"/v1/operator/recon/breaks/{ids[stranger['trans_id']]}"
    status, proposed = await alice.call(
        "POST",
        f"{path}/resolve",
        json={
            "action": "allocate",
            "merchant_id": merchant.merchant.merchant_id,
            "reason": "customer called: meant for ACME",
        },
    )
    assert status == 202, proposed
    status, refused = await alice.call("POST", f"{path}/approve")
    assert status == 403 and refused["error"]["code"] == "same_person"
    status, done = await bob.call("POST", f"{path}/approve")
    assert status == 200 and done["status"] == "resolving", done
    await _balance_becomes(merchant, "2708.75")  # + 700 less 1.5 %

    # Write off what M-Pesa never had (the dropped record), four eyes again.
    path = f"/v1/operator/recon/breaks/{ids[dropped_payment]}"
    status, proposed = await bob.call(
        "POST", f"{path}/resolve", json={"action": "write_off", "reason": "statement error"}
    )
    assert status == 202 and proposed["proposal"]["amount"] == "600"
    status, done = await alice.call("POST", f"{path}/approve")
    assert status == 200, done
    assert stack.state is not None
    entry = await stack.state.cols.journal.find_one({"_id": done["resolution"]["journal_entry"]})
    assert entry is not None and sum(line["amount"] for line in entry["lines"]) == 0
    await _ledger_ok(stack)

    # A later run: the confirmed and allocated payments now match, their breaks have cleared;
    # what is resolved stays resolved, what nobody resolved is still open.
    await asyncio.sleep(0.5)
    await alice.call("POST", "/v1/operator/recon/pulls")
    until = datetime.now(UTC) + timedelta(seconds=1)
    status, later = await alice.call(
        "POST",
        "/v1/operator/recon/runs",
        json={"sources": ["mpesa_pull"], "since": since.isoformat(), "until": until.isoformat()},
    )
    assert {b["key"] for b in await _about_us(alice, later, ours, mid)} == {
        changed["trans_id"],
        doubled["trans_id"],
        dropped_payment,
    }
    assert later["counts"]["matched"] == 3
    statuses = {}
    for key, break_id in ids.items():
        status, brk = await alice.call("GET", f"/v1/operator/recon/breaks/{break_id}")
        statuses[key] = brk["status"]
    assert statuses == {
        changed["trans_id"]: "open",
        doubled["trans_id"]: "open",
        dropped_payment: "resolved",
        lost["trans_id"]: "resolved",
        stranger["trans_id"]: "resolved",
    }
    # Confirmed and allocated, now settled in the merchant's balance: out of suspense, once.
    assert await _suspense(stack) - held == (10 + 400 + 900) * 100
    status, brk = await alice.call("GET", f"/v1/operator/recon/breaks/{ids[stranger['trans_id']]}")
    assert brk["suspense"] == {
        "amount": "700",
        "moved_by": f"{ids[stranger['trans_id']]}:suspense:release",
    }
    await _ledger_ok(stack)
    audit = [d async for d in stack.state.cols.audit.find({"target": {"$regex": "^recon_break:"}})]
    assert {"recon.confirm", "recon.propose", "recon.allocate", "recon.write_off"} <= {
        d["action"] for d in audit
    }
    await _sim(http, "DELETE", f"{sim}/__sim/breaks")


async def _a_made_up_line_is_refuted(
    stack: Stack, http: aiohttp.ClientSession, alice: Caller, shortcode: str, window: dict
) -> None:
    """A statement line M-Pesa never made: confirming it credits nobody, and once M-Pesa's
    record says so the next run puts the break back in the queue."""
    when = (datetime.now(UTC) + timedelta(hours=3)).strftime("%d-%m-%Y %H:%M:%S")
    fake = f"UKX{uuid.uuid4().hex[:7].upper()}"
    row = f"{fake},{when},{when},Pay Bill,Completed,900.00,,900.00,true,Pay Bill,2547 - X,,ACME-7"
    data = ",".join(STATEMENT_HEADER) + f"\n{row}\n"
    url = (
        f"{stack.api_url}/v1/operator/recon/statements?source=mpesa_statement&shortcode={shortcode}"
    )
    async with http.post(url, data=data, headers={**_auth(alice), "Content-Type": "text/csv"}) as r:
        assert r.status == 200, await r.text()
    run_body = {"sources": ["mpesa_statement"], **window}
    run_body["until"] = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    status, run = await alice.call("POST", "/v1/operator/recon/runs", json=run_body)
    [brk] = [b for b in run["breaks"] if b["key"] == fake]
    path = f"/v1/operator/recon/breaks/{brk['id']}"
    status, done = await alice.call(
        "POST", f"{path}/resolve", json={"action": "confirm", "reason": "says they paid"}
    )
    assert status == 200 and done["status"] == "resolving", done
    for _ in for_up_to():  # SWITCH_PAYOUT_NOT_FOUND_AFTER is 3 s in the tests
        await asyncio.sleep(0.2)
        await alice.call("POST", "/v1/operator/recon/runs", json=run_body)
        status, again = await alice.call("GET", path)
        if again["status"] == "open":
            break
    assert again["status"] == "open" and again["detail"].endswith("the switch has it failed")


async def airtel_collections(merchant: Api, amounts: tuple[str, ...], reference: str) -> list[str]:
    """Airtel USSD collections, each paid; their ids."""
    from .test_rails import airtel_phone

    ids = []
    for amount in amounts:
        body = {
            "method": "airtel_ussd",
            "amount": amount,
            "currency": "KES",
            "phone": airtel_phone(),
            "reference": reference,
        }
        status, created, _ = await merchant.create(body, key=uuid.uuid4().hex)
        assert status == 202, created
        assert (await merchant.wait_for(created["id"]))["status"] == "succeeded"
        ids.append(created["id"])
    return ids


async def register_paybill(http: aiohttp.ClientSession, merchant: Api) -> str:
    """A fresh paybill whose ``ACME*`` accounts are the merchant's."""
    shortcode = f"6{uuid.uuid4().int % 10**6:06d}"
    body = {"shortcode": shortcode, "accounts": {"type": "prefix", "prefix": "ACME"}}
    async with http.put(
        f"{merchant.base}/v1/c2b/registration", json=body, headers=merchant.auth
    ) as r:
        assert r.status == 200, await r.text()
    return shortcode


async def _suspense(stack: Stack) -> int:
    assert stack.state is not None
    doc = await stack.state.cols.balances.find_one({"_id": "switch:suspense"})
    return int((doc or {}).get("balance", 0))


async def _payment_of(stack: Stack, receipt: str) -> str:
    assert stack.state is not None
    doc = await stack.state.cols.payments.find_one({"provider.receipt": receipt}, {"_id": 1})
    assert doc is not None, receipt
    return str(doc["_id"])


async def _about_us(
    operator: Any, run: dict[str, Any], keys: set[str], merchant_id: str
) -> list[dict[str, Any]]:
    """A run's breaks about this test: its keys (receipts, payment ids), or its merchant's. A run
    is switch-wide: a payment an earlier test left may end in the window and break too."""
    out = []
    for b in run["breaks"]:
        if b["key"] not in keys:
            status, full = await operator.call("GET", f"/v1/operator/recon/breaks/{b['id']}")
            assert status == 200, full
            if full["merchant_id"] != merchant_id:
                continue
        out.append(b)
    return out


async def _ours(operator: Any, run: dict[str, Any], payouts: list[str]) -> list[tuple[str, str]]:
    """A bank run's breaks about our payouts (by id) or the injected stranger (by amount)."""
    out = []
    for b in run["breaks"]:
        if b["key"] in payouts:
            out.append((b["kind"], b["key"]))
            continue
        status, full = await operator.call("GET", f"/v1/operator/recon/breaks/{b['id']}")
        assert status == 200, full
        if full["provider_amount"] in ("42", "42.00"):
            out.append((b["kind"], "42"))
    return sorted(out)


async def test_bank_statements_in_both_formats_match_pesalink_payouts(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    bank = stack.sim_urls["pesalink"]
    await _sim(http, "DELETE", f"{bank}/__sim/breaks")
    assert stack.state is not None
    await _fund(stack, merchant, 100_000)
    payouts = []
    for n in range(2):
        body = {
            "method": "bank_transfer",
            "amount": f"{150 + n}",
            "currency": "KES",
            "reference": f"SUP{n}",
            "bank": {"bank_code": "68", "account_number": f"015012345{n}78"},
        }
        headers = {**merchant.auth, "Idempotency-Key": uuid.uuid4().hex}
        async with http.post(f"{merchant.base}/v1/payouts", json=body, headers=headers) as r:
            assert r.status == 202, await r.text()
            payouts.append((await r.json())["id"])
    for pid in payouts:
        assert (await merchant.for_payouts().wait_for(pid))["status"] == "succeeded"
    await _sim(
        http,
        "POST",
        f"{bank}/__sim/breaks",
        json={"kind": "change_amount", "ref": payouts[1], "amount": "15.10"},
    )
    await _sim(http, "POST", f"{bank}/__sim/breaks", json={"kind": "stranger", "amount": "42"})

    alice = await _operator(stack, http)
    for source, path, ctype in (
        ("bank_mt940", "statement.mt940", "text/plain"),
        ("bank_camt053", "statement.camt053", "application/xml"),
    ):
        data = await _sim(http, "GET", f"{bank}/__sim/{path}")
        async with http.post(
            f"{stack.api_url}/v1/operator/recon/statements?source={source}",
            data=data,
            headers={**_auth(alice), "Content-Type": ctype},
        ) as r:
            assert r.status == 200, await r.text()
    until = datetime.now(UTC) + timedelta(seconds=1)
    status, run = await alice.call(
        "POST",
        "/v1/operator/recon/runs",
        json={"sources": ["bank_camt053"], "since": since.isoformat(), "until": until.isoformat()},
    )
    assert status == 201, run
    # The bank simulator is shared by the session (other switches' transfers may land on its
    # statement in the window): judge our payouts, and the stranger's credit by its amount.
    assert await _ours(alice, run, payouts) == [
        ("amount_mismatch", payouts[1]),
        ("missing_in_switch", "42"),
    ]
    # MT940 gives dates, not times: the same day's records, the same answer.
    status, mt = await alice.call(
        "POST",
        "/v1/operator/recon/runs",
        json={"sources": ["bank_mt940"], "since": since.isoformat(), "until": until.isoformat()},
    )
    assert status == 201, mt
    assert await _ours(alice, mt, payouts) == [
        ("amount_mismatch", payouts[1]),
        ("missing_in_switch", "42"),
    ]
    # A file that is not a camt.053 is refused whole, naming why.
    async with http.post(
        f"{stack.api_url}/v1/operator/recon/statements?source=bank_camt053",
        data=b"<Document/>",
        headers={**_auth(alice), "Content-Type": "application/xml"},
    ) as r:
        assert r.status == 422
        assert (await r.json())["error"]["code"] == "unreadable_statement"
    # Merchants never reach the queue.
    async with http.get(f"{stack.api_url}/v1/operator/recon/breaks", headers=merchant.auth) as r:
        assert r.status == 403
    await _sim(http, "DELETE", f"{bank}/__sim/breaks")


async def _fund(stack: Stack, merchant: Api, cents: int) -> None:
    """Money in the merchant's balance to pay out: a collection paid on the simulator."""
    amount = str(cents // 100)
    payment = await merchant.pay(unique_phone(), amount=amount)
    assert (await merchant.wait_for(payment["id"]))["status"] == "succeeded"


async def test_the_airtel_statement_matches_airtel_collections(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:

    since = datetime.now(UTC) - timedelta(seconds=1)
    airtel = stack.sim_urls["airtel"]
    await _sim(http, "DELETE", f"{airtel}/__sim/breaks")
    ids = await airtel_collections(merchant, ("200", "300"), "AIR1")
    await _sim(http, "POST", f"{airtel}/__sim/breaks", json={"kind": "duplicate", "ref": ids[1]})
    alice = await _operator(stack, http)
    data = await _sim(http, "GET", f"{airtel}/__sim/statement")
    url = f"{stack.api_url}/v1/operator/recon/statements?source=airtel_statement"
    async with http.post(url, data=data, headers={**_auth(alice), "Content-Type": "text/csv"}) as r:
        assert r.status == 200, await r.text()
    until = datetime.now(UTC) + timedelta(seconds=1)
    status, run = await alice.call(
        "POST",
        "/v1/operator/recon/runs",
        json={
            "sources": ["airtel_statement"],
            "since": since.isoformat(),
            "until": until.isoformat(),
        },
    )
    assert status == 201, run
    mine = await _about_us(alice, run, set(ids), merchant.merchant.merchant_id)
    assert [(b["kind"], b["key"]) for b in mine] == [("duplicate", ids[1])]
    assert run["counts"]["matched"] == 1
    await _sim(http, "DELETE", f"{airtel}/__sim/breaks")


async def test_one_api_process_at_a_time_takes_the_scheduled_pull(stack: Stack) -> None:
    from api.recon import PULL_LEASE, pull_leases

    assert stack.state is not None
    leases, now = pull_leases(stack.state), now_utc()
    await leases.collection.delete_one({"_id": PULL_LEASE})
    assert await leases.take(PULL_LEASE, "api-1", now, 60)
    assert not await leases.take(PULL_LEASE, "api-2", now, 60)  # another process
    assert await leases.take(PULL_LEASE, "api-1", now, 60)  # the holder renews it
    # A holder that died: its lease lapses, and another takes it.
    assert await leases.take(PULL_LEASE, "api-2", now + timedelta(seconds=61), 60)
    assert not await leases.take(PULL_LEASE, "api-1", now + timedelta(seconds=62), 60)
    await leases.drop(PULL_LEASE, "api-2")
