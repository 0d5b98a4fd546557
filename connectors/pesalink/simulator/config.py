"""Simulator configuration: fixed credentials plus knobs that can change while it runs.

Knobs change at run time through ``PATCH /__sim/config`` with a JSON subset of :data:`KNOBS`; the
same PATCH takes the one-shot :data:`ACTIONS` (``{"expire_tokens": true}``), never reported back.
Counters (``error_burst.count``, ``drop_sync_answer``, ``lose_callbacks``) count down as they
fire; ``source_balance_cents`` is the live balance of the merchant's account at the sending bank,
debited by each transfer; ``outage`` is reported as the seconds left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

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
class ErrorBurst:
    """The next ``count`` calls fail with ``status`` before anything is processed.

    ``api``: ``any`` (every PesaLink call but the token), ``transfer``, ``lookup`` or ``status``.
    """

    status: int = 500
    count: int = 0
    api: str = "any"

    def hits(self, api: str) -> bool:
        return self.count > 0 and self.api in ("any", api)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "count": self.count, "api": self.api}


@dataclass(slots=True)
class SimConfig:
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

    def copy(self) -> SimConfig:
        return SimConfig(**{**asdict(self), "error_burst": ErrorBurst(**asdict(self.error_burst))})

    def restore(self, other: SimConfig) -> None:
        """Take every value of ``other`` in place, so references to this config stay live."""
        fresh = other.copy()
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(fresh, name))

    def knobs(self) -> dict[str, Any]:
        """The run-time knobs as JSON; credentials stay out of it."""
        out = {k: getattr(self, k) for k in KNOBS}
        out["error_burst"] = self.error_burst.to_json()
        return out

    def apply(self, patch: Any) -> None:
        """Validate the whole patch first, then change the knobs; ValueError names the culprit."""
        if not isinstance(patch, dict):
            raise ValueError("the body must be a JSON object of knobs")
        unknown = sorted(set(patch) - set(KNOBS))
        if unknown:
            raise ValueError(f"unknown knobs: {unknown}; known: {list(KNOBS)}")
        checked = {k: _CHECKS[k](k, v) for k, v in patch.items()}
        for k, v in checked.items():
            setattr(self, k, v)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    return float(value)


def _positive(name: str, value: Any) -> float:
    if _number(name, value) <= 0:
        raise ValueError(f"{name} must be > 0")
    return float(value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0")
    return value


def _size(name: str, value: Any) -> int:
    if _count(name, value) < 1:
        raise ValueError(f"{name} must be an integer >= 1")
    return int(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _burst(name: str, value: Any) -> ErrorBurst:
    if not isinstance(value, dict) or set(value) - {"status", "count", "api"}:
        raise ValueError(f'{name} must look like {{"status": 503, "count": 3, "api": "any"}}')
    status = value.get("status", 500)
    if isinstance(status, bool) or status not in BURST_STATUSES:
        raise ValueError(f"{name}.status must be one of {sorted(BURST_STATUSES)}")
    api = value.get("api", "any")
    if api not in BURST_APIS:
        raise ValueError(f"{name}.api must be one of {sorted(BURST_APIS)}")
    return ErrorBurst(status, _count(f"{name}.count", value.get("count", 1)), api)


_CHECKS = {
    "latency": _number,
    "callback_delay": _number,
    "pending_for": _number,
    "token_ttl": _positive,
    "drop_sync_answer": _count,
    "error_burst": _burst,
    "outage": _number,
    "lose_callbacks": _count,
    "duplicate_callbacks": _count,
    "callback_timeout": _positive,
    "minimum_cents": _size,
    "daily_limit_cents": _count,
    "source_balance_cents": _count,
    "check_signatures": _flag,
    "max_records": _size,
}


def take_actions(patch: Any) -> tuple[Any, frozenset[str]]:
    """Split the one-shot :data:`ACTIONS` out of a PATCH body; each must be ``true``."""
    if not isinstance(patch, dict):
        return patch, frozenset()
    for name in ACTIONS:
        if name in patch and patch[name] is not True:
            raise ValueError(f"{name} is an action: send true")
    rest = {k: v for k, v in patch.items() if k not in ACTIONS}
    return rest, frozenset(k for k in ACTIONS if k in patch)
