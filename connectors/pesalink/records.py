"""Bank statements of the account PesaLink transfers leave from, for reconciliation (pure):
SWIFT MT940 (parsed by the ``mt-940`` library) and ISO 20022 camt.053 (checked against the
ISO 20022 schema bundled in ``schemas/``, versions 001.02 and 001.08, by ``xmlschema``, then
read), each into ``ProviderRecord``s; and the two formats written, for the simulator.

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
from functools import cache
from pathlib import Path
from xml.etree import ElementTree as ET

import mt940
import xmlschema

from connectors.common import EAT
from switch.recon.records import ProviderRecord

SCHEMAS = Path(__file__).with_name("schemas")
CAMT_VERSIONS = ("camt.053.001.02", "camt.053.001.08")
_EREF = re.compile(r"/EREF/([A-Za-z0-9_\-]{1,64})")


class BadStatement(ValueError):
    """A statement that cannot be read; the message says where and why."""


@cache
def _schema(version: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / f"{version}.xsd"))


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


# --- ISO 20022 camt.053 --------------------------------------------------------------------------


def parse_camt053(data: bytes) -> list[ProviderRecord]:
    try:
        root = ET.fromstring(data)  # noqa: S314 - schema-checked below; no DTDs are expanded
    except ET.ParseError as exc:
        raise BadStatement(f"not XML: {exc}") from None
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    version = namespace.rsplit(":", 1)[-1]
    if version not in CAMT_VERSIONS:
        raise BadStatement(f"not a camt.053 ({', '.join(CAMT_VERSIONS)}) document: {namespace}")
    errors = list(_schema(version).iter_errors(data.decode("utf-8")))
    if errors:
        first = errors[0]
        raise BadStatement(f"{version}: {first.path}: {first.reason}")
    ns = {"c": namespace}
    out: list[ProviderRecord] = []
    for number, entry in enumerate(root.iterfind("c:BkToCstmrStmt/c:Stmt/c:Ntry", ns), start=1):
        status = entry.findtext("c:Sts/c:Cd", None, ns) or entry.findtext("c:Sts", "", ns)
        if status != "BOOK":
            continue  # pending or information-only entries moved no money yet
        amount_el = entry.find("c:Amt", ns)
        assert amount_el is not None  # the schema requires it
        if amount_el.get("Ccy") != "KES":
            raise BadStatement(f"entry {number}: currency {amount_el.get('Ccy')}, not KES")
        booked = entry.findtext("c:BookgDt/c:DtTm", None, ns)
        day = entry.findtext("c:BookgDt/c:Dt", None, ns)
        if booked:
            at = datetime.fromisoformat(booked)
            at = (at if at.tzinfo else at.replace(tzinfo=EAT)).astimezone(UTC)
        elif day:
            at = datetime.combine(date.fromisoformat(day), time(), EAT).astimezone(UTC)
        else:
            raise BadStatement(f"entry {number}: no booking date")
        out.append(
            ProviderRecord(
                source="bank_camt053",
                receipt=entry.findtext("c:AcctSvcrRef", "", ns),
                amount=int(Decimal(amount_el.text or "0") * 100),
                direction="in" if entry.findtext("c:CdtDbtInd", "", ns) == "CRDT" else "out",
                at=at,
                reference=entry.findtext("c:NtryDtls/c:TxDtls/c:Refs/c:EndToEndId", "", ns),
                day_only=not booked,
            )
        )
    return out


def camt053_statement(
    account: str, statement_id: str, opening: int, lines: list[tuple[datetime, int, str, str]]
) -> bytes:
    """A camt.053.001.08 statement (valid against the bundled schema); ``lines`` as for MT940."""
    ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    now = datetime.now(EAT).replace(microsecond=0).isoformat()
    doc = ET.Element("Document", xmlns=ns)
    stmt_root = ET.SubElement(doc, "BkToCstmrStmt")
    header = ET.SubElement(stmt_root, "GrpHdr")
    _text(header, "MsgId", statement_id[:35])
    _text(header, "CreDtTm", now)
    stmt = ET.SubElement(stmt_root, "Stmt")
    _text(stmt, "Id", statement_id[:35])
    _text(stmt, "CreDtTm", now)
    acct = ET.SubElement(ET.SubElement(ET.SubElement(stmt, "Acct"), "Id"), "Othr")
    _text(acct, "Id", account)
    closing = opening + sum(cents for _, cents, _, _ in lines)
    today = datetime.now(EAT).date().isoformat()
    for code, cents in (("OPBD", opening), ("CLBD", closing)):
        bal = ET.SubElement(stmt, "Bal")
        _text(ET.SubElement(ET.SubElement(bal, "Tp"), "CdOrPrtry"), "Cd", code)
        _amount(bal, cents)
        _text(ET.SubElement(bal, "Dt"), "Dt", today)
    for at, cents, bank_ref, e2e in lines:
        entry = ET.SubElement(stmt, "Ntry")
        _amount(entry, cents)
        _text(ET.SubElement(entry, "Sts"), "Cd", "BOOK")
        local = at.astimezone(EAT).replace(microsecond=0)
        _text(ET.SubElement(entry, "BookgDt"), "DtTm", local.isoformat())
        _text(ET.SubElement(entry, "ValDt"), "Dt", local.date().isoformat())
        _text(entry, "AcctSvcrRef", bank_ref[:35])
        domain = ET.SubElement(ET.SubElement(entry, "BkTxCd"), "Domn")
        _text(domain, "Cd", "PMNT")
        family = ET.SubElement(domain, "Fmly")
        _text(family, "Cd", "ICDT" if cents < 0 else "RCDT")
        _text(family, "SubFmlyCd", "DMCT")
        if e2e:
            details = ET.SubElement(ET.SubElement(entry, "NtryDtls"), "TxDtls")
            _text(ET.SubElement(details, "Refs"), "EndToEndId", e2e[:35])
    body: bytes = ET.tostring(doc, encoding="utf-8", xml_declaration=True)
    return body


def _amount(parent: ET.Element, cents: int) -> None:
    amt = ET.SubElement(parent, "Amt", Ccy="KES")
    amt.text = f"{abs(cents) // 100}.{abs(cents) % 100:02d}"
    _text(parent, "CdtDbtInd", "CRDT" if cents >= 0 else "DBIT")


def _text(parent: ET.Element, tag: str, value: str) -> None:
    ET.SubElement(parent, tag).text = value
