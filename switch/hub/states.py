"""The hub transfer state table: every state change of a transfer between participants goes
through :func:`advance`, and each is appended to the transfer's history. Fine states map to the
four FSPIOP states a participant sees (Mojaloop ``seeds/transferState.js``)::

    (prepare) --reserve--> reserved --commit--> committed
        |                     |--reject--> aborted_rejected_by_payee
        |                     \\--expire--> expired_reserved
        \\--refuse--> aborted_refused            (liquidity, cap, participant not active)

A refused prepare is stored too, so that the same request again answers the same refusal and
nothing moved. Only ``reserved`` holds money (on the payer's position).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HubState(StrEnum):
    RESERVED = "reserved"
    COMMITTED = "committed"
    ABORTED_REFUSED = "aborted_refused"
    ABORTED_REJECTED = "aborted_rejected"
    EXPIRED_RESERVED = "expired_reserved"


class External(StrEnum):
    """The FSPIOP transfer states (``RECEIVED`` is never shown: a prepare is answered after its
    position check)."""

    RESERVED = "RESERVED"
    COMMITTED = "COMMITTED"
    ABORTED = "ABORTED"


class HubEvent(StrEnum):
    RESERVE = "reserve"  # the position check passed; the amount is reserved on the payer
    REFUSE = "refuse"  # the position check (or a participant's status) refused it
    COMMIT = "commit"  # the payee accepted: the payee's position is credited
    REJECT = "reject"  # the payee refused: the reservation is released
    EXPIRE = "expire"  # nobody answered before the expiry: the reservation is released


MEANING: dict[HubState, tuple[External, str]] = {
    HubState.RESERVED: (External.RESERVED, "amount reserved on the payer; awaiting the payee"),
    HubState.COMMITTED: (External.COMMITTED, "the payee accepted; both positions moved"),
    HubState.ABORTED_REFUSED: (
        External.ABORTED,
        "refused at prepare (liquidity, net debit cap or participant status); nothing moved",
    ),
    HubState.ABORTED_REJECTED: (External.ABORTED, "the payee rejected it; reservation released"),
    HubState.EXPIRED_RESERVED: (
        External.ABORTED,
        "nobody answered before its expiry; reservation released",
    ),
}

# (from, event) -> to. ``None`` is a transfer not yet stored (its prepare).
TRANSITIONS: dict[tuple[HubState | None, HubEvent], HubState] = {
    (None, HubEvent.RESERVE): HubState.RESERVED,
    (None, HubEvent.REFUSE): HubState.ABORTED_REFUSED,
    (HubState.RESERVED, HubEvent.COMMIT): HubState.COMMITTED,
    (HubState.RESERVED, HubEvent.REJECT): HubState.ABORTED_REJECTED,
    (HubState.RESERVED, HubEvent.EXPIRE): HubState.EXPIRED_RESERVED,
}

FINAL = frozenset(s for s in HubState if s is not HubState.RESERVED)


@dataclass(frozen=True, slots=True)
class Step:
    state: HubState | None
    changed: bool
    reason: str = ""


def advance(state: HubState | None, event: HubEvent) -> Step:
    """The state after ``event``; unchanged (with why) when the table has no such move."""
    target = TRANSITIONS.get((state, event))
    if target is not None:
        return Step(target, True)
    if state is None:
        return Step(None, False, f"no transfer to {event}")
    if state in FINAL:
        return Step(state, False, f"the transfer is already {external(state).value}")
    return Step(state, False, f"{event} does not apply to a {state} transfer")


def external(state: HubState) -> External:
    return MEANING[state][0]
