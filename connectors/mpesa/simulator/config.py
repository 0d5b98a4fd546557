"""Simulator configuration: fixed credentials plus knobs that can change while it runs.

Credentials default to the public Daraja sandbox values (doc §13). Knobs are changed at run time
through ``PATCH /__sim/config`` with a JSON subset of :data:`KNOBS`; the same PATCH also takes the
one-shot :data:`ACTIONS` (``{"expire_tokens": true}``), which are never reported back.

Counters (``error_burst.count``, ``drop_sync_answer``, ``lose_result_callbacks``,
``queue_timeouts``) count down as they fire; ``b2c_float_cents`` is the live B2C utility balance,
debited by each payout; ``outage`` is reported as the seconds left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
# Sandbox shortcodes for C2B/B2C are of the form 600xxx (doc §13); initiator name and password are
# issued per app on the portal, so these two are the simulator's own (not Safaricom's) values.
SANDBOX_B2C_SHORTCODE = "600000"
SANDBOX_INITIATOR_NAME = "sandbox-initiator"
SANDBOX_INITIATOR_PASSWORD = "sandbox-initiator-password"  # noqa: S105 (a public test value)
BURST_STATUSES = frozenset({429, 500, 503})
BURST_APIS = frozenset({"any", "stk", "b2c"})

KNOBS = (
    "latency",
    "callback_delay",
    "duplicate_callbacks",
    "token_ttl",
    "lock_subscriber",
    "callback_timeout",
    "max_records",
    "error_burst",
    "b2c_float_cents",
    "drop_sync_answer",
    "lose_result_callbacks",
    "duplicate_result_callbacks",
    "queue_timeouts",
    "outage",
    "c2b_validation_timeout",
)
ACTIONS = ("expire_tokens",)


@dataclass(slots=True)
class ErrorBurst:
    """The next ``count`` money-moving requests fail with ``status`` before any processing.

    ``api`` chooses which: ``any`` (STK push and B2C, the default), ``stk`` or ``b2c``.
    """

    status: int = 500
    count: int = 0
    api: str = "any"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "count": self.count}
        if self.api != "any":  # the STK-only shape stays exactly as it was
            out["api"] = self.api
        return out


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
    # Initiator APIs (doc §7-§12) and C2B (doc §6).
    initiator_name: str = SANDBOX_INITIATOR_NAME
    initiator_password: str = field(default=SANDBOX_INITIATOR_PASSWORD, repr=False)
    b2c_shortcode: str = SANDBOX_B2C_SHORTCODE
    b2c_float_cents: int = 1_000_000_000  # the B2C utility account: KES 10,000,000.00
    drop_sync_answer: int = 0  # next N B2C requests are processed but their answer is dropped
    lose_result_callbacks: int = 0  # next N initiator results are never sent
    duplicate_result_callbacks: int = 0  # extra copies of each initiator result
    queue_timeouts: int = 0  # next N initiator requests time out in the queue (QueueTimeOutURL)
    outage: float = 0.0  # seconds every Daraja endpoint answers 503, counted from the PATCH
    c2b_validation_timeout: float = 8.0  # seconds; "about 8 seconds" (doc §6)

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
    return value.to_json() if isinstance(value, ErrorBurst) else value


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
        raise ValueError(f'{name} must look like {{"status": 503, "count": 3}}')
    status = value.get("status", 500)
    if status not in BURST_STATUSES or isinstance(status, bool):
        raise ValueError(f"{name}.status must be one of {sorted(BURST_STATUSES)}")
    api = value.get("api", "any")
    if api not in BURST_APIS:
        raise ValueError(f"{name}.api must be one of {sorted(BURST_APIS)}")
    return ErrorBurst(status, _count(f"{name}.count", value.get("count", 1)), api)


_CHECKS = {
    "latency": _number,
    "callback_delay": _number,
    "duplicate_callbacks": _count,
    "token_ttl": _positive,
    "lock_subscriber": _flag,
    "callback_timeout": _positive,
    "max_records": _size,
    "error_burst": _burst,
    "b2c_float_cents": _count,
    "drop_sync_answer": _count,
    "lose_result_callbacks": _count,
    "duplicate_result_callbacks": _count,
    "queue_timeouts": _count,
    "outage": _number,
    "c2b_validation_timeout": _positive,
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
