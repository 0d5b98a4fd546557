"""The interoperability hub through the public API on the real stack: four participants
onboarded and funded by the operator, transfers among them (reserved, notified by a signed
webhook, accepted or rejected by the payee as itself), refusals at the cap and for liquidity
(nothing moves), expiry, duplicates, a suspended participant, and a concurrent burst after which
no position ever passed its cap and positions sum to zero. The session's journal check (conftest)
proves every move was double entry."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
import orjson
import pytest
from aiohttp import web

from app.stack import Stack
from infra.merchants import create_operator_client
from switch.signing import verify_webhook
from tests.simharness import serving

from .helpers import basic_auth, for_up_to

pytestmark = pytest.mark.integration


@dataclass
class Notices:
    """Every participant's webhook endpoint: /p/{name}, each signature checked."""

    url: str = ""
    secrets: dict[str, str] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    bad: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        if not verify_webhook(self.secrets.get(name, ""), request.headers, body):
            self.bad += 1
            return web.Response(status=400)
        self.events.setdefault(name, []).append(orjson.loads(body))
        return web.Response(status=204)

    def of(self, name: str, kind: str, transfer_id: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events.get(name, [])
            if e["type"] == kind and e["data"].get("id") == transfer_id
        ]


@dataclass
class Bank:
    id: str
    name: str
    token: str


