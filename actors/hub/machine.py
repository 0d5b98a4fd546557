"""The hub position machine (pure, no I/O): commands in, a plan out; the shell writes the plan
in one transaction and only then applies it (:meth:`HubMachine.apply`) and answers. Deciding
never changes the machine, so a batch whose write failed is simply decided again (or refused).

Single writer: one machine holds the positions of its participants and the transfers they pay,
so reservations are checked against a position no one else changes (Mojaloop serialises per
payer account; here a whole batch is decided in one pass, each reservation against the headroom
the previous ones left: :func:`switch.hub.positions.reserve_batch`'s rule).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from switch.hub import ledger
from switch.hub import positions as pos
from switch.hub.participants import Participant, position_view
from switch.hub.positions import Position, Refusal
from switch.hub.states import FINAL, HubEvent, HubState, advance
from switch.hub.transfers import GROSS, NET, HubTransfer, prepared, view
from switch.hub.windows import WindowSwitch, next_window_id
from switch.ledger import Entry
from switch.messages import Reply

KEEP_FINAL = 200_000  # final transfers remembered for duplicate answers (older ones: database)

# FSPIOP error codes (Mojaloop API definition, section 7.6), as the hub answers them.
PAYER_INACTIVE = ("3200", "payer participant is not active")
PAYEE_INACTIVE = ("3300", "payee participant is not active")
EXPIRED = ("3303", "transfer expired")
MODIFIED = ("3106", "modified request: this Idempotency-Key was used with another body")


@dataclass(frozen=True, slots=True)
class Prepare:
    transfer_id: str
    payer: str
    payee: str
    amount: int
    currency: str
    expires_at: datetime
    request_hash: str
    quote_id: str = ""
    party: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Fulfil:
    """The payee's answer: ``accept`` commits, otherwise the transfer is aborted."""

    transfer_id: str
    by: str
    accept: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Funds:
    """Liquidity recorded by the operator (``recordFundsIn`` / ``recordFundsOut``)."""

    record_id: str
    participant: str
    action: str  # "in" | "out"
    amount: int
    currency: str
    request_hash: str
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class CloseWindow:
    """Close the OPEN settlement window and open the next, between two commits: every commit
    decided before it names the old window, every one after it the new."""

    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Settle:
    """The RTGS moved a settlement's money (acknowledged by an operator other than its maker):
    reset each participant's position by its net and record the money on its SETTLEMENT
    account (:func:`switch.hub.ledger.settle`)."""

    settlement_id: str
    nets: dict[str, int]
    currency: str
    references: dict[str, str]
    by: str


Command = Prepare | Fulfil | Funds | CloseWindow | Settle
CONTROL = (CloseWindow, Settle)  # each is a batch of its own (shell): its write can fail alone


@dataclass(frozen=True, slots=True)
class Notice:
    """A signed webhook to a participant, sent after the commit."""

    participant: str
    event_id: str
    type: str
    data: dict[str, Any]


@dataclass
class Plan:
    answers: list[Reply] = field(default_factory=list)
    inserts: list[HubTransfer] = field(default_factory=list)
    updates: dict[str, tuple[int, HubTransfer]] = field(default_factory=dict)  # id -> (seq, new)
    entries: list[Entry] = field(default_factory=list)
    funds: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    window: WindowSwitch | None = None
    window_commits: int = 0
    settled: dict[str, Any] | None = None  # the settlement acknowledged (id, references, by, at)

    def empty(self) -> bool:
        return not (
            self.inserts
            or self.updates
            or self.entries
            or self.funds
            or self.window
            or self.settled
        )


