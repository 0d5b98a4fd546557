"""The shared simulator base: the /__sim control routes answer the same in every simulator.

Each simulator keeps its own wire routes and knobs; these tests drive the four real apps (and a
toy one) in process, so a simulator that drifts from the shared control surface fails here.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from connectors import simkit
from connectors.airtel.simulator.app import create_app as airtel_app
from connectors.mpesa.simulator.app import create_app as mpesa_app
from connectors.pesalink.simulator.app import create_app as pesalink_app
from connectors.sacco.simulator.app import create_app as sacco_app
from connectors.simkit import admin, cli

Client = TestClient[web.Request, web.Application]

# Each app with a wire path that needs nothing (an unknown one) and its outage status body key.
APPS: dict[str, Callable[[], web.Application]] = {
    "mpesa": mpesa_app,
    "airtel": airtel_app,
    "pesalink": pesalink_app,
    "sacco": sacco_app,
}
TOKEN_APPS = ("mpesa", "airtel", "pesalink")


@asynccontextmanager
async def _client(app: web.Application) -> AsyncIterator[Client]:
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def _json(client: Client, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with client.request(method, path, json=body) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize("name", APPS)
async def test_a_bad_patch_is_a_400_naming_the_knob_and_changes_nothing(name: str) -> None:
    async with _client(APPS[name]()) as client:
        _, before = await _json(client, "GET", "/__sim/config")
        status, body = await _json(client, "PATCH", "/__sim/config", {"latency": 1, "nope": 2})
        assert status == 400
        assert body["error"].startswith("unknown knobs: ['nope']")
        status, body = await _json(client, "PATCH", "/__sim/config", {"latency": -1})
        assert (status, body) == (400, {"error": "latency must be a number >= 0"})
        assert await _json(client, "GET", "/__sim/config") == (200, before)


@pytest.mark.parametrize("name", APPS)
async def test_outage_refuses_wire_paths_not_control_ones_and_reset_ends_it(name: str) -> None:
    async with _client(APPS[name]()) as client:
        status, config = await _json(client, "PATCH", "/__sim/config", {"outage": 60})
        assert status == 200
        assert 59 < config["outage"] <= 60
        async with client.get("/no/such/wire/path") as resp:
            assert resp.status == 503  # before the 404: the whole provider is down
        assert (await _json(client, "GET", "/__sim/stats"))[0] == 200
        assert await _json(client, "POST", "/__sim/reset") == (200, {"reset": True})
        _, config = await _json(client, "GET", "/__sim/config")
        assert config["outage"] == 0
        async with client.get("/no/such/wire/path") as resp:
            assert resp.status == 404


@pytest.mark.parametrize("name", APPS)
async def test_reset_restores_the_startup_knobs(name: str) -> None:
    async with _client(APPS[name]()) as client:
        _, startup = await _json(client, "GET", "/__sim/config")
        _, patched = await _json(client, "PATCH", "/__sim/config", {"latency": 0.001})
        assert patched["latency"] == 0.001
        await _json(client, "POST", "/__sim/reset")
        assert await _json(client, "GET", "/__sim/config") == (200, startup)


@pytest.mark.parametrize("name", TOKEN_APPS)
async def test_expire_tokens_route_and_action(name: str) -> None:
    app = APPS[name]()
    async with _client(app) as client:
        sim = next(v for v in app.values() if isinstance(v, admin.CallbackSim))
        sim.state.tokens["t1"] = sim._now() + 60
        assert await _json(client, "POST", "/__sim/expire_tokens") == (200, {"expired": 1})
        sim.state.tokens["t2"] = sim._now() + 60
        status, config = await _json(client, "PATCH", "/__sim/config", {"expire_tokens": True})
        assert status == 200
        assert "expire_tokens" not in config  # an action, never reported as a knob
        assert sim.state.tokens == {}
        status, body = await _json(client, "PATCH", "/__sim/config", {"expire_tokens": 1})
        assert (status, body) == (400, {"error": "expire_tokens is an action: send true"})


async def test_sacco_takes_no_actions() -> None:
    async with _client(sacco_app()) as client:
        status, body = await _json(client, "PATCH", "/__sim/config", {"expire_tokens": True})
        assert status == 400
        assert body["error"].startswith("unknown knobs: ['expire_tokens']")


# --- the base on its own: a toy simulator ------------------------------------------------------


@dataclass(slots=True)
class _Config(simkit.KnobConfig):
    KNOB_NAMES: ClassVar[tuple[str, ...]] = ("latency", "outage", "retries")
    KNOB_CHECKS: ClassVar[dict[str, simkit.Check]] = {
        "latency": simkit.number,
        "outage": simkit.number,
        "retries": simkit.count,
    }
    secret: str = "s3cret"
    name: str = "toy"
    latency: float = 0.0
    outage: float = 0.0
    retries: int = 0


class _Toy(admin.SimBase[_Config]):
    def __init__(self, config: _Config) -> None:
        super().__init__(config)
        self.calls = 0
        self.forgotten = 0

    def public_config(self) -> dict[str, Any]:
        return {"name": self.config.name}

    def stats_json(self) -> dict[str, Any]:
        return {"calls": self.calls}

    async def forget(self) -> None:
        self.forgotten += 1
        self.calls = 0

    async def wire(self, _request: web.Request) -> web.Response:
        self.calls += 1
        return admin.json_response({"ok": True})


_TOY = web.AppKey("toy", _Toy)


def _toy_app(sim: _Toy) -> web.Application:
    errors = admin.wire_errors(
        _TOY,
        outage=lambda _sim: admin.json_response({"down": True}, 503),
        not_found=lambda: admin.json_response({"where": "?"}, 404),
        not_allowed=lambda: admin.json_response({"how": "?"}, 405),
    )
    app = admin.sim_app(sim, _TOY, [errors])
    app.router.add_post("/pay", sim.wire)
    return app


async def test_toy_config_shows_public_values_then_knobs_never_secrets() -> None:
    sim = _Toy(_Config(retries=2))
    async with _client(_toy_app(sim)) as client:
        status, config = await _json(client, "GET", "/__sim/config")
        assert status == 200
        assert list(config) == ["name", "latency", "outage", "retries"]
        assert config == {"name": "toy", "latency": 0.0, "outage": 0, "retries": 2}


async def test_toy_wire_errors_and_stats_and_reset() -> None:
    sim = _Toy(_Config(retries=2))
    async with _client(_toy_app(sim)) as client:
        assert await _json(client, "POST", "/pay") == (200, {"ok": True})
        assert await _json(client, "GET", "/pay") == (405, {"how": "?"})
        assert await _json(client, "GET", "/elsewhere") == (404, {"where": "?"})
        assert await _json(client, "GET", "/__sim/stats") == (200, {"calls": 1})
        await _json(client, "PATCH", "/__sim/config", {"retries": 5, "outage": 30})
        assert await _json(client, "POST", "/pay") == (503, {"down": True})
        assert sim.calls == 1  # refused before the handler
        assert await _json(client, "POST", "/__sim/reset") == (200, {"reset": True})
        assert sim.forgotten == 1
        assert (sim.config.retries, sim.in_outage(), sim.calls) == (2, False, 0)


def test_tail_keeps_the_last_records() -> None:
    assert admin.tail([1, 2, 3], "2") == [2, 3]
    assert admin.tail([1, 2, 3], "0") == []
    assert admin.tail([1, 2, 3], "") == [1, 2, 3]
    assert admin.tail([1, 2, 3], "-1") == [1, 2, 3]  # not a whole number: ignored, as before
    assert admin.tail([1, 2, 3], "9") == [1, 2, 3]


# --- the command line ----------------------------------------------------------------------------

_FLAGS = (
    cli.Flag("latency", float, "seconds"),
    cli.Flag("retries", int),
    cli.Flag("secret"),
)


def _parse(argv: list[str]) -> argparse.Namespace:
    p = cli.parser("toy", None, port=9999)
    cli.add_flags(p, _Config(), _FLAGS)
    cli.add_access_log(p)
    return p.parse_args(argv)


def test_cli_defaults_come_from_the_config() -> None:
    ns = _parse([])
    assert (ns.host, ns.port, ns.latency, ns.retries, ns.secret) == (
        "127.0.0.1",
        9999,
        0.0,
        0,
        "s3cret",
    )
    assert ns.access_log is False


def test_cli_knobs_get_the_patch_checks_and_settings_the_constructor() -> None:
    config = cli.config_from(_parse(["--retries", "3", "--secret", "x"]), _Config, _FLAGS)
    assert (config.retries, config.secret, config.name) == (3, "x", "toy")
    named = cli.config_from(_parse([]), _Config, _FLAGS, name="fixed")
    assert named.name == "fixed"
    with pytest.raises(ValueError, match="retries must be an integer >= 0"):
        cli.config_from(_parse(["--retries", "-2"]), _Config, _FLAGS)


def test_cli_switches() -> None:
    p = argparse.ArgumentParser()
    cli.add_flags(
        p,
        _Config(),
        (cli.Flag("on_knob", switch="on"), cli.Flag("off_knob", switch="off", name="--no-thing")),
    )
    assert vars(p.parse_args([])) == {"on_knob": False, "off_knob": True}
    assert vars(p.parse_args(["--on-knob", "--no-thing"])) == {"on_knob": True, "off_knob": False}
