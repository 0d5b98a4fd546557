"""Payments held for review (pure): which are waiting, and what a review decision is recorded
as. The four-eyes rules themselves are in :mod:`switch.reviews`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from switch.payments import Payment, view
from switch.states import Event, State


def held_views(
    payments: Iterable[Payment], merchant_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """Payments held for review, oldest first: one merchant's, or all (``None``)."""
    found = [
        p
        for p in payments
        if p.state == State.HELD and (merchant_id is None or p.merchant_id == merchant_id)
    ]
    found.sort(key=lambda p: (p.created_at, p.id))
    return [view(p) for p in found[: max(limit, 0)]]


def recorded_as(event: Event) -> str:
    """The compliance event a review decision leaves on the record."""
    return {Event.ENDORSE: "endorsed", Event.APPROVE: "approved"}.get(event, "rejected")