class HubMachine:
    def __init__(self, window_id: str, gross_from: int = 0) -> None:
        self.window_id = window_id
        self.gross_from = gross_from  # cents; a transfer of at least this settles gross (0: off)
        self.window_commits = 0  # transfers committed in the open window (an empty one stays)
        self.participants: dict[str, Participant] = {}
        self.positions: dict[str, Position] = {}
        self.open: dict[str, HubTransfer] = {}  # reserved transfers
        self.final: OrderedDict[str, HubTransfer] = OrderedDict()
        self.funds: dict[str, tuple[str, Reply]] = {}
        self.seqs: dict[str, int] = {}  # last history seq stored, per transfer
        self.peaks: dict[str, int] = {}  # highest effective position seen, per participant

    # --- what the shell tells it --------------------------------------------------------------

    def load_participant(self, p: Participant, position: Position | None = None) -> None:
        """A participant (new or changed: status, cap, endpoint); its cap goes on its position."""
        self.participants[p.id] = p
        current = position or self.positions.get(p.id, Position())
        self.positions[p.id] = replace(current, net_debit_cap=p.net_debit_cap)

    def learn(self, transfers: Iterable[HubTransfer]) -> None:
        """Transfers read from the database (at start, or ids the memory did not know)."""
        for t in transfers:
            self.seqs[t.id] = t.history[-1].seq
            if t.state is HubState.RESERVED:
                self.open[t.id] = t
            else:
                self._remember(t)

    def known(self, transfer_id: str) -> HubTransfer | None:
        return self.open.get(transfer_id) or self.final.get(transfer_id)

    def unknown_fulfils(self, commands: Sequence[Command]) -> list[str]:
        """Answers to transfers the memory does not hold: the shell reads them first."""
        return [
            c.transfer_id
            for c in commands
            if isinstance(c, Fulfil) and self.known(c.transfer_id) is None
        ]

    # --- deciding -----------------------------------------------------------------------------

    def decide(self, commands: Sequence[Command], now: datetime) -> Plan:
        plan = Plan()
        work = _Work(self, plan, now)
        for command in commands:
            if isinstance(command, Prepare):
                plan.answers.append(work.prepare(command))
            elif isinstance(command, Fulfil):
                plan.answers.append(work.fulfil(command))
            elif isinstance(command, Funds):
                plan.answers.append(work.record_funds(command))
            elif isinstance(command, CloseWindow):
                plan.answers.append(work.close_window(command))
            else:
                plan.answers.append(work.settle(command))
        return plan

    def expire(self, now: datetime) -> Plan:
        """Release every reservation whose expiry has passed (Mojaloop's timeout handler:
        ``RESERVED`` -> ``EXPIRED_RESERVED``, error 3303 to both parties)."""
        plan = Plan()
        work = _Work(self, plan, now)
        for t in [t for t in self.open.values() if t.expires_at <= now]:
            work.abort(t, HubEvent.EXPIRE, "hub", *EXPIRED)
        return plan

    def apply(self, plan: Plan) -> None:
        """The plan's writes are durable: make them the machine's own."""
        self.positions.update(plan.positions)
        if plan.window is not None:
            self.window_id = plan.window.opened
        self.window_commits = plan.window_commits
        for t in [*plan.inserts, *(new for _, new in plan.updates.values())]:
            self.seqs[t.id] = t.history[-1].seq
            if t.state is HubState.RESERVED:
                self.open[t.id] = t
            else:
                self.open.pop(t.id, None)
                self._remember(t)
        for doc in plan.funds:
            self.funds[doc["_id"]] = (doc["request_hash"], Reply(200, doc["answer"]))
        for pid, p in plan.positions.items():
            self.peaks[pid] = max(self.peaks.get(pid, 0), p.effective)

    def _remember(self, t: HubTransfer) -> None:
        self.final[t.id] = t
        self.final.move_to_end(t.id)
        while len(self.final) > KEEP_FINAL:
            self.final.popitem(last=False)

    def position_of(self, participant: str) -> dict[str, Any] | None:
        p = self.participants.get(participant)
        if p is None:
            return None
        return position_view(p.id, p.currency, self.positions[p.id], p.alarm_bps)


