"""pain.001.001.09, customer credit transfer initiation: a corporate or a government agency
hands its bank (or the hub) many payments at once, grouped in payment information blocks
(``PmtInf``), each paid from one account on one day.

Order: ``GrpHdr`` (MsgId, CreDtTm, NbOfTxs, CtrlSum, InitgPty) then each ``PmtInf`` (PmtInfId,
PmtMtd, NbOfTxs, CtrlSum, ReqdExctnDt/Dt, Dbtr, DbtrAcct, DbtrAgt, then each ``CdtTrfTxInf``:
PmtId (InstrId, EndToEndId), Amt/InstdAmt, CdtrAgt, Cdtr, CdtrAcct, RmtInf/Ustrd). The counts
and control sums are written at both levels and checked when read: a file whose totals do not
add up is refused, naming the element.
"""

from __future__ import annotations

from dataclasses import dataclass
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

MESSAGE = "pain.001.001.09"
METHODS = ("TRF", "CHK", "TRA")


@dataclass(frozen=True, slots=True)
class Payment:
    """One ``CdtTrfTxInf``: a payee and an amount."""

    end_to_end_id: str
    amount: Decimal
    currency: str
    creditor_name: str
    creditor_account: str
    creditor_agent: v.Agent
    instruction_id: str | None = None
    remittance: str | None = None

    def __post_init__(self) -> None:
        v.text("end_to_end_id", self.end_to_end_id)
        v.amount("amount", self.amount, self.currency)
        v.text("creditor_name", self.creditor_name, 140)
        v.account("creditor_account", self.creditor_account)
        v.optional_text("instruction_id", self.instruction_id)
        v.optional_text("remittance", self.remittance, 140)


@dataclass(frozen=True, slots=True)
class PaymentBlock:
    """One ``PmtInf``: payments from one account, on one day."""

    payment_info_id: str
    execution_date: date
    debtor_name: str
    debtor_account: str
    debtor_agent: v.Agent
    payments: tuple[Payment, ...]
    method: str = "TRF"

    def __post_init__(self) -> None:
        v.text("payment_info_id", self.payment_info_id)
        v.text("debtor_name", self.debtor_name, 140)
        v.account("debtor_account", self.debtor_account)
        v.one_of("method", self.method, METHODS)
        if not self.payments:
            raise ValueError("payments: at least one")

    @property
    def total(self) -> Decimal:
        return sum((p.amount for p in self.payments), Decimal(0))


@dataclass(frozen=True, slots=True)
class Pain001:
    msg_id: str
    created: datetime
    initiating_party: str
    blocks: tuple[PaymentBlock, ...]

    def __post_init__(self) -> None:
        v.text("msg_id", self.msg_id)
        v.timestamp(self.created)
        v.text("initiating_party", self.initiating_party, 140)
        if not self.blocks:
            raise ValueError("blocks: at least one")
        ids = [p.end_to_end_id for p in self.payments]
        if len(set(ids)) != len(ids):
            raise ValueError("payments: end_to_end_id repeated in one file")

    @property
    def payments(self) -> list[Payment]:
        return [p for b in self.blocks for p in b.payments]

    @property
    def total(self) -> Decimal:
        return sum((b.total for b in self.blocks), Decimal(0))


def build(msg: Pain001) -> bytes:
    root, body = document(MESSAGE, "CstmrCdtTrfInitn")
    header = add(body, "GrpHdr")
    add(header, "MsgId", msg.msg_id)
    add(header, "CreDtTm", v.timestamp(msg.created))
    add(header, "NbOfTxs", str(len(msg.payments)))
    add(header, "CtrlSum", str(msg.total))
    v.write_party(header, "InitgPty", msg.initiating_party)
    for block in msg.blocks:
        _write_block(add(body, "PmtInf"), block)
    return write(root)


