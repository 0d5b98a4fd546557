"""Money is exact: integer minor units (cents) inside, decimal strings on the wire, never floats."""

from __future__ import annotations

import re

KES_MINOR_PER_MAJOR = 100
_WHOLE = re.compile(r"^[0-9]{1,12}(\.0{1,2})?$")


def parse_whole_shillings(text: str) -> int:
    """Parse a decimal string of whole shillings ("150" or "150.00") into cents.

    Raises ValueError with a message fit for a client; mobile money moves whole shillings only.
    """
    if not isinstance(text, str):
        raise ValueError('must be a decimal string such as "150"')
    if not _WHOLE.fullmatch(text):
        raise ValueError('must be a whole number of shillings written as a string, e.g. "150"')
    return int(text.split(".")[0]) * KES_MINOR_PER_MAJOR


def format_minor(minor: int) -> str:
    """Cents to the wire form: "150" for whole shillings, "150.50" otherwise."""
    major, cents = divmod(minor, KES_MINOR_PER_MAJOR)
    return str(major) if cents == 0 else f"{major}.{cents:02d}"


def to_whole_shillings(minor: int) -> int:
    if minor % KES_MINOR_PER_MAJOR:
        raise ValueError(f"{minor} cents is not a whole number of shillings")
    return minor // KES_MINOR_PER_MAJOR
