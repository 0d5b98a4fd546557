"""Faults of the interoperability hub, through the public API on the real stack:

- the position actor killed while transfers are being prepared: it rebuilds from MongoDB and
  loses nothing. A reservation made before the kill can still be committed, or expires and is
  released; a prepare answered 503 (or cut off) during the kill and retried with the same
  Idempotency-Key reserves at most once; afterwards every position is exactly what the committed
  transfers moved;
- a participant's endpoint that is down: the prepared notice is retried, nobody answers, the
  transfer expires and the reservation is released.

The session's journal check (conftest) proves every move was double entry."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app.stack import Stack

from .helpers import for_up_to
from .test_chaos import kill_actor, require_own_ray
from .test_hub import Bank, Hub, Notices, listening, operator_hub

pytestmark = pytest.mark.integration

HUB_ACTOR = "hub"  # the position actor's name in Ray (actors/runtime.py)
FINAL = {"COMMITTED", "ABORTED"}


class Endpoints(Notices):
    """Participant endpoints; a name in ``down`` answers 503 and counts each attempt."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[str] = set()
        self.attempts: dict[str, int] = {}

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name in self.down:
            msg = request.headers.get("webhook-id", "")
            self.attempts[msg] = self.attempts.get(msg, 0) + 1
            return web.Response(status=503)
        return await super().handle(request)


@pytest.fixture(scope="module")
async def endpoints() -> AsyncIterator[Endpoints]:
    async with listening(Endpoints()) as rec:
        yield rec


@pytest.fixture
async def hub(stack: Stack, http: aiohttp.ClientSession, endpoints: Endpoints) -> Hub:
    return await operator_hub(stack, http, endpoints)


async def _prepare_until_answered(
    hub: Hub, payer: Bank, payee: Bank, amount: str, key: str
) -> tuple[dict[str, Any], int]:
    """Send one prepare, retrying with the same key while the hub answers 503 or the
    connection is cut (the actor being killed); (the final answer, how many tries)."""
    for attempt in range(1, 200):
        try:
            status, body = await hub.send(payer, payee, amount, key=key)
        except (aiohttp.ClientError, TimeoutError):
            status, body = 0, {}
        if status in (200, 201, 422):  # 200: the same key answered again (a duplicate)
            return body, attempt
        assert status in (0, 503), (status, body)
        await asyncio.sleep(0.05)
    raise AssertionError(f"prepare {key} never answered")


async def _state(hub: Hub, who: Bank, transfer_id: str) -> dict[str, Any]:
    status, body = await hub.call("GET", f"/v1/hub/transfers/{transfer_id}", who.token)
    assert status == 200, body
    return body


async def _wait_final(hub: Hub, who: Bank, transfer_id: str) -> dict[str, Any]:
    for _ in for_up_to():
        body = await _state(hub, who, transfer_id)
        if body["state"] in FINAL:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"{transfer_id} never ended: {body}")


