"""Finding payments, payouts and transfers (pure): the query string's filters, read and checked
with errors naming the field; the order (newest first: ``created_at``, then ``_id``, both
descending); the opaque cursor, signed and bound to the merchant, the kind and the filters; and
the time windows a search reads.

Why windows: the embedded SecantusDB server answers a query by reading every document its index
yields before it filters, sorts and limits (measured: bench/results/2026-12-07-find/). So a
search never asks for "this merchant's payments, newest first, 50 of them", which would read all
of the merchant's payments: it asks for one window of creation time at a time through the
``(merchant_id, created_at)`` index, sized to hold about :data:`WINDOW_TARGET` documents, and
applies every other filter itself (:func:`matches`) on a compact projection. A request reads at
most :data:`SCAN_BUDGET` documents; a page may then come back short, with a cursor to go on from
where the scan stopped (``next_cursor`` is null only when nothing is left).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from switch.money import parse_whole_shillings
from switch.phone import normalise_msisdn
from switch.rails import RAILS

NAIROBI = ZoneInfo("Africa/Nairobi")
Kind = Literal["payments", "payouts", "transfers"]
KINDS: tuple[Kind, ...] = ("payments", "payouts", "transfers")

# Which rails each list shows: money in (and what is done to it), money out.
_DIRECTIONS: dict[str, frozenset[str]] = {
    "payments": frozenset({"collection", "reversal", "posting"}),
    "payouts": frozenset({"payout"}),
    "transfers": frozenset({"collection", "payout"}),  # a transfer is found by its debit leg
}
STATUSES = ("pending", "processing", "succeeded", "failed", "expired")
TRANSFER_STATUSES = (
    "pending",
    "processing",
    "succeeded",
    "failed",
    "refunding",
    "refunded",
    "refund_failed",
)
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
WINDOW_TARGET = 2_000  # documents one window should hold
SCAN_BUDGET = 20_000  # documents one request may read before it answers with a cursor
FIRST_WINDOW = timedelta(hours=1)
_REFERENCE = re.compile(r"^[A-Za-z0-9 ._/-]{1,40}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9/-]{1,20}$")
_RECEIPT = re.compile(r"^[A-Za-z0-9_-]{4,40}$")

COMMON = ("status", "created_since", "created_until", "reference", "amount_min", "amount_max")
FIELDS: dict[str, tuple[str, ...]] = {
    "payments": (
        *COMMON,
        *("method", "provider", "updated_since", "updated_until", "phone", "receipt"),
    ),
    "payouts": (
        *COMMON,
        *("method", "provider", "updated_since", "updated_until", "phone", "account", "receipt"),
    ),
    "transfers": COMMON,
}
PAGING = ("limit", "cursor")


class FilterError(ValueError):
    """Bad filters: ``details`` names each bad field and why."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{d['field']}: {d['reason']}" for d in details))
        self.details = details


def methods_of(kind: str) -> tuple[str, ...]:
    return tuple(m for m, r in RAILS.items() if r.direction in _DIRECTIONS[kind])


def providers_of(kind: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(RAILS[m].provider for m in methods_of(kind)))


@dataclass(frozen=True)
class Filters:
    kind: Kind
    status: frozenset[str] = frozenset()
    method: frozenset[str] = frozenset()
    provider: frozenset[str] = frozenset()
    created_since: datetime | None = None
    created_until: datetime | None = None  # exclusive
    updated_since: datetime | None = None
    updated_until: datetime | None = None  # exclusive
    reference: str | None = None
    phone: str | None = None  # normalised MSISDN; searched through its blind index
    account: str | None = None  # bank account or SACCO member number; blind index too
    amount_min: int | None = None  # cents
    amount_max: int | None = None
    receipt: str | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    # Filled in by the api from phone/account (the keyed blind indexes, switch/pii.py).
    phone_bidx: str | None = field(default=None, compare=False)
    account_bidx: str | None = field(default=None, compare=False)

    def digest(self) -> str:
        """What a cursor is bound to: the filters, not the paging."""
        shown = {
            k: sorted(v) if isinstance(v, frozenset) else v
            for k, v in self.__dict__.items()
            if k not in ("limit", "cursor", "phone_bidx", "account_bidx")
        }
        return hashlib.sha256(orjson.dumps(shown, default=str)).hexdigest()[:16]

    @property
    def methods(self) -> frozenset[str]:
        """Every method a matching payment may have (the kind's, narrowed by method and
        provider)."""
        allowed = set(methods_of(self.kind))
        if self.method:
            allowed &= self.method
        if self.provider:
            allowed = {m for m in allowed if RAILS[m].provider in self.provider}
        return frozenset(allowed)


