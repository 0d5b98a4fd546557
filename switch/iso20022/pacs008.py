"""pacs.008.001.08, FI to FI customer credit transfer: a participant's customer pays another
participant's customer. The hub receives one from the payer's bank and forwards it to the
payee's bank, which answers with a pacs.002 (:mod:`.pacs002`).

Written in the schema's order (``CdtTrfTxInf``: PmtId, IntrBkSttlmAmt, IntrBkSttlmDt, ChrgBr,
Dbtr, DbtrAcct, DbtrAgt, CdtrAgt, Cdtr, CdtrAcct, RmtInf); the group header carries
``NbOfTxs`` and ``CtrlSum`` (the sum of the amounts), both checked when read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from switch.iso20022 import values as v
from switch.iso20022.document import Element, Reader, add, document, made, read, write

MESSAGE = "pacs.008.001.08"


@dataclass(frozen=True, slots=True)
class CreditTransfer:
    """One ``CdtTrfTxInf``: who pays whom, through which banks."""

    end_to_end_id: str
    amount: Decimal
    currency: str
    debtor_name: str
    debtor_account: str
    debtor_agent: v.Agent
    creditor_agent: v.Agent
    creditor_name: str
    creditor_account: str
    uetr: str = field(default_factory=v.new_uetr)
    instruction_id: str | None = None
    transaction_id: str | None = None
    settlement_date: date | None = None
    charge_bearer: str = "SLEV"  # following the scheme's rules: the usual clearing value
    remittance: str | None = None  # RmtInf/Ustrd, Max140Text

    def __post_init__(self) -> None:
        v.text("end_to_end_id", self.end_to_end_id)
        v.amount("amount", self.amount, self.currency)
        v.text("debtor_name", self.debtor_name, 140)
        v.account("debtor_account", self.debtor_account)
        v.text("creditor_name", self.creditor_name, 140)
        v.account("creditor_account", self.creditor_account)
        v.uetr("uetr", self.uetr)
        v.optional_text("instruction_id", self.instruction_id)
        v.optional_text("transaction_id", self.transaction_id)
        v.one_of("charge_bearer", self.charge_bearer, v.CHARGE_BEARERS)
        v.optional_text("remittance", self.remittance, 140)


@dataclass(frozen=True, slots=True)
class Pacs008:
    msg_id: str
    created: datetime
    transfers: tuple[CreditTransfer, ...]
    settlement_method: str = "CLRG"  # settled through the hub's clearing (deferred net)

    def __post_init__(self) -> None:
        ids = [t.end_to_end_id for t in self.transfers]
        v.check_group(self.msg_id, self.created, self.settlement_method, "transfers", ids)
        uetrs = [t.uetr for t in self.transfers]
        if len(set(uetrs)) != len(uetrs):
            raise ValueError("transfers: uetr repeated in one message")

    @property
    def total(self) -> Decimal:
        return sum((t.amount for t in self.transfers), Decimal(0))


def build(msg: Pacs008) -> bytes:
    root, body = document(MESSAGE, "FIToFICstmrCdtTrf")
    count = len(msg.transfers)
    v.write_group(body, msg.msg_id, msg.created, count, msg.total, msg.settlement_method)
    for tx in msg.transfers:
        _write_tx(add(body, "CdtTrfTxInf"), tx)
    return write(root)


def _write_tx(el: Element, tx: CreditTransfer) -> None:
    v.write_payment_id(el, tx.end_to_end_id, tx.uetr, tx.instruction_id, tx.transaction_id)
    v.add_amount(el, "IntrBkSttlmAmt", tx.amount, tx.currency)
    if tx.settlement_date:
        add(el, "IntrBkSttlmDt", tx.settlement_date.isoformat())
    add(el, "ChrgBr", tx.charge_bearer)
    v.write_party(el, "Dbtr", tx.debtor_name)
    v.write_account(el, "DbtrAcct", tx.debtor_account)
    tx.debtor_agent.write(el, "DbtrAgt")
    tx.creditor_agent.write(el, "CdtrAgt")
    v.write_party(el, "Cdtr", tx.creditor_name)
    v.write_account(el, "CdtrAcct", tx.creditor_account)
    if tx.remittance:
        add(add(el, "RmtInf"), "Ustrd", tx.remittance)


def parse(data: bytes) -> Pacs008:
    """A pacs.008.001.08 from a participant: schema-checked, then read; :class:`MessageError`
    names the element that is wrong."""
    _, root = read(data, (MESSAGE,))
    doc = Reader(MESSAGE, root).find("FIToFICstmrCdtTrf")
    assert doc is not None  # the schema requires it
    header = doc.find("GrpHdr")
    assert header is not None
    transfers = tuple(_read_tx(tx) for tx in doc.all("CdtTrfTxInf"))
    v.check_totals(header, "", len(transfers), None)
    msg = made(
        doc,
        lambda: Pacs008(
            header.text("MsgId"),
            v.parse_timestamp(header, "CreDtTm"),
            transfers,
            header.text("SttlmInf/SttlmMtd"),
        ),
    )
    v.check_totals(header, "", len(transfers), msg.total)
    return msg


def _read_tx(tx: Reader) -> CreditTransfer:
    amount, currency = v.parse_amount(tx, "IntrBkSttlmAmt")
    debtor_account = v.read_account(tx, "DbtrAcct")
    creditor_account = v.read_account(tx, "CdtrAcct")
    if debtor_account is None:
        raise tx.error("DbtrAcct", "required by the hub (the payer's account)")
    if creditor_account is None:
        raise tx.error("CdtrAcct", "required by the hub (the payee's account)")
    uetr = tx.opt("PmtId/UETR")
    if uetr is None:
        raise tx.error("PmtId/UETR", "required by the hub (the transfer's unique reference)")
    day = tx.opt("IntrBkSttlmDt")
    return made(
        tx,
        lambda: CreditTransfer(
            end_to_end_id=tx.text("PmtId/EndToEndId"),
            amount=amount,
            currency=currency,
            debtor_name=tx.opt("Dbtr/Nm") or _missing(tx, "Dbtr/Nm"),
            debtor_account=debtor_account,
            debtor_agent=v.Agent.read(tx, "DbtrAgt"),
            creditor_agent=v.Agent.read(tx, "CdtrAgt"),
            creditor_name=tx.opt("Cdtr/Nm") or _missing(tx, "Cdtr/Nm"),
            creditor_account=creditor_account,
            uetr=uetr,
            instruction_id=tx.opt("PmtId/InstrId"),
            transaction_id=tx.opt("PmtId/TxId"),
            settlement_date=None if day is None else v.parse_date(tx, "IntrBkSttlmDt"),
            charge_bearer=tx.text("ChrgBr"),
            remittance=tx.opt("RmtInf/Ustrd"),
        ),
    )


def _missing(reader: Reader, path: str) -> str:
    raise reader.error(path, "required by the hub (names are checked by the payee's bank)")
