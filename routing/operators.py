"""Which mobile operator holds an MSISDN's range (the Communications Authority
of Kenya's National Numbering Plan, as operators publish their prefixes).

Mobile number portability exists, so a prefix names the original holder, not always the current
one. Ranges are matched longest prefix first.
"""

from __future__ import annotations

from typing import Literal

Operator = Literal["safaricom", "airtel", "telkom", "equitel", "other"]

# National-number prefixes (after 254), from the reference table.
# How messages name each operator.
OPERATOR_NAMES: dict[Operator, str] = {
    "safaricom": "Safaricom",
    "airtel": "Airtel",
    "telkom": "Telkom",
    "equitel": "Equitel",
    "other": "an unsupported operator",
}

_PREFIXES: dict[str, Operator] = {
    **{f"7{d}": "safaricom" for d in "012"},
    "73": "airtel",
    **{f"74{d}": "safaricom" for d in "01235689"},
    "744": "other",  # Homeland Media
    "747": "other",  # JTL (Faiba)
    **{f"75{d}": "airtel" for d in "0123456"},
    **{f"75{d}": "safaricom" for d in "789"},
    "760": "other",  # Mobile Pay
    "761": "airtel",
    "762": "airtel",
    **{f"76{d}": "equitel" for d in "3456"},
    "767": "other",  # Sema Mobile
    "768": "safaricom",
    "769": "safaricom",
    "77": "telkom",
    "78": "airtel",
    "79": "safaricom",
    "10": "airtel",
    "11": "safaricom",
    "120": "telkom",
    "121": "other",  # Infura
    "124": "equitel",
    "13": "other",  # NRG Media
    "14": "safaricom",
    "18": "safaricom",
}


def operator_of(msisdn: str) -> Operator:
    """The original holder of a normalised MSISDN ('2547...')."""
    national = msisdn[3:]
    for length in (3, 2):
        found = _PREFIXES.get(national[:length])
        if found:
            return found
    return "other"
