"""The breaks queue's rules (pure): which resolution fits which break, who may carry it out,
and the journal entry a write-off posts.

- ``confirm``: money a provider's record shows for a C2B payment the switch never settled is
  put through the switch's own C2B path for the merchant that claims the account: the owning
  shard stores it and credits nobody until M-Pesa's own record of the receipt (Transaction
  Status) shows the same receipt, amount and shortcode. The break only names the receipt; the
  amount and account come from the provider, never from the caller. One operator suffices: the
  provider's record is the second pair of eyes.
- ``allocate``: the same path for a merchant the operator names (money no claim matched).
- ``retry_refund`` (a ``refund_failed`` transfer): the refund is sent again through the shard's
  payout path, to the transfer's own source for the refund leg's amount (nothing from the
  caller), under a key from the break and the attempt; the break is ``resolving`` until a run
  sees the payout succeed (or open again if it fails). One operator suffices: the money goes
  where it came from, as the saga would have sent it.
- ``mark_refunded`` (a ``refund_failed`` transfer): the payer was paid back outside the switch
  (the merchant, say, at its counter), shown by ``evidence``. Where the money sits was checked
  (switch/transfers.py, switch/postings.py): the debit leg's collection credited the merchant's
  available balance, the failed credit and refund legs each released their reservation back
  to it, so the money is in ``merchant:<id>:available``, in no reservation and no suspense (a
  retried refund in flight holds a reservation, but then the break is ``resolving``, not open,
  and cannot be marked). The merchant paid the payer from its own pocket, so that balance is
  rightly the merchant's again: no posting is right (any entry would take money from the
  merchant that it has already paid out); the proposal, approval and evidence are audited.
- ``write_off``: the difference is booked to the switch's own ``switch:write_offs`` account
  against the provider's float, so the journal stays balanced and the float equals what the
  provider holds; money a run already booked to ``switch:suspense`` (switch/recon/suspense.py)
  is written off from there instead. A ``settlement_mismatch`` is never written off: the bank's
  money is not on the switch's books.

``allocate``, ``write_off`` and ``mark_refunded`` move or settle money by hand: one operator
proposes, a different one approves (no one approves what they proposed), and only the approval
carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from switch.ledger import Entry, Line

Action = Literal["confirm", "allocate", "write_off", "retry_refund", "mark_refunded"]
ACTIONS: tuple[Action, ...] = ("confirm", "allocate", "write_off", "retry_refund", "mark_refunded")
TWO_PERSON: frozenset[str] = frozenset({"allocate", "write_off", "mark_refunded"})
REFUND_ACTIONS: frozenset[str] = frozenset({"retry_refund", "mark_refunded"})
# Done once carried out; the rest wait for a later run to see the payment settle.
FINAL: frozenset[str] = frozenset({"write_off", "mark_refunded"})
WRITE_OFFS = "switch:write_offs"


@dataclass(frozen=True, slots=True)
class Refused:
    code: str
    reason: str


def recon_float(provider: str) -> str:
    """The provider float's correction account (summed with its per-shard ones in reports)."""
    return f"provider:{provider}:float:recon"


def refusal(brk: dict[str, Any], action: str) -> Refused | None:
    """Why ``action`` cannot resolve ``brk`` (a stored break), or None."""
    if brk.get("status") != "open":
        return Refused("not_open", f"the break is {brk.get('status')}, not open")
    kind = brk["kind"]
    if (kind == "refund_failed") != (action in REFUND_ACTIONS):
        return Refused(
            "not_applicable",
            f"{action} does not fit a {kind} break: a refund_failed transfer is resolved by "
            "retry_refund or mark_refunded, and those resolve nothing else",
        )
    if action in REFUND_ACTIONS:
        return None
    if action in ("confirm", "allocate"):
        record = (brk.get("records") or [{}])[0]
        c2b = (
            brk["provider"] == "mpesa"
            and record.get("direction") == "in"
            and record.get("shortcode")
        )
        if kind != "missing_in_switch" or not c2b:
            return Refused(
                "not_applicable",
                f"{action} applies to M-Pesa C2B money the switch has not settled "
                f"(missing_in_switch with a shortcode); this break is {kind}",
            )
        if brk.get("payment_id") and action == "allocate":
            return Refused("not_applicable", "the payment exists: confirm it instead")
        return None
    if action == "write_off":
        if kind == "settlement_mismatch":
            return Refused(
                "not_applicable",
                "a settlement is the provider's money in the bank, not on the switch's books: "
                "resolve the day's other breaks or have the provider correct the settlement",
            )
        if correction(brk) == 0:
            return Refused("not_applicable", "nothing to write off: the amounts agree")
        return None
    return Refused("unknown_action", f"action must be one of {', '.join(ACTIONS)}")


def correction(brk: dict[str, Any]) -> int:
    """Cents to add to the provider float so the books equal what the provider holds (the float
    is negative while the provider holds our money)."""
    booked = int(brk.get("switch_amount") or 0)
    actual = int(brk.get("provider_amount") or 0)
    return booked - actual if brk.get("direction", "in") == "in" else actual - booked


def write_off_entry(brk: dict[str, Any]) -> Entry:
    """One entry per break (its id is the break's): a second approval cannot post twice."""
    cents = correction(brk)
    return Entry(
        f"{brk['_id']}:write_off",
        "write_off",
        brk.get("merchant_id") or "",
        brk["_id"],
        (Line(recon_float(brk["provider"]), cents), Line(WRITE_OFFS, -cents)),
    )


def approval_refusal(proposal: dict[str, Any] | None, approver: str) -> Refused | None:
    if proposal is None:
        return Refused("no_proposal", "nothing is proposed for this break")
    if proposal["proposed_by"] == approver:
        return Refused("same_person", "a resolution is approved by someone other than its proposer")
    return None
