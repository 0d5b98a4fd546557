"""Screening of a new payment (pure): the merchant's KYC state, the AML verdict and sanctions hits
combined into one :class:`Screening` the shard acts on before it stores anything.

- ``refuse``: nothing is stored; the client gets 403 (KYC) or 422 (a limit) naming the field.
- ``hold``: stored as ``held`` (switch/states.py), not sent until reviewers approve it.
- ``allow``: as before screening existed.

Rules, first match decides, hard refusals before holds:

1. KYC. ``verified`` merchants pass; ``suspended`` ones are refused; ``pending`` ones (every new
   sign-up, and merchants whose document has no state yet: fail closed) may move money only
   while the switch runs in sandbox mode (``SWITCH_SANDBOX``, set by ``serve --sandbox``),
   where no real money moves.
2. AML hard limits (switch/security/aml.py: per transaction, per phone per day, per merchant per
   day): refused, naming ``amount`` or ``phone``.
3. Sanctions: a payout recipient's name (the bank ``account_name``, a holder name already known,
   ``metadata.recipient_name``) matching the loaded list holds the payout. Collections are not
   name-screened: their requests carry no payer name (the provider tells it after the fact).
4. AML holds (velocity, large amounts): held.

Several hold rules may fire at once; all are kept in ``rules`` for the reviewer.

Transfer legs are screened by stage (see :data:`Stage`): a transfer's debit leg gets KYC and the
hard limits only (switch/transfers.py does not know ``held`` yet, so a transfer is never held);
its credit and refund legs move money the switch already holds and are not screened at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from switch.money import format_minor
from switch.security.aml import Action, Limits, Verdict
from switch.security.sanctions import Hit

KycState = Literal["pending", "verified", "suspended"]
KYC_STATES: tuple[KycState, ...] = ("pending", "verified", "suspended")
Stage = Literal["new", "transfer_debit", "transfer_onward"]

# Dual control: a held payment of at least this much (cents) needs two different approvers.
# KES 100,000 is a choice, not a rule found in the CBK texts: a fifth of the KES 500,000 daily
# wallet cap, and where Kenyan banks commonly ask for a second signatory (unverified).
TWO_APPROVERS_FROM = 100_000 * 100


@dataclass(frozen=True, slots=True)
class Screening:
    action: Action
    reason: str = ""  # the deciding rule: kyc_pending, phone_daily_limit, sanctions, velocity, ...
    field: str | None = None  # for a refusal: the request field at fault
    rules: tuple[str, ...] = ()  # every hold rule that fired (``sanctions:TEST-001``, ...)
    status: int = 0  # for a refusal: the HTTP status
    message: str = ""  # plain words for the client (refusal) or the reviewer (hold)
    hits: tuple[dict[str, Any], ...] = ()  # sanctions matches, for the reviewer
    day: str | None = None  # the Nairobi day whose AML totals now count this payment

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


ALLOW = Screening("allow")


def kyc_state(doc: Mapping[str, Any] | None) -> KycState:
    """The merchant's KYC state; anything unknown counts as ``pending`` (fail closed). An
    account an operator suspended or closed (switch/merchants.py) takes no payment either."""
    if (doc or {}).get("status") in ("suspended", "closed"):
        return "suspended"
    value = (doc or {}).get("kyc_status")
    return value if value in KYC_STATES else "pending"


def kyc_refusal(state: KycState, sandbox: bool) -> Screening | None:
    if state == "suspended":
        return Screening(
            "refuse",
            "merchant_suspended",
            "merchant",
            status=403,
            message="this merchant is suspended; no payment is accepted until an operator "
            "lifts the suspension",
        )
    if state == "pending" and not sandbox:
        return Screening(
            "refuse",
            "kyc_pending",
            "merchant",
            status=403,
            message="this merchant's KYC is not verified yet; live payments start once an "
            "operator verifies it (sandbox mode accepts them)",
        )
    return None


_LIMIT_WORDS = {
    "amount_below_minimum": "below the minimum per transaction",
    "amount_above_transaction_limit": "above the limit per transaction",
    "amount_above_merchant_transaction_limit": "above this merchant's limit per transaction",
    "phone_daily_limit": "over today's limit for this phone number",
    "merchant_daily_limit": "over this merchant's limit for today",
}


def limit_refusal(verdict: Verdict, amount: int, limits: Limits) -> Screening:
    cap = {
        "amount_below_minimum": limits.per_transaction_min,
        "amount_above_transaction_limit": limits.per_transaction_max,
        "amount_above_merchant_transaction_limit": limits.merchant_transaction_max,
        "phone_daily_limit": limits.phone_daily_max,
        "merchant_daily_limit": limits.merchant_daily_max,
    }.get(verdict.reason)
    words = _LIMIT_WORDS.get(verdict.reason, verdict.reason)
    shown = f" (KES {format_minor(cap)})" if cap is not None else ""
    return Screening(
        "refuse",
        verdict.reason,
        verdict.field or "amount",
        status=422,
        message=f"KES {format_minor(amount)} is {words}{shown}; nothing was stored or sent",
    )


def recipient_names(
    destination: Mapping[str, Any], metadata: Mapping[str, Any], known: Iterable[str] = ()
) -> list[str]:
    """The names a payout's recipient goes by in the request, de-duplicated, blanks dropped."""
    found = [destination.get("account_name"), metadata.get("recipient_name"), *known]
    names: list[str] = []
    for name in found:
        if isinstance(name, str) and name.strip() and name.strip() not in names:
            names.append(name.strip())
    return names


