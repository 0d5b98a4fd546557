"""The audit trail: an append-only, hash-chained record of security- and money-relevant actions.

Each record carries ``seq`` (1, 2, 3, ... with no gaps), ``at`` (UTC, milliseconds, ISO 8601),
``actor`` (``user:<id>``, ``client:<id>`` or ``system``), ``action``, ``target``, ``before``,
``after``, ``request_id``, ``prev_hash`` (the previous record's hash; 64 zeros for the first) and
``hash``: SHA-256 over the canonical JSON (orjson, sorted keys) of the record without ``hash``.
Changing, removing or reordering any record breaks the chain at that point.

What a chain cannot show by itself: a rewrite of the *newest* records with fresh hashes, or a cut
of the tail. Against that, ``head()`` gives the latest (seq, hash) to keep somewhere else (a
report, a ticket, another system) and ``verify(anchor=...)`` checks that the log still holds it.

The store (MongoDB, several appending processes) is :class:`infra.audit.AuditLog`.

Records are immutable, so they must never hold personal data in clear (erasure could not reach
it): pass masked values or encrypted-field tokens in ``before``/``after``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

GENESIS = "0" * 64
FILTERABLE = ("actor", "action", "target", "request_id")
MAX_PAGE = 1000

Record = dict[str, Any]


class AuditError(Exception):
    pass


def canonical(record: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k not in ("hash", "_id")}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def chain(prev_hash: str, record: Mapping[str, Any]) -> Record:
    """The record linked to its predecessor: ``prev_hash`` set and ``hash`` computed."""
    out = {k: v for k, v in record.items() if k not in ("hash", "_id")}
    out["prev_hash"] = prev_hash
    out["hash"] = record_hash(out)
    return out


def _plain(value: Any) -> Any:
    """JSON values only, so what MongoDB gives back hashes exactly as what was written (a
    datetime would come back truncated to milliseconds; here it becomes its ISO string)."""
    return None if value is None else orjson.loads(orjson.dumps(value))


def format_at(at: datetime) -> str:
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def new_record(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str,
    before: Any = None,
    after: Any = None,
    request_id: str | None = None,
) -> Record:
    """An unchained record (no ``prev_hash``/``hash`` yet)."""
    if not actor or not action:
        raise ValueError("an audit record needs an actor and an action")
    return {
        "seq": seq,
        "at": format_at(at),
        "actor": actor,
        "action": action,
        "target": target,
        "before": _plain(before),
        "after": _plain(after),
        "request_id": request_id,
    }


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""


class Verifier:
    """Checks records one at a time, in seq order, so a long log streams through it. Start it
    mid-log with the predecessor's hash and the next expected seq."""

    def __init__(self, prev_hash: str = GENESIS, next_seq: int = 1) -> None:
        self._prev_hash = prev_hash
        self._next_seq = next_seq
        self._hashes: dict[int, str] = {}
        self.checked = 0
        self.bad: VerifyResult | None = None

    def feed(self, record: Mapping[str, Any]) -> bool:
        """False once the chain is broken (later records are not looked at)."""
        if self.bad is not None:
            return False
        seq = record.get("seq")
        if seq != self._next_seq:
            return self._fail(self._next_seq, f"expected record {self._next_seq}, found {seq}")
        if record.get("hash") != record_hash(record):
            return self._fail(self._next_seq, f"record {seq} does not match its hash (altered)")
        if record.get("prev_hash") != self._prev_hash:
            # The predecessor verified on its own, so either it was rewritten with a fresh hash
            # or this record's link was altered; the earlier one is the first suspect.
            suspect = max(self._next_seq - 1, 1)
            return self._fail(
                suspect, f"record {seq} does not chain to record {seq - 1} (one of them rewritten)"
            )
        self._prev_hash = str(record["hash"])
        self._hashes[self._next_seq] = self._prev_hash
        self._next_seq += 1
        self.checked += 1
        return True

    def _fail(self, seq: int, reason: str) -> bool:
        self.bad = VerifyResult(False, self.checked, seq, reason)
        return False

    def hash_of(self, seq: int) -> str | None:
        return self._hashes.get(seq)

    def result(self, anchor: tuple[int, str] | None = None) -> VerifyResult:
        if self.bad is not None:
            return self.bad
        if anchor is not None:
            seq, expected = anchor
            if self.hash_of(seq) != expected:
                reason = f"record {seq} is missing or differs from the anchored hash"
                return VerifyResult(False, self.checked, seq, reason)
        return VerifyResult(True, self.checked)


def verify(
    records: Iterable[Mapping[str, Any]], anchor: tuple[int, str] | None = None
) -> VerifyResult:
    """Verify a whole log from seq 1, in seq order. ``anchor`` (seq, hash), kept elsewhere
    earlier, catches a rewritten or cut tail."""
    verifier = Verifier()
    for record in records:
        if not verifier.feed(record):
            break
    return verifier.result(anchor)
