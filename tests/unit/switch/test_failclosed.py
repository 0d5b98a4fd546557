"""Fail closed outside the sandbox: every refused setting is named by its variable."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson

from switch.config import from_env
from switch.failclosed import refusals
from switch.providers import providers

MODELS = [spec.settings for spec in providers() if spec.settings is not None]
SIMULATORS = Path(__file__).resolve().parents[3] / "connectors" / "pesalink" / "simulator"

# Every provider placeholder replaced, keys given: nothing is refused.
PRODUCTION = {
    "SWITCH_SECRET_KEY": "k" * 40,
    "SWITCH_MASTER_KEYS": orjson.dumps({"m1": base64.b64encode(b"\1" * 32).decode()}).decode(),
    "SWITCH_MASTER_KEY_ID": "m1",
    "SWITCH_MPESA_BASE_URL": "https://api.safaricom.co.ke",
    "SWITCH_MPESA_CONSUMER_KEY": "live-key",
    "SWITCH_MPESA_CONSUMER_SECRET": "live-secret",
    "SWITCH_MPESA_SHORTCODE": "555111",
    "SWITCH_MPESA_PASSKEY": "live-passkey",
    "SWITCH_AIRTEL_BASE_URL": "https://openapi.airtel.africa",
    "SWITCH_AIRTEL_CLIENT_ID": "live-id",
    "SWITCH_AIRTEL_CLIENT_SECRET": "live-secret",
    "SWITCH_PESALINK_BASE_URL": "https://api.bank.example",
    "SWITCH_PESALINK_API_KEY": "live",
    "SWITCH_PESALINK_MERCHANT_CODE": "1234567890",
    "SWITCH_PESALINK_CONSUMER_SECRET": "live",
    "SWITCH_PESALINK_SOURCE_ACCOUNT": "0011000000001",
    "SWITCH_SACCO_REGISTRY_FILE": "/etc/switch/saccos.json",
}


def test_production_settings_are_not_refused() -> None:
    assert refusals(from_env(PRODUCTION), MODELS, [SIMULATORS]) == []


def test_defaults_refuse_keys_in_the_database_and_every_placeholder() -> None:
    found = refusals(from_env({}), MODELS, [SIMULATORS])
    named = {line.split(":")[0] for line in found}
    assert "SWITCH_SECRET_KEY" in named
    assert "SWITCH_MASTER_KEYS / SWITCH_MASTER_KEY_ID" in named
    assert {k for k in PRODUCTION if k not in ("SWITCH_SECRET_KEY",)} - {
        "SWITCH_MASTER_KEYS",
        "SWITCH_MASTER_KEY_ID",
    } <= named


def test_one_placeholder_left_is_named_alone() -> None:
    env = {**PRODUCTION, "SWITCH_MPESA_PASSKEY": ""}  # empty: the default
    assert refusals(from_env(env), MODELS, [SIMULATORS]) == [
        "SWITCH_MPESA_PASSKEY: the sandbox value; set the production one"
    ]


def test_a_simulator_key_file_is_refused() -> None:
    key = SIMULATORS / "sandbox_signing_key.pem"
    env = {**PRODUCTION, "SWITCH_PESALINK_SIGNING_KEY_FILE": str(key)}
    (line,) = refusals(from_env(env), MODELS, [SIMULATORS])
    assert line.startswith("SWITCH_PESALINK_SIGNING_KEY_FILE: a simulator's test key")
    elsewhere = {**PRODUCTION, "SWITCH_PESALINK_SIGNING_KEY_FILE": "/etc/switch/key.pem"}
    assert refusals(from_env(elsewhere), MODELS, [SIMULATORS]) == []