def _write_block(el: Element, block: PaymentBlock) -> None:
    add(el, "PmtInfId", block.payment_info_id)
    add(el, "PmtMtd", block.method)
    add(el, "NbOfTxs", str(len(block.payments)))
    add(el, "CtrlSum", str(block.total))
    add(add(el, "ReqdExctnDt"), "Dt", block.execution_date.isoformat())
    v.write_party(el, "Dbtr", block.debtor_name)
    v.write_account(el, "DbtrAcct", block.debtor_account)
    block.debtor_agent.write(el, "DbtrAgt")
    for payment in block.payments:
        _write_payment(add(el, "CdtTrfTxInf"), payment)


def _write_payment(el: Element, p: Payment) -> None:
    ids = add(el, "PmtId")
    if p.instruction_id:
        add(ids, "InstrId", p.instruction_id)
    add(ids, "EndToEndId", p.end_to_end_id)
    v.add_amount(add(el, "Amt"), "InstdAmt", p.amount, p.currency)
    p.creditor_agent.write(el, "CdtrAgt")
    v.write_party(el, "Cdtr", p.creditor_name)
    v.write_account(el, "CdtrAcct", p.creditor_account)
    if p.remittance:
        add(add(el, "RmtInf"), "Ustrd", p.remittance)


def parse(data: bytes) -> Pain001:
    _, root = read(data, (MESSAGE,), max_bytes=FILE_MAX_BYTES)
    doc = Reader(MESSAGE, root).find("CstmrCdtTrfInitn")
    assert doc is not None  # the schema requires it
    blocks = tuple(_read_block(el) for el in doc.all("PmtInf"))
    msg = made(
        doc,
        lambda: Pain001(
            doc.text("GrpHdr/MsgId"),
            v.parse_timestamp(doc, "GrpHdr/CreDtTm"),
            doc.opt("GrpHdr/InitgPty/Nm") or _missing(doc, "GrpHdr/InitgPty/Nm"),
            blocks,
        ),
    )
    v.check_totals(doc, "GrpHdr", len(msg.payments), msg.total)
    return msg


def _read_block(el: Reader) -> PaymentBlock:
    day = el.opt("ReqdExctnDt/Dt")
    account = v.read_account(el, "DbtrAcct") or _missing(el, "DbtrAcct/Id/Othr/Id")
    block = made(
        el,
        lambda: PaymentBlock(
            payment_info_id=el.text("PmtInfId"),
            execution_date=v.parse_date(el, "ReqdExctnDt/Dt") if day else _day(el),
            debtor_name=el.opt("Dbtr/Nm") or _missing(el, "Dbtr/Nm"),
            debtor_account=account,
            debtor_agent=v.Agent.read(el, "DbtrAgt"),
            payments=tuple(_read_payment(p) for p in el.all("CdtTrfTxInf")),
            method=el.text("PmtMtd"),
        ),
    )
    v.check_totals(el, "", len(block.payments), block.total)
    return block


def _read_payment(el: Reader) -> Payment:
    if el.find("Amt/InstdAmt") is None:
        raise el.error("Amt/InstdAmt", "required by the hub (an equivalent amount is not taken)")
    amount, currency = v.parse_amount(el, "Amt/InstdAmt")
    if el.find("CdtrAgt") is None:
        raise el.error("CdtrAgt", "required by the hub (which participant to pay)")
    account = v.read_account(el, "CdtrAcct") or _missing(el, "CdtrAcct/Id/Othr/Id")
    return made(
        el,
        lambda: Payment(
            end_to_end_id=el.text("PmtId/EndToEndId"),
            amount=amount,
            currency=currency,
            creditor_name=el.opt("Cdtr/Nm") or _missing(el, "Cdtr/Nm"),
            creditor_account=account,
            creditor_agent=v.Agent.read(el, "CdtrAgt"),
            instruction_id=el.opt("PmtId/InstrId"),
            remittance=el.opt("RmtInf/Ustrd"),
        ),
    )


def _day(el: Reader) -> date:
    """``ReqdExctnDt/DtTm``: the day it names (the hub executes by day)."""
    return v.parse_timestamp(el, "ReqdExctnDt/DtTm").date()


def _missing(el: Reader, path: str) -> str:
    raise el.error(path, "required by the hub")
