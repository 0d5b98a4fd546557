"""Aggregators and sub-merchants: ids and shards, platform fees, inheritance, acting on behalf."""

from __future__ import annotations

import pytest

from routing.shards import shard_for
from switch import ledger
from switch.errors import ValidationFailed
from switch.ids import new_id, ulid
from switch.platform import (
    PlatformFee,
    acting_refusal,
    check_fee,
    effective,
    endpoint_owners,
    family,
    fee_bounds,
    platform_of,
    sub_merchant_id,
)


def test_a_sub_merchant_shares_its_parents_shard() -> None:
    for _ in range(50):
        parent = new_id("mch")
        child = sub_merchant_id(parent, ulid())
        assert family(child) == parent
        assert family(parent) == parent
        assert all(shard_for(child, n) == shard_for(parent, n) for n in (1, 2, 3, 4, 7))


def test_a_sub_merchants_events_go_to_its_own_endpoints_else_its_aggregators() -> None:
    parent = new_id("mch")
    child = sub_merchant_id(parent, ulid())
    assert endpoint_owners(child) == (child, parent)
    assert endpoint_owners(parent) == (parent,)


def test_other_ids_are_their_own_family() -> None:
    assert family("operator") == "operator"
    assert family("mch_x_y") == "mch_x_y"  # not two ULIDs


def test_platform_fee_rounds_half_up_and_never_exceeds_the_net() -> None:
    fee = PlatformFee(bps=150, fixed_minor=500)
    assert fee.of(100_00, 150) == 150 + 500  # 1.5 % of KES 100 + KES 5
    assert PlatformFee(bps=1).of(50, 0) == 0  # 0.005 cents rounds to 0
    assert PlatformFee(bps=1).of(5_000, 0) == 1  # 0.5 cent rounds up
    assert PlatformFee(fixed_minor=10_000).of(1_000, 15) == 985  # capped at what is credited
    assert PlatformFee().of(1_000, 15) == 0


def test_fee_bounds_default_and_refusal_names_the_part() -> None:
    bounds = fee_bounds({})
    check_fee(PlatformFee(bounds.bps, bounds.fixed_minor), bounds)
    with pytest.raises(ValidationFailed) as err:
        check_fee(PlatformFee(bps=9_000, fixed_minor=-1), PlatformFee(300, 1_000))
    fields = [d["field"] for d in err.value.details]
    assert fields == ["platform_fee.bps", "platform_fee.fixed"]
    assert fee_bounds({"platform_fee_bounds": {"bps": 200, "fixed_minor": 0}}) == PlatformFee(200)


def test_inheritance_fills_only_what_the_child_lacks() -> None:
    parent = {
        "webhook_url": "https://agg.example/hooks",
        "webhook_secret": "whsec_parent",
        "limits": {"merchant_daily_max": 5},
        "routing": {"prefer": ["airtel_ussd"]},
        "kyc_status": "verified",
    }
    child = {"parent_id": "mch_A", "routing": {"prefer": []}, "limits": None, "kyc_status": "x"}
    got = effective(child, parent)
    assert got["webhook_url"] == "https://agg.example/hooks"
    assert got["webhook_secret"] == "whsec_parent"  # the pair, never one half
    assert got["limits"] == {"merchant_daily_max": 5}
    assert got["routing"] == {"prefer": []}  # its own, even empty
    assert got["kyc_status"] == "x"
    own = effective({**child, "webhook_url": "https://s.example", "webhook_secret": "w"}, parent)
    assert (own["webhook_url"], own["webhook_secret"]) == ("https://s.example", "w")
    assert effective(child, None) == child


def test_a_suspended_or_closed_parent_stops_its_children() -> None:
    child = {"kyc_status": "verified", "status": "active"}
    assert effective(child, {"kyc_status": "suspended"})["kyc_status"] == "suspended"
    assert effective(child, {"status": "closed"})["status"] == "closed"


def test_acting_on_behalf_only_of_ones_own_open_children() -> None:
    assert acting_refusal("mch_A", {"parent_id": "mch_A", "status": "active"}) is None
    assert acting_refusal("mch_A", {"parent_id": "mch_B"}) == "the sub-merchant is not one of yours"
    assert acting_refusal("mch_A", None) == "the sub-merchant is not one of yours"
    assert acting_refusal("mch_A", {"parent_id": "mch_A", "status": "closed"})


def test_platform_of() -> None:
    assert platform_of({"parent_id": "mch_A", "platform_fee": {"bps": 100}}) == (
        "mch_A",
        PlatformFee(100, 0),
    )
    assert platform_of({"parent_id": "mch_A", "platform_fee": {}}) is None
    assert platform_of({"platform_fee": {"bps": 100}}) is None


def test_platform_fee_entry_balances_and_names_both_merchants() -> None:
    entry = ledger.platform_fee("mch_A", "mch_A_B", "pay_s0_X", 250)
    assert entry.id == "pay_s0_X:platform_fee"
    assert sum(line.amount for line in entry.lines) == 0
    doc = entry.to_doc(None)
    assert (doc["merchant_id"], doc["counterparty"]) == ("mch_A", "mch_A_B")
    assert ledger.entry_from_doc(doc) == entry
    assert "counterparty" not in ledger.payout_reserve("m", "p", 1, 0).to_doc(None)


def test_a_sub_merchants_collection_posts_the_platform_fee_with_it() -> None:
    from dataclasses import replace

    from switch.payments import new_payment, now_utc
    from switch.postings import postings
    from switch.states import State

    paid = new_payment(
        payment_id="pay_s0_P",
        merchant_id="mch_A_B",
        method="mpesa_stk",
        amount_minor=100_00,
        phone="254712345678",
        reference="R1",
        description="R1",
        metadata={},
        idem_key="k",
        request_hash="h",
        at=now_utc(),
        fee_minor=150,
        platform={"merchant_id": "mch_A", "fee_minor": 200},
    )
    entries = postings(paid, replace(paid, state=State.SUCCEEDED), 0)
    assert [e.kind for e in entries] == ["collection", "platform_fee"]
    balances = ledger.Balances.replay(entries)
    assert balances.of(ledger.available("mch_A_B")) == 100_00 - 150 - 200
    assert balances.of(ledger.available("mch_A")) == 200
    assert sum(balances.accounts.values()) == 0
