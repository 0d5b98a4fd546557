"""The sandbox directory: who holds which account, and which phones are linked where. Pure.

Named accounts and phones are listed below; every other well-formed account at a participant bank
exists too, with a holder name derived from its bank and number (stable, different across
accounts), and every other phone is linked to one generated default account whose number ends in
the phone's last four digits, so the account triggers (:mod:`.triggers`) work by phone as well.
A phone ending in ``0404`` is linked nowhere.

| Account (bank)            | Holder               | Why listed                                  |
|---------------------------|----------------------|---------------------------------------------|
| ``0170197176640`` (12)    | John Doe             | doc §3.2 lookup sample (bank ``0012``)      |
| ``99901288715910`` (57)   | Tom Doe              | doc §3.1 destination sample                 |
| ``0020100014605`` (68)    | John Doe             | doc §3.1 source sample: the merchant's own  |
| ``1100123456789`` (01)    | JANE WANJIKU DOE     | linked to 0712345678                        |
| ``1450123455678`` (68)    | JANE WANJIKU DOE     | linked to 0712345678 (default)              |
| ``0100004567890`` (31)    | JOHN KAMAU MWANGI    | linked to 0722000000 (default)              |

| Phone          | Linked at (default first)     |
|----------------|-------------------------------|
| ``0712345678`` | Equity (68), KCB (01)         |
| ``0722000000`` | Stanbic (31)                  |
| ``07xxxx0404`` | nowhere: "not registered"     |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from connectors.pesalink.banks import TIER_ONE

NOT_LINKED_SUFFIX = "0404"


@dataclass(frozen=True, slots=True)
class Link:
    bank_code: str
    account_number: str
    is_default: bool


ACCOUNTS: dict[tuple[str, str], str] = {
    ("12", "0170197176640"): "John Doe",
    ("57", "99901288715910"): "Tom Doe",
    ("68", "0020100014605"): "John Doe",
    ("01", "1100123456789"): "JANE WANJIKU DOE",
    ("68", "1450123455678"): "JANE WANJIKU DOE",
    ("31", "0100004567890"): "JOHN KAMAU MWANGI",
}

PHONES: dict[str, tuple[Link, ...]] = {
    "254712345678": (Link("68", "1450123455678", True), Link("01", "1100123456789", False)),
    "254722000000": (Link("31", "0100004567890", True),),
}

_FIRST = ("JANE", "JOHN", "MARY", "PETER", "GRACE", "DAVID", "FAITH", "JAMES", "ANN", "JOSEPH")
_MIDDLE = ("WANJIKU", "OTIENO", "NJERI", "KIPROP", "AKINYI", "MUTUA", "CHEPKOECH", "KAMAU")
_LAST = ("DOE", "KARIUKI", "OCHIENG", "MWANGI", "KIBET", "WAFULA", "NJOROGE", "OMONDI")
_LINK_BANKS = tuple(sorted(TIER_ONE))


def holder_name(bank_code: str, account_number: str) -> str:
    """The account holder's name as the receiving bank has it."""
    listed = ACCOUNTS.get((bank_code, account_number))
    if listed is not None:
        return listed
    h = _digest(f"{bank_code}:{account_number}")
    return f"{_FIRST[h[0] % len(_FIRST)]} {_MIDDLE[h[1] % len(_MIDDLE)]} {_LAST[h[2] % len(_LAST)]}"


def links_of(phone: str) -> tuple[Link, ...]:
    """Where ``phone`` (2547XXXXXXXX) is linked on PesaLink; empty if nowhere."""
    if phone.endswith(NOT_LINKED_SUFFIX):
        return ()
    listed = PHONES.get(phone)
    if listed is not None:
        return listed
    h = _digest(phone)
    bank = _LINK_BANKS[h[0] % len(_LINK_BANKS)]
    number = f"{int.from_bytes(h[1:5], 'big') % 10**9:09d}{phone[-4:]}"
    return (Link(bank, number, True),)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()
