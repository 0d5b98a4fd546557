"""Simulator configuration: fixed credentials plus knobs that can change while it runs.

Credentials are the simulator's own public test values (Airtel issues real ones per application
in its developer portal). Knobs are changed at run time through ``PATCH /__sim/config`` with a
JSON subset of :data:`KNOBS`; the same PATCH also takes the one-shot :data:`ACTIONS`
(``{"expire_tokens": true}``), which are never reported back.

Counters (``error_burst.count``, ``drop_sync_answer``, ``lose_callbacks``) count down as they
fire; ``float_cents`` is the live disbursement wallet, debited by each payout; ``outage`` is
reported as the seconds left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from connectors.airtel.security import HASH_FORMS, PIN_PADDINGS, HashForm, PinPadding

SANDBOX_CLIENT_ID = "sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 (a public test value)
SANDBOX_PIN = "1234"  # the merchant wallet's PIN (public test value)
SANDBOX_CALLBACK_KEY = "sandbox-callback-key"  # the portal's "private key" for callback hashes
SANDBOX_MERCHANT = "SANDBOX MERCHANT"
TOKEN_LIFETIME = 180.0  # seconds (doc §2)
BURST_STATUSES = frozenset({429, 500, 503})
BURST_APIS = frozenset({"any", "collection", "disbursement", "refund"})

KNOBS = (
    "latency",
    "callback_delay",
    "callback_url",
    "callback_timeout",
    "callback_auth",
    "hash_form",
    "duplicate_callbacks",
    "lose_callbacks",
    "drop_sync_answer",
    "error_burst",
    "outage",
    "token_ttl",
    "pin_padding",
    "float_cents",
)
ACTIONS = ("expire_tokens",)


@dataclass(slots=True)
class ErrorBurst:
    """The next ``count`` money-moving requests fail with ``status`` before any processing.

    ``api`` chooses which: ``any`` (collection push, disbursement and refund, the default),
    ``collection``, ``disbursement`` or ``refund``.
    """

    status: int = 500
    count: int = 0
    api: str = "any"

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "count": self.count, "api": self.api}


@dataclass(slots=True)
class SimConfig:
    client_id: str = SANDBOX_CLIENT_ID
    client_secret: str = field(default=SANDBOX_CLIENT_SECRET, repr=False)
    pin: str = field(default=SANDBOX_PIN, repr=False)
    callback_key: str = field(default=SANDBOX_CALLBACK_KEY, repr=False)
    merchant_name: str = SANDBOX_MERCHANT
    latency: float = 0.0  # seconds added to every synchronous answer
    callback_delay: float = 2.0  # seconds until the simulated customer acts
    # Airtel posts to the URL configured in the portal, never one from the request (doc §6).
    callback_url: str | None = None
    callback_timeout: float = 10.0  # seconds the simulator waits for the callback's answer
    callback_auth: bool = False  # add the ``hash`` (callback authentication on, doc §6)
    hash_form: HashForm = "fixed_order"  # what the hash covers (doc §6 leaves it open)
    duplicate_callbacks: int = 0  # extra copies of each callback
    lose_callbacks: int = 0  # the next N accepted pushes never get a callback
    drop_sync_answer: int = 0  # next N money-moving requests: processed, answer dropped
    error_burst: ErrorBurst = field(default_factory=ErrorBurst)
    outage: float = 0.0  # seconds every Airtel endpoint answers 503, counted from the PATCH
    token_ttl: float = TOKEN_LIFETIME
    pin_padding: PinPadding = "pkcs1v15"  # the only padding the PIN check accepts (doc §8)
    float_cents: int = 1_000_000_000  # the disbursement wallet: KES 10,000,000.00

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


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _url(name: str, value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL or null")
    return str(value)


def _choice(allowed: tuple[str, ...]) -> Any:
    def check(name: str, value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}")
        return str(value)

    return check


def _burst(name: str, value: Any) -> ErrorBurst:
    if not isinstance(value, dict) or set(value) - {"status", "count", "api"}:
        raise ValueError(f'{name} must look like {{"status": 503, "count": 3}}')
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
    "callback_url": _url,
    "callback_timeout": _positive,
    "callback_auth": _flag,
    "hash_form": _choice(HASH_FORMS),
    "duplicate_callbacks": _count,
    "lose_callbacks": _count,
    "drop_sync_answer": _count,
    "error_burst": _burst,
    "outage": _number,
    "token_ttl": _positive,
    "pin_padding": _choice(PIN_PADDINGS),
    "float_cents": _count,
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
