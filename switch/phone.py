"""Kenyan MSISDNs: normalise to the provider form (2547XXXXXXXX / 2541XXXXXXXX) and mask.

Rule (Kenya's numbering plan, +254 and a 9-digit national number): strip spaces, dashes and '+'; a
leading 0 or nothing before the 9-digit national number becomes 254; the national number starts with
7 or 1.
"""

from __future__ import annotations

import re

_PROVIDER_FORM = re.compile(r"^254[17][0-9]{8}$")


def normalise_msisdn(raw: str) -> str:
    """Return the 12-digit provider form, or raise ValueError naming the accepted forms."""
    digits = re.sub(r"[\s\-()]", "", raw or "")
    if digits.startswith("+"):
        digits = digits[1:]
    if len(digits) == 10 and digits.startswith("0"):
        digits = "254" + digits[1:]
    elif len(digits) == 9:
        digits = "254" + digits
    if not _PROVIDER_FORM.match(digits):
        raise ValueError(
            "must be a Kenyan mobile number: 07XXXXXXXX, 01XXXXXXXX, 2547XXXXXXXX or +2547XXXXXXXX"
        )
    return digits


def mask_msisdn(msisdn: str) -> str:
    """254712345678 -> 2547******78: enough to recognise a number, not to use it."""
    if len(msisdn) < 8:
        return "*" * len(msisdn)
    return msisdn[:4] + "*" * (len(msisdn) - 6) + msisdn[-2:]
