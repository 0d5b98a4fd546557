"""Which SACCO member account an M-Pesa C2B payment is for (pure).

SACCO members pay by paybill with the account reference (``BillRefNumber``, at most 20 characters)
set to their member number, optionally followed by a product code (as SACCOs instruct their members:
``12345`` or ``12345LN``; common practice, unverified). Two set-ups are read:

* the paybill belongs to one SACCO (``paybill_sacco`` given): ``<member>[<product>]``;
* a shared paybill (the switch's): ``<SACCO code><member>[<product>]``, separators allowed:
  ``STIMA12345LN``, ``STIMA-12345-LN``, ``stima 12345 ln``.

Spaces, ``-``, ``.``, ``/`` and ``#`` are ignored and letters are upper-cased (members type the
reference on a phone). Product codes (our choice, unverified): none or ``SV`` -> ``deposit``
(savings/FOSA), ``LN`` -> ``loan_repayment``, ``SH`` -> ``shares``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from connectors.sacco.registry import Sacco

Product = Literal["deposit", "loan_repayment", "shares"]
PRODUCTS: dict[str, Product] = {"SV": "deposit", "LN": "loan_repayment", "SH": "shares"}
MAX_BILL_REF = 20  # C2B BillRefNumber (Daraja's C2B documentation)
_IGNORED = re.compile(r"[\s\-./#]+")


@dataclass(frozen=True, slots=True)
class RepaymentTarget:
    sacco_code: str
    member_number: str
    product: Product


@dataclass(frozen=True, slots=True)
class NoMatch:
    reason: str


def match_bill_ref(
    bill_ref: str, saccos: Mapping[str, Sacco], paybill_sacco: str | None = None
) -> RepaymentTarget | NoMatch:
    """The member account ``bill_ref`` names, or why it names none."""
    raw = bill_ref.strip()
    if not raw:
        return NoMatch("the account reference is empty")
    if len(raw) > MAX_BILL_REF:
        return NoMatch(f"the account reference is longer than {MAX_BILL_REF} characters")
    ref = _IGNORED.sub("", raw).upper()
    if paybill_sacco is not None:
        sacco = saccos.get(paybill_sacco)
        if sacco is None:
            return NoMatch(f"the paybill's SACCO {paybill_sacco!r} is not registered")
        return _member_part(sacco, ref)
    for code in sorted(saccos, key=len, reverse=True):  # longest first: STIMAX before STIMA
        if ref.startswith(code) and len(ref) > len(code):
            return _member_part(saccos[code], ref[len(code) :])
    return NoMatch("the account reference does not start with a registered SACCO code")


def _member_part(sacco: Sacco, ref: str) -> RepaymentTarget | NoMatch:
    """Split ``<member>[<product>]``; a reference readable both ways is refused, not guessed."""
    readings: list[RepaymentTarget] = []
    if sacco.member_number_ok(ref):
        readings.append(RepaymentTarget(sacco.code, ref, "deposit"))
    suffix = ref[-2:]
    if suffix in PRODUCTS and sacco.member_number_ok(ref[:-2]):
        readings.append(RepaymentTarget(sacco.code, ref[:-2], PRODUCTS[suffix]))
    if len(readings) == 1:
        return readings[0]
    if readings:
        return NoMatch(f"{ref!r} reads both as a member number and as one with a product code")
    if suffix.isalpha() and suffix not in PRODUCTS and sacco.member_number_ok(ref[:-2]):
        return NoMatch(f"unknown product code {suffix!r}; known: {sorted(PRODUCTS)}")
    return NoMatch(f"{ref!r} is not a {sacco.name} member number")