class _Work:
    """One decision pass: positions and transfers as the batch so far left them."""

    def __init__(self, machine: HubMachine, plan: Plan, now: datetime) -> None:
        self.m = machine
        self.plan = plan
        self.now = now
        self.touched: dict[str, HubTransfer] = {}
        self.window_id = machine.window_id
        plan.window_commits = machine.window_commits  # every plan carries the count on

    def position(self, pid: str) -> Position:
        return self.plan.positions.get(pid) or self.m.positions[pid]

    def set_position(self, pid: str, new: Position) -> None:
        before = self.position(pid)
        self.plan.positions[pid] = new
        p = self.m.participants[pid]
        if pos.crossed(before, new, p.alarm_bps) and pid not in self.plan.alarms:
            self.plan.alarms.append(pid)
            data = position_view(pid, p.currency, new, p.alarm_bps)
            stamp = int(self.now.timestamp() * 1000)
            self.plan.notices.append(
                Notice(pid, f"evt_hubpos_{pid}_{stamp}", "hub.position.threshold", data)
            )

    def transfer(self, tid: str) -> HubTransfer | None:
        return self.touched.get(tid) or self.m.known(tid)

    def store(self, before: HubTransfer | None, after: HubTransfer) -> None:
        self.touched[after.id] = after
        if before is None:
            self.plan.inserts.append(after)
        elif after.id in [t.id for t in self.plan.inserts]:
            self.plan.inserts = [after if t.id == after.id else t for t in self.plan.inserts]
        else:
            seq = self.plan.updates.get(after.id, (self.m.seqs.get(after.id, 0), after))[0]
            self.plan.updates[after.id] = (seq, after)

    def notify(self, participant: str, t: HubTransfer) -> None:
        seq = t.history[-1].seq
        kind = {HubState.RESERVED: "prepared", HubState.COMMITTED: "committed"}.get(
            t.state, "aborted"
        )
        self.plan.notices.append(
            Notice(participant, f"evt_{t.id}_{seq}", f"hub.transfer.{kind}", view(t))
        )

    # --- prepare ------------------------------------------------------------------------------

    def prepare(self, c: Prepare) -> Reply:
        seen = self.transfer(c.transfer_id)
        if seen is not None:
            return _duplicate(seen, c.request_hash)
        gross = 0 < self.m.gross_from <= c.amount
        refusal = self._refusal(c, gross)
        t = prepared(
            transfer_id=c.transfer_id,
            payer=c.payer,
            payee=c.payee,
            amount=c.amount,
            currency=c.currency,
            expires_at=c.expires_at,
            request_hash=c.request_hash,
            at=self.now,
            refusal=refusal,
            quote_id=c.quote_id,
            party=c.party,
            note=c.note,
            settlement=GROSS if gross else NET,
        )
        self.store(None, t)
        if refusal is not None:
            return _refused(t)
        self.set_position(c.payer, pos.reserve(self.position(c.payer), c.amount, gross))
        self.plan.entries.append(ledger.reserve(t.id, t.payer, t.payee, t.amount, t.currency))
        self.notify(t.payee, t)
        return Reply(201, view(t))

    def _refusal(self, c: Prepare, gross: bool) -> tuple[str, str] | None:
        payer, payee = self.m.participants.get(c.payer), self.m.participants.get(c.payee)
        if payer is None or not payer.active:
            return PAYER_INACTIVE
        if payee is None or not payee.active:
            return PAYEE_INACTIVE
        why = pos.refusal(self.position(c.payer), c.amount, gross)
        return None if why is None else (why.value, pos.REFUSAL_TEXT[why])

    # --- fulfil -------------------------------------------------------------------------------

    def fulfil(self, c: Fulfil) -> Reply:
        t = self.transfer(c.transfer_id)
        # Only the payee answers: anyone else learns nothing of the transfer.
        if t is None or t.payee != c.by:
            return error_reply(404, "not_found", f"no transfer {c.transfer_id} paid to you")
        if t.state in FINAL:
            wanted = HubState.COMMITTED if c.accept else HubState.ABORTED_REJECTED
            if t.state is wanted:  # the same answer again: the same result
                return Reply(200, view(t), replayed=True)
            return _conflict(t, advance(t.state, HubEvent.COMMIT).reason)
        if t.expires_at <= self.now:
            self.abort(t, HubEvent.EXPIRE, "hub", *EXPIRED)
            return _conflict(self.touched[t.id], "the transfer expired before your answer")
        if not c.accept:
            code = "5100" if not c.reason else "5101"  # payee rejected (FSPIOP 5xxx)
            after = self.abort(t, HubEvent.REJECT, c.by, code, c.reason or "payee rejected")
            return Reply(200, view(after))
        after = t.moved(HubEvent.COMMIT, self.now, c.by)
        if t.settlement == GROSS:
            return self._commit_gross(t, after)
        after = _with_window(after, self.window_id)
        self.plan.window_commits += 1
        self.store(t, after)
        self.set_position(t.payer, pos.commit_payer(self.position(t.payer), t.amount))
        self.set_position(t.payee, pos.credit_payee(self.position(t.payee), t.amount))
        self.plan.entries.append(ledger.commit(t.id, t.payer, t.payee, t.amount, t.currency))
        self.notify_committed(t, after)
        return Reply(200, view(after))

    def notify_committed(self, t: HubTransfer, after: HubTransfer) -> None:
        """The payer learns its transfer settled; an ISO 20022 payee too: it answered inside
        the pacs.008 exchange, so only the hub's pacs.002 tells it the transfer committed (and
        it holds the credit until then). A JSON payee learnt it from its own accept's answer."""
        self.notify(t.payer, after)
        payee = self.m.participants.get(t.payee)
        if payee is not None and payee.format == "iso20022":
            self.notify(t.payee, after)

    def _commit_gross(self, t: HubTransfer, after: HubTransfer) -> Reply:
        """Commit and settle at once, in this batch's transaction: the settlement accounts move
        by the amount and the positions end where they were. The transfer names the open window
        (its report lists it as gross) but makes no position change there, and is not counted
        in the window's commits: a window of gross transfers only has nothing to net."""
        after = replace(after, window_id=self.window_id)
        self.store(t, after)
        self.set_position(t.payer, pos.settle_gross_payer(self.position(t.payer), t.amount))
        self.set_position(t.payee, pos.settle_gross_payee(self.position(t.payee), t.amount))
        self.plan.entries.append(ledger.commit(t.id, t.payer, t.payee, t.amount, t.currency))
        self.plan.entries.extend(ledger.gross(t.id, t.payer, t.payee, t.amount, t.currency))
        self.notify_committed(t, after)
        return Reply(200, view(after))

    def abort(
        self, t: HubTransfer, event: HubEvent, by: str, code: str, reason: str
    ) -> HubTransfer:
        after = t.moved(event, self.now, by, reason=reason, code=code)
        self.store(t, after)
        gross = t.settlement == GROSS
        self.set_position(t.payer, pos.release(self.position(t.payer), t.amount, gross))
        self.plan.entries.append(ledger.release(t.id, t.payer, t.payee, t.amount, t.currency))
        self.notify(t.payer, after)
        if event is HubEvent.EXPIRE:
            self.notify(t.payee, after)
        return after

    # --- settlement windows and settlements --------------------------------------------------

    def close_window(self, c: CloseWindow) -> Reply:
        if self.plan.window_commits == 0:
            return error_reply(409, "window_empty", f"window {self.window_id} has no transfer yet")
        switch = WindowSwitch(
            self.window_id,
            next_window_id(self.window_id),
            c.by,
            c.reason,
            self.now,
            self.plan.window_commits,
        )
        self.plan.window = switch
        self.window_id, self.plan.window_commits = switch.opened, 0
        return Reply(200, {"closed": switch.closed, "opened": switch.opened})

    def settle(self, c: Settle) -> Reply:
        for pid, net in sorted(c.nets.items()):
            if pid not in self.m.participants:
                return error_reply(
                    409, "ledger_fault", f"settlement names unknown participant {pid}"
                )
            now = self.position(pid)
            after = replace(now, committed=now.committed - net, cover=now.cover - net)
            self.set_position(pid, after)
            self.plan.entries.extend(ledger.settle(c.settlement_id, pid, net, c.currency))
        self.plan.settled = {
            "id": c.settlement_id,
            "references": c.references,
            "by": c.by,
            "at": self.now,
        }
        return Reply(200, {"id": c.settlement_id, "state": "SETTLED"})

    # --- funds in and out ---------------------------------------------------------------------

    def record_funds(self, c: Funds) -> Reply:
        seen = self.m.funds.get(c.record_id) or next(
            (
                (d["request_hash"], Reply(200, d["answer"]))
                for d in self.plan.funds
                if d["_id"] == c.record_id
            ),
            None,
        )
        if seen is not None:
            if seen[0] != c.request_hash:
                return error_reply(409, "idempotency_key_reused", MODIFIED[1])
            return Reply(200, seen[1].body, replayed=True)
        if c.participant not in self.m.participants:
            return error_reply(404, "not_found", f"no participant {c.participant}")
        current = self.position(c.participant)
        if c.action == "out":
            why = pos.funds_out_refusal(current, c.amount)
            if why is Refusal.LIQUIDITY:
                return error_reply(
                    422,
                    "liquidity_cover_needed",
                    "the withdrawal would leave less liquidity than the position uses",
                    [{"field": "amount", "reason": f"at most {pos.amount_text(_spare(current))}"}],
                )
            new = replace(current, cover=current.cover - c.amount)
            entry = ledger.funds_out(c.record_id, c.participant, c.amount, c.currency)
        else:
            new = replace(current, cover=current.cover + c.amount)
            entry = ledger.funds_in(c.record_id, c.participant, c.amount, c.currency)
        self.set_position(c.participant, new)
        self.plan.entries.append(entry)
        p = self.m.participants[c.participant]
        answer = {
            "id": c.record_id,
            "object": "hub_funds",
            "participant": c.participant,
            "action": f"funds_{c.action}",
            "amount": pos.amount_text(c.amount),
            "currency": c.currency,
            "reason": c.reason,
            "at": self.now.isoformat().replace("+00:00", "Z"),
            "position": position_view(p.id, p.currency, new, p.alarm_bps),
        }
        self.plan.funds.append(
            {
                "_id": c.record_id,
                "participant": c.participant,
                "action": c.action,
                "amount": c.amount,
                "currency": c.currency,
                "reason": c.reason,
                "by": c.by,
                "at": self.now,
                "request_hash": c.request_hash,
                "answer": answer,
            }
        )
        return Reply(201, answer)


