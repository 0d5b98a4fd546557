"""Simulator configuration: fixed credentials plus knobs that can change while it runs.

Credentials default to the public Daraja sandbox values (doc §13). Knobs are changed at run time
through ``PATCH /__sim/config`` with a JSON subset of :data:`KNOBS`; the same PATCH also takes the
one-shot :data:`ACTIONS` (``{"expire_tokens": true}``), which are never reported back.

Counters (``error_burst.count``, ``drop_sync_answer``, ``lose_result_callbacks``,
``queue_timeouts``) count down as they fire; ``b2c_float_cents`` is the live B2C utility balance,
debited by each payout; ``outage`` is reported as the seconds left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from connectors import simkit

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
    "pull_page_size",
)
ACTIONS = ("expire_tokens",)


@dataclass(slots=True)
class ErrorBurst(simkit.ErrorBurst):
    """The next ``count`` money-moving requests fail with ``status`` before any processing.

    ``api`` chooses which: ``any`` (STK push and B2C, the default), ``stk`` or ``b2c``.
    """

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "count": self.count}
        if self.api != "any":  # the STK-only shape stays exactly as it was
            out["api"] = self.api
        return out


_BURST_EXAMPLE = '{"status": 503, "count": 3}'
_CHECKS: dict[str, simkit.Check] = {
    "latency": simkit.number,
    "callback_delay": simkit.number,
    "duplicate_callbacks": simkit.count,
    "token_ttl": simkit.positive,
    "lock_subscriber": simkit.flag,
    "callback_timeout": simkit.positive,
    "max_records": simkit.size,
    "error_burst": simkit.burst_check(ErrorBurst, BURST_STATUSES, BURST_APIS, _BURST_EXAMPLE),
    "b2c_float_cents": simkit.count,
    "drop_sync_answer": simkit.count,
    "lose_result_callbacks": simkit.count,
    "duplicate_result_callbacks": simkit.count,
    "queue_timeouts": simkit.count,
    "outage": simkit.number,
    "c2b_validation_timeout": simkit.positive,
    "pull_page_size": simkit.size,
}


@dataclass(slots=True)
class SimConfig(simkit.KnobConfig):
    KNOB_NAMES: ClassVar[tuple[str, ...]] = KNOBS
    KNOB_CHECKS: ClassVar[dict[str, simkit.Check]] = _CHECKS

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
    pull_page_size: int = 100  # Pull Transactions rows per answer (undocumented: our choice)


def take_actions(patch: Any) -> tuple[Any, frozenset[str]]:
    """Split the one-shot :data:`ACTIONS` out of a PATCH body; each must be ``true``."""
    return simkit.take_actions(patch, ACTIONS)
