"""Issue 14's "Done means" for settlement: a compressed business day through the public API on the
real stack. Four funded banks send 2,000 transfers among themselves, some refused at their caps
or for liquidity, some rejected by the payee, some left to expire; a window is closed by hand in
the middle of the traffic and another at the end; a settlement is made over both (nets sum to
zero and match what each bank sent and received), refused to its maker, first aborted (its
windows can be settled again), then made again and acknowledged by a second operator. Then:
every transfer ended committed or aborted, once; each committed one names exactly one of the two
windows; no bank's position ever passed its cap or cover (the actor's peak); positions are back
to zero and each bank's liquidity moved by its net. The session's journal check (conftest)
proves every move, the settlement entries included, was double entry."""

from __future__ import annotations

import asyncio
import csv
import io
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from infra.merchants import create_operator_client

from .helpers import for_up_to
from .test_hub import Bank, Hub, Notices, listening, operator_hub

pytestmark = pytest.mark.integration

TRANSFERS = 2_000
BANKS = (("30000", "40000"), ("20000", "15000"), ("60000", "50000"), ("8000", "9000"))


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Notices]:
    async with listening(Notices()) as rec:
        yield rec


async def _operator(hub: Hub, stack: Stack) -> str:
    assert stack.state is not None
    client = await create_operator_client(stack.state.cols)
    return await hub.token(client["client_id"], client["client_secret"])


@pytest.fixture
async def hub(stack: Stack, http: aiohttp.ClientSession, receiver: Notices) -> Hub:
    return await operator_hub(stack, http, receiver)


def _cents(text: str) -> int:
    whole, _, part = text.lstrip("-").partition(".")
    value = int(whole) * 100 + int((part + "00")[:2])
    return -value if text.startswith("-") else value


async def _traffic(hub: Hub, banks: list[Bank], closed: list[str]) -> dict[str, str]:
    """2,000 transfers, 64 at a time; the window is closed by hand after the first half started.
    Answers each transfer's id -> what the test did with it."""
    rng = random.Random(1405)
    plan = []
    for _ in range(TRANSFERS):
        payer, payee = rng.sample(banks, 2)
        fate = rng.choices(("accept", "reject", "expire"), (90, 6, 4))[0]
        plan.append((payer, payee, str(rng.randint(100, 2_500)), fate))
    gate = asyncio.Semaphore(64)
    done: dict[str, str] = {}
    half = asyncio.Event()

    async def one(i: int, payer: Bank, payee: Bank, amount: str, fate: str) -> None:
        async with gate:
            if i == TRANSFERS // 2:
                half.set()
            expires = {"expires_in": 2} if fate == "expire" else {}
            status, t = await hub.send(payer, payee, amount, **expires)
            if status == 422:
                assert t["error"]["code"] in ("payer_limit_error", "payer_insufficient_liquidity")
                done[t["transfer"]["id"]] = "refused"
                return
            assert status == 201, t
            done[t["id"]] = fate
            if fate == "accept":
                status, answer = await hub.answer(payee, t["id"], "accept")
                assert status == 200, answer
            elif fate == "reject":
                status, answer = await hub.answer(payee, t["id"], "reject", reason="closed")
                assert status == 200, answer

    async def close_mid_traffic() -> None:
        await half.wait()
        closed.append(await _close(hub, "mid-day"))

    await asyncio.gather(close_mid_traffic(), *(one(i, *p) for i, p in enumerate(plan)))
    return done


async def _close(hub: Hub, reason: str) -> str:
    status, body = await hub.call(
        "POST", "/v1/operator/hub/windows/close", hub.operator, {"reason": reason}
    )
    assert status == 200, body
    assert body["closed"]["state"] == "CLOSED"
    assert body["opened"]["state"] == "OPEN"
    return str(body["closed"]["id"])


