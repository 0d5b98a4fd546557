"""The matching engine (pure): the switch's payments against the providers' and banks' records.

Every record is identified by our payment id when the provider echoes it (PesaLink's end-to-end
id, Airtel's transaction id), else by the provider's receipt (M-Pesa). Each identity ends in one
finding:

- ``matched``: the switch settled it and every source shows the same amount;
- ``amount_mismatch``: a source shows another amount than the switch (or than another source);
- ``missing_in_switch``: a source shows money moved that the switch has not settled: no payment
  at all (a C2B confirmation that never arrived, a stranger's payment) or one still unsettled,
  failed or expired (a lost callback);
- ``missing_at_provider``: the switch settled it, no source that covers its rail shows it;
- ``duplicate``: one source lists the same transaction twice, or two switch payments carry one
  receipt.

Only payments created inside ``[expect_from, expect_until]`` can be missing at the provider: a
payment made at the very end of a window may reach the provider's record after it, so callers
leave a margin; records are matched against every payment they are given.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from switch.rails import RAILS
from switch.recon.records import SOURCES, ProviderRecord, SwitchTxn

Kind = Literal[
    "matched",
    "amount_mismatch",
    "missing_in_switch",
    "missing_at_provider",
    "duplicate",
    "refund_failed",  # found from the switch's own books (switch/recon/transfers.py)
    "settlement_mismatch",  # a provider's bank settlement (switch/recon/settlement.py)
]
BREAK_KINDS: tuple[Kind, ...] = (
    "amount_mismatch",
    "missing_in_switch",
    "missing_at_provider",
    "duplicate",
    "refund_failed",
    "settlement_mismatch",
)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    provider: str
    key: str  # our payment id or the provider's receipt
    detail: str
    payment_id: str = ""
    merchant_id: str = ""
    method: str = ""
    switch_amount: int | None = None  # cents, as the switch has it (None: no payment)
    provider_amount: int | None = None  # cents, as the sources show it (all copies, summed)
    direction: str = "in"
    records: tuple[ProviderRecord, ...] = field(default=())
    at: datetime | None = None  # when it happened (the first record's time, else the payment's)
    switch_status: str = ""  # the payment's status, when the switch has one

    @property
    def id(self) -> str:
        """Deterministic: the same break found by a later run is the same break."""
        digest = hashlib.sha256(f"{self.kind}|{self.provider}|{self.key}".encode()).hexdigest()
        return f"brk_{digest[:24]}"

    @property
    def is_break(self) -> bool:
        return self.kind != "matched"


@dataclass(frozen=True, slots=True)
class Window:
    expect_from: datetime
    expect_until: datetime


def match(
    txns: Iterable[SwitchTxn],
    records: Iterable[ProviderRecord],
    sources: Iterable[str],
    window: Window,
) -> list[Finding]:
    """Findings for every record and every payment the ``sources`` should show, in key order."""
    covered = frozenset().union(*(SOURCES[s].methods for s in sources))
    txns = [t for t in txns if t.method in covered]
    by_id = {t.payment_id: t for t in txns}
    by_receipt: dict[str, list[SwitchTxn]] = defaultdict(list)
    for t in txns:
        if t.receipt:
            by_receipt[t.receipt].append(t)
    grouped: dict[str, list[ProviderRecord]] = defaultdict(list)
    for r in records:
        grouped[r.key].append(r)

    findings: list[Finding] = []
    seen: set[str] = set()
    for key in sorted(grouped):
        recs = grouped[key]
        txn = by_id.get(key) or _by_receipt(by_receipt, recs[0].receipt)
        if txn is not None:
            seen.add(txn.payment_id)
        findings.extend(_judge(key, recs, txn))
    for receipt, same in sorted(by_receipt.items()):
        settled = [t for t in same if t.settled]
        if len(settled) > 1:
            findings.append(_switch_duplicate(receipt, settled))
            seen.update(t.payment_id for t in settled)  # one break for them all
    for t in sorted(txns, key=lambda t: t.payment_id):
        if t.payment_id in seen or not t.settled:
            continue
        if window.expect_from <= t.at <= window.expect_until:
            provider = next(SOURCES[s].provider for s in sources if t.method in SOURCES[s].methods)
            findings.append(
                Finding(
                    "missing_at_provider",
                    provider,
                    t.payment_id,
                    "the switch settled it; no provider record shows it",
                    t.payment_id,
                    t.merchant_id,
                    t.method,
                    t.amount,
                    None,
                    _direction(t.method),
                    at=t.at,
                    switch_status=t.status,
                )
            )
    return findings


def _by_receipt(index: dict[str, list[SwitchTxn]], receipt: str) -> SwitchTxn | None:
    found = index.get(receipt) if receipt else None
    if not found:
        return None
    return next((t for t in found if t.settled), found[0])


def _judge(key: str, recs: list[ProviderRecord], txn: SwitchTxn | None) -> list[Finding]:
    first = recs[0]
    copies = Counter(r.source for r in recs)

    def finding(kind: Kind, detail: str, amount: int) -> Finding:
        return Finding(
            kind,
            first.provider,
            key,
            detail,
            txn.payment_id if txn else "",
            txn.merchant_id if txn else "",
            txn.method if txn else "",
            txn.amount if txn and txn.settled else None,
            amount,
            first.direction,
            tuple(recs),
            first.at,
            txn.status if txn else "",
        )

    out: list[Finding] = []
    twice = sorted(s for s, n in copies.items() if n > 1)
    if twice:
        shown = max(sum(r.amount for r in recs if r.source == s) for s in twice)
        out.append(
            finding(
                "duplicate", f"listed {max(copies.values())} times by {', '.join(twice)}", shown
            )
        )
    one = {r.source: r.amount for r in recs}  # one copy per source
    if txn is None:
        detail = f"{_labels(copies)}: paid; the switch has no payment"
        out.append(finding("missing_in_switch", detail, first.amount))
    elif not txn.settled:
        detail = f"{_labels(copies)}: paid; the switch has it {txn.status}"
        out.append(finding("missing_in_switch", detail, first.amount))
    elif set(one.values()) != {txn.amount}:
        shown_amounts = ", ".join(f"{s} {a}" for s, a in sorted(one.items()))
        detail = f"the switch has {txn.amount}, {shown_amounts} (cents)"
        out.append(
            finding("amount_mismatch", detail, next(a for a in one.values() if a != txn.amount))
        )
    elif not twice:
        out.append(finding("matched", "", txn.amount))
    return out


def _switch_duplicate(receipt: str, settled: list[SwitchTxn]) -> Finding:
    ids = ", ".join(t.payment_id for t in settled)
    first = settled[0]
    return Finding(
        "duplicate",
        "mpesa" if first.method.startswith("mpesa") else first.method,
        f"switch:{receipt}",
        f"the switch settled receipt {receipt} {len(settled)} times ({ids})",
        first.payment_id,
        first.merchant_id,
        first.method,
        sum(t.amount for t in settled),
        first.amount,
        _direction(first.method),
        at=first.at,
        switch_status=first.status,
    )


def _labels(copies: Counter[str]) -> str:
    return ", ".join(SOURCES[s].label for s in sorted(copies))


def _direction(method: str) -> str:
    return "in" if RAILS[method].direction == "collection" else "out"
