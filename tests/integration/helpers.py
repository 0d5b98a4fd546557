"""A small client of the public API, as a merchant's developer would write one."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from infra.storage.mongo import Collections
from switch.merchants import NewMerchant
from switch.reconcile import Report, check

FINAL = ("succeeded", "failed", "expired")

# How long a test waits for something asynchronous: generous, since CI runs two stacks on two
# cores (and a machine running more is slower still); a poll ends as soon as it sees the thing.
PATIENCE = 30.0


# A polling loop that ran out its time warns (a plain UserWarning: pytest-xdist's controller
# rebuilds a worker's warning by importing its class, and cannot import test modules); pyproject
# shows these in the warnings summary instead of failing: what the test asserts next decides.
POLLED_IN_VAIN = "polled {seconds} s in vain ({tries} tries)"


def for_up_to(seconds: float = PATIENCE) -> Iterator[int]:
    """Iterations of a polling loop (which sleeps in its body) until ``seconds`` have passed,
    at least one: a limit in time, not in a count of tries, which a loaded machine makes slower
    and so shorter than meant."""
    deadline = time.monotonic() + seconds
    tries = 0
    while tries == 0 or time.monotonic() < deadline:
        yield tries
        tries += 1
    # Ran out (a loop that found what it waited for breaks first): whatever the test asserts
    # next, the wait cost all its time; shown in pytest's warnings summary.
    warnings.warn(POLLED_IN_VAIN.format(seconds=seconds, tries=tries), UserWarning, stacklevel=2)


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def stk_body(phone: str = "0712000001", amount: str = "150", **extra: Any) -> dict[str, Any]:
    return {
        "method": "mpesa_stk",
        "amount": amount,
        "currency": "KES",
        "phone": phone,
        "reference": "INV1001",
        "description": "Order 1001",
        **extra,
    }


# Every last-four-digits trigger of the simulators (README, Sandbox): STK, B2C, Airtel, PesaLink.
SANDBOX_TRIGGERS = frozenset(
    [
        "0001",
        "0002",
        "0003",
        "0004",
        "0008",
        "0011",
        "0021",
        "0404",
        "0408",
        "1000",
        "1001",
        "1002",
        "1003",
        "1004",
        "1005",
        "1006",
        "1007",
        "1008",
        "1009",
        "1010",
        "1013",
        "1014",
        "1024",
        "1029",
        "1032",
        "1037",
        "2001",
        "2006",
        "2028",
        "2040",
        "3004",
        "3008",
        "4004",
        "4005",
        "5001",
        "5002",
        "8006",
        "9003",
    ]
)


_SAFARICOM = ("070", "071", "072", "079")  # routing/operators.py; 07x: tests read "2547"


def unique_phone(suffix: str = "") -> str:
    """A Safaricom number no other test uses (the simulator locks a subscriber while a prompt is
    open); ``suffix`` picks a sandbox trigger by the last four digits."""
    # Any of Safaricom's two-digit ranges: a trigger leaves three free digits, and one range alone
    # (a thousand numbers) let two tests' prompts meet on one subscriber.
    prefix = _SAFARICOM[uuid.uuid4().int % len(_SAFARICOM)]
    digits = f"{uuid.uuid4().int % 10**7:07d}"
    if suffix:
        digits = digits[: 7 - len(suffix)] + suffix
    while not suffix and digits[-4:] in SANDBOX_TRIGGERS:  # a plain number does the usual
        digits = f"{uuid.uuid4().int % 10**7:07d}"
    return prefix + digits


@dataclass
class Api:
    http: aiohttp.ClientSession
    base: str
    merchant: NewMerchant
    hook: str
    token: str = ""
    payouts: bool = False

    async def login(self) -> None:
        form = {"grant_type": "client_credentials"}
        auth = basic_auth(self.merchant.client_id, self.merchant.client_secret)
        async with self.http.post(f"{self.base}/v1/oauth/token", data=form, headers=auth) as resp:
            assert resp.status == 200, await resp.text()
            self.token = (await resp.json())["access_token"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def create(
        self, body: Any, key: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        hdrs = {**self.auth, **(headers or {})}
        if key is not None:
            hdrs["Idempotency-Key"] = key
        async with self.http.post(f"{self.base}/v1/payments", json=body, headers=hdrs) as resp:
            return resp.status, await resp.json(), dict(resp.headers)

    async def pay(self, phone: str, **extra: Any) -> dict[str, Any]:
        status, body, _ = await self.create(stk_body(phone, **extra), key=uuid.uuid4().hex)
        assert status == 202, body
        return body

    async def get(self, payment_id: str) -> tuple[int, dict[str, Any]]:
        kind = "payouts" if self.payouts else "payments"
        async with self.http.get(f"{self.base}/v1/{kind}/{payment_id}", headers=self.auth) as r:
            return r.status, await r.json()

    async def payout(
        self, phone: str, amount: str = "500", key: str | None = None, **extra: Any
    ) -> tuple[int, dict[str, Any]]:
        body = {
            "method": "mpesa_b2c",
            "amount": amount,
            "currency": "KES",
            "phone": phone,
            "reference": "PAYOUT1",
            **extra,
        }
        headers = {**self.auth, "Idempotency-Key": key or uuid.uuid4().hex}
        async with self.http.post(f"{self.base}/v1/payouts", json=body, headers=headers) as r:
            return r.status, await r.json()

    async def balance(self) -> dict[str, Any]:
        async with self.http.get(f"{self.base}/v1/balance", headers=self.auth) as r:
            assert r.status == 200
            body: dict[str, Any] = await r.json()
            return body

    def for_payouts(self) -> Api:
        return Api(self.http, self.base, self.merchant, self.hook, self.token, payouts=True)

    async def wait_for(
        self, payment_id: str, statuses: tuple[str, ...] = FINAL, within: float = PATIENCE
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            status, body = await self.get(payment_id)
            assert status in (200, 503), body  # 503: a shard restarting; clients retry
            if status == 200 and body["status"] in statuses:
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"{payment_id} still {body} after {within} s")
            await asyncio.sleep(0.1)

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of ``/metrics`` samples named ``name`` (the full name: ``..._total``,
        ``..._bucket``) whose labels include ``labels``; 0 when there is none."""
        async with self.http.get(f"{self.base}/metrics") as r:
            assert r.status == 200
            text = await r.text()
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == name and labels.items() <= s.labels.items()
        )


async def books(cols: Collections) -> Report:
    return check(
        [d async for d in cols.journal.find({})],
        [d async for d in cols.balances.find({})],
        [d async for d in cols.payments.find({}, {"history": 0})],
    )


async def books_balance(cols: Collections, within: float = PATIENCE) -> Report:
    """The reconciliation of the whole database. The journal and the balances are read one after
    the other, so a commit landing in between can show a passing difference: read again."""
    deadline = time.monotonic() + within
    while True:
        report = await books(cols)
        if report.ok or time.monotonic() > deadline:
            return report
        await asyncio.sleep(0.3)