async def test_a_compressed_business_day_settles_to_zero(
    hub: Hub, stack: Stack, http: aiohttp.ClientSession
) -> None:
    banks = [await hub.onboard(cap=cap, funds=funds) for cap, funds in BANKS]
    ours = {b.id for b in banks}
    closed: list[str] = []
    fates = await _traffic(hub, banks, closed)

    # Every reservation ends: accepted, rejected or expired (the sweep runs every second).
    for _ in for_up_to():
        held = [(await hub.position(b))["reserved"] for b in banks]
        if held == ["0"] * len(banks):
            break
        await asyncio.sleep(0.1)
    assert held == ["0"] * len(banks), held
    closed.append(await _close(hub, "end of day"))
    status, body = await hub.call(
        "POST", "/v1/operator/hub/windows/close", hub.operator, {"reason": "again"}
    )
    assert (status, body["error"]["code"]) == (409, "window_empty"), body

    transfers = await _read_all(hub, banks, fates)
    states = {t["id"]: t["state"] for t in transfers}
    assert set(states.values()) <= {"COMMITTED", "ABORTED"}
    for t in transfers:
        finals = [h for h in t["history"] if h["state"] != "reserved"]
        assert len(finals) == 1, t  # ended once
    committed = [t for t in transfers if t["state"] == "COMMITTED"]
    assert {t["id"] for t in committed} == {i for i, f in fates.items() if f == "accept"}
    assert {t["window_id"] for t in committed} == set(closed)  # each in exactly one of the two
    refused = [i for i, f in fates.items() if f == "refused"]
    assert refused, "no transfer met a cap: the day was too quiet"
    assert sum(f == "expire" for f in fates.values()) > 10

    # Every bank stayed within its cap and cover, whatever the interleaving.
    for bank, (cap, funds) in zip(banks, BANKS, strict=True):
        pos = await hub.position(bank)
        assert _cents(pos["peak"]) <= min(_cents(cap), _cents(funds)), pos

    # What each bank sent and received, counted from the transfers themselves.
    net: dict[str, int] = dict.fromkeys(ours, 0)
    for t in committed:
        net[t["payer"]] += _cents(t["amount"])
        net[t["payee"]] -= _cents(t["amount"])
    assert sum(net.values()) == 0

    maker = hub.operator
    checker = await _operator(hub, stack)
    made = await _settle(hub, maker, closed)
    # Aborted: the windows are CLOSED again and can be settled later.
    status, aborted = await hub.call(
        "POST", f"/v1/operator/hub/settlements/{made['id']}/abort", maker, {"reason": "redo"}
    )
    assert (status, aborted["state"]) == (200, "ABORTED"), aborted
    made = await _settle(hub, maker, closed)
    rows = {p["participant"]: p for p in made["participants"]}
    assert sum(_cents(p["net"]) for p in made["participants"]) == 0
    for pid in ours:
        assert _cents(rows[pid]["net"]) == net[pid]
        assert sum(_cents(b["net"]) for b in rows[pid]["bilateral"]) == net[pid]
    await _check_files(hub, made, ours)

    refs = [
        {"participant": p["participant"], "external_reference": f"KEPSS{i:06d}"}
        for i, p in enumerate(made["participants"])
        if p["net"] != "0"
    ]
    path = f"/v1/operator/hub/settlements/{made['id']}/acknowledge"
    status, body = await hub.call("POST", path, maker, {"references": refs})
    assert (status, body["error"]["code"]) == (403, "maker_checker"), body
    status, body = await hub.call("POST", path, checker, {"references": refs[1:]})
    assert status == 422, body
    status, settled = await hub.call("POST", path, checker, {"references": refs})
    assert (status, settled["state"]) == (200, "SETTLED"), settled
    status, again = await hub.call("POST", path, checker, {"references": refs})
    assert status == 409, again

    # Positions are reset: nothing is owed; each bank's liquidity moved by its net at the RTGS.
    for bank, (_cap, funds) in zip(banks, BANKS, strict=True):
        pos = await hub.position(bank)
        assert (pos["position"], pos["reserved"]) == ("0", "0"), pos
        assert _cents(pos["liquidity_cover"]) == _cents(funds) - net[bank.id], pos
    for wid in closed:
        status, window = await hub.call("GET", f"/v1/operator/hub/windows/{wid}", maker)
        assert (status, window["state"], window["settlement_id"]) == (200, "SETTLED", made["id"])


async def _read_all(hub: Hub, banks: list[Bank], fates: dict[str, str]) -> list[dict[str, Any]]:
    """Every transfer of the day as a party to it reads it (the payer or payee may read)."""
    gate = asyncio.Semaphore(32)

    async def read(tid: str) -> dict[str, Any]:
        async with gate:
            for bank in banks:
                status, t = await hub.call("GET", f"/v1/hub/transfers/{tid}", bank.token)
                if status == 200:
                    return t
        raise AssertionError(f"no bank can read {tid}")

    return list(await asyncio.gather(*(read(tid) for tid in fates)))


async def _settle(hub: Hub, token: str, windows: list[str]) -> dict[str, Any]:
    body = {"windows": windows, "reason": "compressed day"}
    status, made = await hub.call("POST", "/v1/operator/hub/settlements", token, body)
    assert status == 201, made
    assert made["state"] == "PENDING_SETTLEMENT"
    for wid in windows:
        status, window = await hub.call("GET", f"/v1/operator/hub/windows/{wid}", token)
        assert window["state"] == "PENDING_SETTLEMENT", window
    # A window is in one pending settlement at a time.
    status, twice = await hub.call("POST", "/v1/operator/hub/settlements", token, body)
    assert (status, twice["error"]["code"]) == (409, "window_not_closed"), twice
    return made


