"""Breaks injected into a simulator's own records, for reconciliation tests and the sandbox
(pure). ``POST /__sim/breaks`` adds one, ``GET`` lists them, ``DELETE`` forgets them (so does
``POST /__sim/reset``). Kinds:

- ``drop_callback``: the next ``count`` notifications of money received are never sent (M-Pesa:
  C2B confirmations; the money still moves, so the provider's record shows it and the switch
  does not);
- ``change_amount`` ``{ref, amount}``: the records show ``ref`` (a receipt or our id) with
  another amount (whole or decimal shillings as a string);
- ``duplicate`` ``{ref}``: the records list ``ref`` twice;
- ``drop_record`` ``{ref}``: the records leave ``ref`` out;
- ``stranger`` ``{amount, account?, shortcode?}``: someone pays the simulator's account outside
  the switch (M-Pesa: a C2B payment into ``shortcode``, by default the first registered, that
  notifies nobody).

Each simulator applies them where it writes its records (:func:`apply`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

KINDS = ("drop_callback", "change_amount", "duplicate", "drop_record", "stranger")
R = TypeVar("R")


@dataclass(slots=True)
class Break:
    kind: str
    ref: str = ""
    amount_cents: int = 0
    account: str = ""
    shortcode: str = ""
    count: int = 1  # drop_callback: how many more to drop

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["amount"] = f"{self.amount_cents // 100}.{self.amount_cents % 100:02d}"
        del out["amount_cents"]
        return out


@dataclass(slots=True)
class Breaks:
    items: list[Break] = field(default_factory=list)

    def add(self, doc: Any) -> Break:
        """Validated whole; ValueError names the bad field."""
        if not isinstance(doc, dict):
            raise ValueError("the body must be a JSON object")
        kind = doc.get("kind")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        unknown = set(doc) - {"kind", "ref", "amount", "account", "shortcode", "count"}
        if unknown:
            raise ValueError(f"unknown field {sorted(unknown)[0]}")
        brk = Break(kind)
        if kind in ("change_amount", "duplicate", "drop_record"):
            ref = doc.get("ref")
            if not isinstance(ref, str) or not ref:
                raise ValueError(f"ref (a receipt or payment id) is required for {kind}")
            brk.ref = ref
        if kind in ("change_amount", "stranger"):
            brk.amount_cents = _cents(doc.get("amount"))
        if kind == "stranger":
            account = doc.get("account", "")
            if not isinstance(account, str) or len(account) > 20:
                raise ValueError("account must be a string of at most 20 characters")
            brk.account = account
            shortcode = doc.get("shortcode", "")
            if not isinstance(shortcode, str) or not (shortcode == "" or shortcode.isdigit()):
                raise ValueError("shortcode must be digits")
            brk.shortcode = shortcode
        if kind == "drop_callback":
            count = doc.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 1000:
                raise ValueError("count must be a whole number from 1 to 1000")
            brk.count = count
        self.items.append(brk)
        return brk

    def take_dropped_callback(self) -> bool:
        """True (and one fewer left) when the next notification is to be dropped."""
        for brk in self.items:
            if brk.kind == "drop_callback" and brk.count > 0:
                brk.count -= 1
                return True
        return False

    def strangers(self) -> list[Break]:
        """The stranger payments not yet played (each is played once by the simulator)."""
        found = [b for b in self.items if b.kind == "stranger"]
        self.items = [b for b in self.items if b.kind != "stranger"]
        return found

    def clear(self) -> None:
        self.items.clear()

    def to_json(self) -> list[dict[str, Any]]:
        return [b.to_json() for b in self.items]


def apply(
    breaks: Breaks,
    rows: list[R],
    ref_of: Callable[[R], tuple[str, ...]],
    with_amount: Callable[[R, int], R],
) -> list[R]:
    """``rows`` as the injected breaks make them read: changed amounts, duplicates, dropped."""
    out: list[R] = []
    for row in rows:
        refs = ref_of(row)
        hits = [b for b in breaks.items if b.ref and b.ref in refs]
        if any(b.kind == "drop_record" for b in hits):
            continue
        for b in hits:
            if b.kind == "change_amount":
                row = with_amount(row, b.amount_cents)
        out.append(row)
        if any(b.kind == "duplicate" for b in hits):
            out.append(row)
    return out


def _cents(value: Any) -> int:
    try:
        exact = Decimal(str(value)) * 100
    except InvalidOperation:
        raise ValueError('amount must be shillings as a string, such as "150"') from None
    if not isinstance(value, str) or exact <= 0 or exact != exact.to_integral_value():
        raise ValueError(
            "amount must be a positive number of shillings as a string, at most 2 decimals"
        )
    return int(exact)
