"""Issue 13's "Done means", through the public API of a switch running outside sandbox mode
(so KYC gates live traffic), on a real database, Ray and the M-Pesa and PesaLink simulators.

An organisation signs up and the operator makes it an aggregator; its own application is
approved. It onboards two sub-merchants acting on their behalf (``Switch-Sub-Merchant`` on the
KYC routes): one application, at the risk threshold, is approved by two operators; the other,
with a sanctioned director, is refused, and that sub-merchant is refused live payments. It takes
payments for the approved one and for itself, sees them together, receives webhooks on the right
endpoints (the sub-merchant's own and the aggregator's default), resends a failed one (same
event id), and settles the sub-merchant to its own (inherited) account with the platform fee
split on the journal, the books balanced."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from connectors.pesalink.simulator.sandbox import switch_settings as pesalink_settings
from infra.storage.mongo import collections, connect
from switch.platform import SUB_MERCHANT_HEADER

from .helpers import books_balance, stk_body, unique_phone
from .test_kyc import Caller, _digits, _operator, _submitted, details, live_switch
from .test_settlement import HOLDER, sim_transfers
from .test_users import Person, invite, owner_with_totp
from .test_webhook_endpoints import Hooks, hooks  # noqa: F401 - the receivers' fixture

pytestmark = pytest.mark.integration


class Acting(Caller):
    """The aggregator's person acting for one of its sub-merchants."""

    def __init__(self, person: Person, sub_id: str) -> None:
        super().__init__(person.http, person.base, person.token)
        self.sub_id = sub_id

    async def call(self, method: str, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        kw["headers"] = {SUB_MERCHANT_HEADER: self.sub_id, **kw.get("headers", {})}
        return await super().call(method, path, json, **kw)


@pytest.fixture
async def live(stack: Stack, tmp_path: object) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A switch outside sandbox mode that also pays through the session's PesaLink simulator."""
    pesalink = pesalink_settings(stack.sim_urls["pesalink"])
    # Rate limits live in the Redis every test switch shares; a sign-up limit filled by another
    # switch with the default budget must not fail this one (test_rate_limits checks them).
    extra = {f"SWITCH_{k.upper()}": str(v) for k, v in pesalink.items()}
    async with live_switch(stack, str(tmp_path), SWITCH_RATE_LIMITS="false", **extra) as running:
        yield running


def ids(got: Hooks, name: str, secret: str) -> list[tuple[str, str, str]]:
    """(webhook-id, type, payment id) of each verified request ``name`` received."""
    return [(e["_webhook_id"], e["type"], e["data"]["id"]) for e in got.events(name, secret)]


async def until(check_: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await check_()
        if found:
            return found
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.2)


async def pay(caller: Caller, amount: str = "1000") -> tuple[int, Any]:
    body = {**stk_body(unique_phone()), "amount": amount}
    return await caller.call(
        "POST", "/v1/payments", body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )


async def succeeded(caller: Caller, payment_id: str) -> None:
    async def final() -> bool:
        status, p = await caller.call("GET", f"/v1/payments/{payment_id}")
        assert status == 200, p
        assert p["status"] not in ("failed", "expired"), p
        return bool(p["status"] == "succeeded")

    await until(final)


async def endpoint(caller: Caller, url: str) -> dict[str, Any]:
    status, made = await caller.call(
        "POST", "/v1/webhook-endpoints", {"url": url, "events": ["payment.*"]}
    )
    assert status == 201, made
    return dict(made)


async def test_an_aggregator_onboards_takes_payments_and_settles_its_sub_merchants(
    live: tuple[str, dict[str, str]],
    http: aiohttp.ClientSession,
    hooks: Hooks,  # noqa: F811 - test_webhook_endpoints' fixture
    stack: Stack,
) -> None:
    base, env = live
    client = connect(env["MONGODB_URI"])
    cols = collections(client, env["SWITCH_MONGODB_DB"])
    first, second = await _operator(cols, http, base), await _operator(cols, http, base)

    # An organisation signs up; the operator makes it an aggregator; its own KYC is approved.
    owner = await owner_with_totp(http, base)
    finance = await invite(owner, "finance")
    await finance.enrol_totp()
    agg_id = owner.merchant_id
    status, made = await first.call(
        "PATCH", f"/v1/operator/merchants/{agg_id}", {"kind": "aggregator"}
    )
    assert (status, made["kind"]) == (200, "aggregator"), made
    agg = Caller(http, base, owner.token)
    shared_director = _digits(8)
    own = await _submitted(agg, details(national_id=shared_director))
    status, done = await first.call(
        "POST", f"/v1/operator/kyc/applications/{own['id']}/approve", {}
    )
    assert (status, done["status"]) == (200, "approved"), done

    # Two sub-merchants, each taking 2 % + KES 1 of a collection for the aggregator.
    subs = []
    for name in ("Mama Mboga", "Duka la Barney"):
        status, sub = await agg.call(
            "POST", "/v1/sub-merchants", {"name": name, "platform_fee": {"bps": 200, "fixed": "1"}}
        )
        assert (status, sub["kyc_status"]) == (201, "pending"), sub
        subs.append(Acting(owner, sub["id"]))
    good, barred = subs

    # Applications made on their behalf: one at the threshold (a director on the aggregator's
    # application, +15; a company with an individual's PIN, +15), one with a sanctioned director.
    app_good = await _submitted(good, details(national_id=shared_director, pin=f"A{_digits(9)}Z"))
    app_barred = await _submitted(barred, details(director="Barney Fictitia"))
    for app, sub in ((app_good, good), (app_barred, barred)):
        status, seen = await first.call("GET", f"/v1/operator/kyc/applications/{app['id']}")
        assert (status, seen["merchant_id"]) == (200, sub.sub_id), seen
    status, listed = await good.call("GET", "/v1/kyc/applications")
    assert [a["id"] for a in listed["data"]] == [app_good["id"]]  # its own, not its sibling's
    status, listed = await agg.call("GET", "/v1/kyc/applications")
    assert [a["id"] for a in listed["data"]] == [own["id"]]

    path = f"/v1/operator/kyc/applications/{app_good['id']}"
    status, seen = await first.call("GET", path)
    assert (seen["assessment"]["score"], seen["approvals_needed"]) == (30, 2), seen
    status, after = await first.call("POST", path + "/approve", {"reason": "registry matches"})
    assert (status, after["status"]) == (200, "submitted"), after
    status, refused = await good.call("POST", "/v1/payments", stk_body(unique_phone()),
                                      headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    assert (status, refused["error"]["code"]) == (403, "kyc_pending"), refused
    status, after = await second.call("POST", path + "/approve", {})
    assert (status, after["status"]) == (200, "approved"), after

    path = f"/v1/operator/kyc/applications/{app_barred['id']}"
    status, seen = await first.call("GET", path)
    assert any(f["code"] == "sanctions_hit" for f in seen["assessment"]["factors"]), seen
    status, after = await second.call("POST", path + "/reject", {"reason": "director sanctioned"})
    assert (status, after["status"]) == (200, "rejected"), after
    status, mine = await barred.call("GET", f"/v1/kyc/applications/{app_barred['id']}")
    assert (mine["status"], mine["reasons"]) == ("rejected", ["director sanctioned"])

    # Webhook endpoints: the approved sub-merchant's own; the aggregator's default, failing.
    tag = uuid.uuid4().hex[:8]
    sub_hook = await endpoint(good, f"{hooks.url}/sub-{tag}")
    agg_hook = await endpoint(agg, f"{hooks.url}/agg-{tag}")
    hooks.failing.add(f"agg-{tag}")
    await asyncio.sleep(0.5)  # the shards' endpoint cache

    # Payments: the approved sub-merchant's and the aggregator's own; the refused one's is not.
    status, paid_sub = await pay(good)
    assert status == 202, paid_sub
    status, paid_agg = await pay(agg, "500")
    assert status == 202, paid_agg
    status, refused = await pay(barred)
    assert (status, refused["error"]["code"]) == (403, "kyc_pending"), refused
    status, none = await first.call("GET", f"/v1/operator/merchants/{barred.sub_id}")
    assert none["kyc_status"] == "pending"
    await succeeded(good, paid_sub["id"])
    await succeeded(agg, paid_agg["id"])
    assert await cols.payments.count_documents({"merchant_id": barred.sub_id}) == 0

    # Seen together, and one sub-merchant at a time.
    status, page = await agg.call("GET", "/v1/payments")
    assert {p["id"] for p in page["data"]} == {paid_sub["id"], paid_agg["id"]}, page
    status, page = await agg.call("GET", f"/v1/payments?sub_merchant={good.sub_id}")
    assert [p["id"] for p in page["data"]] == [paid_sub["id"]]

    # Webhooks on the right endpoints: the sub-merchant's events at its own, none at the
    # aggregator's; the aggregator's failed, then resent with the same event id.
    async def sub_events() -> list[tuple[str, str, str]]:
        got = ids(hooks, f"sub-{tag}", sub_hook["secret"])
        return got if ("payment.succeeded" in [t for _, t, _ in got]) else []

    got = await until(sub_events)
    assert {pid for _, _, pid in got} == {paid_sub["id"]}

    async def failed() -> list[dict[str, Any]]:  # retrying, or failed for good
        status, page = await agg.call("GET", f"/v1/webhook-deliveries?endpoint_id={agg_hook['id']}")
        assert status == 200, page
        return [d for d in page["data"] if d["status"] != "delivered"]

    lost = (await until(failed))[0]
    assert lost["last_status_code"] == 500, lost
    hooks.failing.discard(f"agg-{tag}")
    status, resent = await agg.call(
        "POST", "/v1/webhook-deliveries/resend", {"event_id": lost["event_id"]}
    )
    assert (status, resent["resent"], resent["delivered"]) == (200, 1, 1), resent
    received = ids(hooks, f"agg-{tag}", agg_hook["secret"])
    assert lost["event_id"] in [wid for wid, _, _ in received]  # the same id, resent
    assert {pid for _, _, pid in received} == {paid_agg["id"]}  # nothing of the sub-merchant's

    # The platform fee on the journal: KES 1,000 less the switch's 15 and the platform's 21.
    status, balance = await good.call("GET", "/v1/balance")
    assert balance["available"] == "964", balance
    fee = await cols.journal.find_one({"_id": f"{paid_sub['id']}:platform_fee"})
    assert fee is not None and fee["merchant_id"] == agg_id
    assert {ln["account"]: ln["amount"] for ln in fee["lines"]} == {
        f"merchant:{good.sub_id}:available": -2100,
        f"merchant:{agg_id}:available": 2100,
    }

    # Settlement: the aggregator nominates its account (two people); the sub-merchant, which
    # nominated none, is paid there.
    bank = {"bank_code": HOLDER[0], "account_number": HOLDER[1], "account_name": HOLDER[2]}
    status, proposed, _ = await owner.call(
        "PUT", "/v1/settlement/account", {"kind": "bank", "bank": bank}
    )
    assert status == 202, proposed
    change = {"change_id": proposed["pending_change"]["change_id"]}
    status, confirmed, _ = await finance.call("POST", "/v1/settlement/account/confirm", change)
    assert status == 200, confirmed
    status, settings = await good.call("GET", "/v1/settlement/account")
    assert settings["account"]["inherited_from"] == agg_id, settings
    # Its schedule stays its own: settled on demand, today's collections included.
    schedule = {"frequency": "manual", "lag_days": 0}
    status, settings = await good.call("PUT", "/v1/settlement/schedule", schedule)
    assert status == 200, settings
    await asyncio.sleep(2.1)  # the cooling-off of the test environment
    status, run = await good.call("POST", "/v1/settlements")
    assert status == 201, run

    async def settled() -> dict[str, Any] | None:
        status, now = await good.call("GET", f"/v1/settlements/{run['id']}")
        assert status == 200, now
        return now if now["status"] in ("succeeded", "failed", "skipped") else None

    run = await until(settled)
    assert (run["status"], run["balance_available"], run["fee"]) == ("succeeded", "964", "50")
    [sent] = await sim_transfers(http, stack, run["payout_id"])
    assert (sent["amount_cents"], sent["account_number"]) == (91_400, HOLDER[1])
    status, balance = await good.call("GET", "/v1/balance")
    assert balance["available"] == "0", balance

    # No test money outside sandbox mode; and the books balance.
    status, err = await agg.call(
        "POST", "/v1/sandbox/fund", {"amount": "100"}, headers={"Idempotency-Key": "f1"}
    )
    assert (status, err["error"]["code"]) == (403, "sandbox_only"), err
    report = await books_balance(cols)
    assert report.ok, report.problems
    await client.close()
