"""KYC, AML limits, sanctions holds and the review queue through the public API, on the real
stack (sandbox mode: KYC-pending merchants may move simulated money; the sample sanctions list
of invented names is screened).

Reviewers are people: their session tokens come from :func:`switch.users.session_for` for users
stored directly in the merchant's organisation (the sign-up and invitation flows have their own
tests in test_users.py)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from infra.merchants import create_operator_client
from switch.ids import new_id
from switch.payments import now_utc
from switch.users import session_for

from .conftest import Receiver
from .helpers import Api, basic_auth, for_up_to, unique_phone

pytestmark = pytest.mark.integration

LISTED = "Barney Fictitia"  # an alias of TEST-001 on the sample (invented) list
LISTED_TOO = "Jose Nunez"  # an alias of TEST-002


@dataclass
class Caller:
    """Anyone holding a bearer token: a reviewer, the operator, the merchant's API client."""

    http: aiohttp.ClientSession
    base: str
    token: str

    async def call(self, method: str, path: str, json: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.request(method, self.base + path, json=json, headers=headers) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()


async def _person(stack: Stack, http: aiohttp.ClientSession, merchant: Api, role: str) -> Caller:
    assert stack.state is not None
    user = {
        "_id": new_id("usr"),
        "email": f"{uuid.uuid4().hex[:10]}@duka.co.ke",
        "name": f"A {role}",
        "merchant_id": merchant.merchant.merchant_id,
        "role": role,
        "password_hash": "unused",
        "status": "active",
        "created_at": now_utc(),
    }
    await stack.state.cols.users.insert_one(user)
    session = session_for(stack.state.secret_key, user, 0, True, time.time())
    return Caller(http, stack.api_url, session.token)


async def _operator(stack: Stack, http: aiohttp.ClientSession) -> Caller:
    assert stack.state is not None
    client = await create_operator_client(stack.state.cols)
    auth = basic_auth(client["client_id"], client["client_secret"])
    form = {"grant_type": "client_credentials"}
    async with http.post(f"{stack.api_url}/v1/oauth/token", data=form, headers=auth) as resp:
        assert resp.status == 200, await resp.text()
        return Caller(http, stack.api_url, (await resp.json())["access_token"])


def _client(merchant: Api) -> Caller:
    return Caller(merchant.http, merchant.base, merchant.token)


async def _fund(merchant: Api, shillings: int) -> None:
    paid = await merchant.pay(unique_phone(), amount=str(shillings))
    assert (await merchant.wait_for(paid["id"]))["status"] == "succeeded"


async def _sim_payouts(merchant: Api, sim: str, phone: str) -> list[dict[str, Any]]:
    async with merchant.http.get(f"{sim}/__sim/b2c", params={"phone": "254" + phone[1:]}) as r:
        found: list[dict[str, Any]] = await r.json()
        return found


async def _held_payout(merchant: Api, amount: str, name: str) -> tuple[str, dict[str, Any]]:
    phone = unique_phone()
    status, body = await merchant.payout(phone, amount, metadata={"recipient_name": name})
    assert status == 202, body
    assert body["status"] == "held", body
    return phone, body


async def test_a_payout_to_a_sanctioned_name_is_held_until_approved_then_paid(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api, sim: str, receiver: Receiver
) -> None:
    await _fund(merchant, 1000)  # 985 available
    phone, held = await _held_payout(merchant, "200", LISTED)
    assert held["review"]["reason"] == "sanctions"
    assert held["review"]["rules"] == ["sanctions:TEST-001"]
    assert held["review"]["approvals_needed"] == 1
    assert (await merchant.balance())["reserved"] == "215"  # the reservation is kept
    await asyncio.sleep(1.0)
    assert await _sim_payouts(merchant, sim, phone) == []  # nothing went to M-Pesa

    finance = await _person(stack, http, merchant, "finance")
    status, queue = await finance.call("GET", "/v1/reviews")
    assert status == 200
    assert [p["id"] for p in queue["data"]] == [held["id"]]
    # An API client may not review, even with payouts:write; a viewer lacks the permission.
    status, body = await _client(merchant).call("POST", f"/v1/reviews/{held['id']}/approve", {})
    assert (status, body["error"]["code"]) == (403, "person_required")
    viewer = await _person(stack, http, merchant, "viewer")
    assert (await viewer.call("POST", f"/v1/reviews/{held['id']}/approve", {}))[0] == 403

    status, approved = await finance.call("POST", f"/v1/reviews/{held['id']}/approve", {})
    assert status == 200, approved
    assert approved["review"]["status"] == "approved"
    assert approved["review"]["approvals"][0]["by"].startswith("user:usr_")
    final = await merchant.for_payouts().wait_for(held["id"])
    assert final["status"] == "succeeded"
    assert len(await _sim_payouts(merchant, sim, phone)) == 1
    assert (await finance.call("GET", "/v1/reviews"))[1]["data"] == []
    for _ in for_up_to():
        if "payout.succeeded" in receiver.types_for(merchant.hook, held["id"]):
            break
        await asyncio.sleep(0.1)
    # The merchant is told of the hold, then of the payout as usual (no "pending" in between).
    assert receiver.types_for(merchant.hook, held["id"]) == [
        "payout.held",
        "payout.processing",
        "payout.succeeded",
    ]
    # A second decision on a payment no longer held is refused.
    status, body = await finance.call("POST", f"/v1/reviews/{held['id']}/reject", {"reason": "x"})
    assert (status, body["error"]["code"]) == (409, "not_held")


async def test_above_the_threshold_two_different_people_must_approve(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api, sim: str
) -> None:
    await _fund(merchant, 150_000)
    phone, held = await _held_payout(merchant, "100000", LISTED_TOO)
    assert held["review"]["approvals_needed"] == 2
    finance = await _person(stack, http, merchant, "finance")
    admin = await _person(stack, http, merchant, "admin")
    path = f"/v1/reviews/{held['id']}/approve"
    status, first = await finance.call("POST", path, {"reason": "known supplier"})
    assert status == 200, first
    assert first["status"] == "held"
    assert len(first["review"]["approvals"]) == 1
    status, again = await finance.call("POST", path, {})
    assert (status, again["error"]["code"]) == (409, "already_approved")
    await asyncio.sleep(0.5)
    assert await _sim_payouts(merchant, sim, phone) == []
    status, second = await admin.call("POST", path, {})
    assert status == 200, second
    assert second["review"]["status"] == "approved"
    assert (await merchant.for_payouts().wait_for(held["id"]))["status"] == "succeeded"
    assert len(await _sim_payouts(merchant, sim, phone)) == 1


async def test_the_maker_never_approves_its_own_held_payout(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api, sim: str
) -> None:
    """Issue 10, finding 4: four eyes. A finance user's own held payout needs another person;
    above the threshold, two people other than the maker. The refusal is on the record."""
    await _fund(merchant, 150_000)
    finance = await _person(stack, http, merchant, "finance")
    as_finance = replace(merchant, token=finance.token)
    phone, held = await _held_payout(as_finance, "100000", LISTED)
    assert held["review"]["approvals_needed"] == 2
    path = f"/v1/reviews/{held['id']}/approve"
    status, body = await finance.call("POST", path, {"reason": "mine, fine"})
    assert (status, body["error"]["code"]) == (403, "maker_cannot_approve"), body
    admin = await _person(stack, http, merchant, "admin")
    status, first = await admin.call("POST", path, {})
    assert (status, first["status"]) == (200, "held"), first
    status, body = await finance.call("POST", path, {})  # not after another's approval either
    assert (status, body["error"]["code"]) == (403, "maker_cannot_approve")
    await asyncio.sleep(0.5)
    assert await _sim_payouts(merchant, sim, phone) == []
    owner = await _person(stack, http, merchant, "owner")
    status, second = await owner.call("POST", path, {})
    assert (status, second["review"]["status"]) == (200, "approved"), second
    assert (await merchant.for_payouts().wait_for(held["id"]))["status"] == "succeeded"
    assert stack.state is not None
    refused = await stack.state.cols.compliance_events.find_one(
        {"payment_id": held["id"], "kind": "self_approval_refused"}
    )
    assert refused is not None and refused["reviewer"].startswith("user:usr_")
    assert refused["reviewer"] not in [a["by"] for a in second["review"]["approvals"]]

    # The maker may withdraw (reject) its own held payout: that moves no money.
    _, withdrawn = await _held_payout(as_finance, "200", LISTED_TOO)
    status, body = await finance.call(
        "POST", f"/v1/reviews/{withdrawn['id']}/reject", {"reason": "wrong recipient"}
    )
    assert (status, body["review"]["status"]) == (200, "rejected"), body


async def test_a_payout_by_an_api_client_is_made_by_who_issued_its_secret(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    """An API client acts for the person who issued its current secret (created or last
    rotated it): that person may not approve the client's held payouts."""
    await _fund(merchant, 1000)
    admin = await _person(stack, http, merchant, "admin")
    status, client = await admin.call(
        "POST", "/v1/clients", {"name": "payouts backend", "scopes": ["payouts:write"]}
    )
    assert status == 201, client
    auth = basic_auth(client["id"], client["client_secret"])
    form = {"grant_type": "client_credentials"}
    async with http.post(f"{stack.api_url}/v1/oauth/token", data=form, headers=auth) as resp:
        assert resp.status == 200
        token = (await resp.json())["access_token"]
    _, held = await _held_payout(replace(merchant, token=token), "200", LISTED)
    path = f"/v1/reviews/{held['id']}/approve"
    status, body = await admin.call("POST", path, {})
    assert (status, body["error"]["code"]) == (403, "maker_cannot_approve"), body
    finance = await _person(stack, http, merchant, "finance")
    status, body = await finance.call("POST", path, {})
    assert (status, body["review"]["status"]) == (200, "approved"), body


async def test_a_rejected_held_payout_releases_its_reservation(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api, sim: str
) -> None:
    await _fund(merchant, 1000)
    phone, held = await _held_payout(merchant, "300", LISTED)
    assert (await merchant.balance())["reserved"] == "315"
    owner = await _person(stack, http, merchant, "owner")
    path = f"/v1/reviews/{held['id']}/reject"
    status, body = await owner.call("POST", path, {})
    assert (status, body["error"]["code"]) == (422, "reason_required")
    status, rejected = await owner.call("POST", path, {"reason": "the name is on the list"})
    assert status == 200, rejected
    assert rejected["status"] == "failed"
    assert rejected["failure"]["code"] == "review_rejected"
    assert await merchant.balance() == {
        "object": "balance",
        "currency": "KES",
        "available": "985",
        "reserved": "0",
    }
    assert await _sim_payouts(merchant, sim, phone) == []


async def test_a_merchant_transaction_limit_refusal_names_the_field(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    operator = await _operator(stack, http)
    path = f"/v1/operator/merchants/{merchant.merchant.merchant_id}/limits"
    status, body = await operator.call("PUT", path, {"transaction_max": 1000, "reason": "new"})
    assert status == 200, body
    status, refused, _ = await merchant.create(
        {
            "method": "mpesa_stk",
            "amount": "1500",
            "currency": "KES",
            "phone": unique_phone(),
            "reference": "INV1",
        },
        key=uuid.uuid4().hex,
    )
    assert status == 422, refused
    assert refused["error"]["code"] == "amount_above_merchant_transaction_limit"
    assert refused["error"]["details"][0]["field"] == "amount"
    await merchant.pay(unique_phone(), amount="1000")  # at the limit: accepted
    # A merchant's token may not change its own limits.
    assert (await _client(merchant).call("PUT", path, {"reason": "mine"}))[0] == 403


async def test_the_daily_limit_per_phone(merchant: Api) -> None:
    phone = unique_phone()
    for _ in range(2):
        paid = await merchant.pay(phone, amount="250000")
        assert (await merchant.wait_for(paid["id"]))["status"] == "succeeded"
    status, refused, _ = await merchant.create(
        {"method": "mpesa_stk", "amount": "1", "currency": "KES", "phone": phone, "reference": "X"},
        key=uuid.uuid4().hex,
    )
    assert status == 422, refused
    assert refused["error"]["code"] == "phone_daily_limit"
    assert refused["error"]["details"] == [
        {"field": "phone", "reason": refused["error"]["message"]}
    ]
    await merchant.pay(unique_phone(), amount="1")  # another phone is not limited


async def test_a_suspended_merchant_is_refused_at_once(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    await merchant.pay(unique_phone())  # cached as pending (sandbox: allowed)
    operator = await _operator(stack, http)
    path = f"/v1/operator/merchants/{merchant.merchant.merchant_id}/kyc"
    status, body = await operator.call("PUT", path, {"state": "suspended", "reason": "fraud"})
    assert status == 200, body
    status, refused, _ = await merchant.create(
        {
            "method": "mpesa_stk",
            "amount": "100",
            "currency": "KES",
            "phone": unique_phone(),
            "reference": "X",
        },
        key=uuid.uuid4().hex,
    )
    assert (status, refused["error"]["code"]) == (403, "merchant_suspended")
    status, payout = await merchant.payout(unique_phone(), "100")
    assert (status, payout["error"]["code"]) == (403, "merchant_suspended")
    # Verifying needs a second operator (api/kyc_review.py): the first call is a proposal.
    status, body = await operator.call("PUT", path, {"state": "verified", "reason": "cleared"})
    assert (status, body["kyc_status"], body["pending"]["approvals_needed"]) == (
        202,
        "suspended",
        2,
    )
    status, body = await operator.call("PUT", path, {"state": "verified", "reason": "again"})
    assert (status, body["error"]["code"]) == (403, "four_eyes_required")
    second = await _operator(stack, http)
    status, body = await second.call("PUT", path, {"state": "verified", "reason": "cleared"})
    assert (status, body["kyc_status"]) == (200, "verified")
    await merchant.pay(unique_phone())
    # Only the operator sets KYC states; the change is in the audit trail.
    assert (await _client(merchant).call("PUT", path, {"state": "verified", "reason": "me"}))[
        0
    ] == 403
    assert stack.state is not None
    actions = [
        d["after"]["value"]
        async for d in stack.state.cols.audit.find(
            {"action": "merchant.kyc", "target": f"merchant:{merchant.merchant.merchant_id}"}
        )
    ]
    assert actions == ["suspended", "verified"]  # the proposal is merchant.kyc.propose


async def test_the_suspicious_activity_report_lists_the_events(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    await _fund(merchant, 1000)
    _, held = await _held_payout(merchant, "100", LISTED)
    owner = await _person(stack, http, merchant, "owner")
    status, _ = await owner.call("POST", f"/v1/reviews/{held['id']}/reject", {"reason": "=bad"})
    assert status == 200
    operator = await _operator(stack, http)
    limits = f"/v1/operator/merchants/{merchant.merchant.merchant_id}/limits"
    assert (await operator.call("PUT", limits, {"transaction_max": 50, "reason": "tight"}))[
        0
    ] == 200
    status, _, _ = await merchant.create(
        {
            "method": "mpesa_stk",
            "amount": "60",
            "currency": "KES",
            "phone": unique_phone(),
            "reference": "X",
        },
        key=uuid.uuid4().hex,
    )
    assert status == 422

    rows: list[dict[str, str]] = []
    for _ in for_up_to():  # events are written in small batches
        status, text = await _client(merchant).call("GET", "/v1/reports/suspicious-activity")
        assert status == 200
        rows = list(csv.DictReader(io.StringIO(text)))
        if len(rows) >= 3:
            break
        await asyncio.sleep(0.1)
    assert [r["kind"] for r in rows] == ["held", "rejected", "refused"]
    held_row, rejected_row, refused_row = rows
    assert held_row["payment_id"] == held["id"]
    assert held_row["rules"] == "sanctions:TEST-001"
    assert held_row["names"] == LISTED
    assert held_row["amount"] == "100"
    assert rejected_row["reviewer"].startswith("user:")
    assert rejected_row["note"] == "'=bad"  # defused for spreadsheets
    assert (refused_row["reason"], refused_row["field"]) == (
        "amount_above_merchant_transaction_limit",
        "amount",
    )
    assert {r["merchant_id"] for r in rows} == {merchant.merchant.merchant_id}
    # The operator's report has every merchant's events, these included.
    status, text = await operator.call("GET", "/v1/operator/reports/suspicious-activity")
    assert status == 200
    ids = {r["payment_id"] for r in csv.DictReader(io.StringIO(text))}
    assert held["id"] in ids
    # The operator's queue: every merchant's held payments.
    _, other = await _held_payout(merchant, "50", LISTED)
    status, queue = await operator.call("GET", "/v1/operator/reviews")
    assert status == 200
    assert other["id"] in [p["id"] for p in queue["data"]]
    status, body = await operator.call(
        "POST", f"/v1/operator/reviews/{other['id']}/reject", {"reason": "on the list"}
    )
    assert status == 200, body
    assert body["review"]["rejected_by"].startswith("operator:")