async def _check_files(hub: Hub, made: dict[str, Any], ours: set[str]) -> None:
    base = f"{hub.base}/v1/operator/hub/settlements/{made['id']}"
    headers = {"Authorization": f"Bearer {hub.operator}"}
    async with hub.http.get(f"{base}/report.csv", headers=headers) as resp:
        assert resp.status == 200
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    nets = {r["participant"]: r["net"] for r in rows if not r["counterparty"]}
    assert {p: nets[p].lstrip("'") for p in ours} == {
        p["participant"]: p["net"] for p in made["participants"] if p["participant"] in ours
    }
    status, instruction = await hub.call(
        "GET", f"{base.removeprefix(hub.base)}/instruction", hub.operator
    )
    assert status == 200, instruction
    assert instruction["total_debits"] == instruction["total_credits"]
    sides = {x["participant"]: x["side"] for x in instruction["lines"]}
    for p in made["participants"]:
        if p["participant"] in ours and p["net"] != "0":
            assert sides[p["participant"]] == (
                "DEBIT" if p["direction"] == "NET_SENDER" else "CREDIT"
            )
    async with hub.http.get(f"{base}/instruction.csv", headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.text()).startswith("seq,participant,name")


async def test_a_high_value_transfer_settles_gross_outside_the_window_net(
    hub: Hub, stack: Stack
) -> None:
    """At or above SWITCH_HUB_GROSS_FROM (default KES 1,000,000) a transfer settles gross at
    commit: past the payer's cap but within its cover it is accepted, it leaves the cap to net
    transfers while reserved, and its commit moves both liquidity covers at once while the
    positions carry only the net transfers; the window's net and its settlement leave it out
    and list it; the settlement of the net ones sums to zero and resets the positions."""
    a = await hub.onboard(cap="50000", funds="3000000")
    b = await hub.onboard(cap="50000", funds="100000")
    status, big = await hub.send(a, b, "1200000")
    assert (status, big["settlement"], big["state"]) == (201, "gross", "RESERVED"), big
    status, refused = await hub.send(b, a, "1000000")  # gross too, past b's cover
    assert (status, refused["error"]["code"]) == (422, "payer_insufficient_liquidity"), refused
    assert refused["transfer"]["settlement"] == "gross"
    status, ab = await hub.send(a, b, "15000")  # the gross reservation took none of a's cap
    assert (status, ab["settlement"]) == (201, "net"), ab
    status, ba = await hub.send(b, a, "4000")
    assert status == 201, ba
    for payee, t in ((b, big), (b, ab), (a, ba)):
        status, done = await hub.answer(payee, t["id"], "accept")
        assert (status, done["state"]) == (200, "COMMITTED"), done
    status, big = await hub.call("GET", f"/v1/hub/transfers/{big['id']}", a.token)
    assert (big["settlement"], big["state"]) == ("gross", "COMMITTED"), big

    # The settlement accounts moved at commit; the positions carry the net transfers only.
    pa, pb = await hub.position(a), await hub.position(b)
    assert (pa["position"], pa["reserved"], pa["liquidity_cover"]) == ("11000", "0", "1800000")
    assert (pb["position"], pb["reserved"], pb["liquidity_cover"]) == ("-11000", "0", "1300000")

    window = await _close(hub, "gross test")
    assert big["window_id"] == window
    status, seen = await hub.call("GET", f"/v1/operator/hub/windows/{window}", hub.operator)
    assert status == 200, seen
    assert (seen["net_positions"][a.id], seen["net_positions"][b.id]) == ("11000", "-11000")
    listed = {"id": big["id"], "payer": a.id, "payee": b.id, "amount": "1200000"}
    assert listed in seen["gross"]

    made = await _settle(hub, hub.operator, [window])
    assert sum(_cents(p["net"]) for p in made["participants"]) == 0
    rows = {p["participant"]: p for p in made["participants"]}
    assert (rows[a.id]["sent"], rows[a.id]["received"], rows[a.id]["net"]) == (
        "15000",
        "4000",
        "11000",
    )
    assert listed in made["gross"][window]
    lines = (
        await hub.call(
            "GET", f"/v1/operator/hub/settlements/{made['id']}/instruction", hub.operator
        )
    )[1]
    assert {x["participant"]: x["amount"] for x in lines["lines"]}[a.id] == "11000"

    refs = [
        {"participant": p["participant"], "external_reference": f"KEPSS-G{i:04d}"}
        for i, p in enumerate(made["participants"])
        if p["net"] != "0"
    ]
    checker = await _operator(hub, stack)
    path = f"/v1/operator/hub/settlements/{made['id']}/acknowledge"
    status, settled = await hub.call("POST", path, checker, {"references": refs})
    assert (status, settled["state"]) == (200, "SETTLED"), settled
    pa, pb = await hub.position(a), await hub.position(b)
    assert (pa["position"], pa["liquidity_cover"]) == ("0", "1789000")
    assert (pb["position"], pb["liquidity_cover"]) == ("0", "1311000")
