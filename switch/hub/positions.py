"""Position arithmetic of one participant (pure), as Mojaloop central-ledger's position handler
does it at prepare (``src/domain/position/prepare.js``), with one deliberate difference: inside a
batch each reservation shrinks the headroom of the next (the reference tests every transfer of a
batch against the headroom at the start of the batch, which can overshoot the cap).

Signs are Mojaloop's, the hub's point of view: a positive position is what the participant owes
the scheme. A transfer adds its amount to the payer's position when it is reserved and takes it
from the payee's when it is committed. ``cover`` is the liquidity the participant prefunded
(the negative of its SETTLEMENT account).

    effective      = committed + reserved
    by_cover       = cover - effective                   # headroom the liquidity leaves
    by_cap         = net_debit_cap - (effective - gross) # headroom the cap leaves
    amount > by_cover -> refused, 4001 "Payer FSP insufficient liquidity"
    amount > by_cap   -> refused, 4200 "Payer limit error" (not for a gross transfer)

``gross`` is the part of ``reserved`` held by transfers that settle gross at commit
(:func:`switch.hub.ledger.gross`): they are paid from the cover at once and never become a net
debit, so the cap neither limits them nor counts them.

The liquidity check comes first, as in the reference (project issue #2880 gave the two their own
codes).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum


class Refusal(StrEnum):
    """Why a reservation (or a withdrawal of liquidity) is refused; values are FSPIOP codes."""

    LIQUIDITY = "4001"  # Payer FSP insufficient liquidity
    LIMIT = "4200"  # Payer limit error (the net debit cap)


REFUSAL_TEXT = {
    Refusal.LIQUIDITY: "payer participant has insufficient liquidity",
    Refusal.LIMIT: "the transfer would take the payer past its net debit cap",
}


@dataclass(frozen=True, slots=True)
class Position:
    """One participant's position in one currency, in cents."""

    committed: int = 0  # cleared transfers: + paid out, - received
    reserved: int = 0  # transfers reserved on it as payer, not yet committed or aborted
    cover: int = 0  # liquidity deposited (funds in - funds out)
    net_debit_cap: int = 0
    gross: int = 0  # of ``reserved``: held by gross transfers (the cap does not count them)

    @property
    def effective(self) -> int:
        return self.committed + self.reserved

    @property
    def headroom(self) -> int:
        """How much more it may reserve: the smaller of what cover and cap leave."""
        return min(self.cover - self.effective, self.net_debit_cap - self.net_effective)

    @property
    def net_effective(self) -> int:
        """What the net debit cap bounds: the effective position without gross reservations."""
        return self.effective - self.gross


def refusal(pos: Position, amount: int, gross: bool = False) -> Refusal | None:
    """Why ``amount`` may not be reserved on ``pos``; None when it may. A ``gross`` transfer
    (settled on its own at commit, :func:`switch.hub.ledger.gross`) is checked against the
    liquidity cover alone: it is paid from that cover at once and never becomes a net debit, so
    the net debit cap, which bounds what a participant may owe until the window settles, gives
    it no credit and does not limit it."""
    if amount <= 0:
        raise ValueError("a reservation is a positive amount")
    if pos.cover - pos.effective < amount:
        return Refusal.LIQUIDITY
    if not gross and pos.net_debit_cap - pos.net_effective < amount:
        return Refusal.LIMIT
    return None


def reserve(pos: Position, amount: int, gross: bool = False) -> Position:
    return replace(pos, reserved=pos.reserved + amount, gross=pos.gross + (amount if gross else 0))


def release(pos: Position, amount: int, gross: bool = False) -> Position:
    """An aborted or expired reservation gives its amount back."""
    if amount > (pos.gross if gross else pos.reserved):
        raise ValueError("releasing more than is reserved")
    return replace(pos, reserved=pos.reserved - amount, gross=pos.gross - (amount if gross else 0))


def commit_payer(pos: Position, amount: int) -> Position:
    """The payer's reservation becomes committed: its effective position does not change."""
    if amount > pos.reserved:
        raise ValueError("committing more than is reserved")
    return replace(pos, reserved=pos.reserved - amount, committed=pos.committed + amount)


def credit_payee(pos: Position, amount: int) -> Position:
    return replace(pos, committed=pos.committed - amount)


def settle_gross_payer(pos: Position, amount: int) -> Position:
    """A gross transfer commits: the payer's reservation ends and the amount leaves its cover
    (its settlement account paid it at once); its committed position does not change."""
    if amount > pos.gross:
        raise ValueError("committing more than is reserved gross")
    return replace(
        pos, reserved=pos.reserved - amount, gross=pos.gross - amount, cover=pos.cover - amount
    )


def settle_gross_payee(pos: Position, amount: int) -> Position:
    """A gross transfer commits: the payee's cover grows by the amount; its position does not."""
    return replace(pos, cover=pos.cover + amount)


def reserve_batch(
    positions: dict[str, Position], requests: Sequence[tuple[str, int]]
) -> tuple[dict[str, Position], list[Refusal | None]]:
    """Reserve each ``(participant, amount)`` in order, each against the headroom the previous
    ones left. Returns the new positions and, per request, its refusal (None: reserved)."""
    out = dict(positions)
    verdicts: list[Refusal | None] = []
    for participant, amount in requests:
        why = refusal(out[participant], amount)
        if why is None:
            out[participant] = reserve(out[participant], amount)
        verdicts.append(why)
    return out, verdicts


def funds_out_refusal(pos: Position, amount: int) -> Refusal | None:
    """A withdrawal of liquidity may not leave less cover than the position already uses
    (Mojaloop refuses a funds-out that would take the SETTLEMENT account above zero; ours also
    keeps every reserved and committed debit covered)."""
    if amount <= 0:
        raise ValueError("a withdrawal is a positive amount")
    if pos.cover - amount < max(pos.effective, 0):
        return Refusal.LIQUIDITY
    return None


def alarm_level(pos: Position) -> int:
    """The position as a share of what it may reach, in basis points: the larger of the
    effective position over the cover and the net one (no gross reservations) over the cap; 0
    when it owes nothing. Above 10,000 only if cover was withdrawn under a position."""
    shares = [
        10_000 if limit <= 0 else used * 10_000 // limit
        for used, limit in ((pos.effective, pos.cover), (pos.net_effective, pos.net_debit_cap))
        if used > 0  # a gross reservation uses cover, not cap
    ]
    return max(shares, default=0)


def crossed(before: Position, after: Position, threshold_bps: int) -> bool:
    """The position went from under the alarm threshold to at or above it (Mojaloop's
    ``thresholdAlarmPercentage`` on its limit; the reference only logs it, we alert)."""
    return alarm_level(before) < threshold_bps <= alarm_level(after)


def total(positions: Iterable[Position]) -> int:
    """Sum of committed positions: zero over all participants, since every committed transfer
    adds to one and takes from another."""
    return sum(p.committed for p in positions)


def amount_text(minor: int) -> str:
    """Cents to the wire form, signed (positions go below zero): "-1500.50"."""
    major, cents = divmod(abs(minor), 100)
    text = str(major) if cents == 0 else f"{major}.{cents:02d}"
    return f"-{text}" if minor < 0 else text
