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

from dataclasses import dataclass, field
from typing import Any, ClassVar

from connectors import simkit
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
class ErrorBurst(simkit.ErrorBurst):
    """The next ``count`` money-moving requests fail with ``status`` before any processing.

    ``api`` chooses which: ``any`` (collection push, disbursement and refund, the default),
    ``collection``, ``disbursement`` or ``refund``.
    """


_BURST_EXAMPLE = '{"status": 503, "count": 3}'
_CHECKS: dict[str, simkit.Check] = {
    "latency": simkit.number,
    "callback_delay": simkit.number,
    "callback_url": simkit.url,
    "callback_timeout": simkit.positive,
    "callback_auth": simkit.flag,
    "hash_form": simkit.choice(HASH_FORMS),
    "duplicate_callbacks": simkit.count,
    "lose_callbacks": simkit.count,
    "drop_sync_answer": simkit.count,
    "error_burst": simkit.burst_check(ErrorBurst, BURST_STATUSES, BURST_APIS, _BURST_EXAMPLE),
    "outage": simkit.number,
    "token_ttl": simkit.positive,
    "pin_padding": simkit.choice(PIN_PADDINGS),
    "float_cents": simkit.count,
}


@dataclass(slots=True)
class SimConfig(simkit.KnobConfig):
    KNOB_NAMES: ClassVar[tuple[str, ...]] = KNOBS
    KNOB_CHECKS: ClassVar[dict[str, simkit.Check]] = _CHECKS

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


def take_actions(patch: Any) -> tuple[Any, frozenset[str]]:
    """Split the one-shot :data:`ACTIONS` out of a PATCH body; each must be ``true``."""
    return simkit.take_actions(patch, ACTIONS)
