"""The knob plumbing shared by the provider simulators."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from connectors import simkit


@pytest.mark.parametrize(
    ("check", "good", "stored"),
    [
        (simkit.number, 0, 0.0),
        (simkit.number, 2.5, 2.5),
        (simkit.positive, 3, 3.0),
        (simkit.count, 0, 0),
        (simkit.size, 1, 1),
        (simkit.flag, False, False),
        (simkit.url, None, None),
        (simkit.url, "https://switch.example/cb", "https://switch.example/cb"),
    ],
)
def test_checks_keep_good_values(check: simkit.Check, good: Any, stored: Any) -> None:
    out = check("knob", good)
    assert out == stored and type(out) is type(stored)


@pytest.mark.parametrize(
    ("check", "bad", "message"),
    [
        (simkit.number, -1, "knob must be a number >= 0"),
        (simkit.number, True, "knob must be a number >= 0"),
        (simkit.number, "1", "knob must be a number >= 0"),
        (simkit.positive, 0, "knob must be > 0"),
        (simkit.count, 1.5, "knob must be an integer >= 0"),
        (simkit.count, True, "knob must be an integer >= 0"),
        (simkit.size, 0, "knob must be an integer >= 1"),
        (simkit.flag, 1, "knob must be true or false"),
        (simkit.url, "ftp://x.example/", "knob must be an http(s) URL or null"),
        (simkit.url, "http:///nohost", "knob must be an http(s) URL or null"),
        (simkit.url, 7, "knob must be an http(s) URL or null"),
        (simkit.choice(("a", "b")), "c", "knob must be one of ['a', 'b']"),
    ],
)
def test_checks_refuse_and_name_the_knob(check: simkit.Check, bad: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        check("knob", bad)


def test_choice_accepts_an_allowed_value() -> None:
    assert simkit.choice(("a", "b"))("knob", "b") == "b"


STATUSES = frozenset({429, 503})
APIS = frozenset({"any", "stk"})


def test_burst_fields_defaults_and_values() -> None:
    assert simkit.burst_fields("eb", {}, STATUSES | {500}, APIS, "x") == (500, 1, "any")
    got = simkit.burst_fields("eb", {"status": 429, "count": 2, "api": "stk"}, STATUSES, APIS, "x")
    assert got == (429, 2, "stk")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "eb must look like EXAMPLE"),
        ({"status": 503, "extra": 1}, "eb must look like EXAMPLE"),
        ({"status": 404}, r"eb.status must be one of \[429, 503\]"),
        ({"status": True}, r"eb.status must be one of \[429, 503\]"),
        ({"status": 503, "api": "b2c"}, r"eb.api must be one of \['any', 'stk'\]"),
        ({"status": 503, "count": -1}, "eb.count must be an integer >= 0"),
    ],
)
def test_burst_fields_refuses(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simkit.burst_fields("eb", value, STATUSES, APIS, "EXAMPLE")


def test_error_burst_hits_and_json() -> None:
    assert simkit.ErrorBurst(503, 1, "stk").hits("stk")
    assert not simkit.ErrorBurst(503, 1, "stk").hits("b2c")
    assert simkit.ErrorBurst(503, 1).hits("b2c")
    assert not simkit.ErrorBurst(503, 0).hits("stk")
    assert simkit.ErrorBurst(429, 2, "stk").to_json() == {"status": 429, "count": 2, "api": "stk"}


@dataclass(slots=True)
class _Config:
    secret: str = "s"
    latency: float = 0.0
    retries: int = 0
    error_burst: simkit.ErrorBurst = field(default_factory=simkit.ErrorBurst)


_KNOWN = ("latency", "retries", "error_burst")
_CHECKS: dict[str, simkit.Check] = {
    "latency": simkit.number,
    "retries": simkit.count,
    "error_burst": simkit.burst_check(simkit.ErrorBurst, STATUSES, APIS, "EXAMPLE"),
}


def test_apply_patch_sets_checked_values() -> None:
    config = _Config()
    simkit.apply_patch(config, {"latency": 1, "error_burst": {"status": 503}}, _KNOWN, _CHECKS)
    assert config.latency == 1.0 and isinstance(config.latency, float)
    assert config.error_burst == simkit.ErrorBurst(503, 1, "any")


def test_apply_patch_changes_nothing_when_one_value_is_bad() -> None:
    config = _Config()
    with pytest.raises(ValueError, match="retries must be an integer"):
        simkit.apply_patch(config, {"latency": 1, "retries": -1}, _KNOWN, _CHECKS)
    assert config == _Config()


def test_apply_patch_refuses_unknown_knobs_and_non_objects() -> None:
    config = _Config()
    with pytest.raises(ValueError, match=r"unknown knobs: \['secret'\]; known: \['latency'"):
        simkit.apply_patch(config, {"secret": "x", "latency": 1}, _KNOWN, _CHECKS)
    with pytest.raises(ValueError, match="the body must be a JSON object of knobs"):
        simkit.apply_patch(config, [1], _KNOWN, _CHECKS)
    assert config == _Config()


def test_knobs_json_leaves_out_the_rest_and_renders_the_burst() -> None:
    config = _Config(latency=0.5, error_burst=simkit.ErrorBurst(429, 3, "stk"))
    assert simkit.knobs_json(config, _KNOWN) == {
        "latency": 0.5,
        "retries": 0,
        "error_burst": {"status": 429, "count": 3, "api": "stk"},
    }


def test_restore_keeps_the_same_object() -> None:
    config, fresh = _Config(latency=9.0, retries=4), _Config()
    held = config
    simkit.restore(config, fresh)
    assert held is config and config == _Config()


def test_take_actions_splits_true_actions_out() -> None:
    rest, taken = simkit.take_actions({"expire_tokens": True, "latency": 1}, ("expire_tokens",))
    assert (rest, taken) == ({"latency": 1}, frozenset({"expire_tokens"}))
    assert simkit.take_actions({"latency": 1}, ("expire_tokens",)) == ({"latency": 1}, frozenset())
    assert simkit.take_actions([1], ("expire_tokens",)) == ([1], frozenset())
    with pytest.raises(ValueError, match="expire_tokens is an action: send true"):
        simkit.take_actions({"expire_tokens": 1}, ("expire_tokens",))


@dataclass(slots=True)
class _Sim(simkit.KnobConfig):
    KNOB_NAMES: ClassVar[tuple[str, ...]] = _KNOWN
    KNOB_CHECKS: ClassVar[dict[str, simkit.Check]] = _CHECKS

    secret: str = "s"
    latency: float = 0.0
    retries: int = 0
    error_burst: simkit.ErrorBurst = field(default_factory=simkit.ErrorBurst)
    tenants: dict[str, str] = field(default_factory=lambda: {"a": "A"})


def test_knob_config_copy_shares_no_counter_and_restore_stays_live() -> None:
    config = _Sim()
    initial = config.copy()
    assert initial == config and initial.error_burst is not config.error_burst
    assert initial.tenants is not config.tenants
    config.apply({"latency": 2, "error_burst": {"status": 429, "count": 2}})
    config.error_burst.count -= 1
    config.tenants["b"] = "B"
    assert initial == _Sim()
    held = config
    config.restore(initial)
    assert held is config and config == _Sim()
    config.error_burst.count += 1  # restore took a copy: the saved one stays as it was
    assert initial.error_burst.count == 0


def test_knob_config_reports_knobs_only() -> None:
    config = _Sim(secret="hidden", latency=1.5)
    assert config.knobs() == {
        "latency": 1.5,
        "retries": 0,
        "error_burst": {"status": 500, "count": 0, "api": "any"},
    }


def test_knob_config_refuses_a_knob_without_a_check() -> None:
    with pytest.raises(TypeError, match="KNOB_NAMES and KNOB_CHECKS"):

        class _Broken(simkit.KnobConfig):
            KNOB_NAMES = ("latency", "retries")
            KNOB_CHECKS: ClassVar[dict[str, simkit.Check]] = {"latency": simkit.number}


def test_burst_check_builds_the_given_type() -> None:
    @dataclass(slots=True)
    class Burst(simkit.ErrorBurst):
        pass

    check = simkit.burst_check(Burst, STATUSES, APIS, "EXAMPLE")
    assert check("eb", {"status": 429, "api": "stk"}) == Burst(429, 1, "stk")
    with pytest.raises(ValueError, match="eb must look like EXAMPLE"):
        check("eb", "soon")
