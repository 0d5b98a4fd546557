"""The provider registry (pure): each provider describes itself once, in its own package
(``connectors/<name>/provider.py`` exports ``PROVIDER``), and everything that branches on a rail
or a provider (routing, fees, sweeps, postings, views, messages) asks this registry instead of
naming one.

The registry is filled from module paths (:data:`PROVIDER_MODULES`, plus any named in
``SWITCH_PROVIDER_MODULES``, comma-separated), imported when first asked. Naming a module by its
path keeps this domain module free of imports of the connectors, and lets a deployment (or a
test) add a provider without touching the switch: every process of the switch (api, Ray actors)
reads the same environment, so each sees the same providers.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from switch.fees import Fee

Direction = Literal["collection", "payout", "reversal", "posting"]
Destination = Literal["phone", "bank", "sacco"]
# How the switch learns a result it missed: "stk_query" (M-Pesa STK), "transaction_status"
# (M-Pesa initiator APIs), "resend" (reversals: M-Pesa refuses a second one), "check" (a
# synchronous enquiry by our id: Airtel, PesaLink, SACCOs), "none".
Recovery = Literal["stk_query", "transaction_status", "resend", "check", "none"]


@dataclass(frozen=True, slots=True)
class Rail:
    """One payment method: who carries it, which way the money goes, what it reaches, its
    per-transaction limits (cents), how a missed result is recovered and its default fee."""

    method: str
    provider: str
    direction: Direction
    destination: Destination
    min_minor: int
    max_minor: int
    recovery: Recovery
    label: str
    fee: Fee | None = None  # the default fee (SWITCH_FEES overrides); None: free
    # ``auto`` may choose it for its destination (a C2B payment is made by the customer, a
    # reversal or a posting follows another payment: never chosen).
    routable: bool = True
    # Reaches any phone through a directory (PesaLink's phone-to-account look-up): a candidate
    # for payouts to a phone after the phone's own operator's wallet.
    reaches_any_phone: bool = False
    # "module:function" (payment, callback) -> why it does not settle the payment, or None: a
    # rail's own proof a success needs beyond amount and phone (M-Pesa's record of a C2B
    # receipt must name the same receipt and shortcode).
    settle_check: str = ""
    # Takes the payout's ``command`` (M-Pesa B2C's CommandID); other rails store none.
    commands: bool = False


@dataclass(frozen=True, slots=True)
class CallbackKind:
    """A callback the provider makes to a URL the switch gave it for one payment:
    ``POST /callbacks/<path>/{payment_id}/{token}`` (the token authenticates the URL)."""

    path: str  # "b2c/result"
    reader: str  # "module:function" (payment id, body) -> CallbackIn; ValueError if malformed
    methods: tuple[str, ...]  # the only rails it may act on
    summary: str  # for the OpenAPI document


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What the switch needs to know about one provider, in one place."""

    name: str  # "airtel": the actor name, the metrics label, the provider in payment views
    display_name: str  # "Airtel Money": in messages to merchants
    rails: tuple[Rail, ...]
    # Mobile operators (routing.operators) whose subscribers its phone rails serve.
    phone_operators: tuple[str, ...] = field(default=())
    # The heavier parts, named "module:attribute" and imported when first used (see resolve):
    # orders: (Payment, CallbackUrl) -> Order, what the shard hands the gateway for a payment.
    orders: str = ""
    # gateway: (settings, *, deliver) -> the provider's gateway core (connectors/gateway.py's loop),
    # run in its own actor; ``deliver`` hands results the provider sends later to the shards.
    gateway: str = ""
    # sandbox: (public_url) -> aiohttp Application: its simulator for sandbox mode, served on a
    # free port whose base URL the switch puts in ``Settings.provider_urls`` (the four built-in
    # providers' simulators are still started by switch/stack.py, on their documented ports).
    sandbox: str = ""
    callbacks: tuple[CallbackKind, ...] = ()
    # Gateway operations beyond submit and check that this provider answers: "ask_status"
    # (Transaction Status), "query" (STK query), "register_c2b", "query_balance" (float).
    operations: tuple[str, ...] = ()


PROVIDER_MODULES: tuple[str, ...] = (
    "connectors.mpesa.provider",
    "connectors.airtel.provider",
    "connectors.pesalink.provider",
    "connectors.sacco.provider",
)


def provider_modules(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if environ is None else environ
    extra = [m.strip() for m in env.get("SWITCH_PROVIDER_MODULES", "").split(",") if m.strip()]
    return (*PROVIDER_MODULES, *(m for m in extra if m not in PROVIDER_MODULES))


def load(modules: Iterable[str]) -> tuple[ProviderSpec, ...]:
    """The providers the modules export (``PROVIDER``), checked for clashes."""
    specs = tuple(importlib.import_module(m).PROVIDER for m in modules)
    check(specs)
    return specs


def check(specs: Iterable[ProviderSpec]) -> None:
    """ValueError when two providers share a name or a method, or a rail names another."""
    names: set[str] = set()
    methods: set[str] = set()
    paths: set[str] = set()
    for spec in specs:
        if spec.name in names:
            raise ValueError(f"two providers are named {spec.name!r}")
        names.add(spec.name)
        for rail in spec.rails:
            if rail.provider != spec.name:
                raise ValueError(f"rail {rail.method} of {spec.name} names {rail.provider}")
            if rail.method in methods:
                raise ValueError(f"two rails are named {rail.method!r}")
            methods.add(rail.method)
        for kind in spec.callbacks:
            if kind.path in paths:
                raise ValueError(f"two callbacks use /callbacks/{kind.path}")
            paths.add(kind.path)
            if not set(kind.methods) <= {r.method for r in spec.rails}:
                raise ValueError(f"callback {kind.path} of {spec.name} names another's rail")


@cache
def providers() -> tuple[ProviderSpec, ...]:
    return load(provider_modules())


def provider(name: str) -> ProviderSpec:
    for spec in providers():
        if spec.name == name:
            return spec
    raise KeyError(f"no provider {name!r}")


def resolve(path: str) -> Any:
    """The object a "module:attribute" path names (a provider's order builder, gateway factory,
    simulator...), imported now: those parts import the domain, so naming them by path keeps the
    registry free of import cycles."""
    module, _, name = path.partition(":")
    if not module or not name:
        raise ValueError(f"{path!r}: expected 'module:attribute'")
    return getattr(importlib.import_module(module), name)


def offering(operation: str) -> str:
    """The provider whose gateway answers ``operation`` (the first that declares it)."""
    for spec in providers():
        if operation in spec.operations:
            return spec.name
    raise LookupError(f"no provider offers {operation!r}")


def rails() -> dict[str, Rail]:
    return {rail.method: rail for spec in providers() for rail in spec.rails}
