"""Settlement of a merchant's balance to its nominated account (pure): when a run is due, which
settlement date it belongs to, its id, the reserve kept, what is held back for T+1, how much is
paid and which rail pays it, and the rules of changing the nominated account.

Times: cut-offs are wall-clock times in Africa/Nairobi (EAT, UTC+3 all year: Kenya has kept no
daylight saving since 1942, so a fixed offset is exact and needs no time-zone database).

One settlement per merchant per settlement date, whether the scheduler or the merchant starts it:
the run id is derived from both, and the payout's Idempotency-Key from the run id and its attempt,
so a retried or concurrent run finds the same run and the same payout and never pays twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Literal

from switch.fees import Fee
from switch.providers import Rail

NAIROBI = timezone(timedelta(hours=3), "Africa/Nairobi")
Frequency = Literal["daily", "manual"]
AccountKind = Literal["bank", "paybill"]
# Where each kind of nominated account is paid: a payout rail of the provider registry whose
# destination is that kind ("paybill": M-Pesa's B2B BusinessPayBill rail).
DESTINATION_OF: dict[str, str] = {"bank": "bank", "paybill": "paybill"}


@dataclass(frozen=True, slots=True)
class Schedule:
    """``daily``: the scheduler settles at ``cutoff`` (Nairobi) every day; ``manual``: only on
    demand. ``lag_days`` 0 is T+0 (everything available is paid), 1 is T+1 (what was collected in
    the last day before the cut-off waits for the next run)."""

    frequency: Frequency = "manual"
    cutoff: time = time(17, 0)
    lag_days: int = 1


@dataclass(frozen=True, slots=True)
class Reserve:
    """Kept back from every settlement: the larger of a fixed amount and a percentage of the
    collections credited in the last ``days`` days (a floor for a quiet merchant, and cover for
    reversals and disputes that grows with volume)."""

    fixed_minor: int = 0
    percent_bps: int = 0  # basis points: 1000 = 10 %
    days: int = 7

    def stricter(self, other: Reserve) -> Reserve:
        """Each part at the larger of the two (a merchant may keep more than the operator's
        floor, never less)."""
        return Reserve(
            max(self.fixed_minor, other.fixed_minor),
            max(self.percent_bps, other.percent_bps),
            max(self.days, other.days),
        )


def as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def cutoff_on(day: date, cutoff: time) -> datetime:
    """The cut-off instant of a Nairobi calendar day, in UTC."""
    return datetime.combine(day, cutoff, NAIROBI).astimezone(UTC)


def latest_cutoff(now: datetime, cutoff: time) -> datetime:
    """The most recent cut-off at or before ``now`` (UTC)."""
    today = as_utc(now).astimezone(NAIROBI).date()
    at = cutoff_on(today, cutoff)
    return at if at <= as_utc(now) else cutoff_on(today - timedelta(days=1), cutoff)


def next_cutoff(now: datetime, cutoff: time) -> datetime:
    """The first cut-off strictly after ``now`` (UTC): when a daily run is next due."""
    return latest_cutoff(now, cutoff) + timedelta(days=1)


def settlement_date(cutoff_at: datetime) -> date:
    """The Nairobi business day a cut-off closes."""
    return as_utc(cutoff_at).astimezone(NAIROBI).date()


def nairobi_today(now: datetime) -> date:
    return as_utc(now).astimezone(NAIROBI).date()


def run_id(merchant_id: str, day: date) -> str:
    """``stl_<YYYYMMDD>_<hash>``: one per merchant and settlement date, the same in every process
    (the primary key of the run, so a second run of the same day cannot be stored)."""
    digest = hashlib.sha256(f"{merchant_id}|{day.isoformat()}".encode()).hexdigest()[:20]
    return f"stl_{day:%Y%m%d}_{digest}"


def payout_key(run: str, attempt: int) -> str:
    """The payout's Idempotency-Key: the shard derives the payout id from it, so the payout of
    one attempt is created once however many times it is asked for."""
    return f"settlement:{run}:{attempt}"


def held_back_since(now: datetime, cutoff: time, lag_days: int) -> datetime | None:
    """Collections credited since this instant wait for a later run (T+1: those after the
    previous day's cut-off); None: nothing is held back (T+0)."""
    if lag_days <= 0:
        return None
    return latest_cutoff(now, cutoff) - timedelta(days=lag_days)


def reserve_minor(reserve: Reserve, collections_minor: int) -> int:
    share = (max(0, collections_minor) * reserve.percent_bps + 5_000) // 10_000
    return max(reserve.fixed_minor, share)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run pays: ``amount_minor`` (whole shillings) plus ``fee_minor`` from the available
    balance; zero with a ``reason`` when there is nothing to pay."""

    available_minor: int
    reserve_minor: int
    held_back_minor: int
    amount_minor: int
    fee_minor: int
    reason: str = ""


def plan(available: int, reserve: int, held_back: int, rail: Rail, fee: Fee | None) -> Plan:
    """The largest whole-shilling amount, within the rail's limits, whose amount plus fee leaves
    the reserve and the held-back collections in the balance. Above the rail's maximum, the
    maximum is paid and the rest waits for the next run."""
    budget = available - reserve - max(0, held_back)
    shillings = min(max(0, budget), rail.max_minor) // 100
    charge = fee.of if fee is not None else (lambda _amount: 0)
    # The fee grows with the amount (at most 100 % of it, plus a cent of rounding), so the best
    # amount is at least (over - 1) / 2 cents below one that overshoots by ``over``: steps of
    # that size never pass it, and the last step is one shilling.
    while shillings > 0 and shillings * 100 + charge(shillings * 100) > budget:
        over = shillings * 100 + charge(shillings * 100) - budget
        shillings -= max(1, (over - 1) // 200)
    amount = shillings * 100
    if amount < rail.min_minor:
        why = (
            "nothing above the reserve to settle"
            if budget <= 0
            else f"below the rail's minimum of KES {rail.min_minor // 100}"
        )
        return Plan(available, reserve, held_back, 0, 0, why)
    return Plan(available, reserve, held_back, amount, charge(amount), "")


def settlement_rail(kind: str, rails: dict[str, Rail]) -> Rail | None:
    """The payout rail that pays a nominated account of this kind, from the provider registry
    (the first payout rail whose destination is that kind); None while no provider has one."""
    wanted = DESTINATION_OF.get(kind)
    for rail in rails.values():
        if rail.direction == "payout" and rail.destination == wanted:
            return rail
    return None


# --- changing the nominated account --------------------------------------------------------------


def confirmation_problem(proposed_by: str, confirmer: str, is_person: bool, mfa: bool) -> str:
    """Why ``confirmer`` may not confirm a change ``proposed_by`` made; "" when they may. A
    change of where money goes is a classic fraud path: a second person, signed in with
    two-factor, confirms it (no one approves what they made)."""
    if not is_person or not mfa:
        return "a person signed in with two-factor confirms a settlement account change"
    if confirmer == proposed_by:
        return "no one confirms their own change: a second person of the organisation must"
    return ""


def usable_from(confirmed_at: datetime, cooling_off_s: float) -> datetime:
    """A confirmed account is paid only after the cooling-off period, so a change slipped in is
    seen (audit trail, notifications) before any money follows it."""
    return as_utc(confirmed_at) + timedelta(seconds=cooling_off_s)


def mask_account(number: str) -> str:
    return "*" * max(0, len(number) - 4) + number[-4:]
