"""A statement of one merchant account from the journal (pure): the opening balance, every entry
with what it did to the account and the running balance after it, the closing balance. Fees,
reversals and payouts show as their own entry kinds, each with its gross amount and fee.

The opening balance is worked back from the account's balance now and every entry since the
statement's start, read together (one snapshot: api/statements.py), so a statement needs no
entry older than its start, and it reconciles to ``GET /v1/balance`` by construction: the
closing balance of a statement up to now is that balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from switch.ledger import Entry, available, entry_from_doc, reserved
from switch.money import format_minor
from switch.payments import iso
from switch.reports import day_start

Account = Literal["available", "reserved"]
ACCOUNTS: tuple[Account, ...] = ("available", "reserved")


def account_name(merchant_id: str, account: Account) -> str:
    return available(merchant_id) if account == "available" else reserved(merchant_id)


@dataclass(frozen=True)
class Row:
    at: datetime
    entry: Entry

    def change(self, account: str) -> int:
        return sum(line.amount for line in self.entry.lines if line.account == account)

    def fee(self) -> int:
        """The switch's fee this entry takes (its line to ``switch:fees:*``)."""
        return sum(ln.amount for ln in self.entry.lines if ln.account.startswith("switch:fees:"))

    def gross(self) -> int:
        """The money that moved at the provider (its float lines), unsigned."""
        return abs(sum(ln.amount for ln in self.entry.lines if ln.account.startswith("provider:")))


@dataclass(frozen=True)
class Statement:
    merchant_id: str
    account: Account
    since: datetime
    until: datetime  # exclusive
    opening: int
    lines: tuple[dict[str, Any], ...]
    closing: int

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "statement",
            "account": self.account,
            "currency": "KES",
            "since": iso(self.since),
            "until": iso(self.until),
            "opening_balance": format_minor(self.opening),
            "closing_balance": format_minor(self.closing),
            "entries": list(self.lines),
        }


def build(
    merchant_id: str,
    account: Account,
    since: datetime,
    until: datetime,
    balance_now: int,
    entries_since: Iterable[Row],
) -> Statement:
    """The statement of ``[since, until)``, from the account's balance now and every entry at or
    after ``since`` (later ones too: they are taken off to find the closing balance)."""
    name = account_name(merchant_id, account)
    rows = sorted((r for r in entries_since if r.change(name)), key=lambda r: (r.at, r.entry.id))
    opening = balance_now - sum(r.change(name) for r in rows)
    running = opening
    shown = []
    for row in rows:
        if row.at >= until:
            break
        change = row.change(name)
        running += change
        shown.append(
            {
                "at": iso(row.at),
                "entry_id": row.entry.id,
                "kind": row.entry.kind,
                "payment_id": row.entry.payment_id,
                "gross": format_minor(row.gross()),
                "fee": format_minor(row.fee()),
                "amount": format_minor(change),
                "balance": format_minor(running),
            }
        )
    return Statement(merchant_id, account, since, until, opening, tuple(shown), running)


STATEMENT_COLUMNS = ("at", "entry_id", "kind", "payment_id", "gross", "fee", "amount", "balance")


def csv_rows(statement: Statement) -> Iterable[list[str]]:
    """The statement as CSV rows: a header, an opening row, the entries, a closing row."""
    yield list(STATEMENT_COLUMNS)
    yield [iso(statement.since), "", "opening_balance", "", "", "", "", _m(statement.opening)]
    for line in statement.lines:
        yield [str(line[c]) for c in STATEMENT_COLUMNS]
    yield [iso(statement.until), "", "closing_balance", "", "", "", "", _m(statement.closing)]


def _m(cents: int) -> str:
    return format_minor(cents)


def row_of(doc: Mapping[str, Any]) -> Row:
    at = doc["at"]
    return Row(at if at.tzinfo else at.replace(tzinfo=UTC), entry_from_doc(dict(doc)))


def day_range(since: date, until: date) -> tuple[datetime, datetime]:
    """Nairobi days ``since`` to ``until`` (both inclusive) as UTC instants [start, end)."""
    return day_start(since), day_start(until, 1)
