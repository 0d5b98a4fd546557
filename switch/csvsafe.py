"""CSV that a spreadsheet opens as data, never as formulas (pure). Per OWASP's CSV injection
guidance, a cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
prefixed with a single quote, so Excel, LibreOffice and Google Sheets show it as text. A signed
amount (``-150.00``) would be changed by that too, so numbers are left as they are: a plain
decimal number is not a formula in any of them."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(TRIGGERS) and not _NUMBER.match(text):
        return "'" + text
    return text


def line(values: Iterable[object]) -> str:
    """One CSV line (RFC 4180 quoting, CRLF), every cell made safe."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([cell(v) for v in values])
    return out.getvalue()


def lines(rows: Iterable[Iterable[object]]) -> Iterable[str]:
    for row in rows:
        yield line(row)
