"""pacs.009.001.08, financial institution credit transfer: one bank pays another for its own
account. The hub uses it for the legs of a settlement window (a net sender pays the settlement
account, the settlement account pays each net recipient). Debtor and creditor are institutions
(``Dbtr/FinInstnId``); there is no charge bearer.

``CdtTrfTxInf`` in the schema's order: PmtId, IntrBkSttlmAmt, IntrBkSttlmDt, Dbtr, DbtrAcct,
Cdtr, CdtrAcct, RmtInf (Ustrd).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from switch.iso20022 import values as v
from switch.iso20022.document import Element, Reader, add, document, made, read, write

MESSAGE = "pacs.009.001.08"


@dataclass(frozen=True, slots=True)
class FiTransfer:
    end_to_end_id: str
    amount: Decimal
    currency: str
    debtor: v.Agent
    creditor: v.Agent
    settlement_date: date
    uetr: str = field(default_factory=v.new_uetr)
    instruction_id: str | None = None
    debtor_account: str | None = None  # e.g. the bank's settlement account at the central bank
    creditor_account: str | None = None
    remittance: str | None = None  # RmtInf/Ustrd: the window it settles

    def __post_init__(self) -> None:
        v.text("end_to_end_id", self.end_to_end_id)
        v.amount("amount", self.amount, self.currency)
        v.uetr("uetr", self.uetr)
        v.optional_text("instruction_id", self.instruction_id)
        if self.debtor_account is not None:
            v.account("debtor_account", self.debtor_account)
        if self.creditor_account is not None:
            v.account("creditor_account", self.creditor_account)
        v.optional_text("remittance", self.remittance, 140)


@dataclass(frozen=True, slots=True)
class Pacs009:
    msg_id: str
    created: datetime
    transfers: tuple[FiTransfer, ...]
    settlement_method: str = "CLRG"

    def __post_init__(self) -> None:
        ids = [t.end_to_end_id for t in self.transfers]
        v.check_group(self.msg_id, self.created, self.settlement_method, "transfers", ids)

    @property
    def total(self) -> Decimal:
        return sum((t.amount for t in self.transfers), Decimal(0))


def build(msg: Pacs009) -> bytes:
    root, body = document(MESSAGE, "FICdtTrf")
    count = len(msg.transfers)
    v.write_group(body, msg.msg_id, msg.created, count, msg.total, msg.settlement_method)
    for tx in msg.transfers:
        _write_tx(add(body, "CdtTrfTxInf"), tx)
    return write(root)


def _write_tx(el: Element, tx: FiTransfer) -> None:
    v.write_payment_id(el, tx.end_to_end_id, tx.uetr, tx.instruction_id, None)
    v.add_amount(el, "IntrBkSttlmAmt", tx.amount, tx.currency)
    add(el, "IntrBkSttlmDt", tx.settlement_date.isoformat())
    tx.debtor.write(el, "Dbtr")
    if tx.debtor_account:
        v.write_account(el, "DbtrAcct", tx.debtor_account)
    tx.creditor.write(el, "Cdtr")
    if tx.creditor_account:
        v.write_account(el, "CdtrAcct", tx.creditor_account)
    if tx.remittance:
        add(add(el, "RmtInf"), "Ustrd", tx.remittance)


def parse(data: bytes) -> Pacs009:
    _, root = read(data, (MESSAGE,))
    doc = Reader(MESSAGE, root).find("FICdtTrf")
    assert doc is not None  # the schema requires it
    transfers = tuple(_read_tx(el) for el in doc.all("CdtTrfTxInf"))
    v.check_totals(doc, "GrpHdr", len(transfers), None)
    msg = made(
        doc,
        lambda: Pacs009(
            doc.text("GrpHdr/MsgId"),
            v.parse_timestamp(doc, "GrpHdr/CreDtTm"),
            transfers,
            doc.text("GrpHdr/SttlmInf/SttlmMtd"),
        ),
    )
    v.check_totals(doc, "GrpHdr", len(transfers), msg.total)
    return msg


def _read_tx(el: Reader) -> FiTransfer:
    amount, currency = v.parse_amount(el, "IntrBkSttlmAmt")
    for path, why in (("PmtId/UETR", "the leg's unique reference"), ("IntrBkSttlmDt", "its day")):
        if el.opt(path) is None:
            raise el.error(path, f"required by the hub ({why})")
    return made(
        el,
        lambda: FiTransfer(
            end_to_end_id=el.text("PmtId/EndToEndId"),
            amount=amount,
            currency=currency,
            debtor=v.Agent.read(el, "Dbtr"),
            creditor=v.Agent.read(el, "Cdtr"),
            settlement_date=v.parse_date(el, "IntrBkSttlmDt"),
            uetr=el.text("PmtId/UETR"),
            instruction_id=el.opt("PmtId/InstrId"),
            debtor_account=v.read_account(el, "DbtrAcct"),
            creditor_account=v.read_account(el, "CdtrAcct"),
            remittance=el.opt("RmtInf/Ustrd"),
        ),
    )
