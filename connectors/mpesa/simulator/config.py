"""Simulator configuration: fixed credentials plus knobs that can change while it runs.

Credentials default to the public Daraja sandbox values (doc §13). Knobs are changed at run time
through ``PATCH /__sim/config`` with a JSON subset of :data:`KNOBS`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
BURST_STATUSES = frozenset({429, 500, 503})

KNOBS = (
    "latency",
    "callback_delay",
    "duplicate_callbacks",
    "token_ttl",
    "lock_subscriber",
    "callback_timeout",
    "max_records",
    "error_burst",
)


@dataclass(slots=True)
class ErrorBurst:
    """The next ``count`` STK push requests fail with ``status`` before any processing."""

    status: int = 500
    count: int = 0


@dataclass(slots=True)
class SimConfig:
    consumer_key: str = "sandbox-key"
    consumer_secret: str = field(default="sandbox-secret", repr=False)
    shortcode: str = SANDBOX_SHORTCODE
    passkey: str = field(default=SANDBOX_PASSKEY, repr=False)
    latency: float = 0.0  # seconds added to every synchronous Daraja answer
    callback_delay: float = 2.0  # seconds until the simulated customer acts
    duplicate_callbacks: int = 0  # extra copies of each callback
    token_ttl: float = 3599.0  # seconds; the simulator answers expires_in "3599" by default
    lock_subscriber: bool = True
    callback_timeout: float = 10.0  # seconds the simulator waits for the switch's callback answer
    max_records: int = 200_000  # oldest STK records are forgotten beyond this (load tests)
    error_burst: ErrorBurst = field(default_factory=ErrorBurst)

    def copy(self) -> SimConfig:
        return SimConfig(**{**asdict(self), "error_burst": ErrorBurst(**asdict(self.error_burst))})

    def restore(self, other: SimConfig) -> None:
        """Take every value of ``other`` in place, so references to this config stay live."""
        fresh = other.copy()
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(fresh, name))

    def knobs(self) -> dict[str, Any]:
        """The run-time knobs as JSON; credentials stay out of it."""
        return {k: _jsonable(getattr(self, k)) for k in KNOBS}

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


def _jsonable(value: Any) -> Any:
    return asdict(value) if isinstance(value, ErrorBurst) else value


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
    if not isinstance(value, dict) or set(value) - {"status", "count"}:
        raise ValueError(f'{name} must look like {{"status": 503, "count": 3}}')
    status = value.get("status", 500)
    if status not in BURST_STATUSES or isinstance(status, bool):
        raise ValueError(f"{name}.status must be one of {sorted(BURST_STATUSES)}")
    return ErrorBurst(status, _count(f"{name}.count", value.get("count", 1)))


_CHECKS = {
    "latency": _number,
    "callback_delay": _number,
    "duplicate_callbacks": _count,
    "token_ttl": _positive,
    "lock_subscriber": _flag,
    "callback_timeout": _positive,
    "max_records": _size,
    "error_burst": _burst,
}
