"""Running a settlement: the run is stored first (its id is the merchant's settlement date), then
its payout is created through the same path as ``POST /v1/payouts`` (the shard's create, so fees,
AML screening, the reservation, limits, reviews and webhooks all apply), then followed to its end.

A run that dies half-way is resumed by the scheduler: the payout's Idempotency-Key is derived from
the run id and attempt, so asking again returns the same payout. A failed run (the payout failed
or was refused, its reservation released) may be started again for the same date: a new attempt,
taken by compare-and-set, so two retries make one payout.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from api.models import PayoutCreate
from api.payments import payout_command
from api.state import AppState
from infra.settlement_store import Doc, SettlementStore
from switch import settlement as rules
from switch.errors import ClientError, Unavailable
from switch.fees import Fee
from switch.payments import now_utc
from switch.platform import family, settlement_settings
from switch.rails import RAILS
from switch.settlement_report import FINAL

log = logging.getLogger(__name__)


class SettlementRefused(ClientError):
    """409: the merchant cannot be settled now (no confirmed account, cooling-off, ...)."""

    status = 409

    def __init__(self, code: str, message: str, field: str = "") -> None:
        details = [{"field": field, "reason": message}] if field else []
        super().__init__(message, details)
        self.code = code


def operator_reserve(state: AppState) -> rules.Reserve:
    s = state.settings
    return rules.Reserve(
        s.settlement_reserve_fixed * 100, s.settlement_reserve_bps, s.settlement_reserve_days
    )


def merchant_reserve(settings: Doc | None) -> rules.Reserve:
    stored = (settings or {}).get("reserve") or {}
    return rules.Reserve(
        int(stored.get("fixed_minor", 0)),
        int(stored.get("percent_bps", 0)),
        int(stored.get("days", 1)),  # 1: the operator's days apply (stricter takes the larger)
    )


def schedule_of(settings: Doc | None) -> rules.Schedule:
    stored = (settings or {}).get("schedule") or {}
    if not stored:
        return rules.Schedule()
    hour, minute = (int(x) for x in stored["cutoff"].split(":"))
    return rules.Schedule(stored["frequency"], time(hour, minute), int(stored["lag_days"]))


def payable_account(settings: Doc | None, now: datetime) -> Doc:
    """The confirmed account, if settlement may pay it now; refused otherwise (nothing moves)."""
    account = (settings or {}).get("account")
    if not account:
        raise SettlementRefused(
            "no_settlement_account",
            "no confirmed settlement account: propose one (PUT /v1/settlement/account) and have "
            "a second person confirm it",
            "account",
        )
    usable = account["usable_from"]
    if rules.as_utc(usable) > now:
        raise SettlementRefused(
            "settlement_account_cooling_off",
            f"the settlement account was confirmed recently; it is paid from "
            f"{rules.as_utc(usable).isoformat().replace('+00:00', 'Z')}",
            "account",
        )
    return dict(account)


class Settler:
    """Starts, resumes and follows settlement runs (one per api process; any process may run
    any merchant's settlement: the run ids and payout keys make them agree)."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self._store: SettlementStore | None = None

    @property
    def store(self) -> SettlementStore:
        """Made on first use (the app is built before anything touches the database)."""
        if self._store is None:
            journal = self.state.cols.journal
            self._store = SettlementStore(journal.database, journal)
        return self._store

    async def settings_of(self, merchant_id: str) -> Doc | None:
        """The merchant's settlement settings as applied: a sub-merchant without an account of
        its own is paid to its aggregator's (switch/platform.py, ``settlement_settings``)."""
        settings = await self.store.account(merchant_id)
        if family(merchant_id) != merchant_id and not (settings or {}).get("account"):
            parent = await self.store.account(family(merchant_id))
            settings = settlement_settings(merchant_id, settings, parent)
        return settings

    # --- starting a run ---------------------------------------------------------------------

    async def settle(
        self, merchant_id: str, day: date, trigger: str, maker: str
    ) -> tuple[Doc, bool]:
        """The merchant's run of ``day``: (run, made now). Stored before any payout is asked for;
        an existing run is returned as it is (a failed one is tried again as a new attempt)."""
        now = now_utc()
        settings = await self.settings_of(merchant_id)
        account = payable_account(settings, now)
        run_id = rules.run_id(merchant_id, day)
        existing = await self.store.run(run_id)
        if existing is not None and existing["status"] != "failed":
            return await self.advance(existing, maker), False
        fresh = await self._plan(merchant_id, day, trigger, account, settings, maker, now)
        if existing is None:
            stored = await self.store.insert_run(fresh)
            if stored is None:  # a concurrent run of the same date won: follow that one
                other = await self.store.run(run_id)
                assert other is not None
                return await self.advance(other, maker), False
        else:  # a new attempt after a failure, taken only once
            attempt = int(existing.get("attempt", 1))
            changes = {k: v for k, v in fresh.items() if k not in ("_id", "created_at")}
            changes.update(attempt=attempt + 1, payout_id=None, failure=None)
            stored = await self.store.update_run(
                run_id, {"status": "failed", "attempt": attempt}, changes
            )
            if stored is None:
                other = await self.store.run(run_id)
                assert other is not None
                return await self.advance(other, maker), False
        return await self.advance(stored, maker), True

    async def _plan(
        self,
        merchant_id: str,
        day: date,
        trigger: str,
        account: Doc,
        settings: Doc | None,
        maker: str,
        now: datetime,
    ) -> Doc:
        rail = rules.settlement_rail(account["kind"], RAILS)
        if rail is None:
            raise SettlementRefused(
                "no_settlement_rail",
                f"no payout rail reaches a {account['kind']} account yet",
                "account.kind",
            )
        fee: Fee | None = self.state.settings.fees.get(rail.method)
        available = await self._available(merchant_id)
        reserve = operator_reserve(self.state).stricter(merchant_reserve(settings))
        collections = 0
        if reserve.percent_bps:
            since = now - timedelta(days=reserve.days)
            collections = await self.store.collections_since(merchant_id, since)
        schedule = schedule_of(settings)
        held_since = rules.held_back_since(now, schedule.cutoff, schedule.lag_days)
        held = await self.store.collections_since(merchant_id, held_since) if held_since else 0
        kept = rules.reserve_minor(reserve, collections)
        paid = rules.plan(available, kept, held, rail, fee)
        return {
            "_id": rules.run_id(merchant_id, day),
            "merchant_id": merchant_id,
            "settlement_date": day.isoformat(),
            "trigger": trigger,
            "maker": maker,
            "status": "pending" if paid.amount_minor else "skipped",
            "open": bool(paid.amount_minor),
            "attempt": 1,
            "available_minor": paid.available_minor,
            "reserve_minor": paid.reserve_minor,
            "reserve_basis": {
                "fixed_minor": reserve.fixed_minor,
                "percent_bps": reserve.percent_bps,
                "days": reserve.days,
                "collections_minor": collections,
            },
            "held_back_minor": paid.held_back_minor,
            "lag_days": schedule.lag_days,
            "amount_minor": paid.amount_minor,
            "fee_minor": paid.fee_minor,
            "method": rail.method,
            "destination": {
                "kind": account["kind"],
                "bank_code": account.get("bank_code"),
                "business_number": account.get("business_number"),
                "account_number": account.get("account_number"),
                "account_mask": rules.mask_account(account.get("account_number") or ""),
                "account_name": account.get("account_name"),
            },
            "payout_id": None,
            "failure": None,
            "note": paid.reason,
            "created_at": now,
            "updated_at": now,
        }

    async def _available(self, merchant_id: str) -> int:
        try:
            reply = await self.state.router.of_merchant(merchant_id).balance(merchant_id)
        except Exception as exc:
            raise Unavailable("the payment shard is unavailable; retry") from exc
        return _cents(str(reply.body["available"]))

    # --- moving a run on ---------------------------------------------------------------------

    async def advance(self, run: Doc, maker: str = "") -> Doc:
        """Create the payout of a pending run (again: the same key returns the same payout), or
        read the payout of a paying one; the run as it is afterwards."""
        if run["status"] == "pending":
            return await self._pay(run, maker or run.get("maker", ""))
        if run["status"] == "paying":
            return await self._follow(run)
        return run

    def payout_body(self, run: Doc) -> dict[str, Any]:
        dest = run["destination"]
        account: dict[str, Any]
        if dest["kind"] == "paybill":
            account = {
                "business_number": dest["business_number"],
                "account_reference": dest["account_number"],
            }
        else:
            account = {"bank_code": dest["bank_code"], "account_number": dest["account_number"]}
            if dest.get("account_name"):
                account["account_name"] = dest["account_name"]
        return {
            "method": run["method"],
            "amount": str(run["amount_minor"] // 100),
            "currency": "KES",
            dest["kind"]: account,
            "reference": f"STL-{run['settlement_date'].replace('-', '')}",
            "remarks": f"Settlement {run['settlement_date']}",
            "metadata": {"settlement_id": run["_id"]},
        }

    async def _pay(self, run: Doc, maker: str) -> Doc:
        raw = self.payout_body(run)
        body = PayoutCreate.model_validate(raw)
        key = rules.payout_key(run["_id"], int(run["attempt"]))
        command = payout_command(run["merchant_id"], key, raw, body, maker)
        shard = self.state.router.shard_of_merchant(run["merchant_id"])
        try:
            reply = await self.state.router.create_payments[shard].call(command)
        except Exception as exc:  # the run stays pending: the scheduler asks again, same key
            log.warning("settlement %s: shard did not answer: %s", run["_id"], exc)
            return run
        expect = {"status": "pending", "attempt": run["attempt"]}
        if reply.status in (200, 202):
            changes: Doc = {"status": "paying", "payout_id": reply.body["id"]}
            changes["updated_at"] = now_utc()
            moved = await self.store.update_run(run["_id"], expect, changes)
            return await self._follow(moved) if moved else await self._reread(run)
        if reply.status == 503:  # overloaded: try again later, with the same key
            return run
        error = reply.body.get("error") or {}
        failure = {"code": error.get("code", "refused"), "message": error.get("message", "")}
        changes = {"status": "failed", "open": False, "failure": failure, "updated_at": now_utc()}
        return await self.store.update_run(run["_id"], expect, changes) or await self._reread(run)

    async def _follow(self, run: Doc) -> Doc:
        shard = self.state.router.shard_of_merchant(run["merchant_id"])
        try:
            reply = await self.state.router.get_payments[shard].call(
                (run["merchant_id"], run["payout_id"])
            )
        except Exception:
            return run
        status = reply.body.get("status")
        if reply.status != 200 or status not in ("succeeded", "failed"):
            return run
        changes: Doc = {"status": status, "open": False, "updated_at": now_utc()}
        if status == "failed":
            changes["failure"] = reply.body.get("failure")
        expect = {"status": "paying", "attempt": run["attempt"]}
        return await self.store.update_run(run["_id"], expect, changes) or await self._reread(run)

    async def _reread(self, run: Doc) -> Doc:
        return await self.store.run(run["_id"]) or run

    # --- the scheduler's work ----------------------------------------------------------------

    async def tick(self) -> int:
        """One pass: start the daily runs that are due, then resume and follow open runs.
        Returns how many runs were started."""
        now = now_utc()
        started = 0
        for settings in await self.store.due(now):
            merchant_id = settings["_id"]
            schedule = schedule_of(settings)
            cutoff_at = rules.latest_cutoff(now, schedule.cutoff)
            day = rules.settlement_date(cutoff_at)
            try:
                _, made = await self.settle(merchant_id, day, "scheduled", "system:settlement")
                started += made
            except SettlementRefused as exc:
                log.info("scheduled settlement of %s not run: %s", merchant_id, exc.message)
            except Exception:
                log.exception("scheduled settlement of %s failed; retried next pass", merchant_id)
                continue
            nxt = rules.next_cutoff(now, schedule.cutoff)
            await self.store.set_fields(
                merchant_id, {"next_due": nxt}, {"next_due": settings["next_due"]}
            )
        for run in await self.store.open_runs():
            if run["status"] not in FINAL:
                try:
                    await self.advance(run)
                except Exception:
                    log.exception("settlement %s not advanced; retried next pass", run["_id"])
        return started


def _cents(text: str) -> int:
    """A balance as the shard shows it ("147.75", "150", "-3.5") in cents."""
    sign = -1 if text.startswith("-") else 1
    major, _, minor = text.lstrip("-").partition(".")
    return sign * (int(major) * 100 + int(minor.ljust(2, "0")[:2]))
