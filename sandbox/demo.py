"""``python -m switch demo``: real STK Push payments through the whole switch.

HTTP API -> Ray merchant-shard actor -> M-Pesa provider actor -> Daraja connector -> Daraja
simulator -> callback -> MongoDB -> signed webhook to a merchant endpoint run by the demo, which
verifies every signature. One payment per sandbox trigger, plus an idempotent replay; prints a
table and exits 0 only if every payment ended as its trigger says and every webhook verified.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp import web

from api.state import AppState
from infra.merchants import create_merchant
from sandbox.demo_benefits import run_benefits
from sandbox.demo_bills import run_bills
from sandbox.demo_gov import run_gov
from sandbox.demo_rails import run_rails
from switch.config import Settings
from switch.providers import providers
from switch.rails import recovered_by
from switch.signing import verify_webhook

# The STK Push rail (the one whose missed results are recovered by an STK query).
STK_METHOD = recovered_by("stk_query")

SCENARIOS = [
    ("customer pays", "0712000101", "succeeded"),
    ("customer pays", "0712000202", "succeeded"),
    ("customer pays (01xx number)", "0110000303", "succeeded"),
    ("customer cancels (1032)", "0712341032", "failed"),
    ("insufficient funds (1)", "0712340001", "failed"),
    ("wrong PIN (2001)", "0712342001", "failed"),
    ("no answer (1037)", "0712341037", "expired"),
    ("callback lost: STK query", "0712340404", "succeeded"),
]
FINAL = {"succeeded", "failed", "expired"}


class RunningStack(Protocol):
    """What the demo needs of a started switch (``app.stack.Stack``). The composition root hands
    it a starter, so the sandbox never imports the composition root (import-linter layers)."""

    @property
    def state(self) -> AppState | None: ...

    @property
    def api_url(self) -> str: ...

    @property
    def sim_urls(self) -> dict[str, str]: ...

    async def stop(self) -> None: ...


StartStack = Callable[[Settings], Awaitable[RunningStack]]


@dataclass
class Receiver:
    """The merchant's webhook endpoint."""

    secret: str = ""
    events: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_webhook(self.secret, request.headers, body):
            self.bad_signatures += 1
            return web.Response(status=400)
        event = orjson.loads(body)
        self.events.setdefault(event["data"]["id"], []).append((time.monotonic(), event["type"]))
        return web.Response(status=204)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_demo(settings: Settings, start: StartStack) -> int:
    """``start`` starts the whole switch in sandbox mode on the given settings."""
    demo_settings = settings.model_copy(
        update={
            "port": _free_port(),
            "sim_port": 0,
            "sim_callback_delay": 1.0,
            "stk_query_after": 3.0,
            "sweep_interval": 1.0,
            "sandbox": True,
            **{k: v for spec in providers() for k, v in spec.demo_settings.items()},
        }
    )
    print("starting: embedded SecantusDB, local Ray, Daraja simulator, api ...", flush=True)
    stack = await start(demo_settings)
    receiver = Receiver()
    runner = web.AppRunner(web.Application())
    runner.app.router.add_post("/hooks", receiver.handle)
    await runner.setup()
    hook_port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    try:
        return await _run(stack, receiver, f"http://127.0.0.1:{hook_port}/hooks")
    finally:
        await runner.cleanup()
        await stack.stop()


