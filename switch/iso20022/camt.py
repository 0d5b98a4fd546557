"""camt.053 (bank to customer statement) and camt.054 (debit/credit notification): what a bank
says happened on an account. Statements are read in versions 001.02 and 001.08 (the two a
Kenyan bank is likely to send) and written in 001.08; notifications in 001.08.

A statement (``Stmt``) has balances (``Bal``: ``OPBD`` opening booked, ``CLBD`` closing booked,
...) and entries (``Ntry``); a notification (``Ntfctn``) has entries only. Each entry names the
payment it books by ``NtryDtls/TxDtls/Refs`` (``EndToEndId``, ``UETR``, ``TxId``) and the
bank's own reference (``AcctSvcrRef``). v02 writes an entry's status as ``<Sts>BOOK</Sts>``,
v07 and later as ``<Sts><Cd>BOOK</Cd></Sts>``: both read.

Orders (v08): ``Stmt``: Id, ElctrncSeqNb, CreDtTm, Acct, Bal, Ntry; ``Acct``: Id, Ccy;
``Ntry``: Amt, CdtDbtInd, Sts, BookgDt, ValDt, AcctSvcrRef, BkTxCd, NtryDtls; ``TxDtls``: Refs
(EndToEndId, UETR, TxId), RltdPties.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from switch.iso20022 import values as v
from switch.iso20022.document import (
    FILE_MAX_BYTES,
    Element,
    Reader,
    add,
    document,
    made,
    read,
    write,
)

STATEMENT = "camt.053.001.08"
STATEMENTS_READ = ("camt.053.001.02", "camt.053.001.08")
NOTIFICATION = "camt.054.001.08"
ENTRY_STATUSES = ("BOOK", "PDNG", "INFO")
BALANCE_CODES = ("OPBD", "CLBD", "ITBD", "OPAV", "CLAV", "ITAV", "FWAV", "PRCD")


@dataclass(frozen=True, slots=True)
class Entry:
    """One ``Ntry``: money in (``credit``) or out of the account."""

    amount: Decimal
    currency: str
    credit: bool
    status: str = "BOOK"  # BOOK moved money; PDNG and INFO did not (yet)
    booked_at: datetime | None = None  # BookgDt/DtTm
    booked_on: date | None = None  # BookgDt/Dt (a day only)
    value_on: date | None = None  # ValDt/Dt
    bank_reference: str | None = None  # AcctSvcrRef
    end_to_end_id: str | None = None
    uetr: str | None = None
    transaction_id: str | None = None
    counterparty: str | None = None  # who paid in (a credit) or was paid (a debit)
    bank_code: str = "PMNT/RCDT/DMCT"  # BkTxCd Domn/Fmly/SubFmly, or a proprietary code

    def __post_init__(self) -> None:
        v.amount("amount", self.amount, self.currency)
        v.one_of("status", self.status, ENTRY_STATUSES)
        v.optional_text("bank_reference", self.bank_reference)
        v.optional_text("end_to_end_id", self.end_to_end_id)
        v.optional_text("transaction_id", self.transaction_id)
        v.optional_text("counterparty", self.counterparty, 140)
        if self.uetr is not None:
            v.uetr("uetr", self.uetr)

    @property
    def signed(self) -> Decimal:
        return self.amount if self.credit else -self.amount


@dataclass(frozen=True, slots=True)
class Balance:
    code: str  # OPBD, CLBD, ...
    amount: Decimal  # signed: a debit balance is negative
    currency: str
    on: date

    def __post_init__(self) -> None:
        v.one_of("code", self.code, BALANCE_CODES)
        if self.amount != 0:
            v.amount("amount", abs(self.amount), self.currency)


@dataclass(frozen=True, slots=True)
class Report:
    """One ``Stmt`` (or ``Ntfctn``): an account's balances and entries."""

    id: str
    account: str
    entries: tuple[Entry, ...] = ()
    balances: tuple[Balance, ...] = ()
    currency: str | None = None  # Acct/Ccy
    created: datetime | None = None
    sequence: int | None = None  # ElctrncSeqNb: a gap means a missing statement

    def __post_init__(self) -> None:
        v.text("id", self.id)
        v.account("account", self.account)

    def balance(self, code: str) -> Balance | None:
        return next((b for b in self.balances if b.code == code), None)

    def balanced(self) -> bool:
        """Opening booked plus booked entries is the closing booked balance (True when the
        statement lacks either: nothing to compare)."""
        opening, closing = self.balance("OPBD"), self.balance("CLBD")
        if opening is None or closing is None:
            return True
        moved = sum((e.signed for e in self.entries if e.status == "BOOK"), Decimal(0))
        return opening.amount + moved == closing.amount


