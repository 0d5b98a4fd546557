"""Airtel Money's statement of the merchant's wallets, for reconciliation (pure): parsed into
``ProviderRecord``s, and written for the simulator.

Airtel's merchant portal exports a transaction statement, but no public document gives its
columns; this is the most plausible shape, unverified: one header row ``Txn Date,Airtel Money
ID,Partner Txn ID,Txn Type,MSISDN,Credit,Debit,Status`` (``Txn Date`` ``YYYY-MM-DD HH:MM:SS``
Kenya time; ``Partner Txn ID`` the id we gave the transaction, which is our payment id; amounts
in shillings; only ``TS`` (success) rows moved money, Airtel's own status code).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from connectors.common import EAT, cents
from switch.recon.records import ProviderRecord

HEADER = (
    "Txn Date",
    "Airtel Money ID",
    "Partner Txn ID",
    "Txn Type",
    "MSISDN",
    "Credit",
    "Debit",
    "Status",
)


class BadAirtelStatement(ValueError):
    """The statement cannot be read; the message names the line and column."""


def parse_airtel_statement(data: bytes) -> list[ProviderRecord]:
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    except UnicodeDecodeError:
        raise BadAirtelStatement("the statement is not UTF-8 text") from None
    missing = [c for c in HEADER if c not in (reader.fieldnames or [])]
    if missing:
        raise BadAirtelStatement(f"line 1: the header lacks {', '.join(missing)}")
    out = []
    for number, row in enumerate(reader, start=2):
        if (row["Status"] or "").strip() != "TS":
            continue
        column = "Txn Date"
        try:
            at = datetime.strptime(row[column].strip(), "%Y-%m-%d %H:%M:%S")
            column = "Credit"
            credit = cents(row[column] or "0", grouped=True)
            column = "Debit"
            debit = cents(row[column] or "0", grouped=True)
            if (credit > 0) == (debit > 0):
                raise ValueError("exactly one of Credit and Debit must be set")
        except ValueError as exc:
            raise BadAirtelStatement(f"line {number}, {column}: {exc}") from None
        out.append(
            ProviderRecord(
                source="airtel_statement",
                receipt=row["Airtel Money ID"].strip(),
                amount=credit or debit,
                direction="in" if credit else "out",
                at=at.replace(tzinfo=EAT).astimezone(UTC),
                reference=row["Partner Txn ID"].strip(),
                party=row["MSISDN"].strip(),
            )
        )
    return out


def airtel_statement_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()