async def test_position_actor_killed_mid_traffic_loses_nothing(stack: Stack, hub: Hub) -> None:
    require_own_ray()
    banks = [await hub.onboard(cap="50000", funds="50000") for _ in range(3)]
    a, b, c = banks
    # Reservations made before the kill: one the payee will accept after it, one left to expire.
    status, kept = await hub.send(a, b, "300")
    assert status == 201, kept
    status, lapsing = await hub.send(a, c, "200", expires_in=3)
    assert status == 201, lapsing

    rng = random.Random(1408)
    orders: list[tuple[Bank, Bank, str, str]] = []
    for _ in range(60):
        payer, payee = rng.sample(banks, 2)
        orders.append((payer, payee, str(rng.randint(1, 400)), uuid.uuid4().hex))
    tries: list[int] = []
    ids_of_key: dict[str, set[str]] = {o[3]: set() for o in orders}

    async def traffic() -> None:
        async def one(payer: Bank, payee: Bank, amount: str, key: str) -> None:
            await asyncio.sleep(rng.random() * 1.5)
            body, attempts = await _prepare_until_answered(hub, payer, payee, amount, key)
            tries.append(attempts)
            transfer = body.get("transfer", body)  # a refusal carries the transfer too
            ids_of_key[key].add(str(transfer["id"]))
            # The same key again, after the answer, names the same transfer.
            body2, _ = await _prepare_until_answered(hub, payer, payee, amount, key)
            ids_of_key[key].add(str(body2.get("transfer", body2)["id"]))

        await asyncio.gather(*(one(*o) for o in orders))

    load = asyncio.create_task(traffic())
    await asyncio.sleep(0.4)
    await kill_actor(stack.settings.ray_namespace, HUB_ACTOR)
    await asyncio.wait_for(load, 60)
    assert max(tries) > 1, "no prepare met the kill: the test did not test it"
    assert all(len(ids) == 1 for ids in ids_of_key.values()), ids_of_key
    assert len(ids_of_key) == len(orders)

    # The reservation from before the kill commits; the other expires and releases.
    status, done = await hub.answer(b, kept["id"], "accept")
    assert status == 200 and done["state"] == "COMMITTED", done
    lapsed = await _wait_final(hub, a, lapsing["id"])
    assert lapsed["detail"] == "expired_reserved", lapsed

    # Accept every transfer the traffic reserved (once each: a second accept changes nothing).
    by_id = {p.id: p for p in banks}
    made = [next(iter(ids)) for ids in ids_of_key.values()]
    for payer, tid in zip((o[0] for o in orders), made, strict=True):
        view = await _state(hub, payer, tid)
        if view["state"] == "RESERVED":
            payee = by_id[view["payee"]]
            status, answer = await hub.answer(payee, tid, "accept")
            assert status == 200 and answer["state"] == "COMMITTED", answer
            status, again = await hub.answer(payee, tid, "accept")
            assert status in (200, 409), again

    # Each stored transfer once; positions are exactly what the committed transfers moved.
    assert stack.state is not None
    ours = [kept["id"], lapsing["id"], *made]
    docs = (
        await stack.state.cols.payments.database["hub_transfers"]
        .find({"_id": {"$in": ours}})
        .to_list(None)
    )
    assert sorted(d["_id"] for d in docs) == sorted(ours)
    assert all(d["state"] in ("committed", "aborted_refused", "expired_reserved") for d in docs)
    moved = {p.id: 0 for p in banks}
    for d in docs:
        if d["state"] == "committed":
            moved[d["payer"]] += d["amount"]
            moved[d["payee"]] -= d["amount"]
        ends = [h for h in d["history"] if h["event"] in ("commit", "reject", "expire")]
        assert len(ends) <= 1, d
    for p in banks:
        pos = await hub.position(p)
        assert round(float(pos["position"]) * 100) == moved[p.id], (p.id, pos, moved)
        assert pos["reserved"] == "0", pos
    assert sum(moved.values()) == 0


async def test_a_participant_endpoint_down_retries_then_expires_and_releases(
    hub: Hub, endpoints: Endpoints
) -> None:
    a = await hub.onboard(cap="5000", funds="5000")
    b = await hub.onboard(cap="5000", funds="0")
    endpoints.down.add(b.name)
    try:
        status, t = await hub.send(a, b, "1200", expires_in=2)
        assert status == 201, t
        assert (await hub.position(a))["reserved"] == "1200"
        lapsed = await _wait_final(hub, a, t["id"])
        assert lapsed["detail"] == "expired_reserved", lapsed
        # The prepared notice was tried more than once while b was down.
        assert max(endpoints.attempts.values(), default=0) >= 2, endpoints.attempts
        pos = await hub.position(a)
        assert pos["reserved"] == "0" and pos["position"] == "0", pos
        await hub.notified(a, "hub.transfer.aborted", t["id"])
        status, late = await hub.answer(b, t["id"], "accept")
        assert status == 409, late
    finally:
        endpoints.down.discard(b.name)
