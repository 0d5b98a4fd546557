"""Benefit payments in ``python -m switch demo``: an organisation signs up, its owner (the maker)
and an invited finance person (the checker) both enrol two-factor codes; the owner registers three
beneficiaries of a programme and makes this cycle's run; the registered names are checked with
M-Pesa (the one whose phone is no M-Pesa customer is an exception, not paid); the maker may not
approve, the checker does; the run pays the other two through a payout batch."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

import aiohttp

from connectors.mpesa.simulator.triggers import registered_name
from sandbox.demo_bills import WAIT_S, _call, _until
from switch import totp
from switch.benefits import cycle_of
from switch.payments import now_utc

PASSWORD = "Msaada-" + secrets.token_hex(8)  # the demo's people, this run only
AMOUNT = "500"
# Two M-Pesa customers (their names as a registry might spell them) and a phone that is none.
UNREGISTERED = "0712002040"  # the simulator's "not an M-Pesa customer" (README "Benefit payments")


def _registry() -> list[tuple[str, str]]:
    rows = []
    for phone in ("0712000111", "0712000222"):
        first, middle, last = registered_name("254" + phone[1:]).split()
        rows.append((phone, f"{last}, {first.title()} {middle[0]}."))
    return [*rows, (UNREGISTERED, "Grace Akinyi")]


class _Person:
    """A person signed in to the API with two-factor codes."""

    def __init__(self, http: aiohttp.ClientSession, base: str, email: str) -> None:
        self.http, self.base, self.email = http, base, email
        self.auth: dict[str, str] = {}

    async def login(self) -> None:
        body = {"email": self.email, "password": PASSWORD}
        answer = await _call(self.http, "POST", f"{self.base}/v1/auth/login", {}, body)
        self.auth = {"Authorization": f"Bearer {answer['access_token']}"}

    async def enrol_totp(self) -> None:
        secret = await _call(self.http, "POST", f"{self.base}/v1/users/me/totp", self.auth)
        code = totp.code_at(str(secret["secret"]), time.time())
        answer = await _call(self.http, "POST", f"{self.base}/v1/users/me/totp/confirm",
                             self.auth, {"code": code})  # fmt: skip
        self.auth = {"Authorization": f"Bearer {answer['access_token']}"}


def _email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@msaada.example"


async def _people(http: aiohttp.ClientSession, base: str) -> tuple[_Person, _Person]:
    """The organisation's owner and an invited finance person, both with two factors."""
    owner = _Person(http, base, _email("owner"))
    await _call(http, "POST", f"{base}/v1/users", {}, {
        "email": owner.email, "password": PASSWORD, "name": "Amina Hassan",
        "organisation": "Msaada Relief"})  # fmt: skip
    await owner.login()
    await owner.enrol_totp()
    finance = _Person(http, base, _email("finance"))
    invitation = await _call(http, "POST", f"{base}/v1/invitations", owner.auth,
                             {"email": finance.email, "role": "finance"})  # fmt: skip
    await _call(http, "POST", f"{base}/v1/users", {}, {
        "email": finance.email, "password": PASSWORD, "name": "Otieno Odhiambo",
        "invitation": invitation["token"]})  # fmt: skip
    await finance.login()
    await finance.enrol_totp()
    return owner, finance


async def run_benefits(http: aiohttp.ClientSession, base: str) -> bool:
    print("\nbenefit payments (a programme, name checks, a run approved by a second person):",
          flush=True)  # fmt: skip
    maker, checker = await _people(http, base)
    await _call(http, "POST", f"{base}/v1/sandbox/fund", maker.auth, {"amount": "5000"}, key=True)
    programme = await _call(http, "POST", f"{base}/v1/benefits/programmes", maker.auth, {
        "name": "Msaada cash transfer", "rail": "mpesa_b2c", "amount": AMOUNT,
        "reference": "MSAADA"}, key=True)  # fmt: skip
    url = f"{base}/v1/benefits/programmes/{programme['id']}"
    for n, (phone, name) in enumerate(_registry()):
        await _call(http, "POST", f"{url}/beneficiaries", maker.auth,
                    {"national_id": f"3{n}{uuid.uuid4().int % 10**6:06d}", "phone": phone,
                     "name": name})  # fmt: skip
    cycle = cycle_of(now_utc())
    run = await _call(http, "POST", f"{url}/runs", maker.auth, {"cycle": cycle}, key=True)
    run_url = f"{base}/v1/benefits/runs/{run['id']}"
    refused = await _status(http, f"{run_url}/approve", maker.auth)
    approved = await _status(http, f"{run_url}/approve", checker.auth)
    deadline = time.monotonic() + WAIT_S
    while approved == 503 and time.monotonic() < deadline:  # the switch says: approve again
        await asyncio.sleep(0.2)
        approved = await _status(http, f"{run_url}/approve", checker.auth)
    done = await _until(http, run_url, maker.auth, lambda r: r.get("state") == "completed")
    report = await _call(http, "GET", f"{run_url}/report", maker.auth)
    exceptions = sorted(str(e["kind"]) for e in report["exceptions"])
    for phone, name in _registry():
        print(f"  {phone} registered as {name!r}")
    print(f"  run {cycle}: planned {run['planned']['count']} of 3; approved by the maker: "
          f"{refused}, by the finance person: {approved}")  # fmt: skip
    print(f"  {done.get('state')}: paid {done.get('paid')} x KES {AMOUNT}, failed "
          f"{done.get('failed')}; exceptions {exceptions}; the journal ties: "
          f"{report['totals']['journal']['ties']}")  # fmt: skip
    return (
        refused == 403
        and approved == 200
        and (done.get("state"), done.get("paid"), done.get("failed")) == ("completed", 2, 0)
        and exceptions == ["unregistered_phone"]
        and report["totals"]["journal"]["ties"] is True
    )


async def _status(http: aiohttp.ClientSession, url: str, auth: dict[str, str]) -> int:
    """The answer's status of an approval (403 for the maker: four eyes)."""
    async with http.post(url, headers=auth) as resp:
        await resp.read()
        return resp.status