@dataclass(frozen=True, slots=True)
class Statement:
    """A camt.053 (``message``) or, with ``notification``, a camt.054: balances left out."""

    msg_id: str
    created: datetime
    reports: tuple[Report, ...]
    message: str = STATEMENT
    notification: bool = field(default=False)

    def __post_init__(self) -> None:
        v.text("msg_id", self.msg_id)
        v.timestamp(self.created)
        if not self.reports:
            raise ValueError("reports: at least one")
        if self.notification and any(r.balances for r in self.reports):
            raise ValueError("reports: a notification carries no balances")


# --- writing -------------------------------------------------------------------------------


def build_statement(msg: Statement) -> bytes:
    if msg.notification or msg.message != STATEMENT:
        raise ValueError(f"build_statement writes {STATEMENT}; use build_notification for camt.054")
    return _build(msg, STATEMENT, "BkToCstmrStmt", "Stmt")


def build_notification(msg: Statement) -> bytes:
    if not msg.notification:
        raise ValueError("build_notification writes a notification (notification=True)")
    return _build(msg, NOTIFICATION, "BkToCstmrDbtCdtNtfctn", "Ntfctn")


def _build(msg: Statement, message: str, body_tag: str, report_tag: str) -> bytes:
    root, body = document(message, body_tag)
    header = add(body, "GrpHdr")
    add(header, "MsgId", msg.msg_id)
    add(header, "CreDtTm", v.timestamp(msg.created))
    for report in msg.reports:
        el = add(body, report_tag)
        add(el, "Id", report.id)
        if report.sequence is not None:
            add(el, "ElctrncSeqNb", str(report.sequence))
        if report.created is not None:
            add(el, "CreDtTm", v.timestamp(report.created))
        account = add(el, "Acct")
        add(add(add(account, "Id"), "Othr"), "Id", report.account)
        if report.currency:
            add(account, "Ccy", report.currency)
        for bal in report.balances:
            _write_balance(add(el, "Bal"), bal)
        for entry in report.entries:
            _write_entry(add(el, "Ntry"), entry)
    return write(root)


def _write_balance(el: Element, bal: Balance) -> None:
    add(add(add(el, "Tp"), "CdOrPrtry"), "Cd", bal.code)
    add(el, "Amt", v.format_amount(abs(bal.amount), bal.currency), Ccy=bal.currency)
    add(el, "CdtDbtInd", "DBIT" if bal.amount < 0 else "CRDT")
    add(add(el, "Dt"), "Dt", bal.on.isoformat())


def _write_entry(el: Element, e: Entry) -> None:
    v.add_amount(el, "Amt", e.amount, e.currency)
    add(el, "CdtDbtInd", "CRDT" if e.credit else "DBIT")
    add(add(el, "Sts"), "Cd", e.status)
    if e.booked_at is not None:
        add(add(el, "BookgDt"), "DtTm", v.timestamp(e.booked_at))
    elif e.booked_on is not None:
        add(add(el, "BookgDt"), "Dt", e.booked_on.isoformat())
    if e.value_on is not None:
        add(add(el, "ValDt"), "Dt", e.value_on.isoformat())
    if e.bank_reference:
        add(el, "AcctSvcrRef", e.bank_reference)
    code = add(el, "BkTxCd")
    if e.bank_code.count("/") == 2:
        domain_code, family_code, sub_family = e.bank_code.split("/")
        domain = add(code, "Domn")
        add(domain, "Cd", domain_code)
        family = add(domain, "Fmly")
        add(family, "Cd", family_code)
        add(family, "SubFmlyCd", sub_family)
    else:
        add(add(code, "Prtry"), "Cd", e.bank_code)
    if not (e.end_to_end_id or e.uetr or e.transaction_id or e.counterparty):
        return
    details = add(add(el, "NtryDtls"), "TxDtls")
    if e.end_to_end_id or e.uetr or e.transaction_id:
        refs = add(details, "Refs")
        if e.end_to_end_id:
            add(refs, "EndToEndId", e.end_to_end_id)
        if e.uetr:
            add(refs, "UETR", e.uetr)
        if e.transaction_id:
            add(refs, "TxId", e.transaction_id)
    if e.counterparty:
        parties = add(details, "RltdPties")
        add(add(add(parties, "Dbtr" if e.credit else "Cdtr"), "Pty"), "Nm", e.counterparty)


