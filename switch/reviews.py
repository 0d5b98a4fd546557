"""The review of held payments (pure): holding a new payment, reviewers' decisions, and the
``review`` object of the payment view.

Everything is kept in the payment's own history, so the review survives restarts with the
payment and needs no other collection:

- the first entry (event ``hold``) carries ``detail.review`` = {reason, rules, message, needed,
  hits}: why it was held and how many approvers it needs;
- each decision is an entry whose ``detail.review`` = {decision, by, reason}: ``endorse`` (an
  approval, more needed; the state stays ``held``), ``approve`` (the last approval: to
  ``submitting``) or ``reject`` (to ``rejected``).

Four-eyes rules: the maker of a held payment never approves it nor counts toward its approvals,
so a payment needing two approvals needs two people other than the maker; the same reviewer
cannot approve twice; a rejection needs a reason; one rejection is enough, and the maker may
reject (withdraw) its own payment: that moves no money.

The maker (:func:`maker_for`, kept as ``maker`` in the hold record) is the person who created
the payment: the signed-in user of a session token, or, for an API client's token, the person
who issued the client's current secret (who created it, or last rotated it: only they have held
that secret, so the client acts for them). A client no person made (the operator's command line)
is its own maker, ``client:<id>``, which no reviewer can be. Payments held before the maker was
recorded have none, so no reviewer is excluded from them.

The approving entry does not notify the merchant (``status_changed`` is cleared): the merchant
was told ``held`` and hears next of ``processing`` or the outcome, as with any payment's brief
``pending``.

This module imports :mod:`switch.payments` only for types, so that module's view can use
:func:`summary` without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from typing import TYPE_CHECKING, Any

from switch.compliance import Screening
from switch.states import Event, State

if TYPE_CHECKING:
    from switch.payments import HistoryEntry, Payment

_DECISIONS: dict[str, str] = {"endorse": "approve", "approve": "approve", "reject": "reject"}
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class Step:
    """What a decision does: the event to apply and what its history entry records."""

    event: Event
    detail: dict[str, Any]
    failure: tuple[str, str] | None = None  # (code, message) for a rejection


@dataclass(frozen=True, slots=True)
class Refused:
    status: int
    code: str
    message: str
    field: str | None = None


def maker_for(kind: str, subject: str, issuer: str | None) -> str | None:
    """Who made a payment created with a token of ``kind`` for ``subject`` (a user id or a client
    id) and, for a client token, the ``issuer`` of the client's secret ("" when no person
    issued it). None when that is not known from the token (minted before it said; look the
    client up, :func:`switch.clients.secret_holder`)."""
    if kind == "session":
        return f"user:{subject}"
    if issuer is None:
        return None
    return issuer or f"client:{subject}"


def screened(payment: Payment, screening: Screening, needed: int, maker: str = "") -> Payment:
    """A new payment as screening lets it be stored: the day its amount was counted goes into
    the first entry (so a failure gives it back to that day's totals), and a hold makes it
    ``held``."""
    if screening.day is not None:
        first = payment.history[0]
        entry = replace(first, detail={**first.detail, "aml": {"day": screening.day}})
        payment = replace(payment, history=(entry, *payment.history[1:]))
    return as_held(payment, screening, needed, maker) if screening.action == "hold" else payment


def as_held(payment: Payment, screening: Screening, needed: int, maker: str = "") -> Payment:
    """A new payment (as ``new_payment`` built it) inserted as ``held`` instead of
    ``submitting``; its first entry notifies the merchant (``payment.held``/``payout.held``).
    ``maker``: who made it (:func:`maker_for`); "" when nobody did (the switch itself)."""
    first = payment.history[0]
    review = {
        "reason": screening.reason,
        "rules": list(screening.rules),
        "message": screening.message,
        "needed": needed,
        "hits": [dict(h) for h in screening.hits],
        "maker": maker or None,
    }
    entry = replace(
        first,
        event="hold",
        to_state=State.HELD,
        status_changed=True,
        detail={**first.detail, "review": review},
    )
    return replace(payment, state=State.HELD, history=(entry, *payment.history[1:]))


def _review_entries(history: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    return [h for h in history if h.event in _DECISIONS and "review" in h.detail]


def approvers(history: Sequence[HistoryEntry]) -> list[str]:
    return [
        str(h.detail["review"]["by"])
        for h in _review_entries(history)
        if h.event in ("endorse", "approve")
    ]


def hold_of(history: Sequence[HistoryEntry]) -> dict[str, Any] | None:
    """The hold record of the first entry, or None for a payment never held."""
    if not history or history[0].event != "hold":
        return None
    review = history[0].detail.get("review")
    return review if isinstance(review, dict) else None


def review_step(
    payment: Payment, decision: str, reviewer: str, reason: str | None
) -> Step | Refused:
    """A reviewer's decision on a payment, or why it cannot be taken."""
    hold = hold_of(payment.history)
    if payment.state != State.HELD or hold is None:
        return Refused(409, "not_held", f"payment {payment.id} is not held for review")
    text = (reason or "").strip()
    if len(text) > MAX_REASON:
        return Refused(422, "validation_failed", f"at most {MAX_REASON} characters", "reason")
    if decision == "reject":
        if not text:
            return Refused(422, "reason_required", "a rejection needs a reason", "reason")
        detail = {"review": {"decision": "reject", "by": reviewer, "reason": text}}
        message = f"A reviewer rejected this payment: {text}"
        return Step(Event.REJECT, detail, ("review_rejected", message))
    if decision != "approve":
        return Refused(422, "validation_failed", "approve or reject", "decision")
    maker = hold.get("maker")
    if maker and reviewer == maker:
        return Refused(
            403,
            "maker_cannot_approve",
            "you made this payment (or issued the API client that did); four eyes: another "
            "person must approve it. You may reject it.",
        )
    done = [a for a in approvers(payment.history) if a != maker]
    if reviewer in done:
        return Refused(
            409,
            "already_approved",
            "you already approved this payment; it needs a different reviewer",
        )
    needed = int(hold.get("needed", 1))
    event = Event.APPROVE if len(done) + 1 >= needed else Event.ENDORSE
    approval: dict[str, Any] = {"decision": "approve", "by": reviewer, "reason": text or None}
    return Step(event, {"review": approval})


def quiet_last(payment: Payment) -> Payment:
    """The payment with its newest entry not notified (see the module docstring)."""
    last = replace(payment.history[-1], status_changed=False)
    return replace(payment, history=(*payment.history[:-1], last))


def _iso(entry: HistoryEntry) -> str:
    return entry.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary(history: Sequence[HistoryEntry]) -> dict[str, Any] | None:
    """The ``review`` object of the payment view: why it was held, who approved so far, how many
    approvals it needs, and the outcome. None for a payment never held."""
    hold = hold_of(history)
    if hold is None:
        return None
    decisions = _review_entries(history)
    approvals = [
        {"by": h.detail["review"]["by"], "at": _iso(h)}
        for h in decisions
        if h.event in ("endorse", "approve")
    ]
    body: dict[str, Any] = {
        "status": "pending",
        "reason": hold.get("reason", ""),
        "rules": list(hold.get("rules", [])),
        "message": hold.get("message", ""),
        "approvals_needed": int(hold.get("needed", 1)),
        "approvals": approvals,
    }
    for h in decisions:
        if h.event == "approve":
            body["status"] = "approved"
        elif h.event == "reject":
            body["status"] = "rejected"
            body["rejected_by"] = h.detail["review"]["by"]
            body["rejection_reason"] = h.detail["review"].get("reason")
    return body
