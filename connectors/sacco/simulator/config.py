"""Knobs of the SACCO core-banking simulator; they change at run time through
``PATCH /__sim/config`` with a JSON subset of :data:`KNOBS`. Counters (``error_burst.count``,
``drop_answers``) count down as they fire; ``outage`` is reported as the seconds left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from connectors.sacco.registry import SANDBOX_PASSWORD, SANDBOX_USERNAME

BURST_STATUSES = frozenset({429, 500, 503})
BURST_APIS = frozenset({"any", "money", "read"})
KNOBS = (
    "latency",
    "slow_delay",
    "error_burst",
    "drop_answers",
    "outage",
    "check_auth",
    "refuse_overpayment",
)


@dataclass(frozen=True, slots=True)
class Tenant:
    """One SACCO on the simulated Fineract: ``Fineract-Platform-TenantId`` and its API user."""

    sacco_code: str
    username: str = SANDBOX_USERNAME
    password: str = field(default=SANDBOX_PASSWORD, repr=False)


@dataclass(slots=True)
class ErrorBurst:
    """The next ``count`` calls answer ``status`` before anything is done. ``api``: ``any``,
    ``money`` (deposits, withdrawals, disbursements, repayments) or ``read`` (lookups)."""

    status: int = 500
    count: int = 0
    api: str = "any"

    def hits(self, api: str) -> bool:
        return self.count > 0 and self.api in ("any", api)


def _default_tenants() -> dict[str, Tenant]:
    return {"stima": Tenant("STIMA")}


@dataclass(slots=True)
class SimConfig:
    tenants: dict[str, Tenant] = field(default_factory=_default_tenants)
    latency: float = 0.0  # seconds added to every answer, after the work is done
    slow_delay: float = 15.0  # seconds a "slow" member's money-moving answer takes (trigger 504)
    error_burst: ErrorBurst = field(default_factory=ErrorBurst)
    drop_answers: int = 0  # next N money-moving calls are booked but their answer is dropped
    outage: float = 0.0  # seconds every API path answers 503, counted from the PATCH
    check_auth: bool = True
    # A repayment above the loan balance: booked, loan Overpaid (Fineract's default), or refused
    # with a 403 (a SACCO that blocks overpayments; see book.py).
    refuse_overpayment: bool = False

    def copy(self) -> SimConfig:
        return SimConfig(
            **{**{f.name: getattr(self, f.name) for f in fields(self)},
               "tenants": dict(self.tenants),
               "error_burst": ErrorBurst(**asdict(self.error_burst))}
        )  # fmt: skip

    def restore(self, other: SimConfig) -> None:
        fresh = other.copy()
        for f in fields(self):
            setattr(self, f.name, getattr(fresh, f.name))

    def knobs(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in KNOBS}
        out["error_burst"] = asdict(self.error_burst)
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


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0")
    return value


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
    "slow_delay": _number,
    "error_burst": _burst,
    "drop_answers": _count,
    "outage": _number,
    "check_auth": _flag,
    "refuse_overpayment": _flag,
}
