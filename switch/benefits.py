"""Benefit payments, pure: a programme's beneficiaries, their eligibility, de-duplication, the
monthly cycle, the key that pays a beneficiary at most once per cycle and the planning of a run.

A **programme** (a government agency's or an NGO's) pays its beneficiaries an amount per cycle,
a calendar month in Africa/Nairobi (``"2026-12"``). A **beneficiary** is a person: national ID,
phone, name, eligibility (a dated history: ``eligible``, ``suspended``, ``deceased``,
``graduated``) and where to be paid (:data:`RAILS`: an M-Pesa or Airtel Money wallet on the
phone, a bank account on PesaLink, or a SACCO member account), through the bulk payouts' rails.

De-duplication: a national ID, a phone or an account paid into (bank or SACCO member,
:func:`destination`) is registered once per programme. A second registration with any of them is
refused, naming the beneficiary that holds it (the store also enforces it with unique indexes on
the blind indexes, so two uploads at once cannot both register one person).

Paying once per cycle: before any money moves, a run stores a **claim** whose ``_id`` is
:func:`claim_key` (programme, cycle, beneficiary). MongoDB's unique ``_id`` lets exactly one run
hold it; every payout of that beneficiary in that cycle is made under it, attempt by attempt,
and a new attempt is only made once the previous one's payment has failed (a final failure
moved no money).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from switch.csvsafe import TRIGGERS

NAIROBI = ZoneInfo("Africa/Nairobi")
Status = Literal["eligible", "suspended", "deceased", "graduated"]
STATUSES: tuple[Status, ...] = ("eligible", "suspended", "deceased", "graduated")
# Rails a benefit is paid on, each with a name check before paying (api/benefits_checks.py):
# M-Pesa's customer name query (connectors/mpesa/namecheck.py), Airtel's KYC user enquiry
# (connectors/airtel/kyc.py), PesaLink's account look-up and an API SACCO's member look-up (a
# file SACCO has none: paid with the check recorded as skipped, ``name_not_checked``).
RAILS = ("mpesa_b2c", "airtel_payout", "bank_transfer", "sacco")
WALLET_RAILS = frozenset({"mpesa_b2c", "airtel_payout"})  # they pay the beneficiary's phone
# The rails paying an account, and the fields that name it in a beneficiary's ``payout``.
ACCOUNT_FIELDS = {"bank_transfer": ("bank_code", "account_number"),
                  "sacco": ("sacco_code", "member_number")}  # fmt: skip
# Kenyan national ID card numbers are 7 or 8 digits today (older cards fewer), and the Maisha
# Namba that replaces them from 2023 has 9 (unverified: no public specification). Never with a
# leading zero.
_NATIONAL_ID = re.compile(r"^[1-9][0-9]{5,8}$")
_CYCLE = re.compile(r"^(20[0-9]{2})-(0[1-9]|1[0-2])$")
MAX_NAME = 100


def national_id(value: str) -> str:
    """A national ID number as stored (spaces removed); ValueError saying why it is not one."""
    text = re.sub(r"\s+", "", value)
    if not _NATIONAL_ID.fullmatch(text):
        raise ValueError("must be a Kenyan national ID number: 6 to 9 digits, no leading zero")
    return text


def person_name(value: str) -> str:
    text = " ".join(value.split())
    if not 2 <= len(text) <= MAX_NAME or not re.search(r"[^\W\d_]", text):
        raise ValueError(f"must be a person's name, 2 to {MAX_NAME} characters")
    if text.startswith(TRIGGERS):  # a spreadsheet formula, not a name (switch/csvsafe.py)
        raise ValueError("must not start with = + - or @")
    return text


# --- cycles --------------------------------------------------------------------------------------


def cycle_of(moment: datetime) -> str:
    """The cycle (calendar month in Nairobi) a moment falls in: 23:30 UTC on 30 November is
    already December in Nairobi (UTC+3)."""
    local = moment.astimezone(NAIROBI)
    return f"{local.year:04d}-{local.month:02d}"


def cycle_days(cycle: str) -> tuple[date, date]:
    """(first day, last day) of a cycle; ValueError for a malformed one."""
    found = _CYCLE.fullmatch(cycle)
    if not found:
        raise ValueError("must be a calendar month, YYYY-MM")
    first = date(int(found[1]), int(found[2]), 1)
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


def cycle_problem(cycle: str, now: datetime) -> str | None:
    """Why a run cannot be made for ``cycle`` now: malformed, or not started yet."""
    try:
        cycle_days(cycle)
    except ValueError as exc:
        return str(exc)
    if cycle > cycle_of(now):
        return f"{cycle} has not started in Nairobi (it is {cycle_of(now)})"
    return None


def as_of(cycle: str, now: datetime) -> date:
    """The day eligibility is judged on: today in Nairobi, or a past cycle's last day."""
    today = now.astimezone(NAIROBI).date()
    return min(today, cycle_days(cycle)[1])