def _spare(p: Position) -> int:
    return max(p.cover - max(p.effective, 0), 0)


def _with_window(t: HubTransfer, window_id: str) -> HubTransfer:
    return replace(t, window_id=window_id, changes={t.payer: t.amount, t.payee: -t.amount})


def _duplicate(t: HubTransfer, request_hash: str) -> Reply:
    """Mojaloop's duplicate check: same id and same hash answers the current state again; the
    same id with another hash is refused (3106)."""
    if t.request_hash != request_hash:
        return error_reply(409, "idempotency_key_reused", MODIFIED[1])
    if t.state is HubState.ABORTED_REFUSED:
        refused = _refused(t)
        return Reply(refused.status, refused.body, replayed=True)
    return Reply(200, view(t), replayed=True)


_REFUSAL_CODES = {
    Refusal.LIQUIDITY.value: "payer_insufficient_liquidity",
    Refusal.LIMIT.value: "payer_limit_error",
    PAYER_INACTIVE[0]: "payer_not_active",
    PAYEE_INACTIVE[0]: "payee_not_active",
}


_FIELDS = {PAYER_INACTIVE[0]: "payer", PAYEE_INACTIVE[0]: "payee"}


def _refused(t: HubTransfer) -> Reply:
    last = t.history[-1]
    reason = f"FSPIOP {last.code}: {last.reason}"
    body = {
        "error": {
            "code": _REFUSAL_CODES.get(last.code, "refused"),
            "message": last.reason,
            "details": [{"field": _FIELDS.get(last.code, "amount"), "reason": reason}],
        },
        "transfer": view(t),
    }
    return Reply(422, body)


def _conflict(t: HubTransfer, reason: str) -> Reply:
    body = {
        "error": {"code": "transfer_final", "message": reason, "details": []},
        "transfer": view(t),
    }
    return Reply(409, body)


def error_reply(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message, "details": details or []}})