async def _run(stack: RunningStack, receiver: Receiver, hook_url: str) -> int:
    assert stack.state is not None
    merchant = await create_merchant(stack.state.cols, "Demo Duka Ltd", hook_url)
    receiver.secret = merchant.webhook_secret
    base = stack.api_url
    async with aiohttp.ClientSession() as http:
        token = await _token(http, base, merchant.client_id, merchant.client_secret)
        auth = {"Authorization": f"Bearer {token}"}
        started = time.monotonic()
        created = await asyncio.gather(
            *(_create(http, base, auth, i, phone) for i, (_, phone, _) in enumerate(SCENARIOS))
        )
        replay_same = await _replay(http, base, auth, created[0][0])
        finals = await _wait_final(http, base, auth, [c[0]["id"] for c in created], receiver)
        rows, ok = _table(created, finals, receiver, started)
        print(_render(rows))
        print(
            f"\nidempotent replay of payment 1 returned the same id: {replay_same}; "
            f"webhooks received: {sum(len(v) for v in receiver.events.values())}, "
            f"bad signatures: {receiver.bad_signatures}"
        )
        rails_ok = await run_rails(http, base, auth)
        bills_ok = await run_bills(http, base, auth, stack.sim_urls.get("mpesa", ""))
        gov_ok = await run_gov(http, base, stack.sim_urls.get("mpesa", ""), stack.state.cols)
        benefits_ok = await run_benefits(http, base)
    ok = ok and rails_ok and bills_ok and gov_ok and benefits_ok
    ok = ok and replay_same and receiver.bad_signatures == 0
    print("demo " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


async def _token(http: aiohttp.ClientSession, base: str, cid: str, secret: str) -> str:
    form = {"grant_type": "client_credentials"}
    auth = {"Authorization": "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()}
    async with http.post(f"{base}/v1/oauth/token", data=form, headers=auth) as resp:
        resp.raise_for_status()
        return str((await resp.json())["access_token"])


def _body(i: int, phone: str) -> dict[str, Any]:
    return {
        "method": STK_METHOD,
        "amount": str(100 + 50 * i),
        "currency": "KES",
        "phone": phone,
        "reference": f"INV{1001 + i}",
        "description": f"Order {1001 + i}",
        "metadata": {"demo": True},
    }


async def _create(
    http: aiohttp.ClientSession, base: str, auth: dict[str, str], i: int, phone: str
) -> tuple[dict[str, Any], float]:
    t0 = time.monotonic()
    headers = {**auth, "Idempotency-Key": f"demo-{i}-{time.time_ns()}"}
    async with http.post(f"{base}/v1/payments", json=_body(i, phone), headers=headers) as resp:
        body = await resp.json()
        if resp.status != 202:
            raise RuntimeError(f"payment {i} refused: {resp.status} {body}")
    return body | {"_key": headers["Idempotency-Key"], "_i": i}, (time.monotonic() - t0) * 1000


async def _replay(
    http: aiohttp.ClientSession, base: str, auth: dict[str, str], first: dict[str, Any]
) -> bool:
    headers = {**auth, "Idempotency-Key": first["_key"]}
    async with http.post(
        f"{base}/v1/payments", json=_body(0, SCENARIOS[0][1]), headers=headers
    ) as r:
        return bool(r.status == 202 and (await r.json())["id"] == first["id"])


async def _wait_final(
    http: aiohttp.ClientSession,
    base: str,
    auth: dict[str, str],
    ids: list[str],
    receiver: Receiver,
    wait_s: float = 60.0,
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + wait_s
    finals: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        for pid in ids:
            if pid in finals:
                continue
            async with http.get(f"{base}/v1/payments/{pid}", headers=auth) as resp:
                body = await resp.json()
            told = {t for _, t in receiver.events.get(pid, [])}
            if body["status"] in FINAL and f"payment.{body['status']}" in told:
                finals[pid] = body
        if len(finals) == len(ids):
            break
        await asyncio.sleep(0.25)
    return finals


def _table(
    created: list[tuple[dict[str, Any], float]],
    finals: dict[str, dict[str, Any]],
    receiver: Receiver,
    started: float,
) -> tuple[list[list[str]], bool]:
    rows = []
    ok = True
    for (body, accept_ms), (label, _, expected) in zip(created, SCENARIOS, strict=True):
        final = finals.get(body["id"], body)
        events = receiver.events.get(body["id"], [])
        done_at = max((t for t, _ in events), default=None)
        good = final["status"] == expected
        ok = ok and good and body["id"] in finals
        rows.append(
            [
                str(body["_i"] + 1),
                label,
                final["phone"],
                final["amount"],
                final["status"] + ("" if good else f" (expected {expected})"),
                final["provider"]["result_code"] or "-",
                final["provider"]["receipt"] or "-",
                f"{accept_ms:.0f}",
                f"{done_at - started:.1f}" if done_at else "-",
                " ".join(t.removeprefix("payment.") for _, t in events) or "-",
            ]
        )
    return rows, ok


def _render(rows: list[list[str]]) -> str:
    head = [
        "#",
        "scenario",
        "phone",
        "KES",
        "status",
        "code",
        "receipt",
        "accept ms",
        "done s",
        "webhooks (verified)",
    ]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), line, *(fmt.format(*r) for r in rows)])