def destination(payout: Mapping[str, str]) -> str | None:
    """The account a payout goes to (``bank_transfer:68:0150000503``), for the duplicate check;
    None for a wallet rail, which pays the phone (itself registered once)."""
    fields = ACCOUNT_FIELDS.get(payout.get("method", ""))
    if fields is None:
        return None
    return ":".join([payout["method"], *(str(payout[f]) for f in fields)])


def claim_key(programme_id: str, cycle: str, beneficiary_id: str) -> str:
    """The ``_id`` of the claim that lets one run pay a beneficiary in a cycle."""
    return f"{programme_id}:{cycle}:{beneficiary_id}"


def item_id(beneficiary_id: str, attempt: int) -> str:
    """A payout batch item's id: the beneficiary and the attempt (1, 2, ...) of this cycle."""
    return f"{beneficiary_id}-{attempt}"


def beneficiary_of_item(item: str) -> tuple[str, int]:
    ben, _, attempt = item.rpartition("-")
    return ben, int(attempt)


# --- eligibility ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Eligibility:
    status: Status
    effective: date
    reason: str = ""


def status_on(history: Sequence[Eligibility], day: date) -> Eligibility | None:
    """The entry in force on ``day`` (the latest that took effect by then); None before the
    first. Entries are kept in the order they were recorded; a later record for the same day
    wins."""
    found = None
    for entry in history:
        if entry.effective <= day and (found is None or entry.effective >= found.effective):
            found = entry
    return found


def change_problem(history: Sequence[Eligibility], new: Eligibility) -> str | None:
    """Why an eligibility change is refused: a deceased beneficiary never becomes eligible
    again (a registration error is corrected by a suspension and a new registration)."""
    last = status_on(history, new.effective)
    if last is not None and last.status == "deceased" and new.status != "deceased":
        return f"recorded as deceased from {last.effective.isoformat()}"
    return None


# --- de-duplication ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registration:
    """One registration to check: its line (0 for a single create), keys as blind indexes."""

    line: int
    national_id_bidx: str
    phone_bidx: str
    destination_bidx: str = ""  # "": paid to the phone


@dataclass(frozen=True, slots=True)
class Duplicate:
    line: int
    field: Literal["national_id", "phone", "payout"]
    existing: str  # the beneficiary id holding it, or "line N" of the same upload

    @property
    def reason(self) -> str:
        return f"already registered: {self.existing}"


def duplicates(
    rows: Iterable[Registration],
    by_national_id: Mapping[str, str],
    by_phone: Mapping[str, str],
    by_destination: Mapping[str, str] | None = None,
) -> dict[int, Duplicate]:
    """Line -> why it is a duplicate: a national ID, phone or account paid into that a stored
    beneficiary holds (``by_*``: blind index -> beneficiary id), or that an earlier line of the
    same upload registers. The first line to register a person wins; each later line names it."""
    seen_id: dict[str, int] = {}
    seen_phone: dict[str, int] = {}
    seen_dest: dict[str, int] = {}
    found: dict[int, Duplicate] = {}
    for row in rows:
        dup = _duplicate(row, by_national_id, by_phone, seen_id, seen_phone)
        dest = row.destination_bidx
        if dup is None and dest and dest in (by_destination or {}):
            dup = Duplicate(row.line, "payout", (by_destination or {})[dest])
        if dup is None and dest and dest in seen_dest:
            dup = Duplicate(row.line, "payout", f"line {seen_dest[dest]}")
        if dup is not None:
            found[row.line] = dup
            continue
        seen_id[row.national_id_bidx] = row.line
        seen_phone[row.phone_bidx] = row.line
        if dest:
            seen_dest[dest] = row.line
    return found