def _instant(name: str, text: str, end: bool) -> datetime:
    """An ISO 8601 time with its zone (``Z`` or ``+03:00``), or a date: that Nairobi day's
    start (``*_since``) or the next day's start (``*_until``, exclusive)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(), NAIROBI).astimezone(UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{name}: not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{name}: give the time zone (Z or +03:00)")
    return parsed.astimezone(UTC)


def _choices(name: str, text: str, allowed: tuple[str, ...]) -> frozenset[str]:
    chosen = frozenset(v.strip() for v in text.split(",") if v.strip())
    wrong = sorted(chosen - set(allowed))
    if wrong or not chosen:
        raise ValueError(f"{name}: {', '.join(wrong) or 'empty'} not one of {', '.join(allowed)}")
    return chosen


def _matching(name: str, text: str, pattern: re.Pattern[str]) -> str:
    if not pattern.match(text):
        raise ValueError(f"{name}: not a valid {name.replace('_', ' ')}")
    return text


def _amount(name: str, text: str) -> int:
    try:
        return parse_whole_shillings(text)
    except ValueError:
        raise ValueError(f"{name}: whole shillings as a decimal, e.g. 150 or 150.00") from None


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ValueError(f"limit: a whole number, 1 to {MAX_LIMIT}")
    return int(text)


def _phone(text: str) -> str:
    try:
        return normalise_msisdn(text)
    except ValueError as exc:
        raise ValueError(f"phone: {exc}") from None


def parse_filters(kind: Kind, query: Mapping[str, str]) -> Filters:
    """The filters of a list request's query string; :class:`FilterError` naming every bad
    field (unknown ones too: a misspelt filter must not silently widen the search)."""
    allowed = FIELDS[kind]
    statuses = TRANSFER_STATUSES if kind == "transfers" else STATUSES
    readers: dict[str, Any] = {
        "status": lambda v: _choices("status", v, statuses),
        "method": lambda v: _choices("method", v, methods_of(kind)),
        "provider": lambda v: _choices("provider", v, providers_of(kind)),
        "created_since": lambda v: _instant("created_since", v, False),
        "created_until": lambda v: _instant("created_until", v, True),
        "updated_since": lambda v: _instant("updated_since", v, False),
        "updated_until": lambda v: _instant("updated_until", v, True),
        "reference": lambda v: _matching("reference", v, _REFERENCE),
        "phone": _phone,
        "account": lambda v: _matching("account", v, _ACCOUNT),
        "amount_min": lambda v: _amount("amount_min", v),
        "amount_max": lambda v: _amount("amount_max", v),
        "receipt": lambda v: _matching("receipt", v, _RECEIPT),
        "limit": _limit,
        "cursor": lambda v: v,
    }
    values: dict[str, Any] = {}
    details: list[dict[str, str]] = []
    for name, text in query.items():
        if name not in allowed and name not in PAGING:
            reason = f"not a filter of {kind}; filters: {', '.join(allowed)}"
            details.append({"field": name, "reason": reason})
            continue
        try:
            values[name] = readers[name](text)
        except ValueError as exc:
            details.append({"field": name, "reason": str(exc).split(": ", 1)[-1]})
    details += _ranges(values)
    if details:
        raise FilterError(details)
    return Filters(kind=kind, **values)


def _ranges(values: Mapping[str, Any]) -> list[dict[str, str]]:
    found = []
    for low, high in (
        ("created_since", "created_until"),
        ("updated_since", "updated_until"),
        ("amount_min", "amount_max"),
    ):
        both = values.get(low) is not None and values.get(high) is not None
        if both and values[low] > values[high]:
            found.append({"field": high, "reason": f"before {low}"})
    return found


# --- order and cursor --------------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """Where a page ends: everything after it in the order (older; at the same millisecond, a
    smaller id) is still to come. ``id`` empty: everything at ``at`` is done too."""

    at: datetime
    id: str = ""


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def after(doc: Mapping[str, Any], pos: Position | None) -> bool:
    """``doc`` comes after ``pos`` in the order (newest first)."""
    if pos is None:
        return True
    at = ms(_utc(doc["created_at"]))
    return at < ms(pos.at) or (at == ms(pos.at) and str(doc["_id"]) < pos.id)


def order_key(doc: Mapping[str, Any]) -> tuple[int, str]:
    return ms(_utc(doc["created_at"])), str(doc["_id"])


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_cursor(key: bytes, merchant_id: str, filters: Filters, pos: Position) -> str:
    """An opaque cursor: the position, signed (HMAC-SHA256) together with the merchant, the kind
    and the filters it was made for."""
    body = orjson.dumps(
        {"k": filters.kind, "m": merchant_id, "f": filters.digest(), "t": ms(pos.at), "i": pos.id}
    )
    sig = hmac.new(key, body, hashlib.sha256).digest()[:16]
    return _b64(body) + "." + _b64(sig)


def decode_cursor(key: bytes, merchant_id: str, filters: Filters) -> Position | None:
    """The position ``filters.cursor`` names; FilterError (field ``cursor``) when it was forged,
    altered, or made for another merchant, list or set of filters."""
    if filters.cursor is None:
        return None
    bad = FilterError([{"field": "cursor", "reason": "not a cursor this search gave you"}])
    try:
        body_text, sig_text = filters.cursor.split(".")
        body, sig = _unb64(body_text), _unb64(sig_text)
    except ValueError:
        raise bad from None
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest()[:16], sig):
        raise bad
    data = orjson.loads(body)
    if (data.get("k"), data.get("m")) != (filters.kind, merchant_id):
        raise bad
    if data.get("f") != filters.digest():
        raise FilterError(
            [{"field": "cursor", "reason": "made for other filters: repeat the same query"}]
        )
    return Position(from_ms(int(data["t"])), str(data["i"]))


# --- matching ----------------------------------------------------------------------------------

# The fields a search reads of each payment document (a projection: never its history).
PROJECTION = {
    "_id": 1,
    "merchant_id": 1,  # whose, in an aggregator's view of its sub-merchants
    "created_at": 1,
    "updated_at": 1,
    "status": 1,
    "method": 1,
    "reference": 1,
    "amount_minor": 1,
    "phone_bidx": 1,
    "account_bidx": 1,
    "provider.receipt": 1,
    "transfer.id": 1,
    "transfer.leg": 1,
}


def matches(doc: Mapping[str, Any], f: Filters) -> bool:
    """``doc`` (a payment document, or its projection) passes every filter of ``f``."""
    if doc.get("method") not in f.methods:
        return False
    leg = (doc.get("transfer") or {}).get("leg")
    if f.kind == "transfers" and leg != "debit":
        return False
    if f.status and f.kind != "transfers" and doc.get("status") not in f.status:
        return False  # a transfer's status is its legs': checked on the view (transfer_passes)
    created = _utc(doc["created_at"])
    if f.created_since and created < f.created_since:
        return False
    if f.created_until and created >= f.created_until:
        return False
    updated = _utc(doc.get("updated_at") or doc["created_at"])
    if (f.updated_since and updated < f.updated_since) or (
        f.updated_until and updated >= f.updated_until
    ):
        return False
    amount = int(doc.get("amount_minor") or 0)
    if (f.amount_min is not None and amount < f.amount_min) or (
        f.amount_max is not None and amount > f.amount_max
    ):
        return False
    checks = (
        (f.reference, doc.get("reference")),
        (f.phone_bidx, doc.get("phone_bidx")),
        (f.account_bidx, doc.get("account_bidx")),
        (f.receipt, (doc.get("provider") or {}).get("receipt")),
    )
    return all(wanted is None or wanted == found for wanted, found in checks)


def transfer_passes(view: Mapping[str, Any], f: Filters) -> bool:
    return not f.status or view.get("status") in f.status


# --- windows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Creation times ``[since, upto]`` of one read (``upto`` inclusive: a position's own
    millisecond is read again and :func:`after` drops what was already shown)."""

    since: datetime
    upto: datetime

    def query(self, merchant_id: str | Sequence[str]) -> dict[str, Any]:
        """Exactly what the ``(merchant_id, created_at)`` index serves: one equality and one
        range, nothing else (any other clause makes the embedded server scan the merchant).
        Several merchants (an aggregator's view): the same range over each (``$in``)."""
        return {
            "merchant_id": of(merchant_id),
            "created_at": {"$gte": self.since, "$lte": self.upto},
        }


