"""A transfer between participants (pure): its record, its history, how the API shows it and how
it is stored. Every change goes through :func:`switch.hub.states.advance` and appends one history
entry, so the record says who did what, when, and which position moved.

A committed transfer names the settlement window that was open when it committed and the
position change it made to each participant (``changes``), so a window's net positions are the
sum of ``changes`` over its transfers (Mojaloop aggregates ``participantPositionChange`` per
window the same way, central-settlement section 3.2).

A transfer of at least the gross threshold is ``settlement: "gross"`` from its prepare: it is
settled on its own at commit (:func:`switch.hub.ledger.gross`), so it names its window but makes
no position ``changes`` there and no window net counts it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from switch.hub.states import HubEvent, HubState, advance, external
from switch.money import format_minor
from switch.payments import iso

NET, GROSS = "net", "gross"

_AMOUNT = re.compile(r"^[0-9]{1,13}(\.[0-9]{1,2})?$")


def parse_amount(text: str, zero: bool = False) -> int:
    """A decimal string of shillings with at most two decimals ("1500", "1500.50") -> cents;
    zero only when ``zero`` (a net debit cap of 0: no credit at all). Raises ValueError with a
    message fit for a client (Mojaloop allows four decimals; KES has two)."""
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
        raise ValueError('must be a decimal string with at most two decimals, e.g. "1500.50"')
    whole, _, cents = text.partition(".")
    minor = int(whole) * 100 + int((cents + "00")[:2])
    if minor < 0 or (minor == 0 and not zero):
        raise ValueError("must be more than zero")
    return minor


@dataclass(frozen=True, slots=True)
class Step:
    """One history entry."""

    seq: int
    at: datetime
    state: HubState
    event: HubEvent
    by: str  # the participant (or ``hub`` for the sweep) that caused it
    reason: str = ""
    code: str = ""  # an FSPIOP error code for a refusal or a rejection


@dataclass(frozen=True, slots=True)
class HubTransfer:
    id: str
    payer: str
    payee: str
    amount: int
    currency: str
    expires_at: datetime
    request_hash: str
    created_at: datetime
    state: HubState
    history: tuple[Step, ...]
    quote_id: str = ""
    party: dict[str, str] = field(default_factory=dict)
    note: str = ""
    window_id: str = ""
    changes: dict[str, int] = field(default_factory=dict)
    settlement: str = NET  # NET | GROSS, fixed at prepare

    @property
    def error_code(self) -> str:
        return self.history[-1].code

    def moved(self, event: HubEvent, at: datetime, by: str, **extra: Any) -> HubTransfer:
        """The transfer after ``event`` (the caller checked :func:`advance` allows it)."""
        step = advance(self.state, event)
        if not step.changed or step.state is None:
            raise ValueError(step.reason)
        entry = Step(len(self.history) + 1, at, step.state, event, by, **extra)
        return replace(self, state=step.state, history=(*self.history, entry))


def prepared(
    *,
    transfer_id: str,
    payer: str,
    payee: str,
    amount: int,
    currency: str,
    expires_at: datetime,
    request_hash: str,
    at: datetime,
    refusal: tuple[str, str] | None,
    quote_id: str = "",
    party: dict[str, str] | None = None,
    note: str = "",
    settlement: str = NET,
) -> HubTransfer:
    """A new transfer, reserved, or refused with ``(code, reason)``."""
    event = HubEvent.REFUSE if refusal else HubEvent.RESERVE
    step = advance(None, event)
    assert step.state is not None
    code, reason = refusal or ("", "")
    first = Step(1, at, step.state, event, payer, reason, code)
    return HubTransfer(
        transfer_id,
        payer,
        payee,
        amount,
        currency,
        expires_at,
        request_hash,
        at,
        step.state,
        (first,),
        quote_id,
        dict(party or {}),
        note,
        settlement=settlement,
    )


def held(transfers: Iterable[HubTransfer]) -> dict[str, tuple[int, int]]:
    """Per payer, what its open (reserved) transfers hold: ``(reserved, of it gross)``, for
    the position actor's start to rebuild positions from the journal."""
    out: dict[str, tuple[int, int]] = {}
    for t in transfers:
        if t.state is HubState.RESERVED:
            reserved, gross = out.get(t.payer, (0, 0))
            out[t.payer] = (reserved + t.amount, gross + (t.amount if t.settlement == GROSS else 0))
    return out


def view(t: HubTransfer) -> dict[str, Any]:
    """The transfer as the API (and a webhook) shows it."""
    last = t.history[-1]
    body: dict[str, Any] = {
        "id": t.id,
        "object": "hub_transfer",
        "payer": t.payer,
        "payee": t.payee,
        "amount": format_minor(t.amount),
        "currency": t.currency,
        "state": external(t.state).value,
        "detail": t.state.value,
        "expires_at": iso(t.expires_at),
        "created_at": iso(t.created_at),
        "quote_id": t.quote_id or None,
        "party": t.party or None,
        "note": t.note or None,
        "window_id": t.window_id or None,
        "settlement": t.settlement,
        "error": {"code": last.code, "reason": last.reason} if last.code else None,
        "history": [
            {
                "state": s.state.value,
                "event": s.event.value,
                "by": s.by,
                "at": iso(s.at),
                **({"reason": s.reason} if s.reason else {}),
                **({"code": s.code} if s.code else {}),
            }
            for s in t.history
        ],
    }
    return body


def to_doc(t: HubTransfer) -> dict[str, Any]:
    return {
        "_id": t.id,
        "payer": t.payer,
        "payee": t.payee,
        "amount": t.amount,
        "currency": t.currency,
        "expires_at": t.expires_at,
        "request_hash": t.request_hash,
        "created_at": t.created_at,
        "state": t.state.value,
        "seq": t.history[-1].seq,  # the guard of the next update (update_of)
        "history": [_step_doc(s) for s in t.history],
        "quote_id": t.quote_id,
        "party": t.party,
        "note": t.note,
        "window_id": t.window_id,
        "changes": t.changes,
        "settlement": t.settlement,
    }


def _step_doc(s: Step) -> dict[str, Any]:
    return {
        "seq": s.seq,
        "at": s.at,
        "state": s.state.value,
        "event": s.event.value,
        "by": s.by,
        "reason": s.reason,
        "code": s.code,
    }


def from_doc(doc: dict[str, Any]) -> HubTransfer:
    history = tuple(
        Step(
            int(h["seq"]),
            h["at"],
            HubState(h["state"]),
            HubEvent(h["event"]),
            h["by"],
            h.get("reason", ""),
            h.get("code", ""),
        )
        for h in doc["history"]
    )
    return HubTransfer(
        doc["_id"],
        doc["payer"],
        doc["payee"],
        int(doc["amount"]),
        doc["currency"],
        doc["expires_at"],
        doc["request_hash"],
        doc["created_at"],
        HubState(doc["state"]),
        history,
        doc.get("quote_id", ""),
        dict(doc.get("party") or {}),
        doc.get("note", ""),
        doc.get("window_id", ""),
        {k: int(v) for k, v in (doc.get("changes") or {}).items()},
        doc.get("settlement", NET),
    )


def update_of(before_seq: int, t: HubTransfer) -> dict[str, Any]:
    """The MongoDB change from a stored version whose last history seq is ``before_seq``: only
    what changes after creation, guarded on that seq so a stale write changes nothing."""
    added = [_step_doc(s) for s in t.history if s.seq > before_seq]
    return {
        "$set": {
            "state": t.state.value,
            "seq": t.history[-1].seq,
            "window_id": t.window_id,
            "changes": t.changes,
        },
        "$push": {"history": {"$each": added}},
    }