def _duplicate(
    row: Registration,
    by_national_id: Mapping[str, str],
    by_phone: Mapping[str, str],
    seen_id: Mapping[str, int],
    seen_phone: Mapping[str, int],
) -> Duplicate | None:
    if row.national_id_bidx in by_national_id:
        return Duplicate(row.line, "national_id", by_national_id[row.national_id_bidx])
    if row.phone_bidx in by_phone:
        return Duplicate(row.line, "phone", by_phone[row.phone_bidx])
    if row.national_id_bidx in seen_id:
        return Duplicate(row.line, "national_id", f"line {seen_id[row.national_id_bidx]}")
    if row.phone_bidx in seen_phone:
        return Duplicate(row.line, "phone", f"line {seen_phone[row.phone_bidx]}")
    return None


# --- planning a run ------------------------------------------------------------------------------

ExceptionKind = Literal[
    "ineligible",  # suspended, deceased, graduated, or not yet eligible: skipped
    "name_mismatch",  # the destination's registered name is not the beneficiary's
    "unregistered_phone",  # the wallet provider has no customer for the phone (look-up, payout)
    "account_not_found",  # the bank or SACCO has no such account or member
    "name_check_failed",  # the look-up could not be made: not paid, plan again in the cycle
    "name_not_checked",  # the provider has no look-up (a file SACCO): paid, noted for auditors
    "already_claimed",  # another run holds this beneficiary's claim for the cycle
    "changed_since_planning",  # destination changed between planning and approval
    "payment_failed",  # the payout failed (retry within the cycle)
    "duplicate_registration",  # a registration refused as a duplicate
]
EXCEPTION_KINDS: tuple[ExceptionKind, ...] = (
    "ineligible",
    "name_mismatch",
    "unregistered_phone",
    "account_not_found",
    "name_check_failed",
    "name_not_checked",
    "already_claimed",
    "changed_since_planning",
    "payment_failed",
    "duplicate_registration",
)
# Exceptions that do not stop a payment: noted for the auditors only.
PAID_UNCHECKED: frozenset[ExceptionKind] = frozenset({"name_not_checked"})
# B2C results meaning the phone is no M-Pesa customer (Daraja doc §8: 2040 "customer type
# (Unregistered) is not supported", SFC_IC0003 "operator does not exist").
UNREGISTERED_CODES = frozenset({"2040", "SFC_IC0003"})


@dataclass(frozen=True, slots=True)
class Candidate:
    """A beneficiary as a run sees it."""

    beneficiary_id: str
    version: int
    history: tuple[Eligibility, ...]
    amount_minor: int
    method: str


@dataclass(frozen=True, slots=True)
class Skipped:
    beneficiary_id: str
    kind: ExceptionKind
    detail: str


@dataclass(frozen=True)
class Plan:
    to_check: list[Candidate] = field(default_factory=list)  # eligible: name check next
    skipped: list[Skipped] = field(default_factory=list)


def plan(
    candidates: Iterable[Candidate], day: date, claimed: Mapping[str, str], run_id: str
) -> Plan:
    """Who a run for a cycle pays: the beneficiaries eligible on ``day``, less those whose
    claim for the cycle another run holds (``claimed``: beneficiary id -> run id)."""
    result = Plan()
    for c in sorted(candidates, key=lambda c: c.beneficiary_id):
        entry = status_on(c.history, day)
        if entry is None or entry.status != "eligible":
            why = f"not eligible on {day.isoformat()}"
            if entry is not None:
                why = f"{entry.status} from {entry.effective.isoformat()}"
            result.skipped.append(Skipped(c.beneficiary_id, "ineligible", why))
        elif claimed.get(c.beneficiary_id, run_id) != run_id:
            detail = f"paid in this cycle by run {claimed[c.beneficiary_id]}"
            result.skipped.append(Skipped(c.beneficiary_id, "already_claimed", detail))
        else:
            result.to_check.append(c)
    return result


def payment_exception(error_code: str | None, message: str | None) -> Skipped | None:
    """How a failed payout reads in the report (its beneficiary filled in by the caller)."""
    code = error_code or ""
    kind: ExceptionKind = "unregistered_phone" if code in UNREGISTERED_CODES else "payment_failed"
    return Skipped("", kind, f"{code} {message or ''}".strip())
