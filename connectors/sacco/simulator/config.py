"""Knobs of the SACCO core-banking simulator; they change at run time through
``PATCH /__sim/config`` with a JSON subset of :data:`KNOBS`. Counters (``error_burst.count``,
``drop_answers``) count down as they fire; ``outage`` is reported as the seconds left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from connectors import simkit
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
class ErrorBurst(simkit.ErrorBurst):
    """The next ``count`` calls answer ``status`` before anything is done. ``api``: ``any``,
    ``money`` (deposits, withdrawals, disbursements, repayments) or ``read`` (lookups)."""


def _default_tenants() -> dict[str, Tenant]:
    return {"stima": Tenant("STIMA")}


_BURST_EXAMPLE = '{"status": 503, "count": 3, "api": "any"}'
_CHECKS: dict[str, simkit.Check] = {
    "latency": simkit.number,
    "slow_delay": simkit.number,
    "error_burst": simkit.burst_check(ErrorBurst, BURST_STATUSES, BURST_APIS, _BURST_EXAMPLE),
    "drop_answers": simkit.count,
    "outage": simkit.number,
    "check_auth": simkit.flag,
    "refuse_overpayment": simkit.flag,
}


@dataclass(slots=True)
class SimConfig(simkit.KnobConfig):
    KNOB_NAMES: ClassVar[tuple[str, ...]] = KNOBS
    KNOB_CHECKS: ClassVar[dict[str, simkit.Check]] = _CHECKS

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
