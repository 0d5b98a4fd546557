"""Several merchants in one bench run: records carry the merchant, the sink checks each merchant's
signatures, the checks catch a payment that went to the wrong merchant, the report shows the
spread over merchants and shards."""

import base64
import json
import time
from pathlib import Path

import aiohttp
import pytest

from bench.checks import Accepted, Stored, check, collect_accepted
from bench.compare import compare_table
from bench.config import RunConfig
from bench.loadgen import locust_env
from bench.procs import free_port
from bench.records import CREATE, Record
from bench.report import merchant_spread, spread_text
from bench.sink import Arrival, Sink
from bench.stack import basic_auth, hook_url
from switch.signing import new_webhook_secret, webhook_headers


def test_records_carry_the_merchant_and_old_lines_still_parse() -> None:
    r = Record(1.5, 0.02, CREATE, 202, "pay_s0_A", "k", "0710000002", "", 3)
    assert Record.from_line(r.to_line()) == r
    old = json.dumps([1.5, 0.02, CREATE, 202, "pay_s0_A", "k", "0710000002", ""])
    assert Record.from_line(old).merchant == -1
    accepted, _ = collect_accepted([r])
    assert accepted["pay_s0_A"].merchant == 3


def test_locust_gets_every_token() -> None:
    env = locust_env(RunConfig(), ["t0", "t1", "t2"], Path("records"), "http://x/daraja")
    assert env["BENCH_TOKENS"] == "t0,t1,t2"
    with pytest.raises(ValueError, match="token"):
        locust_env(RunConfig(), [], Path("records"), "http://x/daraja")


def test_merchants_option_is_validated() -> None:
    assert RunConfig().merchants == 8
    with pytest.raises(ValueError, match="merchants"):
        RunConfig(merchants=0)


def test_basic_auth_header() -> None:
    value = basic_auth("cli_1", "sec:x")
    assert value.startswith("Basic ")
    assert base64.b64decode(value.removeprefix("Basic ")).decode() == "cli_1:sec:x"
    assert hook_url("http://127.0.0.1:9", 4) == "http://127.0.0.1:9/hooks/4"


def _two_merchants() -> tuple[dict[str, Accepted], dict[str, set[str]], list[Arrival]]:
    accepted, per_key = collect_accepted(
        [
            Record(1.0, 0.01, CREATE, 202, "pay_s0_A", "k1", "0710000002", "", 0),
            Record(1.0, 0.01, CREATE, 202, "pay_s1_B", "k2", "0710000003", "", 1),
        ]
    )
    arrivals = [
        Arrival("pay_s0_A", "payment.succeeded", 2.0, "evt_a", 0),
        Arrival("pay_s1_B", "payment.succeeded", 2.0, "evt_b", 1),
    ]
    return accepted, per_key, arrivals


def test_payments_at_their_own_merchant_are_fine() -> None:
    accepted, per_key, arrivals = _two_merchants()
    stored = [
        Stored("pay_s0_A", "m0:k1", "succeeded", 0),
        Stored("pay_s1_B", "m1:k2", "succeeded", 1),
    ]
    report = check(accepted, per_key, arrivals, stored, None)
    assert (report.lost, report.duplicated, report.wrong_merchant) == (0, 0, [])


def test_a_payment_at_another_merchant_is_lost() -> None:
    accepted, per_key, arrivals = _two_merchants()
    arrivals[1] = Arrival("pay_s1_B", "payment.succeeded", 2.0, "evt_b", 0)  # webhook to merchant 0
    stored = [
        Stored("pay_s0_A", "m1:k1", "succeeded", 1),
        Stored("pay_s1_B", "m1:k2", "succeeded", 1),
    ]
    report = check(accepted, per_key, arrivals, stored, None)
    assert report.wrong_merchant == ["pay_s0_A", "pay_s1_B"]
    assert report.lost == 2
    assert report.as_json()["lost_detail"]["wrong_merchant"] == 2


def test_spread_over_merchants_and_shards() -> None:
    accepted, _ = collect_accepted(
        [
            Record(1.0, 0.01, CREATE, 202, "pay_s0_A", "k1", "", "", 0),
            Record(1.0, 0.01, CREATE, 202, "pay_s0_B", "k2", "", "", 0),
            Record(1.0, 0.01, CREATE, 202, "pay_s2_C", "k3", "", "", 1),
            Record(1.0, 0.01, CREATE, 202, "pay_s2_D", "k4", "", "", 2),
        ]
    )
    spread = merchant_spread(accepted, 3, shards=4)
    assert spread["payments_per_merchant"] == [2, 1, 1]
    assert spread["shards"] == {
        "0": {"merchants": 1, "payments": 2},
        "1": {"merchants": 0, "payments": 0},
        "2": {"merchants": 2, "payments": 2},
        "3": {"merchants": 0, "payments": 0},
    }
    assert spread["merchants_on_several_shards"] == 0
    text = spread_text(spread)
    assert text.startswith("3 merchants (1 to 2 payments each)")
    assert "s0 2 (1 merchant), s1 0 (0 merchants)" in text
    moved = {**accepted, "pay_s1_E": Accepted("pay_s1_E", "k5", "", 1.0, 0)}
    assert merchant_spread(moved, 3, shards=None)["merchants_on_several_shards"] == 1


def test_compare_shows_merchants_shards_and_workers() -> None:
    run = {"scenario": "stk", "merchants": {"merchants": 8}, "config": {"shards": 4}}
    assert compare_table([("a", run)]).splitlines()[2].endswith("| 8 / 4 / default |")


async def test_sink_checks_each_merchant_with_its_own_secret() -> None:
    secrets = {0: new_webhook_secret(), 1: new_webhook_secret()}
    sink = await Sink(webhook_secrets=dict(secrets)).start(free_port())
    try:
        async with aiohttp.ClientSession() as http:

            async def send(hook: int, secret: str, payment_id: str) -> int:
                body = json.dumps(
                    {"type": "payment.succeeded", "data": {"id": payment_id}}
                ).encode()
                headers = webhook_headers(secret, f"evt_{payment_id}", int(time.time()), body)
                async with http.post(hook_url(sink.url, hook), data=body, headers=headers) as r:
                    return r.status

            assert await send(0, secrets[0], "pay_s0_A") == 204
            assert await send(1, secrets[1], "pay_s1_B") == 204
            assert await send(1, secrets[0], "pay_s1_C") == 400  # merchant 0's secret
            assert await send(2, secrets[0], "pay_s1_D") == 404  # no such merchant
    finally:
        await sink.stop()
    assert [(a.payment_id, a.merchant) for a in sink.arrivals] == [("pay_s0_A", 0), ("pay_s1_B", 1)]
    assert (sink.bad_signatures, sink.unknown_hooks) == (1, 1)
    assert set(sink.first_final) == {"pay_s0_A", "pay_s1_B"}
