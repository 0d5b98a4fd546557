"""Business rules about money going back or out (pure)."""

from __future__ import annotations

from datetime import datetime

from switch.payments import Payment
from switch.rails import REVERSIBLE, display_name, provider_of
from switch.states import State

# Whose collections can be reversed ("M-Pesa"), named in the refusals.
_REVERSERS = " or ".join(sorted({display_name(provider_of(m)) for m in REVERSIBLE}))


def reversal_refusal(p: Payment, now: datetime, window_days: float) -> str | None:
    """Why this payment cannot be reversed, or None."""
    if p.method not in REVERSIBLE:
        return f"only {_REVERSERS} collections can be reversed"
    if p.state != State.SUCCEEDED or not p.provider.receipt:
        return f"only a succeeded collection with an {_REVERSERS} receipt can be reversed"
    if (now - p.created_at).total_seconds() / 86_400 > window_days:
        return f"reversals are allowed within {window_days:g} days"
    return None


def reversal_was_ours(p: Payment, resent: bool, provider_code: str | None) -> bool:
    """M-Pesa's "already reversed" (R000001) after we sent a reversal twice, or after its first
    answer was lost, means our first request went through."""
    lost = any(h.to_state == State.UNKNOWN for h in p.history)
    return provider_code == "R000001" and (resent or lost)
