"""The hub's journal entries (pure), in the switch's journal (:mod:`switch.ledger`): every
position move is a balanced entry written in the same transaction as the change that causes it.

Accounts, signed as Mojaloop's ledger (hub's point of view, section 1.3 of its central-ledger
model: a positive position is owed to the scheme; a deposit makes the SETTLEMENT account negative
and HUB_RECONCILIATION positive):

    hub:<participant>:<currency>:position    POSITION: + reserved and paid, - received
    hub:<participant>:<currency>:settlement  SETTLEMENT: - liquidity deposited
    hub:clearing:<currency>                  contra of reservations not yet committed
    hub:reconciliation:<currency>            HUB_RECONCILIATION: contra of funds in and out

A reservation moves the payer's position against clearing; the commit moves clearing against the
payee's position (so clearing holds exactly the open reservations, and positions sum to zero once
none is open); an abort or expiry moves clearing back against the payer. Entry ids are
``<record id>:<kind>``: posting one twice is refused by the journal's primary key.
"""

from __future__ import annotations

from switch.ledger import Entry, Line


def position(participant: str, currency: str) -> str:
    return f"hub:{participant}:{currency}:position"


def settlement(participant: str, currency: str) -> str:
    return f"hub:{participant}:{currency}:settlement"


def clearing(currency: str) -> str:
    return f"hub:clearing:{currency}"


def reconciliation(currency: str) -> str:
    return f"hub:reconciliation:{currency}"


def _entry(record: str, kind: str, owner: str, lines: tuple[Line, ...], other: str = "") -> Entry:
    return Entry(f"{record}:{kind}", f"hub_{kind}", owner, record, lines, counterparty=other)


def reserve(transfer: str, payer: str, payee: str, amount: int, currency: str) -> Entry:
    lines = (Line(position(payer, currency), amount), Line(clearing(currency), -amount))
    return _entry(transfer, "reserve", payer, lines, payee)


def commit(transfer: str, payer: str, payee: str, amount: int, currency: str) -> Entry:
    lines = (Line(clearing(currency), amount), Line(position(payee, currency), -amount))
    return _entry(transfer, "commit", payer, lines, payee)


def release(transfer: str, payer: str, payee: str, amount: int, currency: str) -> Entry:
    lines = (Line(clearing(currency), amount), Line(position(payer, currency), -amount))
    return _entry(transfer, "release", payer, lines, payee)


def funds_in(record: str, participant: str, amount: int, currency: str) -> Entry:
    """``recordFundsIn``: the participant deposited liquidity at the settlement bank."""
    lines = (
        Line(reconciliation(currency), amount),
        Line(settlement(participant, currency), -amount),
    )
    return _entry(record, "funds_in", participant, lines)


def funds_out(record: str, participant: str, amount: int, currency: str) -> Entry:
    """``recordFundsOut``: liquidity went back to the participant."""
    lines = (
        Line(reconciliation(currency), -amount),
        Line(settlement(participant, currency), amount),
    )
    return _entry(record, "funds_out", participant, lines)


def multilateral(currency: str) -> str:
    """HUB_MULTILATERAL_SETTLEMENT: the contra of net settlement; back to zero once every
    participant of a settlement has been settled (the nets sum to zero)."""
    return f"hub:multilateral_settlement:{currency}"


def settle(settlement_id: str, participant: str, net: int, currency: str) -> tuple[Entry, Entry]:
    """A net settlement the RTGS confirmed (Mojaloop central-settlement section 3.4): the
    participant's POSITION moves by ``-net`` against HUB_MULTILATERAL_SETTLEMENT (a net sender's
    debt is paid, a recipient's claim is met), and its SETTLEMENT account records the money the
    RTGS moved, as a funds out (sender) or in (recipient) against HUB_RECONCILIATION."""
    record = f"{settlement_id}:{participant}"
    reset = (Line(position(participant, currency), -net), Line(multilateral(currency), net))
    moved = (Line(settlement(participant, currency), net), Line(reconciliation(currency), -net))
    return (
        _entry(record, "settle_position", participant, reset),
        _entry(record, "settle_funds", participant, moved),
    )


def gross(transfer: str, payer: str, payee: str, amount: int, currency: str) -> list[Entry]:
    """Immediate gross settlement of one committed transfer (Mojaloop's ``IMMEDIATE`` /
    ``GROSS`` settlement model): at commit, the transfer is settled on its own, as a settlement
    whose nets are +amount for the payer and -amount for the payee (:func:`settle`), so its
    positions come back to where they were and the SETTLEMENT accounts move at once. Written
    after :func:`commit` in the same transaction; HUB_MULTILATERAL_SETTLEMENT nets to zero."""
    return [
        *settle(transfer, payer, amount, currency),
        *settle(transfer, payee, -amount, currency),
    ]
