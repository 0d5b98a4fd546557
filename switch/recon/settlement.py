"""Three-way matching (pure): the switch's journal against the provider's record (the matching
engine), and the provider's record against the bank settlement of the provider's float into the
switch's own bank account.

M-Pesa and Airtel settle each business day's net collections into the switch's collection
account as one credit whose end-to-end id (camt.053 ``EndToEndId``; MT940 ``/EREF/`` in the
``:86:`` narrative) is ``SETTLE-<PROVIDER>-<YYYYMMDD>``, with ``-<shortcode>`` when M-Pesa
settles each paybill or till on its own; such a bank statement is the source
``bank_settlement``. The choices, kept simple:

- cut-off: the business day in Africa/Nairobi (EAT, UTC+3), midnight to midnight;
- what is netted: every transaction the run *matched* for that provider on that day, money in
  (C2B, STK, Airtel collections) less money out (B2C payouts, reversals, Airtel payouts); fees the
  provider charges are not modelled (the simulators charge none), and breaks are judged on
  their own: a day holding a break settles a sum the matched records do not add up to, so it
  shows here too, as it should until the break is resolved;
- a settlement credit that does not equal that net is a ``settlement_mismatch``; a day with
  matched records and no credit in the statement is not judged (the statement may not cover it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta, timezone

from switch.recon.matching import Finding, Kind
from switch.recon.records import ProviderRecord

SOURCE = "bank_settlement"
NAIROBI = timezone(timedelta(hours=3), "EAT")
_REF = re.compile(r"^SETTLE-(MPESA|AIRTEL)-(\d{8})(?:-(\d{5,7}))?$")
Key = tuple[str, date, str]  # provider, business day, shortcode ("": all of the provider's)


def settlement_ref(provider: str, day: date, shortcode: str = "") -> str:
    """The end-to-end id of ``provider``'s settlement of ``day`` (Nairobi business day)."""
    return f"SETTLE-{provider.upper()}-{day:%Y%m%d}" + (f"-{shortcode}" if shortcode else "")


def parse_ref(reference: str) -> Key | None:
    found = _REF.match(reference)
    if found is None:
        return None
    provider, day, shortcode = found.groups()
    try:
        return provider.lower(), date(int(day[:4]), int(day[4:6]), int(day[6:])), shortcode or ""
    except ValueError:
        return None  # not a date: not a settlement of ours


def business_day(finding: Finding) -> date | None:
    return finding.at.astimezone(NAIROBI).date() if finding.at else None


def net_of(matched: Iterable[Finding]) -> dict[Key, int]:
    """(provider, business day, shortcode) -> cents in less cents out, over matched findings;
    each also counts under shortcode "" (the provider's whole day)."""
    out: dict[Key, int] = defaultdict(int)
    for f in matched:
        day = business_day(f)
        if f.kind != "matched" or day is None or f.switch_amount is None:
            continue
        cents = f.switch_amount if f.direction == "in" else -f.switch_amount
        shortcode = next((r.shortcode for r in f.records if r.shortcode), "")
        out[(f.provider, day, "")] += cents
        if shortcode:
            out[(f.provider, day, shortcode)] += cents
    return dict(out)


def judge(settlements: Iterable[ProviderRecord], findings: list[Finding]) -> list[Finding]:
    """A ``matched`` or ``settlement_mismatch`` finding per settlement credit; lines of the
    statement that are not settlements are not this source's business and are left out."""
    net = net_of(findings)
    out: list[Finding] = []
    for record in sorted(settlements, key=lambda r: r.reference):
        parsed = parse_ref(record.reference)
        if parsed is None or record.direction != "in":
            continue
        provider, day, _ = parsed
        expected = net.get(parsed, 0)
        kind: Kind = "matched" if expected == record.amount else "settlement_mismatch"
        detail = (
            ""
            if kind == "matched"
            else f"the bank credited {record.amount}, the matched {provider} records of "
            f"{day.isoformat()} net {expected} (cents)"
        )
        out.append(
            Finding(
                kind,
                provider,
                record.reference,
                detail,
                switch_amount=expected,
                provider_amount=record.amount,
                direction="in",
                records=(record,),
                at=record.at,
            )
        )
    return out
