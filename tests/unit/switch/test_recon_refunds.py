"""Transfers left refund_failed as breaks, and the refund resolutions' rules (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from switch.recon.breaks import refusal
from switch.recon.transfers import FailedRefund, findings, retry_key

AT = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _refund(retry: str = "") -> FailedRefund:
    return FailedRefund("trf_1", "pay_r", "mch_1", "airtel_payout", 70_000, AT, retry)


def test_a_failed_refund_is_a_break_until_a_retry_succeeds() -> None:
    (found,) = findings([_refund()])
    assert (found.kind, found.key, found.provider, found.switch_amount) == (
        "refund_failed",
        "trf_1",
        "airtel",
        70_000,
    )
    assert found.switch_status == "failed"
    assert findings([_refund("processing")])[0].switch_status == "processing"
    assert findings([_refund("succeeded")]) == []
    assert findings([_refund()])[0].id == found.id  # a later run finds the same break


def test_only_the_refund_resolutions_fit_a_refund_failed_break() -> None:
    brk = {"status": "open", "kind": "refund_failed", "provider": "airtel", "switch_amount": 1}
    assert refusal(brk, "retry_refund") is None
    assert refusal(brk, "mark_refunded") is None
    for action in ("confirm", "allocate", "write_off"):
        refused = refusal(brk, action)
        assert refused is not None and refused.code == "not_applicable"
    other = {"status": "open", "kind": "amount_mismatch", "provider": "mpesa"}
    refused = refusal(other, "retry_refund")
    assert refused is not None and refused.code == "not_applicable"
    assert refusal({**brk, "status": "resolving"}, "retry_refund") is not None


def test_each_retry_attempt_has_its_own_key() -> None:
    assert retry_key("brk_1", 1) != retry_key("brk_1", 2)
    assert retry_key("brk_1", 1) == retry_key("brk_1", 1)
