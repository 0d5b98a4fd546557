"""The provider registry: each provider describes itself once, and the rail table, the default
fees, routing and messages come from those descriptions."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import orjson
import pytest

from routing.router import candidates
from switch.config import from_env
from switch.providers import (
    PROVIDER_MODULES,
    check,
    load,
    offering,
    provider,
    provider_modules,
    providers,
)
from switch.rails import RAILS, display_name


def test_every_rail_comes_from_one_provider_description() -> None:
    assert [p.name for p in providers()] == ["mpesa", "airtel", "pesalink", "sacco", "hub"]
    assert set(RAILS) == {r.method for p in providers() for r in p.rails}
    for method, rail in RAILS.items():
        assert rail.method == method
        assert rail in provider(rail.provider).rails


def test_default_fees_come_from_the_rails() -> None:
    fees = from_env({}).fees
    assert fees["bank_transfer"].fixed == 5_000
    assert "sacco_withdrawal" not in fees  # a transfer's legs are free
    assert set(fees) == {m for m, r in RAILS.items() if r.fee is not None}


def test_routing_asks_the_providers() -> None:
    assert candidates("collection", {}, "254712345678") == ("mpesa_stk",)  # not C2B
    assert candidates("payout", {}, "254733123456") == ("airtel_payout", "bank_transfer")
    assert candidates("payout", {}, "254771234567") == ("bank_transfer",)  # Telkom: no wallet
    assert candidates("payout", {"bank_code": "01"}, "") == ("bank_transfer",)
    assert candidates("collection", {"sacco_code": "STIMA"}, "") == ("sacco_withdrawal",)


def test_messages_name_providers_as_they_name_themselves() -> None:
    assert display_name("airtel") == "Airtel Money"
    assert display_name("nobody") == "the provider"


def test_clashing_descriptions_are_refused() -> None:
    mpesa = provider("mpesa")
    with pytest.raises(ValueError, match="two providers"):
        check([mpesa, mpesa])
    renamed = replace(provider("airtel"), rails=(replace(mpesa.rails[0], provider="airtel"),))
    with pytest.raises(ValueError, match="two rails"):
        check([mpesa, renamed])
    with pytest.raises(ValueError, match="names mpesa"):
        check([replace(renamed, rails=mpesa.rails)])


def test_extra_providers_are_named_by_module() -> None:
    env = {"SWITCH_PROVIDER_MODULES": " tests.fixtures.tkash.provider, connectors.mpesa.provider"}
    modules = provider_modules(env)
    assert modules == (*PROVIDER_MODULES, "tests.fixtures.tkash.provider")
    assert [p.name for p in load(modules)][-1] == "tkash"


def test_a_provider_added_through_the_registry_alone_is_routed_and_priced() -> None:
    """In a fresh process (the table is built at import, as in every switch process)."""
    code = (
        "import orjson\n"
        "from routing.router import candidates\n"
        "from switch.config import from_env\n"
        "from switch.rails import RAILS, display_name\n"
        "print(orjson.dumps({'rails': sorted(RAILS), 'route': candidates('payout', {},"
        " '254771234567'), 'fee': from_env({}).fees['tkash_payout'].fixed,"
        " 'name': display_name('tkash')}).decode())\n"
    )
    env = {"SWITCH_PROVIDER_MODULES": "tests.fixtures.tkash.provider", "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, check=True, timeout=60
    )
    seen = orjson.loads(out.stdout)
    assert {"tkash_push", "tkash_payout"} <= set(seen["rails"])
    assert seen["route"] == ["tkash_payout", "bank_transfer"]  # the Telkom wallet first
    assert seen["fee"] == 1_000
    assert seen["name"] == "T-Kash"


def test_a_provider_only_operation_goes_to_the_provider_that_offers_it() -> None:
    assert offering("register_c2b") == "mpesa"
    with pytest.raises(LookupError):
        offering("teleport")


def test_every_callback_route_names_its_provider() -> None:
    """The source allow-lists (api/hardening.py) apply by the provider a callback route names."""
    from api.route_table import ROUTE_TABLE

    callbacks = [r for r in ROUTE_TABLE if r.path.startswith("/callbacks/")]
    assert callbacks
    assert all(r.provider in {p.name for p in providers()} for r in callbacks)
