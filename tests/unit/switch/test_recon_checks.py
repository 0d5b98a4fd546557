"""Confirming Airtel and PesaLink breaks (pure): which breaks fit, and which status-check
answers allow it."""

from __future__ import annotations

from typing import Any

from switch.recon.breaks import check_refusal, refusal


def _brk(provider: str, **kw: Any) -> dict[str, Any]:
    return {
        "_id": "brk_1",
        "status": "open",
        "kind": "missing_in_switch",
        "provider": provider,
        "payment_id": "pay_s0_1",
        "records": [{"direction": "in", "receipt": "MP1", "amount": 20_000}],
        **kw,
    }


def test_a_checked_providers_unsettled_payment_can_be_confirmed() -> None:
    for provider in ("airtel", "pesalink"):
        assert refusal(_brk(provider), "confirm") is None
        no_payment = refusal(_brk(provider, payment_id=""), "confirm")  # nothing to ask about
        assert no_payment is not None and no_payment.code == "not_applicable"
        wrong_kind = refusal(_brk(provider, kind="amount_mismatch"), "confirm")
        assert wrong_kind is not None
        assert refusal(_brk(provider, status="resolving"), "confirm") is not None
    # Allocating stays M-Pesa C2B money's (it has a paybill and an account to route).
    assert refusal(_brk("airtel"), "allocate") is not None


def test_only_a_success_the_provider_reports_confirms() -> None:
    assert check_refusal("succeed", False, "Airtel Money") is None
    declined = check_refusal("decline", False, "Airtel Money")
    assert declined is not None and declined.code == "provider_disagrees"
    assert "decline" in declined.reason
    pending = check_refusal(None, False, "PesaLink")
    assert pending is not None and "pending" in pending.reason
    unknown = check_refusal(None, True, "PesaLink")
    assert unknown is not None and "no such transaction" in unknown.reason
