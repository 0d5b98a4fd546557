"""Simulator configuration: fixed credentials plus knobs that can change while it runs.

Knobs change at run time through ``PATCH /__sim/config`` with a JSON subset of :data:`KNOBS`; the
same PATCH takes the one-shot :data:`ACTIONS` (``{"expire_tokens": true}``), never reported back.
Counters (``error_burst.count``, ``drop_sync_answer``, ``lose_callbacks``) count down as they
fire; ``source_balance_cents`` is the live balance of the merchant's account at the sending bank,
debited by each transfer; ``outage`` is reported as the seconds left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from connectors import simkit
from connectors.pesalink.banks import DEFAULT_MINIMUM_CENTS
from connectors.pesalink.simulator.sandbox import PUBLIC_KEY_PEM

# The simulator's own sandbox credentials (a real bank issues them per merchant).
SANDBOX_API_KEY = "sandbox-api-key"
SANDBOX_MERCHANT_CODE = "0000000001"
SANDBOX_CONSUMER_SECRET = "sandbox-consumer-secret"  # noqa: S105 (a public test value)
SANDBOX_SOURCE_ACCOUNT = "0020100014605"  # doc §3.1 source.accountNumber sample
SANDBOX_SOURCE_NAME = "John Doe"  # doc §3.1 source.name sample
BURST_STATUSES = frozenset({429, 500, 503})
BURST_APIS = frozenset({"any", "transfer", "lookup", "status"})

KNOBS = (
    "latency",
    "callback_delay",
    "pending_for",
    "token_ttl",
    "drop_sync_answer",
    "error_burst",
    "outage",
    "lose_callbacks",
    "duplicate_callbacks",
    "callback_timeout",
    "minimum_cents",
    "daily_limit_cents",
    "source_balance_cents",
    "check_signatures",
    "max_records",
)
ACTIONS = ("expire_tokens",)


@dataclass(slots=True)
class ErrorBurst(simkit.ErrorBurst):
    """The next ``count`` calls fail with ``status`` before anything is processed.

    ``api``: ``any`` (every PesaLink call but the token), ``transfer``, ``lookup`` or ``status``.
    """


_BURST_EXAMPLE = '{"status": 503, "count": 3, "api": "any"}'
_CHECKS: dict[str, simkit.Check] = {
    "latency": simkit.number,
    "callback_delay": simkit.number,
    "pending_for": simkit.number,
    "token_ttl": simkit.positive,
    "drop_sync_answer": simkit.count,
    "error_burst": simkit.burst_check(ErrorBurst, BURST_STATUSES, BURST_APIS, _BURST_EXAMPLE),
    "outage": simkit.number,
    "lose_callbacks": simkit.count,
    "duplicate_callbacks": simkit.count,
    "callback_timeout": simkit.positive,
    "minimum_cents": simkit.size,
    "daily_limit_cents": simkit.count,
    "source_balance_cents": simkit.count,
    "check_signatures": simkit.flag,
    "max_records": simkit.size,
}


@dataclass(slots=True)
class SimConfig(simkit.KnobConfig):
    KNOB_NAMES: ClassVar[tuple[str, ...]] = KNOBS
    KNOB_CHECKS: ClassVar[dict[str, simkit.Check]] = _CHECKS

    api_key: str = field(default=SANDBOX_API_KEY, repr=False)
    merchant_code: str = SANDBOX_MERCHANT_CODE
    consumer_secret: str = field(default=SANDBOX_CONSUMER_SECRET, repr=False)
    source_account: str = SANDBOX_SOURCE_ACCOUNT
    public_key_pem: bytes = field(default=PUBLIC_KEY_PEM, repr=False)  # verifies `signature`
    latency: float = 0.0  # seconds added to every answer, after the work is done
    callback_delay: float = 1.0  # seconds from a final state to its callback
    pending_for: float = 5.0  # seconds a "pending" trigger stays pending
    token_ttl: float = 3600.0  # seconds (unverified: Jenga's real lifetime is not in the doc)
    drop_sync_answer: int = 0  # next N transfers are processed but their answer is dropped
    error_burst: ErrorBurst = field(default_factory=ErrorBurst)
    outage: float = 0.0  # seconds every PesaLink endpoint answers 503, counted from the PATCH
    lose_callbacks: int = 0  # next N callbacks are never sent
    duplicate_callbacks: int = 0  # extra copies of each callback
    callback_timeout: float = 10.0  # seconds the simulator waits for the switch's answer
    minimum_cents: int = DEFAULT_MINIMUM_CENTS  # the sending bank's minimum (doc §5: default 10)
    daily_limit_cents: int = 0  # the sending bank's daily cap per source account; 0: none
    source_balance_cents: int = 10_000_000_000  # KES 100,000,000.00 at the sending bank
    check_signatures: bool = True  # False lets a client without the sandbox key in
    max_records: int = 200_000  # oldest transfers are forgotten beyond this (load tests)


def take_actions(patch: Any) -> tuple[Any, frozenset[str]]:
    """Split the one-shot :data:`ACTIONS` out of a PATCH body; each must be ``true``."""
    return simkit.take_actions(patch, ACTIONS)
