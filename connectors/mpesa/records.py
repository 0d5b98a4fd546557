"""M-Pesa's own records of what happened, for reconciliation (pure): Pull Transactions and the
organisation portal's statement CSV, each parsed into ``ProviderRecord``s.

Pull Transactions (Daraja ``/pulltransactions/v1/register`` then ``/query``) lists the C2B
payments into a paybill or till over the last 48 hours, confirmations missed included. Wire
facts, from Safaricom's Daraja 3.0 "Pull Transaction" page and the sandbox answers SDK authors
captured; what no source settles is marked unverified:

- register answers ``ResponseStatus`` ``1000`` (registered) or ``1001`` (already registered),
  with the keys spelt with a space (``"Response Status"``) in the sandbox: both are read;
- the query is a POST with ``ShortCode``, ``StartDate``/``EndDate`` (``YYYY-MM-DD HH:mm:ss``,
  sent in Kenya time like the SDKs do: unverified) and ``OffSetValue`` (rows to skip; the page
  size is undocumented, so paging stops at an empty answer);
- an answer with rows is ``ResponseCode`` ``1000`` and ``Response`` a list of lists (flattened);
  none is ``1001`` with no list (or the string ``"[[]]"``); ``msisdn`` is a number without the
  country code, ``amount`` a string, ``trxDate`` ISO 8601 with ``Z``.

The organisation statement (exported from the M-Pesa org portal) is a CSV with preamble lines,
then the 13-column header ``Receipt No.,Completion Time,Initiation Time,Details,Transaction
Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction
ID,A/C No.``. Times are Kenya local time, ``dd-mm-yyyy HH:MM:SS`` or ``yyyy-mm-dd HH:MM:SS``
(both seen; unverified); amounts may carry thousands separators; only ``Completed`` rows moved
money.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from connectors.common import EAT, cents, text
from connectors.http import HttpRequest, HttpResponse
from switch.recon.records import ProviderRecord

PULL_REGISTER_PATH = "/pulltransactions/v1/register"
PULL_QUERY_PATH = "/pulltransactions/v1/query"
PULL_WINDOW_HOURS = 48
PULL_FORMAT = "%Y-%m-%d %H:%M:%S"
STATEMENT_HEADER = (
    "Receipt No.",
    "Completion Time",
    "Initiation Time",
    "Details",
    "Transaction Status",
    "Paid In",
    "Withdrawn",
    "Balance",
    "Balance Confirmed",
    "Reason Type",
    "Other Party Info",
    "Linked Transaction ID",
    "A/C No.",
)
_STATEMENT_TIMES = ("%d-%m-%Y %H:%M:%S", "%Y-%m-%d %H:%M:%S")


class BadRecords(ValueError):
    """A provider answer or file that cannot be read; the message names where and why."""


# --- Pull Transactions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PullPage:
    records: list[ProviderRecord]
    request_id: str


def pull_register_request(
    base_url: str, token: str, shortcode: str, nominated: str, callback_url: str
) -> HttpRequest:
    body = {
        "ShortCode": shortcode,
        "RequestType": "Pull",
        "NominatedNumber": nominated,
        "CallBackURL": callback_url,
    }
    return HttpRequest.json("POST", base_url.rstrip("/") + PULL_REGISTER_PATH, body, _bearer(token))


def parse_pull_register(resp: HttpResponse) -> str:
    """The ResponseStatus (``1000`` registered, ``1001`` already registered); BadRecords else."""
    body = resp.json()
    if resp.status != 200 or not isinstance(body, dict):
        raise BadRecords(f"pull register answered HTTP {resp.status}: {_said(body)}")
    status = text(body.get("Response Status", body.get("ResponseStatus")))
    if status not in ("1000", "1001"):
        raise BadRecords(f"pull register refused: {_said(body)}")
    return status


def pull_query_request(
    base_url: str, token: str, shortcode: str, start: datetime, end: datetime, offset: int
) -> HttpRequest:
    body = {
        "ShortCode": shortcode,
        "StartDate": start.astimezone(EAT).strftime(PULL_FORMAT),
        # Whole seconds on the wire: the end is rounded up, so nothing of its last second is cut.
        "EndDate": (end + timedelta(seconds=1) if end.microsecond else end)
        .astimezone(EAT)
        .strftime(PULL_FORMAT),
        "OffSetValue": str(offset),
    }
    return HttpRequest.json("POST", base_url.rstrip("/") + PULL_QUERY_PATH, body, _bearer(token))


def parse_pull_query(resp: HttpResponse, shortcode: str) -> PullPage:
    body = resp.json()
    if resp.status != 200 or not isinstance(body, dict):
        raise BadRecords(f"pull query answered HTTP {resp.status}: {_said(body)}")
    code = text(body.get("ResponseCode"))
    request_id = text(body.get("ResponseRefID") or body.get("RequestID"))
    if code == "1001":
        return PullPage([], request_id)
    if code != "1000":
        raise BadRecords(f"pull query refused: {_said(body)}")
    rows = body.get("Response")
    if not isinstance(rows, list):
        raise BadRecords("pull query: Response is not a list")
    flat = [row for group in rows for row in (group if isinstance(group, list) else [group])]
    return PullPage([_pull_record(row, i, shortcode) for i, row in enumerate(flat)], request_id)


def _pull_record(row: Any, index: int, shortcode: str) -> ProviderRecord:
    if not isinstance(row, dict):
        raise BadRecords(f"pull query row {index}: not an object")
    try:
        receipt = text(row.get("transactionId"))
        if not receipt:
            raise ValueError("transactionId is empty")
        at = datetime.fromisoformat(text(row.get("trxDate")).replace("Z", "+00:00"))
        if at.tzinfo is None:  # no zone given: Kenya time, like the rest of Daraja
            at = at.replace(tzinfo=EAT)
        return ProviderRecord(
            source="mpesa_pull",
            receipt=receipt,
            amount=cents(row.get("amount"), grouped=True),
            direction="in",
            at=at.astimezone(UTC),
            account=text(row.get("billreference")),
            shortcode=shortcode,
            party=_masked(text(row.get("msisdn"))),
        )
    except ValueError as exc:
        raise BadRecords(f"pull query row {index}: {exc}") from None


# --- the organisation statement (CSV) ------------------------------------------------------------


def parse_org_statement(data: bytes, shortcode: str) -> list[ProviderRecord]:
    """Completed rows of a portal statement export; BadRecords names the line and column."""
    try:
        lines = data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise BadRecords("the statement is not UTF-8 text") from None
    start = next(
        (i for i, line in enumerate(lines) if line.lstrip('"').startswith("Receipt No.")), None
    )
    if start is None:
        raise BadRecords(f"no header row starting 'Receipt No.' ({', '.join(STATEMENT_HEADER)})")
    reader = csv.DictReader(io.StringIO("\n".join(lines[start:])))
    missing = [c for c in STATEMENT_HEADER if c not in (reader.fieldnames or [])]
    if missing:
        raise BadRecords(f"line {start + 1}: the header lacks {', '.join(missing)}")
    out: list[ProviderRecord] = []
    for number, row in enumerate(reader, start=start + 2):
        if not any((v or "").strip() for v in row.values()):
            continue
        if (row["Transaction Status"] or "").strip() != "Completed":
            continue  # declined, cancelled, failed: no money moved
        out.append(_statement_record(row, number, shortcode))
    return out


def _statement_record(row: dict[str, str], number: int, shortcode: str) -> ProviderRecord:
    column = "Receipt No."
    try:
        receipt = row[column].strip()
        if not receipt:
            raise ValueError("empty")
        column = "Completion Time"
        at = _statement_time(row[column])
        column = "Paid In"
        paid_in = cents(row[column] or "0", grouped=True)
        column = "Withdrawn"
        withdrawn = abs(cents(row[column] or "0", grouped=True, signed=True))
        if (paid_in > 0) == (withdrawn > 0):
            raise ValueError("exactly one of Paid In and Withdrawn must be set")
    except ValueError as exc:
        raise BadRecords(f"line {number}, {column}: {exc}") from None
    return ProviderRecord(
        source="mpesa_statement",
        receipt=receipt,
        amount=paid_in or withdrawn,
        direction="in" if paid_in else "out",
        at=at,
        account=(row.get("A/C No.") or "").strip(),
        shortcode=shortcode,
        party=(row.get("Other Party Info") or "").split(" - ")[0].strip(),
    )


def _statement_time(value: str) -> datetime:
    for fmt in _STATEMENT_TIMES:
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=EAT).astimezone(UTC)
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not dd-mm-yyyy HH:MM:SS nor yyyy-mm-dd HH:MM:SS")


def org_statement_csv(rows: list[dict[str, str]], organisation: str, period: str) -> bytes:
    """A statement as the portal exports it (the simulator writes this): preamble, header, rows
    latest first (the preamble's wording is unverified)."""
    out = io.StringIO()
    out.write(f"Organisation Name:,{organisation}\nTime Period:,{period}\n\n")
    writer = csv.DictWriter(out, STATEMENT_HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def _masked(msisdn: str) -> str:
    return f"{msisdn[:3]}****{msisdn[-3:]}" if len(msisdn) >= 7 else msisdn


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _said(body: Any) -> str:
    return orjson.dumps(body).decode()[:200] if body is not None else "(no body)"
