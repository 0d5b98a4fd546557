"""The operations of the ``mixed`` scenario: what each one sends, on which rail, and the unique
phones, accounts and member numbers it sends to. Pure and standard-library only, because the
locust process imports it (see ``bench/locustfile.py``).

Every destination is fresh (one global sequence per load-generator process): the simulators lock
a subscriber while a prompt is open, and the money checks count payments per phone, account and
member, so a second one for the same destination is a duplicate. Each generated identifier also
dodges every sandbox trigger, so all operations are meant to succeed:

- phones (M-Pesa STK and B2C, Airtel collections and disbursements, the PesaLink directory):
  the triggers are chosen by the last four digits and none starts with 7 (STK 1032 0001 1037
  2001 0404; B2C 0xxx 2xxx 8006 9003; Airtel 1000-1029 0404 4005; PesaLink 0404 and the account
  triggers below), so the fourth digit from the end is always 7;
- bank accounts: PesaLink's triggers are the last four digits (1001 ... 5002), again never 7xxx;
- SACCO member numbers: digits only (the sandbox registry's pattern is ``^[0-9]{4,10}$``); the
  triggers are the last three digits (402-407, 504), so the third from the end is always 1.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["collection", "payout", "transfer", "get"]

COLLECT_AMOUNT = "150"
PAYOUT_AMOUNT = "100"
TRANSFER_AMOUNT = "100"
PESALINK_BANK = "68"  # Equity, on PesaLink
API_SACCO = "STIMA"  # the sandbox's Fineract-shaped API SACCO
FILE_SACCO = "WAUMINI"  # the sandbox's file SACCO (batch files out, result files in)

# National prefixes: Safaricom 071x, Airtel 073x, Telkom 077x (not a wallet the switch pays, but
# linked to a bank account in the PesaLink directory); seven digits follow.
SAFARICOM, AIRTEL, TELKOM = "071", "073", "077"


@dataclass(frozen=True, slots=True)
class Op:
    name: str  # the locust method is ``op_<name>``; records carry ``name`` as their ``op``
    kind: Kind
    rail: str  # what the report groups by
    path: str  # where it is POSTed (or GET for kind ``get``)


OPS: dict[str, Op] = {
    o.name: o
    for o in (
        Op("mpesa_stk", "collection", "mpesa_stk", "/v1/payments"),
        Op("airtel_ussd", "collection", "airtel_ussd", "/v1/payments"),
        Op("auto_collect", "collection", "auto", "/v1/payments"),
        Op("mpesa_b2c", "payout", "mpesa_b2c", "/v1/payouts"),
        Op("airtel_payout", "payout", "airtel_payout", "/v1/payouts"),
        Op("bank_account", "payout", "bank_transfer", "/v1/payouts"),
        Op("bank_phone", "payout", "bank_transfer", "/v1/payouts"),
        Op("sacco_api", "payout", "sacco", "/v1/payouts"),
        Op("sacco_file", "payout", "sacco", "/v1/payouts"),
        Op("transfer", "transfer", "transfer", "/v1/transfers"),
        Op("get", "get", "get", ""),
    )
}

# Collections 7 : payouts 9 : transfers 2 : reads 2. Payouts outweigh collections, so the
# merchants are funded before the load starts (the runner's funding phase) and the balance a
# payout needs never depends on which collections happened to finish first.
MIXED_WEIGHTS: dict[str, int] = {
    "mpesa_stk": 3,
    "airtel_ussd": 2,
    "auto_collect": 2,
    "mpesa_b2c": 2,
    "airtel_payout": 2,
    "bank_account": 2,
    "bank_phone": 1,
    "sacco_api": 1,
    "sacco_file": 1,
    "transfer": 2,
    "get": 2,
}

# Transfers cycle through these (source, destination) account kinds. A bank account cannot be a
# source (PesaLink only pushes), and the file SACCO takes deposits but no withdrawals.
TRANSFER_PAIRS: tuple[tuple[str, str], ...] = (
    ("mpesa", "bank"),
    ("airtel", "mpesa"),
    ("mpesa", "airtel"),
    ("sacco", "mpesa"),
    ("mpesa", "sacco"),
    ("airtel", "bank"),
    ("airtel", "sacco_file"),
)

# What GET path reads an object of each kind.
READ_PATHS: dict[str, str] = {
    "collection": "/v1/payments/",
    "payout": "/v1/payouts/",
    "transfer": "/v1/transfers/",
}


def rail_of(op: str) -> str:
    """The rail an operation's record belongs to; the single-rail scenarios' ``create`` and
    ``storm`` are M-Pesa STK collections."""
    found = OPS.get(op)
    if found is not None:
        return found.rail
    return {"create": "mpesa_stk", "storm": "mpesa_stk", "daraja": "daraja"}.get(op, op)


def kind_of(op: str) -> Kind | None:
    found = OPS.get(op)
    if found is not None:
        return found.kind
    return "collection" if op in ("create", "storm") else None


class Destinations:
    """Fresh, trigger-free identifiers from one sequence (module docstring)."""

    def __init__(self, start: int = 1) -> None:
        self._seq: Iterator[int] = itertools.count(start)

    def _next(self) -> int:
        n = next(self._seq)
        if n >= 10**6:
            raise RuntimeError("more than a million destinations in one process")
        return n

    def subscriber(self) -> str:
        """Six digits of the sequence with a 7 fourth from the end: ``ddd7ddd``."""
        digits = f"{self._next():06d}"
        return digits[:3] + "7" + digits[3:]

    def phone(self, prefix: str) -> str:
        return prefix + self.subscriber()  # 07X + seven digits

    def account(self) -> str:
        digits = f"{self._next():09d}"
        return digits[:6] + "7" + digits[6:]  # ten digits, the fourth from the end a 7

    def member(self) -> str:
        digits = f"{self._next():06d}"
        return digits[:4] + "1" + digits[4:]  # seven digits, the third from the end a 1


def collection_body(method: str, phone: str, ref: str) -> dict[str, Any]:
    return {
        "method": method,
        "amount": COLLECT_AMOUNT,
        "currency": "KES",
        "phone": phone,
        "reference": ref,
        "description": f"Order {ref}"[:13],
    }


def payout_body(method: str, ref: str, **destination: Any) -> dict[str, Any]:
    return {
        "method": method,
        "amount": PAYOUT_AMOUNT,
        "currency": "KES",
        "reference": ref,
        **destination,
    }


def account_of(kind: str, dest: Destinations) -> tuple[dict[str, Any], str]:
    """One side of a transfer and the identifier the money checks know it by."""
    if kind == "mpesa":
        phone = dest.phone(SAFARICOM)
        return {"type": "mpesa", "phone": phone}, phone
    if kind == "airtel":
        phone = dest.phone(AIRTEL)
        return {"type": "airtel", "phone": phone}, phone
    if kind == "bank":
        number = dest.account()
        return {"type": "bank", "bank_code": PESALINK_BANK, "account_number": number}, number
    code = FILE_SACCO if kind == "sacco_file" else API_SACCO
    member = dest.member()
    return {"type": "sacco", "sacco_code": code, "member_number": member}, member


def transfer_body(source: dict[str, Any], destination: dict[str, Any], ref: str) -> dict[str, Any]:
    return {
        "amount": TRANSFER_AMOUNT,
        "currency": "KES",
        "source": source,
        "destination": destination,
        "reference": ref,
    }


def build(op: str, dest: Destinations, ref: str, pair: int = 0) -> tuple[dict[str, Any], str]:
    """The request body of one create operation and the destination it goes to (a phone,
    account or member number; a transfer names its source and destination, ``a>b``).
    ``pair`` picks a transfer's account kinds from :data:`TRANSFER_PAIRS`."""
    if op == "mpesa_stk":
        phone = dest.phone(SAFARICOM)
        return collection_body("mpesa_stk", phone, ref), phone
    if op == "airtel_ussd":
        phone = dest.phone(AIRTEL)
        return collection_body("airtel_ussd", phone, ref), phone
    if op == "auto_collect":  # half Safaricom, half Airtel numbers: the switch picks the rail
        phone = dest.phone(SAFARICOM if pair % 2 == 0 else AIRTEL)
        return collection_body("auto", phone, ref), phone
    if op == "mpesa_b2c":
        phone = dest.phone(SAFARICOM)
        return payout_body("mpesa_b2c", ref, phone=phone), phone
    if op == "airtel_payout":
        phone = dest.phone(AIRTEL)
        return payout_body("airtel_payout", ref, phone=phone), phone
    if op == "bank_account":
        number = dest.account()
        bank = {"bank_code": PESALINK_BANK, "account_number": number}
        return payout_body("bank_transfer", ref, bank=bank), number
    if op == "bank_phone":
        phone = dest.phone(TELKOM)
        return payout_body("bank_transfer", ref, phone=phone), phone
    if op in ("sacco_api", "sacco_file"):
        member = dest.member()
        sacco = {
            "sacco_code": API_SACCO if op == "sacco_api" else FILE_SACCO,
            "member_number": member,
            "purpose": "deposit",
        }
        return payout_body("sacco", ref, sacco=sacco), member
    if op == "transfer":
        src_kind, dst_kind = TRANSFER_PAIRS[pair % len(TRANSFER_PAIRS)]
        source, src_id = account_of(src_kind, dest)
        destination, dst_id = account_of(dst_kind, dest)
        return transfer_body(source, destination, ref), f"{src_id}>{dst_id}"
    raise ValueError(f"no create operation {op!r}")