# --- reading -------------------------------------------------------------------------------


def parse_statement(data: bytes) -> Statement:
    """A camt.053 (v02 or v08), schema-checked then read."""
    message, root = read(data, STATEMENTS_READ, max_bytes=FILE_MAX_BYTES)
    return _parse(message, root, "BkToCstmrStmt", "Stmt", notification=False)


def parse_notification(data: bytes) -> Statement:
    message, root = read(data, (NOTIFICATION,), max_bytes=FILE_MAX_BYTES)
    return _parse(message, root, "BkToCstmrDbtCdtNtfctn", "Ntfctn", notification=True)


def _parse(message: str, root: Element, body_tag: str, tag: str, notification: bool) -> Statement:
    doc = Reader(message, root).find(body_tag)
    assert doc is not None  # the schema requires it
    reports = tuple(_read_report(el) for el in doc.all(tag))
    return made(
        doc,
        lambda: Statement(
            doc.text("GrpHdr/MsgId"),
            v.parse_timestamp(doc, "GrpHdr/CreDtTm"),
            reports,
            message,
            notification,
        ),
    )


def _read_report(el: Reader) -> Report:
    account = v.read_account(el, "Acct")
    if account is None:
        raise el.error("Acct/Id", "an account number (Othr/Id or IBAN)")
    created = el.opt("CreDtTm")
    sequence = el.opt("ElctrncSeqNb")
    return made(
        el,
        lambda: Report(
            id=el.text("Id"),
            account=account,
            entries=tuple(_read_entry(n) for n in el.all("Ntry")),
            balances=tuple(_read_balance(b) for b in el.all("Bal")),
            currency=el.opt("Acct/Ccy"),
            created=None if created is None else v.parse_timestamp(el, "CreDtTm"),
            sequence=None if sequence is None else int(Decimal(sequence)),
        ),
    )


def _read_balance(el: Reader) -> Balance:
    code = el.opt("Tp/CdOrPrtry/Cd") or el.text("Tp/CdOrPrtry/Prtry")
    raw, currency = el.text("Amt"), el.attr("Amt", "Ccy")
    sign = -1 if el.text("CdtDbtInd") == "DBIT" else 1
    day = el.opt("Dt/Dt") or (el.text("Dt/DtTm")[:10])
    return made(el, lambda: Balance(code, sign * Decimal(raw), currency, date.fromisoformat(day)))


def _read_entry(el: Reader) -> Entry:
    amount, currency = v.parse_amount(el, "Amt")
    status = el.opt("Sts/Cd") or el.opt("Sts") or el.opt("Sts/Prtry")
    booked_at = el.opt("BookgDt/DtTm")
    booked_on = el.opt("BookgDt/Dt")
    value_on = el.opt("ValDt/Dt")
    credit = el.text("CdtDbtInd") == "CRDT"
    return made(
        el,
        lambda: Entry(
            amount=amount,
            currency=currency,
            credit=credit,
            status=status or "",
            booked_at=None if booked_at is None else v.parse_timestamp(el, "BookgDt/DtTm"),
            booked_on=None if booked_on is None else v.parse_date(el, "BookgDt/Dt"),
            value_on=None if value_on is None else v.parse_date(el, "ValDt/Dt"),
            bank_reference=el.opt("AcctSvcrRef"),
            end_to_end_id=_first(el, "NtryDtls/TxDtls/Refs/EndToEndId"),
            uetr=_first(el, "NtryDtls/TxDtls/Refs/UETR"),
            transaction_id=_first(el, "NtryDtls/TxDtls/Refs/TxId"),
            counterparty=_first(
                el, f"NtryDtls/TxDtls/RltdPties/{'Dbtr' if credit else 'Cdtr'}/Pty/Nm"
            ),
            bank_code=_bank_code(el),
        ),
    )


def _first(el: Reader, path: str) -> str | None:
    """The first transaction's value: an entry batching several payments names the first."""
    value = el.opt(path)
    return None if value in (None, "NOTPROVIDED") else value


def _bank_code(el: Reader) -> str:
    domain = el.find("BkTxCd/Domn")
    if domain is not None:
        return "/".join((domain.text("Cd"), domain.text("Fmly/Cd"), domain.text("Fmly/SubFmlyCd")))
    return el.opt("BkTxCd/Prtry/Cd") or ""
