"""Bank statements of the account PesaLink transfers leave from, for reconciliation (pure):
SWIFT MT940 (parsed by the ``mt-940`` library) and ISO 20022 camt.053 (versions 001.02 and
001.08, schema-checked and read by :mod:`switch.iso20022.camt`), each into ``ProviderRecord``s;
and the two formats written, for the simulator.

Our payment id is the transfer's end-to-end id, so a bank line names it: camt.053 in
``NtryDtls/TxDtls/Refs/EndToEndId``; MT940 has no field long enough (``:61:``'s reference is 16
characters), so it rides in the ``:86:`` narrative as ``/EREF/<id>`` (the structured-narrative
convention many banks use; what a Kenyan bank writes there is unverified). MT940 gives a booking
date without a time: such records are ``day_only``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal

import mt940

from connectors.common import EAT
from switch.iso20022 import camt
from switch.iso20022.document import MessageError
from switch.recon.records import ProviderRecord

CAMT_VERSIONS = camt.STATEMENTS_READ
_EREF = re.compile(r"/EREF/([A-Za-z0-9_\-]{1,64})")


class BadStatement(ValueError):
    """A statement that cannot be read; the message says where and why."""


# --- SWIFT MT940 ----------------------------------------------------------------------------------


def parse_mt940(data: bytes) -> list[ProviderRecord]:
    try:
        statements = mt940.models.Transactions()
        statements.parse(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, KeyError, AttributeError) as exc:
        raise BadStatement(f"not an MT940 statement: {exc}") from None
    if not statements.data.get("account_identification"):
        raise BadStatement("not an MT940 statement: no :25: account identification")
    out: list[ProviderRecord] = []
    for number, tx in enumerate(statements, start=1):
        d = tx.data
        amount = Decimal(d["amount"].amount)
        if d.get("currency") != "KES":
            raise BadStatement(f"transaction {number}: currency {d.get('currency')}, not KES")
        booked: date = d.get("entry_date") or d["date"]
        found = _EREF.search(str(d.get("transaction_details") or "").replace("\n", ""))
        out.append(
            ProviderRecord(
                source="bank_mt940",
                receipt=str(d.get("bank_reference") or d.get("customer_reference") or ""),
                amount=int(abs(amount) * 100),
                direction="in" if amount > 0 else "out",
                at=datetime.combine(booked, time(), EAT).astimezone(UTC),
                reference=found.group(1) if found else "",
                day_only=True,
            )
        )
    return out


def mt940_statement(
    account: str, statement_id: str, opening: int, lines: list[tuple[datetime, int, str, str]]
) -> bytes:
    """``lines``: (booked at, signed cents, bank reference, our end-to-end id)."""
    day = (lines[0][0] if lines else datetime.now(UTC)).astimezone(EAT)
    out = [
        f":20:{statement_id[:16]}",
        f":25:{account}",
        ":28C:00001/001",
        f":60F:{_mt_amount(opening, day)}",
    ]
    balance = opening
    for at, cents, bank_ref, e2e in lines:
        local = at.astimezone(EAT)
        mark = "C" if cents > 0 else "D"
        amount = _mt_number(abs(cents))
        out.append(f":61:{local:%y%m%d%m%d}{mark}{amount}NTRFNONREF//{bank_ref[:16]}")
        out.append(f":86:/EREF/{e2e}/REMI/PESALINK")
        balance += cents
    out.append(f":62F:{_mt_amount(balance, (lines[-1][0] if lines else day).astimezone(EAT))}")
    return ("\n".join(out) + "\n").encode()


def _mt_amount(cents: int, day: datetime) -> str:
    return f"{'C' if cents >= 0 else 'D'}{day:%y%m%d}KES{_mt_number(abs(cents))}"


def _mt_number(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


# --- ISO 20022 camt.053 (read and written by switch/iso20022/camt.py) -------------------------


def parse_camt053(data: bytes) -> list[ProviderRecord]:
    try:
        statement = camt.parse_statement(data)
    except MessageError as exc:
        if exc.message == "document" or exc.reason.startswith("expected one of"):
            raise BadStatement(
                f"not a camt.053 ({', '.join(CAMT_VERSIONS)}) document: {exc}"
            ) from None
        raise BadStatement(str(exc)) from None
    out: list[ProviderRecord] = []
    entries = [e for report in statement.reports for e in report.entries]
    for number, entry in enumerate(entries, start=1):
        if entry.status != "BOOK":
            continue  # pending or information-only entries moved no money yet
        if entry.currency != "KES":
            raise BadStatement(f"entry {number}: currency {entry.currency}, not KES")
        if entry.booked_at is not None:
            at = entry.booked_at.astimezone(UTC)
        elif entry.booked_on is not None:
            at = datetime.combine(entry.booked_on, time(), EAT).astimezone(UTC)
        else:
            raise BadStatement(f"entry {number}: no booking date")
        out.append(
            ProviderRecord(
                source="bank_camt053",
                receipt=entry.bank_reference or "",
                amount=int(entry.amount * 100),
                direction="in" if entry.credit else "out",
                at=at,
                reference=entry.end_to_end_id or "",
                day_only=entry.booked_at is None,
            )
        )
    return out


def camt053_statement(
    account: str, statement_id: str, opening: int, lines: list[tuple[datetime, int, str, str]]
) -> bytes:
    """A camt.053.001.08 statement (valid against the bundled schema); ``lines`` as for MT940."""
    now = datetime.now(EAT).replace(microsecond=0)
    closing = opening + sum(cents for _, cents, _, _ in lines)
    today = now.date()
    balances = tuple(
        camt.Balance(code, Decimal(cents) / 100, "KES", today)
        for code, cents in (("OPBD", opening), ("CLBD", closing))
    )
    entries = tuple(
        camt.Entry(
            amount=Decimal(abs(cents)) / 100,
            currency="KES",
            credit=cents >= 0,
            booked_at=at.astimezone(EAT),
            value_on=at.astimezone(EAT).date(),
            bank_reference=bank_ref[:35],
            end_to_end_id=e2e[:35] or None,
            bank_code="PMNT/ICDT/DMCT" if cents < 0 else "PMNT/RCDT/DMCT",
        )
        for at, cents, bank_ref, e2e in lines
    )
    report = camt.Report(statement_id[:35], account, entries, balances, created=now)
    return camt.build_statement(camt.Statement(statement_id[:35], now, (report,)))
