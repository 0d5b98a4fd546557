"""The hub scenario's money checks, over the hub's own records after the run. Pure.

- every transfer the load prepared (201) ended ``committed`` or aborted (rejected, expired)
  exactly once: one stored transfer per id (the id is the primary key), a final state, and
  exactly one final step in its history; none still reserved;
- one Idempotency-Key, one transfer id (keys are never reused by the load);
- each participant's position equals what it paid minus what it was paid over its committed
  transfers (the hub's scheme fee is 0 in the bench), and positions sum to zero;
- no position ever passed min(net debit cap, liquidity cover) (the hub's ``peak``), and no
  reservation is left;
- the journal balances (``switch/reconcile.py``, passed in as ``books``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FINAL = frozenset({"committed", "aborted_rejected", "expired_reserved", "aborted_refused"})
ENDS = frozenset({"commit", "reject", "expire"})  # the events that end a reserved transfer


@dataclass
class HubCheck:
    prepared: int = 0
    committed: int = 0
    rejected: int = 0
    expired: int = 0
    refused: int = 0
    not_final: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # answered 201, not stored
    ended_twice: list[str] = field(default_factory=list)
    key_with_many_ids: list[str] = field(default_factory=list)
    position_mismatch: dict[str, dict[str, int]] = field(default_factory=dict)
    over_cap: dict[str, dict[str, int]] = field(default_factory=dict)
    reserved_left: dict[str, int] = field(default_factory=dict)
    positions_sum: int = 0
    books_ok: bool | None = None

    @property
    def ok(self) -> bool:
        return not (
            self.not_final
            or self.missing
            or self.ended_twice
            or self.key_with_many_ids
            or self.position_mismatch
            or self.over_cap
            or self.reserved_left
            or self.positions_sum
            or self.books_ok is False
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "prepared": self.prepared,
            "committed": self.committed,
            "rejected": self.rejected,
            "expired": self.expired,
            "refused_at_prepare": self.refused,
            "not_final": self.not_final[:20],
            "missing": self.missing[:20],
            "ended_twice": self.ended_twice[:20],
            "key_with_many_ids": self.key_with_many_ids[:20],
            "position_mismatch": self.position_mismatch,
            "over_cap": self.over_cap,
            "reserved_left": self.reserved_left,
            "positions_sum_cents": self.positions_sum,
            "books_ok": self.books_ok,
        }


def cents(text: str) -> int:
    """``"1500.5"`` -> 150050 (the API's decimal strings, signed)."""
    sign = -1 if text.startswith("-") else 1
    whole, _, frac = text.lstrip("-").partition(".")
    return sign * (int(whole or "0") * 100 + int((frac + "00")[:2]))


def check_hub(
    answered: Iterable[tuple[str, str]],
    docs: Sequence[Mapping[str, Any]],
    positions: Mapping[str, Mapping[str, str]],
    books_ok: bool | None,
) -> HubCheck:
    """``answered``: (Idempotency-Key, transfer id) of each prepare answered 201; ``docs``: the
    stored hub transfers (``hub_transfers``); ``positions``: participant id -> its position as
    ``GET /v1/operator/hub/participants/{id}`` shows it."""
    out = HubCheck(books_ok=books_ok)
    ids_of_key: dict[str, set[str]] = {}
    for key, tid in answered:
        ids_of_key.setdefault(key, set()).add(tid)
    out.key_with_many_ids = sorted(k for k, ids in ids_of_key.items() if len(ids) > 1)
    prepared = {tid for ids in ids_of_key.values() for tid in ids}
    out.prepared = len(prepared)
    by_id = {str(d["_id"]): d for d in docs}
    out.missing = sorted(prepared - set(by_id))
    states = Counter(str(d["state"]) for d in docs)
    out.committed = states["committed"]
    out.rejected = states["aborted_rejected"]
    out.expired = states["expired_reserved"]
    out.refused = states["aborted_refused"]
    out.not_final = sorted(tid for tid, d in by_id.items() if d["state"] not in FINAL)
    out.ended_twice = sorted(
        tid
        for tid, d in by_id.items()
        if sum(1 for h in d.get("history", ()) if h.get("event") in ENDS) > 1
    )
    moved: Counter[str] = Counter()
    for d in docs:
        if d["state"] == "committed":
            moved[str(d["payer"])] += int(d["amount"])
            moved[str(d["payee"])] -= int(d["amount"])
    for pid, pos in positions.items():
        position = cents(pos["position"])
        out.positions_sum += position
        if position != moved[pid]:
            out.position_mismatch[pid] = {"position": position, "committed_net": moved[pid]}
        limit = min(cents(pos["net_debit_cap"]), cents(pos["liquidity_cover"]))
        peak = cents(pos["peak"])
        if peak > limit:
            out.over_cap[pid] = {"peak": peak, "limit": limit}
        if cents(pos["reserved"]):
            out.reserved_left[pid] = cents(pos["reserved"])
    return out


def batch_stats(docs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How the position actor batched: every step of a batch carries the batch's one decision
    time (``actors/hub/shell.py`` decides a batch at one ``now``), so distinct step times are
    batches. Steps per batch, and the median gap between consecutive batches: when the queue
    never empties, that gap is what one batch (decide, one transaction, answer) takes."""
    stamps = Counter(h["at"] for d in docs for h in d.get("history", ()) if "at" in h)
    if not stamps:
        return {"batches": 0}
    times = sorted(stamps)
    gaps = sorted((b - a).total_seconds() for a, b in itertools.pairwise(times))
    steps = sum(stamps.values())
    return {
        "batches": len(times),
        "steps": steps,
        "steps_per_batch": round(steps / len(times), 2),
        "max_steps_in_a_batch": max(stamps.values()),
        "gap_ms_p50": round(gaps[len(gaps) // 2] * 1000, 1) if gaps else None,
    }
