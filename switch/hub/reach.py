"""Where a hub party goes (pure): held by a participant (the directory answers, bank to bank as
ever), or reached by the switch's own rails.

The switch is itself a hub participant (:data:`SWITCH_PARTICIPANT`, made at start). A party no
participant holds but the switch's rails reach is the switch's: an M-Pesa or Airtel wallet (by
the MSISDN's operator prefix) or a SACCO member account registered with the switch. A bank's
transfer to such a party is reserved on the bank's position as any other; the switch, as the
payee, pays it out from the hub float merchant and commits the hub transfer only when the payout
succeeded (aborts when it failed). This module only decides the route; the payee's work is
``api/hub_switch_payee.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# A fixed id in the participants' own format (hpa_ + 26 of Crockford's alphabet), so every api
# process and the position actor name the same participant without reading anything first.
SWITCH_PARTICIPANT = "hpa_00000000000000000000SWITCH"
SWITCH_NAME = "The switch (M-Pesa, Airtel, SACCOs)"

# The MSISDN's original operator (routing/operators.py) -> the payout rail that reaches it.
# Mobile number portability exists: a ported number's payout fails at the operator and the
# hub transfer is aborted, so no money is lost by routing on the prefix.
WALLET_RAILS: dict[str, str] = {"safaricom": "mpesa_b2c", "airtel": "airtel_payout"}
SACCO_PURPOSE = "deposit"  # a bank's transfer to a member account is a deposit to it


@dataclass(frozen=True, slots=True)
class SwitchPayout:
    """What the switch pays out for a hub transfer to a party it reaches."""

    method: str
    phone: str = ""  # a wallet's MSISDN ('2547...')
    destination: dict[str, Any] = field(default_factory=dict)  # a SACCO member account

    def label(self) -> str:
        if self.phone:
            return f"{self.method} to {self.phone[:6]}***{self.phone[-3:]}"
        return f"{self.method} to {self.destination.get('sacco_code')} member"


def wallet(msisdn: str, operator: str) -> SwitchPayout | None:
    """The payout to a normalised MSISDN whose original operator is ``operator``; None when the
    switch has no rail to that operator (Telkom, Equitel, ...)."""
    method = WALLET_RAILS.get(operator)
    return SwitchPayout(method, phone=msisdn) if method else None


def sacco_member(
    code: str, member_number: str, member_patterns: Mapping[str, bool]
) -> SwitchPayout | None:
    """The payout to a SACCO member account: ``member_patterns`` maps each SACCO the switch has
    registered to whether ``member_number`` has that SACCO's format. None: not reachable."""
    if not member_patterns.get(code, False):
        return None
    return SwitchPayout(
        "sacco",
        destination={
            "type": "sacco",
            "sacco_code": code,
            "member_number": member_number,
            "purpose": SACCO_PURPOSE,
        },
    )


def payout_key(transfer_id: str) -> str:
    """The payout's Idempotency-Key (on the float merchant): one hub transfer, one payout, however
    often the switch drives it (a retry, a restart, a second api process)."""
    return f"hub-{transfer_id}"


def outcome(status: str) -> bool | None:
    """A payout's status -> commit (True), abort (False), or wait (None: not final yet; a held
    payout waits for its review, an unknown one for the payout's own recovery)."""
    if status == "succeeded":
        return True
    if status == "failed":
        return False
    return None
