"""pacs.002.001.10, FI to FI payment status report: the payee's bank's answer to a pacs.008
(``ACCP`` accepted, ``RJCT`` rejected with a reason, ``PDNG`` more to follow), and the hub's
answer to the payer's bank (``ACSC`` once committed). A whole message refused before its
transactions were read (a schema failure) is a group status ``RJCT`` with reason ``FF01``.

``TxInfAndSts`` is written in the schema's order: OrgnlInstrId, OrgnlEndToEndId, OrgnlTxId,
OrgnlUETR, TxSts, StsRsnInf (Rsn/Cd, AddtlInf at most 105 characters), AccptncDtTm,
AcctSvcrRef. Status meanings and what they are to the hub: :mod:`.codes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from switch.iso20022 import codes
from switch.iso20022 import values as v
from switch.iso20022.document import (
    Element,
    Reader,
    add,
    document,
    made,
    namespace,
    read,
    write,
)

MESSAGE = "pacs.002.001.10"
# How to tell a pacs.002 from other messages at one endpoint before parsing it.
NAMESPACE_MARK = namespace(MESSAGE).encode()
INFO_MAX = 105  # StsRsnInf/AddtlInf is Max105Text


def _code(name: str, value: str) -> None:
    """An external code (four characters); one the tables do not know still reads (codes.py)."""
    if len(value) != 4 or not value.isalnum():
        raise ValueError(f"{name}: a four-character ISO external code")


def _reason_fields(status: str, reason: str | None, info: str | None) -> None:
    _code("status", status)
    if reason is not None:
        _code("reason", reason)
    v.optional_text("info", info, INFO_MAX)


@dataclass(frozen=True, slots=True)
class TxStatus:
    """The status of one transaction of the original message, found by its ids."""

    status: str
    original_end_to_end_id: str
    original_uetr: str | None = None
    original_instruction_id: str | None = None
    original_transaction_id: str | None = None
    reason: str | None = None
    info: str | None = None
    accepted_at: datetime | None = None
    bank_reference: str | None = None  # AcctSvcrRef: the payee bank's own reference

    def __post_init__(self) -> None:
        v.text("original_end_to_end_id", self.original_end_to_end_id)
        if self.original_uetr is not None:
            v.uetr("original_uetr", self.original_uetr)
        v.optional_text("original_instruction_id", self.original_instruction_id)
        v.optional_text("original_transaction_id", self.original_transaction_id)
        v.optional_text("bank_reference", self.bank_reference)
        _reason_fields(self.status, self.reason, self.info)

    @property
    def outcome(self) -> codes.Outcome:
        return codes.outcome_of(self.status)


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """A status of the whole original message (``GrpSts``), e.g. ``RJCT``/``FF01``."""

    status: str
    reason: str | None = None
    info: str | None = None

    def __post_init__(self) -> None:
        _reason_fields(self.status, self.reason, self.info)


@dataclass(frozen=True, slots=True)
class Pacs002:
    msg_id: str
    created: datetime
    original_msg_id: str
    original_msg_name: str  # pacs.008.001.08
    statuses: tuple[TxStatus, ...] = ()
    group: GroupStatus | None = None

    def __post_init__(self) -> None:
        v.text("msg_id", self.msg_id)
        v.timestamp(self.created)
        v.text("original_msg_id", self.original_msg_id)
        v.text("original_msg_name", self.original_msg_name)
        if not self.statuses and self.group is None:
            raise ValueError("statuses: at least one, or a group status")

    def status_of(self, end_to_end_id: str) -> TxStatus | None:
        return next((s for s in self.statuses if s.original_end_to_end_id == end_to_end_id), None)


def build(msg: Pacs002) -> bytes:
    root, body = document(MESSAGE, "FIToFIPmtStsRpt")
    header = add(body, "GrpHdr")
    add(header, "MsgId", msg.msg_id)
    add(header, "CreDtTm", v.timestamp(msg.created))
    original = add(body, "OrgnlGrpInfAndSts")
    add(original, "OrgnlMsgId", msg.original_msg_id)
    add(original, "OrgnlMsgNmId", msg.original_msg_name)
    if msg.group is not None:
        add(original, "GrpSts", msg.group.status)
        _write_reason(original, msg.group.reason, msg.group.info)
    for st in msg.statuses:
        _write_status(add(body, "TxInfAndSts"), st)
    return write(root)


def _write_status(el: Element, st: TxStatus) -> None:
    if st.original_instruction_id:
        add(el, "OrgnlInstrId", st.original_instruction_id)
    add(el, "OrgnlEndToEndId", st.original_end_to_end_id)
    if st.original_transaction_id:
        add(el, "OrgnlTxId", st.original_transaction_id)
    if st.original_uetr:
        add(el, "OrgnlUETR", st.original_uetr)
    add(el, "TxSts", st.status)
    _write_reason(el, st.reason, st.info)
    if st.accepted_at is not None:
        add(el, "AccptncDtTm", v.timestamp(st.accepted_at))
    if st.bank_reference:
        add(el, "AcctSvcrRef", st.bank_reference)


def _write_reason(el: Element, reason: str | None, info: str | None) -> None:
    if reason is None and info is None:
        return
    why = add(el, "StsRsnInf")
    if reason is not None:
        add(add(why, "Rsn"), "Cd", reason)
    if info is not None:
        add(why, "AddtlInf", info)


def parse(data: bytes) -> Pacs002:
    _, root = read(data, (MESSAGE,))
    doc = Reader(MESSAGE, root).find("FIToFIPmtStsRpt")
    assert doc is not None  # the schema requires it
    originals = doc.all("OrgnlGrpInfAndSts")
    if len(originals) != 1:
        raise doc.error("OrgnlGrpInfAndSts", "exactly one original message is answered")
    original = originals[0]
    group = None
    if original.opt("GrpSts") is not None:
        group = made(
            original,
            lambda: GroupStatus(
                original.text("GrpSts"),
                original.opt("StsRsnInf/Rsn/Cd"),
                original.opt("StsRsnInf/AddtlInf"),
            ),
        )
    statuses = tuple(_read_status(el) for el in doc.all("TxInfAndSts"))
    return made(
        doc,
        lambda: Pacs002(
            doc.text("GrpHdr/MsgId"),
            v.parse_timestamp(doc, "GrpHdr/CreDtTm"),
            original.text("OrgnlMsgId"),
            original.text("OrgnlMsgNmId"),
            statuses,
            group,
        ),
    )


def _read_status(el: Reader) -> TxStatus:
    accepted = el.opt("AccptncDtTm")
    status = el.opt("TxSts")
    if status is None:
        raise el.error("TxSts", "required: each transaction's status")
    end_to_end = el.opt("OrgnlEndToEndId")
    if end_to_end is None:
        raise el.error("OrgnlEndToEndId", "required: which transfer this status is about")
    return made(
        el,
        lambda: TxStatus(
            status=status,
            original_end_to_end_id=end_to_end,
            original_uetr=el.opt("OrgnlUETR"),
            original_instruction_id=el.opt("OrgnlInstrId"),
            original_transaction_id=el.opt("OrgnlTxId"),
            reason=el.opt("StsRsnInf/Rsn/Cd"),
            info=el.opt("StsRsnInf/AddtlInf"),
            accepted_at=None if accepted is None else v.parse_timestamp(el, "AccptncDtTm"),
            bank_reference=el.opt("AcctSvcrRef"),
        ),
    )
