"""Webhook endpoints through the public API (issue 13 item 4): filters, secret rotation with an
overlap, test events, the delivery log, resends with the same event id, automatic disabling and
the SSRF guard. The merchant is made as the CLI makes one (no people): its API client manages
its webhooks with ``webhooks:manage``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from app.stack import Stack
from infra.merchants import create_merchant
from switch.signing import verify_webhook
from tests.simharness import serving

from .helpers import Api, unique_phone

pytestmark = pytest.mark.integration


@dataclass
class Hooks:
    """Receivers at /{name}: every request kept (headers, body); ``failing`` names answer 500."""

    url: str = ""
    got: dict[str, list[tuple[dict[str, str], bytes]]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.got.setdefault(name, []).append((dict(request.headers), await request.read()))
        return web.Response(status=500 if name in self.failing else 200, text="thanks")

    def events(self, name: str, secret: str) -> list[dict[str, Any]]:
        """The events ``name`` received that verify with ``secret``."""
        return [
            {**orjson.loads(body), "_webhook_id": headers["webhook-id"]}
            for headers, body in self.got.get(name, [])
            if verify_webhook(secret, {k.lower(): v for k, v in headers.items()}, body)
        ]


@pytest.fixture(scope="module")
async def hooks() -> AsyncIterator[Hooks]:
    rec = Hooks()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    async with serving(app) as rec.url:
        yield rec


@pytest.fixture
async def shop(stack: Stack, http: aiohttp.ClientSession) -> Api:
    """A merchant as the CLI makes it: no webhook URL, no people, one API client."""
    assert stack.state is not None
    created = await create_merchant(stack.state.cols, f"Hooks {uuid.uuid4().hex[:8]}", None)
    api = Api(http, stack.api_url, created, "")
    await api.login()
    return api


async def call(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with api.http.request(method, f"{api.base}{path}", json=body, headers=api.auth) as r:
        return r.status, await r.json()


async def add(api: Api, url: str, events: list[str]) -> dict[str, Any]:
    status, body = await call(api, "POST", "/v1/webhook-endpoints", {"url": url, "events": events})
    assert status == 201, body
    assert body["secret"].startswith("whsec_")
    return dict(body)


async def until(check: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await check() if asyncio.iscoroutinefunction(check) else check()
        if found:
            return found
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.1)


async def test_two_endpoints_get_the_events_their_filters_ask_for(shop: Api, hooks: Hooks) -> None:
    tag = uuid.uuid4().hex[:8]
    every = await add(shop, f"{hooks.url}/all-{tag}", ["payment.*"])
    success = await add(shop, f"{hooks.url}/ok-{tag}", ["payment.succeeded"])
    status, listed = await call(shop, "GET", "/v1/webhook-endpoints")
    assert status == 200
    assert [e["id"] for e in listed["data"]] == [every["id"], success["id"]]
    assert all("secret" not in e for e in listed["data"])

    paid = await shop.pay(unique_phone())
    await shop.wait_for(paid["id"])
    types = await until(
        lambda: (
            [e["type"] for e in hooks.events(f"all-{tag}", every["secret"])][-2:]
            == ["payment.processing", "payment.succeeded"]
            and hooks.events(f"ok-{tag}", success["secret"])
        )
    )
    assert types
    only = hooks.events(f"ok-{tag}", success["secret"])
    assert [e["type"] for e in only] == ["payment.succeeded"]
    # The same event, with the same id, at both endpoints; each signed with its own secret.
    assert only[0]["id"] == hooks.events(f"all-{tag}", every["secret"])[-1]["id"]
    assert hooks.events(f"ok-{tag}", every["secret"]) == []

    # The delivery log: one delivered entry per event and endpoint, with status and latency.
    async def logged() -> Any:
        s, page = await call(shop, "GET", f"/v1/webhook-deliveries?event_id={only[0]['id']}")
        assert s == 200, page
        return page["data"] if len(page["data"]) == 2 else None

    entries = await until(logged)
    assert {e["endpoint_id"] for e in entries} == {every["id"], success["id"]}
    for e in entries:
        assert (e["status"], e["attempt_count"], e["last_status_code"]) == ("delivered", 1, 200)
        assert e["attempts"][0]["response_excerpt"] == "thanks"
        assert e["last_latency_ms"] >= 0


async def test_a_delivery_that_succeeded_at_once_is_summarised_and_can_be_resent(
    shop: Api, hooks: Hooks, stack: Stack
) -> None:
    """No entry of its own (one summary lists the batch), yet the log shows it and a resend
    sends the same event again, rebuilt from the payment, with the same id."""
    assert stack.state is not None
    name = f"once-{uuid.uuid4().hex[:8]}"
    endpoint = await add(shop, f"{hooks.url}/{name}", ["payment.succeeded"])
    paid = await shop.pay(unique_phone())
    await shop.wait_for(paid["id"])
    [first] = await until(lambda: hooks.events(name, endpoint["secret"]))
    delivery = f"{first['id']}:{endpoint['id']}"

    async def summarised() -> Any:
        s, page = await call(shop, "GET", f"/v1/webhook-deliveries?endpoint_id={endpoint['id']}")
        assert s == 200, page
        return page["data"]

    [logged] = await until(summarised)
    assert (logged["id"], logged["status"], logged["attempt_count"]) == (delivery, "delivered", 1)
    cols = stack.state.cols
    assert await cols.webhook_deliveries.find_one({"_id": delivery}) is None
    assert await cols.webhook_deliveries.find_one({"items.event_id": first["id"]}) is not None
    s, page = await call(shop, "GET", "/v1/webhook-deliveries?status=failed")
    assert s == 200 and delivery not in [d["id"] for d in page["data"]]

    s, resent = await call(shop, "POST", "/v1/webhook-deliveries/resend", {"event_id": first["id"]})
    assert (s, resent["resent"], resent["delivered"]) == (200, 1, 1), resent
    again = hooks.events(name, endpoint["secret"])
    assert [e["_webhook_id"] for e in again] == [first["id"]] * 2
    assert again[1]["data"] == first["data"] and again[1]["created_at"] == first["created_at"]
    # Its entry now has both attempts, once.
    s, page = await call(shop, "GET", f"/v1/webhook-deliveries?event_id={first['id']}")
    [entry] = page["data"]
    assert (entry["id"], entry["attempt_count"], len(entry["attempts"])) == (delivery, 2, 2)


async def test_rotation_signs_with_both_secrets_during_the_overlap(shop: Api, hooks: Hooks) -> None:
    name = f"rot-{uuid.uuid4().hex[:8]}"
    endpoint = await add(shop, f"{hooks.url}/{name}", ["*"])
    path = f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret"
    status, rotated = await call(shop, "POST", path, {"overlap_seconds": 3600})
    assert status == 200, rotated
    old, new = endpoint["secret"], rotated["secret"]
    assert new != old and rotated["previous_secret_expires_at"] is not None
    await asyncio.sleep(0.3)  # the shards' endpoint cache (0.2 s in tests)

    paid = await shop.pay(unique_phone())
    await shop.wait_for(paid["id"])
    await until(lambda: len(hooks.events(name, new)) >= 2)
    headers, _ = hooks.got[name][-1]
    assert len(headers["webhook-signature"].split()) == 2  # v1,<new> v1,<old>
    assert len(hooks.events(name, old)) == len(hooks.events(name, new))

    # Rotating with no overlap: only the newest secret signs.
    status, again = await call(shop, "POST", path, {"overlap_seconds": 0})
    assert status == 200 and again["previous_secret_expires_at"] is None
    status, tested = await call(shop, "POST", f"/v1/webhook-endpoints/{endpoint['id']}/test")
    assert status == 200, tested
    assert (tested["status"], tested["last_status_code"]) == ("delivered", 200)
    headers, body = hooks.got[name][-1]
    assert orjson.loads(body)["type"] == "webhook_endpoint.test"
    assert len(headers["webhook-signature"].split()) == 1
    assert hooks.events(name, again["secret"])[-1]["type"] == "webhook_endpoint.test"
    assert hooks.events(name, new)[-1]["type"] != "webhook_endpoint.test"


async def test_a_failed_delivery_is_logged_then_resent_with_its_id(shop: Api, hooks: Hooks) -> None:
    name = f"down-{uuid.uuid4().hex[:8]}"
    hooks.failing.add(name)
    endpoint = await add(shop, f"{hooks.url}/{name}", ["*"])
    status, tested = await call(shop, "POST", f"/v1/webhook-endpoints/{endpoint['id']}/test")
    assert status == 200
    assert (tested["status"], tested["last_status_code"], tested["last_error"]) == (
        "failed",
        500,
        "HTTP 500",
    )
    status, failed = await call(
        shop, "GET", f"/v1/webhook-deliveries?status=failed&endpoint_id={endpoint['id']}"
    )
    assert status == 200 and [d["id"] for d in failed["data"]] == [tested["id"]], failed

    hooks.failing.discard(name)
    body = {"event_id": tested["event_id"]}
    status, resent = await call(shop, "POST", "/v1/webhook-deliveries/resend", body)
    assert status == 200, resent
    assert (resent["resent"], resent["delivered"]) == (1, 1)
    received = hooks.events(name, endpoint["secret"])
    # The refused first try, then the resend: the same webhook-id both times.
    assert [e["_webhook_id"] for e in received] == [tested["event_id"]] * 2
    status, entry = await call(shop, "GET", f"/v1/webhook-deliveries?event_id={tested['event_id']}")
    [logged] = entry["data"]
    assert (logged["status"], logged["attempt_count"]) == ("delivered", 2)
    assert [a["status_code"] for a in logged["attempts"]] == [500, 200]

    # A time range: everything logged for the endpoint since a minute ago, ids unchanged.
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    body = {"endpoint_id": endpoint["id"], "since": since}
    status, ranged = await call(shop, "POST", "/v1/webhook-deliveries/resend", body)
    assert status == 200 and ranged["resent"] == 1
    assert [e["_webhook_id"] for e in hooks.events(name, endpoint["secret"])] == [
        tested["event_id"]
    ] * 3


async def test_an_endpoint_failing_for_the_window_is_disabled_with_a_notice(
    shop: Api, hooks: Hooks, stack: Stack
) -> None:
    tag = uuid.uuid4().hex[:8]
    hooks.failing.add(f"bad-{tag}")
    bad = await add(shop, f"{hooks.url}/bad-{tag}", ["payment.*"])
    good = await add(shop, f"{hooks.url}/good-{tag}", ["webhook_endpoint.*"])
    paid = await shop.pay(unique_phone())
    await shop.wait_for(paid["id"])

    async def disabled() -> Any:
        s, doc = await call(shop, "GET", f"/v1/webhook-endpoints/{bad['id']}")
        return doc if s == 200 and not doc["enabled"] else None

    doc = await until(disabled, within=30)  # 3 s of failures in tests (3 days by default)
    assert doc["disabled_reason"].startswith("every delivery failed since")
    notice = await until(lambda: hooks.events(f"good-{tag}", good["secret"]))
    assert notice[0]["type"] == "webhook_endpoint.disabled"
    assert notice[0]["data"]["id"] == bad["id"]
    assert stack.state is not None
    audit = await stack.state.cols.audit.find_one(
        {"action": "webhook_endpoint.disabled", "target": f"webhook_endpoint:{bad['id']}"}
    )
    assert audit is not None
    # Failed attempts are in the log; enabling the endpoint again clears its failure record.
    s, failed = await call(shop, "GET", f"/v1/webhook-deliveries?endpoint_id={bad['id']}")
    assert s == 200 and failed["data"] and failed["data"][0]["last_status_code"] == 500
    s, enabled = await call(shop, "PATCH", f"/v1/webhook-endpoints/{bad['id']}", {"enabled": True})
    assert s == 200 and enabled["enabled"] and enabled["failing_since"] is None
    hooks.failing.discard(f"bad-{tag}")


async def test_unsafe_urls_and_bad_filters_are_refused(shop: Api, stack: Stack) -> None:
    # The tests run with private addresses allowed (their receivers are on 127.0.0.1); the
    # scheme and credential rules hold whatever the setting.
    for url, reason in [
        ("ftp://example.com/hook", "must be an http or https URL"),
        ("http://user:pw@example.com/hook", "must not carry credentials (user:password@)"),
    ]:
        status, body = await call(shop, "POST", "/v1/webhook-endpoints", {"url": url})
        assert status == 422, body
        assert body["error"]["details"] == [{"field": "url", "reason": reason}]
    status, body = await call(
        shop, "POST", "/v1/webhook-endpoints", {"url": "https://example.com/h", "events": ["pay"]}
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "events"
    status, listed = await call(shop, "GET", "/v1/webhook-endpoints")
    assert listed["data"] == []


async def test_the_merchant_webhook_url_is_its_first_endpoint(shop: Api, hooks: Hooks) -> None:
    name = f"legacy-{uuid.uuid4().hex[:8]}"
    status, body = await call(shop, "PATCH", "/v1/merchant", {"webhook_url": f"{hooks.url}/{name}"})
    assert status == 200, body
    secret = body["webhook_secret"]  # shown once, as the endpoint is made
    status, listed = await call(shop, "GET", "/v1/webhook-endpoints")
    assert [(e["id"], e["events"]) for e in listed["data"]] == [
        (body["webhook_endpoint_id"], ["*"])
    ]
    status, again = await call(
        shop, "PATCH", "/v1/merchant", {"webhook_url": f"{hooks.url}/{name}"}
    )
    assert status == 200 and "webhook_secret" not in again
    paid = await shop.pay(unique_phone())
    await shop.wait_for(paid["id"])
    await until(lambda: any(e["type"] == "payment.succeeded" for e in hooks.events(name, secret)))
