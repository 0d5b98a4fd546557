"""Knobs of the participant-bank simulator; they change at run time through
``PATCH /__sim/config`` with a JSON subset of :data:`KNOBS`. Counters (``never_answer``,
``reject_next``, ``late_next``, ``duplicate_next``, ``error_burst.count``) count down as they
fire, one per pacs.008 message; ``fault_bank`` limits the faults to one bank (null: any);
``outage`` is reported as the seconds left.

* ``never_answer``: the message is processed (credits booked) but its HTTP answer never comes:
  the connection is held ``hang_seconds`` and closed. The status route tells the truth later.
* ``reject_next``: its transfers are refused with ``reject_reason``, whatever the accounts say.
* ``late_next``: the answer is ``PDNG`` at once; the final pacs.002 is POSTed to
  ``callback_url`` ``late_delay`` seconds later (signed by the bank).
* ``duplicate_next``: the final pacs.002 is delivered twice (the answer plus one POST to
  ``callback_url``, or two POSTs when late).
* ``hub_url`` and ``hub_clients`` (``{code: {"client_id", "client_secret"}}``): where and as whom
  a bank pays the requests to pay its customers approve (:mod:`.rtp`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from connectors import simkit
from switch.iso20022 import codes

BURST_STATUSES = frozenset({429, 500, 503})
BURST_APIS = frozenset({"any", "pacs008", "read"})
KNOBS = (
    "latency",
    "outage",
    "error_burst",
    "callback_url",
    "callback_timeout",
    "fault_bank",
    "never_answer",
    "hang_seconds",
    "reject_next",
    "reject_reason",
    "late_next",
    "late_delay",
    "duplicate_next",
    "check_signatures",
    "check_names",
    "hub_url",
    "hub_clients",
)


@dataclass(slots=True)
class ErrorBurst(simkit.ErrorBurst):
    """The next ``count`` calls answer ``status`` before anything is read. ``api``: ``any``,
    ``pacs008`` (credit transfers) or ``read`` (status queries and statements)."""


def _bank(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.isdigit() or len(value) != 2:
        raise ValueError(f"{name} must be a two-digit bank code or null")
    return value


def _clients(name: str, value: object) -> dict[str, dict[str, str]]:
    """Each bank's hub client, to pay requests to pay (.rtp): {code: {client_id, client_secret}}."""
    if not isinstance(value, dict):
        raise ValueError(f'{name} must map bank codes to {{"client_id", "client_secret"}}')
    ok = all(
        isinstance(k, str)
        and isinstance(v, dict)
        and set(v) == {"client_id", "client_secret"}
        and all(isinstance(x, str) for x in v.values())
        for k, v in value.items()
    )
    if not ok:
        raise ValueError(f'{name} must map bank codes to {{"client_id", "client_secret"}}')
    return {str(k): dict(v) for k, v in value.items()}


_BURST_EXAMPLE = '{"status": 503, "count": 3, "api": "any"}'
_CHECKS: dict[str, simkit.Check] = {
    "latency": simkit.number,
    "outage": simkit.number,
    "error_burst": simkit.burst_check(ErrorBurst, BURST_STATUSES, BURST_APIS, _BURST_EXAMPLE),
    "callback_url": simkit.url,
    "callback_timeout": simkit.positive,
    "fault_bank": _bank,
    "never_answer": simkit.count,
    "hang_seconds": simkit.number,
    "reject_next": simkit.count,
    "reject_reason": simkit.choice(tuple(r.code for r in codes.REASONS)),
    "late_next": simkit.count,
    "late_delay": simkit.number,
    "duplicate_next": simkit.count,
    "check_signatures": simkit.flag,
    "check_names": simkit.flag,
    "hub_url": simkit.url,
    "hub_clients": _clients,
}


@dataclass(slots=True)
class SimConfig(simkit.KnobConfig):
    KNOB_NAMES: ClassVar[tuple[str, ...]] = KNOBS
    KNOB_CHECKS: ClassVar[dict[str, simkit.Check]] = _CHECKS

    keys: dict[str, str] = field(default_factory=dict, repr=False)  # bank code -> key
    latency: float = 0.0  # seconds added to every answer, after the work is done
    outage: float = 0.0  # seconds every bank route answers 503, counted from the PATCH
    error_burst: ErrorBurst = field(default_factory=ErrorBurst)
    callback_url: str | None = None  # where late and duplicate pacs.002 messages go (the hub)
    callback_timeout: float = 10.0
    fault_bank: str | None = None
    never_answer: int = 0
    hang_seconds: float = 30.0
    reject_next: int = 0
    reject_reason: str = "AG01"
    late_next: int = 0
    late_delay: float = 2.0
    duplicate_next: int = 0
    check_signatures: bool = True
    check_names: bool = True
    hub_url: str | None = None  # the switch, where banks pay requests to pay (.rtp)
    hub_clients: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