def of(merchant_id: str | Sequence[str]) -> Any:
    """The ``merchant_id`` clause for one merchant or several."""
    if isinstance(merchant_id, str):
        return merchant_id
    return merchant_id[0] if len(merchant_id) == 1 else {"$in": list(merchant_id)}


def start(f: Filters, pos: Position | None, now: datetime) -> Position:
    """Where the scan begins: the cursor, else the newest moment the filters allow."""
    top = now + timedelta(minutes=5)  # clocks of other processes may run a little ahead
    if f.created_until is not None:
        top = min(top, f.created_until - timedelta(milliseconds=1))
    if pos is not None and pos.at <= top:
        return pos
    return Position(top, "\uffff")  # every id at that millisecond still to come


def floor(f: Filters, merchant_since: datetime) -> datetime:
    """The oldest moment worth reading: the filter's, or when the merchant came to be."""
    lowest = merchant_since - timedelta(minutes=5)
    return max(lowest, f.created_since) if f.created_since else lowest


def next_window(upto: datetime, bottom: datetime, width: timedelta) -> Window | None:
    if upto < bottom:
        return None
    return Window(max(bottom, upto - width), upto)


def next_width(width: timedelta, found: int) -> timedelta:
    """The next window's width, so that it holds about :data:`WINDOW_TARGET` documents at the
    rate the last one saw (at most 8 times wider, at least a quarter as wide)."""
    if found <= 0:
        return width * 8
    factor = min(8.0, max(0.25, WINDOW_TARGET / found))
    return max(timedelta(seconds=1), width * factor)


def page_end(docs: Sequence[Mapping[str, Any]], limit: int) -> Position | None:
    """The position after the ``limit``-th document of an ordered list, if it has more."""
    if len(docs) <= limit:
        return None
    last = docs[limit - 1]
    return Position(_utc(last["created_at"]), str(last["_id"]))


def narrowed(f: Filters, phone_bidx: str | None, account_bidx: str | None) -> Filters:
    return replace(f, phone_bidx=phone_bidx, account_bidx=account_bidx)
