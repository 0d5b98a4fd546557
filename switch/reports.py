"""Daily and monthly summaries of a merchant's payments (pure): per period, counts, amounts, fees
and success rates by method, by provider and by status. Periods are Nairobi business days
(00:00 to 24:00 East Africa Time, Africa/Nairobi by zoneinfo) and calendar months of them; each
day says whether it is a business day (Monday to Friday, not a Kenyan public holiday of fixed
date or Easter; holidays that move with the moon, like Idd-ul-Fitr, are gazetted each year and
are not known here).

Success rate: succeeded over everything final (succeeded, failed, expired); payments still in
flight count in ``count`` but not in the rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from switch.money import format_minor
from switch.rails import RAILS
from switch.search import FilterError

NAIROBI = ZoneInfo("Africa/Nairobi")
Granularity = Literal["day", "month"]
FINAL = ("succeeded", "failed", "expired")
# Public Holidays Act (Cap. 110) and the Constitution: the holidays of fixed date.
FIXED_HOLIDAYS = {(1, 1), (5, 1), (6, 1), (10, 10), (10, 20), (12, 12), (12, 25), (12, 26)}
SUMMARY_FIELDS = {"method": 1, "status": 1, "amount_minor": 1, "fee_minor": 1, "created_at": 1}


def nairobi_day(t: datetime) -> date:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(NAIROBI).date()


def day_start(day: date, plus_days: int = 0) -> datetime:
    """The UTC instant a Nairobi day starts (``plus_days`` later)."""
    return datetime.combine(day + timedelta(days=plus_days), time(), NAIROBI).astimezone(UTC)


def easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def is_business_day(day: date) -> bool:
    if day.weekday() >= 5 or (day.month, day.day) in FIXED_HOLIDAYS:
        return False
    sunday = easter(day.year)
    if day in (sunday - timedelta(days=2), sunday + timedelta(days=1)):  # Good Friday, Monday
        return False
    # A holiday on a Sunday is kept on the Monday after.
    yesterday = day - timedelta(days=1)
    return not (day.weekday() == 0 and (yesterday.month, yesterday.day) in FIXED_HOLIDAYS)


def period_of(t: datetime, granularity: Granularity) -> str:
    day = nairobi_day(t)
    return day.isoformat() if granularity == "day" else day.isoformat()[:7]


class _Totals:
    __slots__ = ("amount", "count", "fees", "final", "succeeded")

    def __init__(self) -> None:
        self.count = self.amount = self.fees = self.succeeded = self.final = 0

    def add(self, doc: Mapping[str, Any]) -> None:
        self.count += 1
        status = doc.get("status")
        if status in FINAL:
            self.final += 1
        if status == "succeeded":
            self.succeeded += 1
            self.amount += int(doc.get("amount_minor") or 0)
            self.fees += int(doc.get("fee_minor") or 0)

    def to_json(self) -> dict[str, Any]:
        rate = round(self.succeeded / self.final, 4) if self.final else None
        return {
            "count": self.count,
            "succeeded": self.succeeded,
            "amount": format_minor(self.amount),
            "fees": format_minor(self.fees),
            "success_rate": rate,
        }


def summarise(docs: Iterable[Mapping[str, Any]], granularity: Granularity) -> list[dict[str, Any]]:
    """Per period (oldest first): totals, and the same by method, provider and status.
    ``amount`` and ``fees`` count succeeded payments only (money that moved)."""
    periods: dict[str, dict[str, Any]] = {}
    for doc in docs:
        key = period_of(doc["created_at"], granularity)
        if key not in periods:
            periods[key] = {
                "all": _Totals(),
                **{k: defaultdict(_Totals) for k in ("method", "provider", "status")},
            }
        p = periods[key]
        method = str(doc.get("method"))
        p["all"].add(doc)
        p["method"][method].add(doc)
        p["provider"][RAILS[method].provider if method in RAILS else "unknown"].add(doc)
        p["status"][str(doc.get("status"))].add(doc)
    out = []
    for key in sorted(periods):
        p = periods[key]
        row: dict[str, Any] = {"period": key}
        if granularity == "day":
            row["business_day"] = is_business_day(date.fromisoformat(key))
        row.update(p["all"].to_json())
        for by in ("method", "provider", "status"):
            row[f"by_{by}"] = {k: v.to_json() for k, v in sorted(p[by].items())}
        out.append(row)
    return out


SUMMARY_COLUMNS = (
    "period",
    "group",
    "value",
    "count",
    "succeeded",
    "amount",
    "fees",
    "success_rate",
)


def csv_rows(periods: list[dict[str, Any]]) -> Iterable[list[str]]:
    """One row per period and group (``all``, then each method, provider and status)."""
    yield list(SUMMARY_COLUMNS)
    for p in periods:
        groups = [("all", "", p)] + [
            (by, name, totals)
            for by in ("method", "provider", "status")
            for name, totals in p[f"by_{by}"].items()
        ]
        for group, value, t in groups:
            rate = "" if t["success_rate"] is None else str(t["success_rate"])
            yield [
                p["period"],
                group,
                value,
                str(t["count"]),
                str(t["succeeded"]),
                t["amount"],
                t["fees"],
                rate,
            ]


MAX_DAYS = 31  # answered at once; longer ranges are export jobs (POST /v1/exports)
FORMATS = ("json", "csv")


def parse_report_query(
    query: Mapping[str, str],
    choices: Mapping[str, tuple[str, ...]],
    max_days: int | None = MAX_DAYS,
) -> dict[str, Any]:
    """``since`` and ``until`` (Nairobi days, inclusive), ``format`` and the report's own choices
    (name -> allowed values, the first the default); FilterError naming every bad field."""
    details: list[dict[str, str]] = []
    out: dict[str, Any] = {}
    allowed = {"since", "until", "format", *choices}
    for name in query:
        if name not in allowed:
            details.append(
                {"field": name, "reason": f"not a parameter; give {', '.join(sorted(allowed))}"}
            )
    for name in ("since", "until"):
        text = query.get(name)
        try:
            out[name] = date.fromisoformat(text) if text else None
        except ValueError:
            details.append({"field": name, "reason": "a date, YYYY-MM-DD (a Nairobi day)"})
        if text is None:
            details.append({"field": name, "reason": "required: a date, YYYY-MM-DD"})
    for name, values in {"format": FORMATS, **choices}.items():
        out[name] = query.get(name, values[0])
        if out[name] not in values:
            details.append({"field": name, "reason": f"one of {', '.join(values)}"})
    since, until = out.get("since"), out.get("until")
    if since and until:
        if until < since:
            details.append({"field": "until", "reason": "before since"})
        elif max_days is not None and (until - since).days + 1 > max_days:
            reason = f"at most {max_days} days here; export longer ranges (POST /v1/exports)"
            details.append({"field": "until", "reason": reason})
    if details:
        raise FilterError(details)
    return out
