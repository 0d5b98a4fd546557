"""The suspense account's rules (pure): what belongs to nobody, and entries that balance and
move it once."""

from __future__ import annotations

from typing import Any

from switch.ledger import Balances
from switch.recon import suspense
from switch.recon.breaks import WRITE_OFFS, recon_float, write_off_entry


def _brk(kind: str, **kw: Any) -> dict[str, Any]:
    return {
        "_id": f"brk_{kind}",
        "kind": kind,
        "provider": "mpesa",
        "key": "UKX1",
        "direction": "in",
        "switch_amount": None,
        "provider_amount": 70_000,
        "switch_status": "",
        "records": [{"amount": 70_000}],
        **kw,
    }


def test_unmatched_money_overpayments_and_duplicates_belong_to_nobody() -> None:
    assert suspense.unowned(_brk("missing_in_switch")) == 70_000
    # A lost callback of a payment the switch has (unsettled) is the payment's, not nobody's.
    assert suspense.unowned(_brk("missing_in_switch", switch_status="processing")) == 0
    over = _brk("amount_mismatch", switch_amount=30_000, provider_amount=31_000)
    assert suspense.unowned(over) == 1_000
    under = _brk("amount_mismatch", switch_amount=30_000, provider_amount=29_000)
    assert suspense.unowned(under) == 0  # the provider has less: a write-off, not suspense
    assert suspense.unowned(_brk("duplicate", switch_amount=40_000, provider_amount=80_000)) == (
        40_000
    )
    assert suspense.unowned(_brk("duplicate", provider_amount=140_000)) == 70_000
    # The switch's own double credit, money out of the switch, and other kinds: nothing.
    assert suspense.unowned(_brk("duplicate", key="switch:UKX1", switch_amount=80_000)) == 0
    assert suspense.unowned(_brk("missing_in_switch", direction="out")) == 0
    assert suspense.unowned(_brk("missing_at_provider", switch_amount=70_000)) == 0


def test_booked_then_released_or_written_off_leaves_suspense_empty_and_the_float_right() -> None:
    brk = _brk("missing_in_switch")
    booked = suspense.book(brk, 70_000)
    assert booked.id == "brk_missing_in_switch:suspense"  # from the break: posted once
    allocated = Balances.replay([booked, suspense.release(brk, 70_000)])
    assert allocated.of(suspense.SUSPENSE) == 0 and allocated.of(recon_float("mpesa")) == 0
    kept = Balances.replay([booked, suspense.write_off(brk, 70_000)])
    assert kept.of(suspense.SUSPENSE) == 0
    # Written off from suspense or straight from the float: the same books in the end.
    straight = Balances.replay([write_off_entry(brk)])
    assert kept.accounts == {**straight.accounts, suspense.SUSPENSE: 0}
    assert kept.of(WRITE_OFFS) == 70_000
    cleared = Balances.replay([booked, suspense.unbook(brk, 70_000)])
    assert set(cleared.accounts.values()) == {0}
    ids = {e.id for e in (booked, suspense.release(brk, 1), suspense.unbook(brk, 1))}
    assert len(ids) == 3
