"""The console log: JSON lines (no colour codes, no Ray prefix), one INFO line per request with
the callback tokens cut out."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import observe_middleware
from switch.logs import (
    RAY_CONSOLE_ENV,
    REDACTED,
    JsonFormatter,
    access_message,
    acting_on,
    loggable_path,
    mask_text,
    quiet_ray_console,
)

ESC = "\x1b"
TOKEN = "q7Xk2pRkYw0vA9sDfGhJkLzXcVbNm1234"


def test_a_line_is_one_json_object_without_colour_and_with_its_process() -> None:
    record = logging.LogRecord(
        "switch.x", logging.INFO, __file__, 1, "paid %s", ("0712345678",), None
    )
    line = JsonFormatter("shard-1").format(record)
    assert "\n" not in line and ESC not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "switch.x"
    assert entry["msg"] == "paid 07******78"
    assert entry["proc"] == "shard-1"
    assert entry["pid"] == os.getpid()


def test_lines_about_one_payment_carry_its_ids_and_only_those() -> None:
    """What an actor does around a log line about one payment of its batch."""

    def line() -> dict[str, object]:
        record = logging.LogRecord("actors.x", logging.WARNING, __file__, 1, "refused", (), None)
        return dict(json.loads(JsonFormatter("shard-0").format(record)))

    with acting_on("mch_1", "pay_s0_1"):
        assert line().items() >= {"merchant_id": "mch_1", "payment_id": "pay_s0_1"}.items()
        with acting_on("mch_2", "pay_s0_2"):
            assert line()["payment_id"] == "pay_s0_2"
        assert line()["payment_id"] == "pay_s0_1"
    assert "merchant_id" not in line() and "payment_id" not in line()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("254712345678", "2547******78"),
        ("+254112345678", "+2541******78"),
        ("0712345678", "07******78"),
        ("phone=0112345678.", "phone=01******78."),
        ("pay_s1_01ABC 2025 1234567890123", "pay_s1_01ABC 2025 *****0123"),  # an account number
    ],
)
def test_kenyan_phone_numbers_are_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


def test_callback_tokens_never_reach_the_log() -> None:
    path = f"/callbacks/stk/pay_s1_01ABC/{TOKEN}"
    assert (
        loggable_path(path, {"payment_id": "pay_s1_01ABC", "token": TOKEN})
        == f"/callbacks/stk/pay_s1_01ABC/{REDACTED}"
    )
    # No route matched (a stale or forged callback): everything after the kind goes.
    assert loggable_path(f"/callbacks/c2b/validation/600984/{TOKEN}", None) == (
        f"/callbacks/c2b/{REDACTED}"
    )
    assert loggable_path("/v1/payments/pay_s1_01ABC", {"payment_id": "pay_s1_01ABC"}) == (
        "/v1/payments/pay_s1_01ABC"
    )
    assert loggable_path("/nowhere", None) == "/nowhere"


def test_access_message() -> None:
    assert access_message("POST", "/v1/payments", 202, 0.01234) == "POST /v1/payments 202 12.3 ms"


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("api"))
    logger = logging.getLogger("api.access")
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield out
    logger.removeHandler(handler)
    logger.setLevel(old_level)
    logger.propagate = old_propagate


async def test_one_info_line_per_request_with_the_token_redacted(console: io.StringIO) -> None:
    async def callback(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    app = web.Application(middlewares=[observe_middleware])
    app.router.add_post("/callbacks/stk/{payment_id}/{token}", callback)
    app.router.add_get("/v1/payments/{payment_id}", missing)
    async with TestClient(TestServer(app)) as client:
        async with client.post(f"/callbacks/stk/pay_s1_01ABC/{TOKEN}", json={}) as resp:
            assert resp.status == 200
        async with client.get("/v1/payments/pay_s1_none?phone=0712345678") as resp:
            assert resp.status == 404

    lines = console.getvalue().splitlines()
    assert len(lines) == 2
    assert TOKEN not in console.getvalue() and ESC not in console.getvalue()
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO" and first["logger"] == "api.access"
    assert first["http"]["method"] == "POST"
    assert first["http"]["path"] == f"/callbacks/stk/pay_s1_01ABC/{REDACTED}"
    assert first["http"]["status"] == 200
    assert isinstance(first["http"]["ms"], float)
    assert first["msg"].startswith(f"POST /callbacks/stk/pay_s1_01ABC/{REDACTED} 200 ")
    assert first["request_id"]
    assert second["http"]["status"] == 404
    assert second["http"]["path"] == "/v1/payments/pay_s1_none"  # no query string


def test_quiet_ray_console_keeps_an_operators_choice() -> None:
    env = {"RAY_DEDUP_LOGS": "1"}
    quiet_ray_console(env)
    assert env == {**RAY_CONSOLE_ENV, "RAY_DEDUP_LOGS": "1"}


def test_ray_forwards_worker_json_lines_unprefixed_and_uncoloured() -> None:
    """Ray's own driver-side printer, in a fresh interpreter with the environment we set: the
    line a worker wrote comes out exactly as written, twice (no deduplication)."""
    line = '{"level": "WARNING", "msg": "webhook failed"}'
    script = f"""
import io, ray._private.worker as w
out = io.StringIO()
data = {{"pid": 4242, "ip": "127.0.0.1", "localhost": "127.0.0.1", "is_err": True,
        "actor_name": "ShardActor", "task_name": "", "job": "01", "lines": [{line!r}]}}
ignore = w._should_ignore_worker_log_prefix(w.global_worker)
for _ in range(2):
    for batch in w.stderr_deduplicator.deduplicate(dict(data)):
        w.print_worker_logs(batch, out, ignore)
print(out.getvalue(), end="")
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    quiet_ray_console(env)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [line, line]