class Hub:
    def __init__(self, http: aiohttp.ClientSession, base: str, notices: Notices) -> None:
        self.http = http
        self.base = base
        self.notices = notices
        self.operator = ""

    async def token(self, client_id: str, secret: str) -> str:
        form = {"grant_type": "client_credentials"}
        url = f"{self.base}/v1/oauth/token"
        async with self.http.post(url, data=form, headers=basic_auth(client_id, secret)) as r:
            assert r.status == 200, await r.text()
            return str((await r.json())["access_token"])

    async def call(
        self, method: str, path: str, token: str, body: Any = None, key: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = key
        async with self.http.request(
            method, f"{self.base}{path}", json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json()

    async def onboard(self, cap: str, funds: str, **extra: Any) -> Bank:
        name = uuid.uuid4().hex[:10]
        body = {
            "name": f"Bank {name}",
            "kind": "bank",
            "endpoint_url": f"{self.notices.url}/{name}",
            "net_debit_cap": cap,
            **extra,
        }
        status, made = await self.call("POST", "/v1/operator/hub/participants", self.operator, body)
        assert status == 201, made
        self.notices.secrets[name] = made["webhook_secret"]
        bank = Bank(made["id"], name, await self.token(made["client_id"], made["client_secret"]))
        if funds != "0":
            await self.fund(bank, "funds_in", funds)
        return bank

    async def fund(self, bank: Bank, action: str, amount: str) -> tuple[int, dict[str, Any]]:
        body = {"action": action, "amount": amount, "currency": "KES", "reason": "test"}
        path = f"/v1/operator/hub/participants/{bank.id}/funds"
        answer = await self.call("POST", path, self.operator, body, key=uuid.uuid4().hex)
        return answer

    async def send(
        self, payer: Bank, payee: Bank, amount: str, key: str | None = None, **extra: Any
    ) -> tuple[int, dict[str, Any]]:
        body = {"payee_participant": payee.id, "amount": amount, "currency": "KES", **extra}
        return await self.call(
            "POST", "/v1/hub/transfers", payer.token, body, key=key or uuid.uuid4().hex
        )

    async def answer(self, who: Bank, transfer_id: str, verb: str, **body: Any) -> Any:
        path = f"/v1/hub/transfers/{transfer_id}/{verb}"
        return await self.call("POST", path, who.token, body)

    async def position(self, bank: Bank) -> dict[str, Any]:
        status, body = await self.call("GET", "/v1/hub/participant", bank.token)
        assert status == 200, body
        return dict(body["position"])

    async def notified(self, bank: Bank, kind: str, transfer_id: str) -> dict[str, Any]:
        for _ in for_up_to():
            found = self.notices.of(bank.name, kind, transfer_id)
            if found:
                return found[0]
            await asyncio.sleep(0.05)
        raise AssertionError(f"{bank.name} never got {kind} for {transfer_id}")


N = TypeVar("N", bound=Notices)


@contextlib.asynccontextmanager
async def listening(rec: N) -> AsyncIterator[N]:
    """The participants' endpoints (``{url}/{name}``) served by ``rec`` while the block runs."""
    app = web.Application()
    app.router.add_post("/p/{name}", rec.handle)
    async with serving(app) as base:
        rec.url = f"{base}/p"
        yield rec


async def operator_hub(stack: Stack, http: aiohttp.ClientSession, notices: Notices) -> Hub:
    """The hub as the operator sees it, with a fresh operator client."""
    assert stack.state is not None
    client = await create_operator_client(stack.state.cols)
    h = Hub(http, stack.api_url, notices)
    h.operator = await h.token(client["client_id"], client["client_secret"])
    return h


@pytest.fixture(scope="module")
async def notices() -> AsyncIterator[Notices]:
    async with listening(Notices()) as rec:
        yield rec


@pytest.fixture
async def hub(stack: Stack, http: aiohttp.ClientSession, notices: Notices) -> Hub:
    return await operator_hub(stack, http, notices)


async def test_two_phase_transfers_refusals_and_duplicates(hub: Hub) -> None:
    a = await hub.onboard(cap="1000", funds="5000")
    b = await hub.onboard(cap="1000", funds="1000")
    c = await hub.onboard(cap="5000", funds="300")
    d = await hub.onboard(cap="1000", funds="1000")

    # Party look-up and a quote, then the transfer that names them.
    status, party = await hub.call(
        "POST", "/v1/hub/parties", b.token, {"type": "MSISDN", "id": "0712345678"}
    )
    assert status == 201, party
    status, found = await hub.call("GET", "/v1/hub/parties/MSISDN/254712345678", a.token)
    assert (status, found["participant"]) == (200, b.id)
    # An account is claimed only by the bank its code names (a has no bank code at all).
    status, refused = await hub.call(
        "POST", "/v1/hub/parties", a.token, {"type": "ACCOUNT", "id": "62:0012345678"}
    )
    assert (status, refused["error"]["details"][0]["field"]) == (422, "id"), refused
    status, quote = await hub.call(
        "POST",
        "/v1/hub/quotes",
        a.token,
        {"payee": {"type": "MSISDN", "id": "0712345678"}, "amount": "400", "currency": "KES"},
    )
    assert status == 201 and quote["payee_participant"] == b.id, quote

    key = uuid.uuid4().hex
    status, t = await hub.send(a, b, "400", key=key, quote_id=quote["id"])
    assert status == 201 and t["state"] == "RESERVED", t
    assert (await hub.position(a))["reserved"] == "400"
    # The payee is told, signed; only it can commit: not the payer, not a stranger, not the
    # operator (whose token lacks the participant scope).
    prepared = await hub.notified(b, "hub.transfer.prepared", t["id"])
    assert prepared["data"]["amount"] == "400"
    assert (await hub.answer(a, t["id"], "accept"))[0] == 404
    assert (await hub.answer(d, t["id"], "accept"))[0] == 404
    status, refused = await hub.call(
        "POST", f"/v1/hub/transfers/{t['id']}/accept", hub.operator, {}
    )
    assert status == 403, refused
    status, done = await hub.answer(b, t["id"], "accept")
    assert status == 200 and done["state"] == "COMMITTED" and done["window_id"], done
    await hub.notified(a, "hub.transfer.committed", t["id"])
    pa, pb = await hub.position(a), await hub.position(b)
    assert (pa["position"], pa["reserved"], pb["position"]) == ("400", "0", "-400")

    # Duplicates: same key and body answers again; same key, other body is refused.
    status, again = await hub.send(a, b, "400", key=key, quote_id=quote["id"])
    assert (status, again["id"], again["state"]) == (200, t["id"], "COMMITTED")
    status, modified = await hub.send(a, b, "401", key=key)
    assert status == 409 and modified["error"]["code"] == "idempotency_key_reused"

    # Refused for liquidity (B: cover 1000 and it was paid 400, so 1400 of headroom; C: cover
    # 300 < cap 5000) and at the cap (B's lowered to 500: 900 of headroom): nothing moves, and
    # each has its own code.
    before_b, before_c = await hub.position(b), await hub.position(c)
    status, capped = await hub.send(b, a, "1400.01")
    assert status == 422 and capped["error"]["code"] == "payer_insufficient_liquidity", capped
    await hub.call(
        "PUT",
        f"/v1/operator/hub/participants/{b.id}/limits",
        hub.operator,
        {"net_debit_cap": "500"},
    )
    status, capped = await hub.send(b, a, "1000")
    assert status == 422 and capped["error"]["code"] == "payer_limit_error", capped
    assert capped["transfer"]["state"] == "ABORTED"
    status, dry = await hub.send(c, a, "300.50")
    assert status == 422 and dry["error"]["code"] == "payer_insufficient_liquidity", dry
    assert await hub.position(b) == {**before_b, "net_debit_cap": "500", "available": "900"}
    assert await hub.position(c) == before_c

    # A reject releases the reservation.
    status, t2 = await hub.send(c, d, "250")
    assert status == 201, t2
    assert (await hub.position(c))["reserved"] == "250"
    status, rejected = await hub.answer(d, t2["id"], "reject", reason="account closed")
    assert status == 200 and rejected["state"] == "ABORTED", rejected
    assert (await hub.position(c))["reserved"] == "0"
    await hub.notified(c, "hub.transfer.aborted", t2["id"])
    # Too late to change one's mind.
    status, late = await hub.answer(d, t2["id"], "accept")
    assert status == 409 and late["transfer"]["state"] == "ABORTED"

    # Liquidity out is refused while it would leave the position uncovered.
    status, out = await hub.fund(a, "funds_out", "4700")
    assert status == 422 and out["error"]["code"] == "liquidity_cover_needed", out
    status, out = await hub.fund(a, "funds_out", "4600")
    assert status == 201 and out["position"]["liquidity_cover"] == "400", out
    assert hub.notices.bad == 0


async def test_expiry_releases_and_suspended_participants_are_refused(hub: Hub) -> None:
    a = await hub.onboard(cap="1000", funds="1000")
    b = await hub.onboard(cap="1000", funds="0")
    status, t = await hub.send(a, b, "700", expires_in=1)
    assert status == 201, t
    for _ in for_up_to():
        status, now = await hub.call("GET", f"/v1/hub/transfers/{t['id']}", b.token)
        if now["state"] != "RESERVED":
            break
        await asyncio.sleep(0.1)
    assert now["state"] == "ABORTED" and now["detail"] == "expired_reserved", now
    assert (await hub.position(a))["reserved"] == "0"
    await hub.notified(b, "hub.transfer.aborted", t["id"])
    status, late = await hub.answer(b, t["id"], "accept")
    assert status == 409, late

    reason = {"reason": "under investigation"}
    path = f"/v1/operator/hub/participants/{b.id}"
    assert (await hub.call("POST", f"{path}/suspend", hub.operator, reason))[0] == 200
    status, refused = await hub.send(a, b, "10")
    assert status == 422 and refused["error"]["code"] == "payee_not_active", refused
    assert (await hub.position(a))["reserved"] == "0"
    assert (await hub.call("POST", f"{path}/reactivate", hub.operator, reason))[0] == 200
    status, fine = await hub.send(a, b, "10")
    assert status == 201, fine


async def test_a_burst_never_passes_a_cap_and_positions_sum_to_zero(hub: Hub) -> None:
    banks = [
        await hub.onboard(cap=cap, funds=funds)
        for cap, funds in (("3000", "10000"), ("2000", "1500"), ("10000", "4000"), ("500", "900"))
    ]
    rng = random.Random(14)
    pairs = [tuple(rng.sample(banks, 2)) for _ in range(200)]
    amounts = [str(rng.randint(50, 900)) for _ in pairs]

    async def one(payer: Bank, payee: Bank, amount: str) -> str:
        status, t = await hub.send(payer, payee, amount)
        if status == 422:
            return "refused"
        assert status == 201, t
        status, done = await hub.answer(payee, t["id"], "accept")
        assert status == 200, done
        return str(done["state"])

    results = await asyncio.gather(
        *(one(p, q, a) for (p, q), a in zip(pairs, amounts, strict=True))
    )
    assert set(results) <= {"COMMITTED", "refused"}
    assert results.count("COMMITTED") > 50, results
    total = 0
    for bank in banks:
        pos = await hub.position(bank)
        limit = min(float(pos["net_debit_cap"]), float(pos["liquidity_cover"]))
        assert float(pos["peak"]) <= limit, pos
        assert pos["reserved"] == "0"
        total += round(float(pos["position"]) * 100)
    assert total == 0
