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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel

from switch.fees import Fee


def _networks(value: str) -> str:
    from switch.netguard import parse_networks

    parse_networks(value)  # ValueError names the bad entry
    return value


# A setting listing addresses (comma-separated CIDR blocks), checked when the settings are read:
# a provider's ``callback_allowlist_<name>``, who may call its callbacks.
CallerNetworks = Annotated[str, AfterValidator(_networks)]

Direction = Literal["collection", "payout", "reversal", "posting"]
Destination = Literal["phone", "bank", "sacco", "paybill", "till", "tax"]
# How a payout body names each destination: an object named after its kind holding these fields
# (a phone is the body's own ``phone`` field). Bulk payout CSV files have a column per field.
DESTINATION_FIELDS: dict[Destination, tuple[str, ...]] = {
    "phone": (),
    "bank": ("bank_code", "account_number", "account_name"),
    "sacco": ("sacco_code", "member_number", "purpose"),
    "paybill": ("business_number", "account_reference"),
    "till": ("till_number",),
    "tax": ("prn",),
}
# An account destination's kind -> the field that identifies it in a destination, and how
# messages name it ("bank code 68", "SACCO STIMA").
ACCOUNT_KEYS: dict[Destination, tuple[str, str]] = {
    "bank": ("bank_code", "bank code"),
    "sacco": ("sacco_code", "SACCO"),
    "paybill": ("business_number", "paybill"),
    "till": ("till_number", "till"),
    "tax": ("prn", "tax PRN"),
}
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
    # Payouts of this rail that bulk batches have with the provider at once, over every batch
    # (switch/batch_items.py): one big batch must not flood the provider's queue ahead of
    # everybody's single payouts.
    batch_window: int = 20
    # The rail that sends a succeeded collection of this one back ("" : not reversible).
    reversal: str = ""
    # The command a payout sends unless the caller names one (Daraja's CommandID); None: the
    # rail takes no command.
    default_command: str | None = None
    # The provider's references a payment view shows (``checkout_request_id`` masked: it
    # carries the customer's number).
    refs: tuple[str, ...] = ("conversation_id",)
    # Made by the customer on their own (a paybill payment) and only recorded by the switch.
    customer_initiated: bool = False


@dataclass(frozen=True, slots=True)
class CallbackKind:
    """A callback the provider makes to a URL the switch gave it for one payment:
    ``POST /callbacks/<path>/{payment_id}/{token}`` (the token authenticates the URL)."""

    path: str  # "b2c/result"
    reader: str  # "module:function" (payment id, body) -> CallbackIn; ValueError if malformed
    methods: tuple[str, ...]  # the only rails it may act on
    summary: str  # for the OpenAPI document


@dataclass(frozen=True, slots=True)
class Sample:
    """A request the demo sends in sandbox mode to show a rail working (every one must
    succeed against the provider's simulator): ``path`` is /v1/payments (a collection that funds
    the demo merchant), /v1/payouts or /v1/lookups (a name look-up)."""

    label: str
    path: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AccountSample:
    """One side of the demo's transfer: a source or destination account of this provider."""

    label: str  # "M-Pesa"
    account: Mapping[str, Any]


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
    # sandbox: (SandboxPlace) -> its simulator for sandbox mode, either an aiohttp Application
    # (served by the switch on ``place.port``; its base URL goes to ``Settings.provider_urls``)
    # or an awaitable of a RunningSandbox (it serves itself and says which settings reach it).
    sandbox: str = ""
    callbacks: tuple[CallbackKind, ...] = ()
    # The one callback URL set on the provider's portal, ``/callbacks/<portal_callback>``,
    # called for every payment without a per-payment token (its handler is in api/callbacks.py).
    portal_callback: str = ""
    # Its settings (credentials, URLs...): a pydantic model whose fields switch/config.py adds to
    # ``Settings``, each read from ``SWITCH_<FIELD>``; ``secret_fields`` (a ClassVar) are never
    # echoed in error messages; ``placeholders`` (a ClassVar) are sandbox values ``serve``
    # refuses outside sandbox mode (switch/failclosed.py). A ``callback_allowlist_<name>`` field
    # limits who may call its callbacks; when it is empty outside sandbox mode,
    # ``callback_sources`` applies.
    settings: type[BaseModel] | None = None
    callback_sources: str = ""
    # The demo's requests (sandbox/demo_rails.py), the accounts its transfer may move money
    # between, and the settings the demo needs for its rails to settle quickly.
    samples: tuple[Sample, ...] = ()
    transfer_from: AccountSample | None = None
    transfer_to: AccountSample | None = None
    demo_settings: Mapping[str, Any] = field(default_factory=dict)
    # The setting naming the one provider account its gateway serves ("mpesa_shortcode": one
    # Daraja account): its actor is then named ``<name>-<value>``; "": ``gateway-<name>``.
    account_setting: str = ""
    # Its part in the bench's mixed scenario, "module:attribute" of a bench.mixspec.ProviderBench
    # (its operations and sample bodies, transfer accounts, and its simulator's own records of
    # the money it moved); "": it takes no part.
    bench: str = ""
    # Gateway operations beyond submit and check that this provider answers: "ask_status"
    # (Transaction Status), "query" (STK query), "register_c2b", "query_balance" (float),
    # "generate_qr" (a dynamic QR code for a till or paybill).
    operations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SandboxPlace:
    """Where sandbox mode runs a provider's simulator, and what it needs to know."""

    host: str
    port: int  # 0: any free port
    public_url: str  # the switch's own address (for simulators that call back)
    data_dir: str  # the switch's data folder (for simulators that exchange files)
    callback_delay: float  # seconds until the simulated customer acts
    config: Any = None  # the simulator's own config, when the caller supplies one (tests)


class RunningSandbox(Protocol):
    """A simulator that started itself (a provider's ``sandbox`` entry)."""

    @property
    def base_url(self) -> str: ...

    def settings(self) -> dict[str, Any]: ...  # the switch's settings that point at it

    async def stop(self) -> None: ...


PROVIDER_MODULES: tuple[str, ...] = (
    "connectors.mpesa.provider",
    "connectors.airtel.provider",
    "connectors.pesalink.provider",
    "connectors.sacco.provider",
    "connectors.hub.provider",
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
