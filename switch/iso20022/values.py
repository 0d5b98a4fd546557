"""The values every message shares, checked when they are made: identifiers (``Max35Text``),
the UETR, amounts, agents (banks), parties and accounts, and how each is written and read.

A check raises ``ValueError`` naming the field, so a builder refuses a bad value before any XML
exists; the same rules hold for what the parsers read (the schema has already checked them).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from switch.iso20022.document import Element, Reader, add

_UETR = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}$")
_BIC = re.compile(r"^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# ISO 4217 minor units of the currencies a Kenyan hub meets; others may carry the schema's
# five decimals (ActiveCurrencyAndAmount's fractionDigits).
MINOR_UNITS = {"KES": 2, "UGX": 0, "TZS": 2, "RWF": 0, "USD": 2, "EUR": 2, "GBP": 2}
MAX_FRACTION = 5
MAX_DIGITS = 18  # ActiveCurrencyAndAmount's totalDigits

SETTLEMENT_METHODS = ("INDA", "INGA", "COVE", "CLRG")
CHARGE_BEARERS = ("DEBT", "CRED", "SHAR", "SLEV")


def text(name: str, value: str, most: int = 35) -> str:
    """``Max35Text`` (or ``most``): 1 to ``most`` characters, not only spaces."""
    if not isinstance(value, str) or not value.strip() or len(value) > most:
        raise ValueError(f"{name}: 1 to {most} characters")
    return value


def optional_text(name: str, value: str | None, most: int = 35) -> str | None:
    return None if value is None else text(name, value, most)


def new_uetr() -> str:
    """A Unique End-to-end Transaction Reference: a lowercase UUID version 4."""
    return str(uuid.uuid4())


def uetr(name: str, value: str) -> str:
    if not isinstance(value, str) or not _UETR.match(value):
        raise ValueError(f"{name}: a lowercase UUID version 4 (xxxxxxxx-xxxx-4xxx-[89ab]xxx-...)")
    return value


def one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}: one of {', '.join(allowed)}")
    return value


def amount(name: str, value: Decimal, currency: str) -> Decimal:
    """A positive amount with no more decimals than the currency has (and the schema allows)."""
    if not isinstance(currency, str) or not _CURRENCY.match(currency):
        raise ValueError(f"{name}: currency must be three capital letters (ISO 4217)")
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValueError(f"{name}: a positive Decimal")
    places = MINOR_UNITS.get(currency, MAX_FRACTION)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if -exponent > places:
        raise ValueError(f"{name}: at most {places} decimals for {currency}")
    if len(value.as_tuple().digits) + max(exponent, 0) > MAX_DIGITS:
        raise ValueError(f"{name}: at most {MAX_DIGITS} digits")
    return value


def format_amount(value: Decimal, currency: str) -> str:
    """``1500.00`` for KES: the currency's minor units written out (never an exponent)."""
    places = MINOR_UNITS.get(currency, max(-int(value.as_tuple().exponent), 0))
    return f"{value:.{places}f}"


def parse_amount(reader: Reader, path: str) -> tuple[Decimal, str]:
    raw = reader.text(path)
    currency = reader.attr(path, "Ccy")
    try:
        value = Decimal(raw)
        amount(path, value, currency)
    except (InvalidOperation, ValueError) as exc:
        raise reader.error(path, str(exc)) from None
    return value, currency


def add_amount(parent: Element, tag: str, value: Decimal, currency: str) -> None:
    add(parent, tag, format_amount(value, currency), Ccy=currency)


def timestamp(value: datetime) -> str:
    """ISODateTime with the offset (EAT is +03:00), to the second."""
    if value.tzinfo is None:
        raise ValueError("a timestamp needs a time zone")
    return value.replace(microsecond=0).isoformat()


def parse_timestamp(reader: Reader, path: str) -> datetime:
    raw = reader.text(path)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise reader.error(path, f"not a date and time: {raw}") from None
    if value.tzinfo is None:  # the schema allows a local time; ours are all EAT
        raise reader.error(path, "a time zone offset is required")
    return value


def parse_date(reader: Reader, path: str) -> date:
    raw = reader.text(path)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise reader.error(path, f"not a date: {raw}") from None


