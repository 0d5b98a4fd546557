"""pacs.004.001.09, payment return: the payee's bank sends back money it had received (an
account closed after crediting, a customer's claim). A return is a new transfer in the other
direction, never a reversal of the original entry; it names the original by its ids.

``TxInf`` in the schema's order: RtrId, OrgnlGrpInf (OrgnlMsgId, OrgnlMsgNmId), OrgnlInstrId,
OrgnlEndToEndId, OrgnlTxId, OrgnlUETR, RtrdIntrBkSttlmAmt (the only element v09 requires),
ChrgBr, RtrRsnInf (Rsn/Cd, AddtlInf).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from switch.iso20022 import values as v
from switch.iso20022.document import Element, Reader, add, document, made, read, write

MESSAGE = "pacs.004.001.09"


@dataclass(frozen=True, slots=True)
class Return:
    return_id: str
    original_end_to_end_id: str
    amount: Decimal
    currency: str
    reason: str  # an ISO reason code (codes.py): AC04 for an account closed after the credit
    original_msg_id: str | None = None
    original_msg_name: str = "pacs.008.001.08"
    original_transaction_id: str | None = None
    original_uetr: str | None = None
    info: str | None = None  # RtrRsnInf/AddtlInf, Max105Text

    def __post_init__(self) -> None:
        v.text("return_id", self.return_id)
        v.text("original_end_to_end_id", self.original_end_to_end_id)
        v.amount("amount", self.amount, self.currency)
        if len(self.reason) != 4 or not self.reason.isalnum():
            raise ValueError("reason: a four-character ISO reason code")
        v.optional_text("original_msg_id", self.original_msg_id)
        v.optional_text("original_transaction_id", self.original_transaction_id)
        if self.original_uetr is not None:
            v.uetr("original_uetr", self.original_uetr)
        v.optional_text("info", self.info, 105)


@dataclass(frozen=True, slots=True)
class Pacs004:
    msg_id: str
    created: datetime
    returns: tuple[Return, ...]
    settlement_method: str = "CLRG"

    def __post_init__(self) -> None:
        ids = [r.return_id for r in self.returns]
        v.check_group(self.msg_id, self.created, self.settlement_method, "returns", ids)


def build(msg: Pacs004) -> bytes:
    root, body = document(MESSAGE, "PmtRtr")
    count = len(msg.returns)
    v.write_group(body, msg.msg_id, msg.created, count, None, msg.settlement_method)
    for ret in msg.returns:
        _write_return(add(body, "TxInf"), ret)
    return write(root)


def _write_return(el: Element, ret: Return) -> None:
    add(el, "RtrId", ret.return_id)
    if ret.original_msg_id:
        original = add(el, "OrgnlGrpInf")
        add(original, "OrgnlMsgId", ret.original_msg_id)
        add(original, "OrgnlMsgNmId", ret.original_msg_name)
    add(el, "OrgnlEndToEndId", ret.original_end_to_end_id)
    if ret.original_transaction_id:
        add(el, "OrgnlTxId", ret.original_transaction_id)
    if ret.original_uetr:
        add(el, "OrgnlUETR", ret.original_uetr)
    v.add_amount(el, "RtrdIntrBkSttlmAmt", ret.amount, ret.currency)
    why = add(el, "RtrRsnInf")
    add(add(why, "Rsn"), "Cd", ret.reason)
    if ret.info:
        add(why, "AddtlInf", ret.info)


def parse(data: bytes) -> Pacs004:
    _, root = read(data, (MESSAGE,))
    doc = Reader(MESSAGE, root).find("PmtRtr")
    assert doc is not None  # the schema requires it
    returns = tuple(_read_return(el) for el in doc.all("TxInf"))
    if not returns:
        raise doc.error("TxInf", "required: at least one returned transaction")
    v.check_totals(doc, "GrpHdr", len(returns), None)
    return made(
        doc,
        lambda: Pacs004(
            doc.text("GrpHdr/MsgId"),
            v.parse_timestamp(doc, "GrpHdr/CreDtTm"),
            returns,
            doc.text("GrpHdr/SttlmInf/SttlmMtd"),
        ),
    )


def _read_return(el: Reader) -> Return:
    amount, currency = v.parse_amount(el, "RtrdIntrBkSttlmAmt")
    for path, why in (
        ("RtrId", "the return's own id"),
        ("OrgnlEndToEndId", "which transfer is returned"),
        ("RtrRsnInf/Rsn/Cd", "why it is returned"),
    ):
        if el.opt(path) is None:
            raise el.error(path, f"required by the hub ({why})")
    return made(
        el,
        lambda: Return(
            return_id=el.text("RtrId"),
            original_end_to_end_id=el.text("OrgnlEndToEndId"),
            amount=amount,
            currency=currency,
            reason=el.text("RtrRsnInf/Rsn/Cd"),
            original_msg_id=el.opt("OrgnlGrpInf/OrgnlMsgId"),
            original_msg_name=el.opt("OrgnlGrpInf/OrgnlMsgNmId") or "pacs.008.001.08",
            original_transaction_id=el.opt("OrgnlTxId"),
            original_uetr=el.opt("OrgnlUETR"),
            info=el.opt("RtrRsnInf/AddtlInf"),
        ),
    )