def hit_record(name: str, hit: Hit) -> dict[str, Any]:
    return {
        "name": name,
        "entry_id": hit.entry.id,
        "listed_name": hit.matched,
        "score": hit.score,
        "source": hit.entry.source,
    }


def combine(
    kyc: KycState,
    sandbox: bool,
    verdict: Verdict,
    hits: Sequence[dict[str, Any]],
    amount: int,
    limits: Limits,
    stage: Stage = "new",
) -> Screening:
    """One decision from the three checks (see the module docstring for the order)."""
    if stage == "transfer_onward":
        return ALLOW
    refused = kyc_refusal(kyc, sandbox)
    if refused is not None:
        return refused
    if verdict.action == "refuse":
        return limit_refusal(verdict, amount, limits)
    if stage == "transfer_debit":
        return ALLOW
    rules = [f"sanctions:{h['entry_id']}" for h in hits]
    if verdict.action == "hold":
        rules.append(verdict.reason)
    if not rules:
        return ALLOW
    reason = "sanctions" if hits else verdict.reason
    message = (
        "the recipient's name matches a sanctions list entry"
        if hits
        else {"velocity": "many payments for this phone in a short time"}.get(
            verdict.reason, "a large amount"
        )
    )
    unique = tuple(dict.fromkeys(rules))
    return Screening("hold", reason, rules=unique, message=message, hits=tuple(hits))


def approvals_needed(amount: int, two_from: int = TWO_APPROVERS_FROM) -> int:
    """1, or 2 different approvers for a held payment at or above ``two_from`` cents."""
    return 2 if amount >= two_from else 1


def merchant_limits(base: Limits, doc: Mapping[str, Any] | None) -> Limits:
    """The switch's limits with a merchant's own overrides (``limits`` in its document, cents,
    set by an operator). A merchant may only be given *lower* per-transaction and phone caps
    than the switch's; its own daily cap and hold threshold are its own."""
    own = (doc or {}).get("limits") or {}
    if not isinstance(own, Mapping):
        return base

    def lower(current: int | None, key: str) -> int | None:
        value = own.get(key)
        if not isinstance(value, int) or value <= 0:
            return current
        return value if current is None else min(current, value)

    def given(current: int | None, key: str) -> int | None:
        value = own.get(key)
        return value if isinstance(value, int) and value > 0 else current

    return Limits(
        per_transaction_max=base.per_transaction_max,
        per_transaction_min=base.per_transaction_min,
        phone_daily_max=lower(base.phone_daily_max, "phone_daily_max"),
        merchant_daily_max=given(base.merchant_daily_max, "merchant_daily_max"),
        merchant_transaction_max=lower(base.merchant_transaction_max, "transaction_max"),
        velocity_count=base.velocity_count,
        velocity_window_s=base.velocity_window_s,
        hold_above=given(base.hold_above, "hold_above"),
    )