@dataclass(frozen=True, slots=True)
class Agent:
    """A financial institution: its BIC (``BICFI``) and/or its member id in the clearing system
    (``ClrSysMmbId/MmbId``: here the CBK bank code, ``68``). No Kenyan clearing-system code is in
    the ISO external list (unverified), so the member id is written without ``ClrSysId``."""

    bic: str | None = None
    member_id: str | None = None

    def __post_init__(self) -> None:
        if self.bic is None and self.member_id is None:
            raise ValueError("agent: a BIC or a clearing member id")
        if self.bic is not None and not _BIC.match(self.bic):
            raise ValueError(f"agent.bic: not a BIC: {self.bic}")
        optional_text("agent.member_id", self.member_id)

    def write(self, parent: Element, tag: str) -> None:
        fin = add(add(parent, tag), "FinInstnId")
        if self.bic:
            add(fin, "BICFI", self.bic)
        if self.member_id:
            add(add(fin, "ClrSysMmbId"), "MmbId", self.member_id)

    @classmethod
    def read(cls, reader: Reader, path: str) -> Agent:
        found = reader.find(path + "/FinInstnId")
        if found is None:
            raise reader.error(path, "required")
        bic, member = found.opt("BICFI"), found.opt("ClrSysMmbId/MmbId")
        if bic is None and member is None:
            raise found.error("", "a BICFI or ClrSysMmbId/MmbId is needed to route it")
        return cls(bic, member)

    @property
    def key(self) -> str:
        """How the hub names the participant: its bank code, else its BIC."""
        return self.member_id or self.bic or ""


def write_party(parent: Element, tag: str, name: str) -> None:
    add(add(parent, tag), "Nm", name)


def write_account(parent: Element, tag: str, account: str) -> None:
    """``<tag><Id><Othr><Id>account</Id></Othr></Id></tag>``: a Kenyan account number (no IBAN)."""
    add(add(add(add(parent, tag), "Id"), "Othr"), "Id", account)


def read_account(reader: Reader, path: str) -> str | None:
    return reader.opt(path + "/Id/Othr/Id") or reader.opt(path + "/Id/IBAN")


def account(name: str, value: str) -> str:
    return text(name, value, 34)  # GenericAccountIdentification1/Id is Max34Text


def check_group(msg_id: str, created: datetime, method: str, what: str, ids: list[str]) -> None:
    """The rules of a group header (MsgId, CreDtTm, SttlmMtd) and its transactions' own ids."""
    text("msg_id", msg_id)
    timestamp(created)
    one_of("settlement_method", method, SETTLEMENT_METHODS)
    if not ids:
        raise ValueError(f"{what}: at least one")
    if len(set(ids)) != len(ids):
        raise ValueError(f"{what}: id repeated in one message")


def write_group(
    body: Element, msg_id: str, created: datetime, count: int, total: Decimal | None, method: str
) -> None:
    """``GrpHdr``: MsgId, CreDtTm, NbOfTxs, CtrlSum (when given), SttlmInf/SttlmMtd."""
    header = add(body, "GrpHdr")
    add(header, "MsgId", msg_id)
    add(header, "CreDtTm", timestamp(created))
    add(header, "NbOfTxs", str(count))
    if total is not None:
        add(header, "CtrlSum", str(total))
    add(add(header, "SttlmInf"), "SttlmMtd", method)


def write_payment_id(
    parent: Element, end_to_end_id: str, uetr: str, instruction: str | None, tx: str | None
) -> None:
    """``PmtId``: InstrId, EndToEndId, TxId, UETR (PaymentIdentification7's order)."""
    ids = add(parent, "PmtId")
    if instruction:
        add(ids, "InstrId", instruction)
    add(ids, "EndToEndId", end_to_end_id)
    if tx:
        add(ids, "TxId", tx)
    add(ids, "UETR", uetr)


def check_totals(reader: Reader, header: str, count: int, total: Decimal | None) -> None:
    """``<header>/NbOfTxs`` and (when given) ``CtrlSum`` against what was read."""
    at = f"{header}/" if header else ""
    said = reader.opt(f"{at}NbOfTxs")
    if said is not None and int(said) != count:
        raise reader.error(f"{at}NbOfTxs", f"says {said}, found {count}")
    control = reader.opt(f"{at}CtrlSum")
    if total is not None and control is not None and Decimal(control) != total:
        raise reader.error(f"{at}CtrlSum", f"says {control}, the amounts add up to {total}")
