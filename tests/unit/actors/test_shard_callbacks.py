"""Callbacks and C2B confirmations on the shard (in-memory store): applied once, checked against
the stored payment and its rail, and a C2B confirmation credits nobody until M-Pesa's record
agrees."""

from __future__ import annotations

from dataclasses import replace

from switch.messages import C2bIn, CallbackIn, CreateReversal, ProviderOutcome
from switch.payments import Failure, ProviderRefs
from switch.states import Event, State
from tests.unit.actors.shard_rig import MERCHANT, Rig, b2c, stk

STK = frozenset({"mpesa_stk"})
B2C = frozenset({"mpesa_b2c"})
C2B = frozenset({"mpesa_c2b"})
AVAILABLE = f"merchant:{MERCHANT}:available"


def paid(pid: str, amount: int = 15000, methods: frozenset[str] = STK) -> CallbackIn:
    outcome = ProviderOutcome(
        Event.SUCCEED, ProviderRefs(receipt="SGR7ABC123"), amount_minor=amount
    )
    return CallbackIn(pid, outcome, f"ws_CO_{pid}", methods=methods)


async def _sent(rig: Rig) -> str:
    await rig.start()
    pid = str((await rig.create(stk())).body["id"])
    await rig.send()
    return pid


async def test_a_callback_is_applied_once_stored_and_credits_the_merchant() -> None:
    rig = Rig()
    pid = await _sent(rig)
    assert await rig.callback(paid(pid)) == "applied"
    assert rig.stored(pid)["state"] == "succeeded"  # answered after the commit
    assert rig.stored(pid)["provider"]["receipt"] == "SGR7ABC123"
    assert rig.store.accounts[AVAILABLE] > 0  # the credit, committed with it
    credit = rig.store.accounts[AVAILABLE]
    assert await rig.callback(paid(pid)) == "duplicate"
    await rig.settle()
    assert rig.store.accounts[AVAILABLE] == credit  # not credited twice
    await rig.stop()


async def test_a_callback_that_does_not_match_the_payment_changes_nothing() -> None:
    rig = Rig()
    pid = await _sent(rig)
    assert await rig.callback(paid(pid, amount=1)) == "mismatch"
    other = CallbackIn(pid, paid(pid).outcome, "ws_CO_other", methods=STK)
    assert await rig.callback(other) == "mismatch"
    assert rig.payment(pid).state == State.AWAITING_CUSTOMER
    assert AVAILABLE not in rig.store.accounts
    await rig.stop()


async def test_a_callback_of_another_rail_never_settles_the_payment() -> None:
    rig = Rig()
    pid = await _sent(rig)
    assert await rig.callback(paid(pid, methods=B2C)) == "mismatch"
    assert rig.payment(pid).state == State.AWAITING_CUSTOMER
    assert await rig.callback(paid("pay_s0_nothing")) == "unknown_payment"
    await rig.stop()


async def test_a_payout_result_saying_no_record_waits_then_declines_and_releases() -> None:
    rig = Rig()
    rig.store.accounts[AVAILABLE] = 100_000
    await rig.start()
    pid = (await rig.create(b2c())).body["id"]
    await rig.send()
    assert rig.payment(pid).state == State.AWAITING_RESULT
    none = CallbackIn(pid, ProviderOutcome(None), None, not_found=True, methods=B2C)
    assert await rig.callback(none) == "pending"  # it may still be queued at M-Pesa
    rig.clock.advance(rig.settings.payout_not_found_after)
    assert await rig.callback(none) == "applied"
    assert rig.payment(pid).state == State.DECLINED
    await rig.settle()
    assert rig.store.accounts[AVAILABLE] == 100_000  # the reservation is released
    await rig.stop()


def _confirmation(amount: int = 100_000) -> C2bIn:
    return C2bIn(
        merchant_id=MERCHANT,
        trans_id="SGR7C2B001",
        trans_time="20261127100000",
        amount_minor=amount,
        shortcode="600100",
        bill_ref="ACC1",
        transaction_type="Pay Bill",
        payer={"msisdn": "2547***678"},
    )


def _record(pid: str, *, receipt: str = "SGR7C2B001", party: str = "600100 - Shop") -> CallbackIn:
    outcome = ProviderOutcome(Event.SUCCEED, ProviderRefs(receipt=receipt), amount_minor=100_000)
    return CallbackIn(pid, outcome, None, methods=C2B, credit_party=party)


async def _confirmed(rig: Rig) -> str:
    await rig.start()
    assert await rig.c2b(_confirmation()) == "applied"
    await rig.settle()
    [pid] = rig.store.payments
    return pid


async def test_a_c2b_confirmation_credits_nobody_until_m_pesas_record_matches() -> None:
    rig = Rig()
    pid = await _confirmed(rig)
    assert rig.payment(pid).state == State.AWAITING_RESULT
    assert AVAILABLE not in rig.store.accounts
    [asked] = rig.provider.asked  # Transaction Status about the receipt, at once
    assert asked.transaction_id == "SGR7C2B001" and asked.party_a == "600100"
    assert await rig.c2b(_confirmation()) == "duplicate"
    assert await rig.callback(_record(pid)) == "applied"
    assert rig.payment(pid).state == State.SUCCEEDED
    await rig.settle()
    assert rig.store.accounts[AVAILABLE] > 0
    await rig.stop()


async def test_a_c2b_record_that_differs_declines_it() -> None:
    rig = Rig()
    pid = await _confirmed(rig)
    assert await rig.callback(_record(pid, party="600999 - Elsewhere")) == "mismatch"
    assert rig.payment(pid).state == State.DECLINED
    assert rig.stored(pid)["state"] == "declined"
    assert AVAILABLE not in rig.store.accounts
    await rig.stop()


async def test_a_c2b_receipt_m_pesa_has_no_record_of_is_declined_in_time() -> None:
    rig = Rig()
    pid = await _confirmed(rig)
    none = CallbackIn(pid, ProviderOutcome(None), None, not_found=True, methods=C2B)
    assert await rig.callback(none) == "pending"
    rig.clock.advance(rig.settings.payout_not_found_after)
    assert await rig.callback(none) == "applied"
    assert rig.payment(pid).state == State.DECLINED
    assert AVAILABLE not in rig.store.accounts
    await rig.stop()


async def test_a_settled_sacco_members_payment_is_posted_to_the_sacco_once() -> None:
    rig = Rig()
    await rig.start()
    member = {"sacco_code": "S001", "member_number": "M42", "product": "loan_repayment"}
    item = replace(_confirmation(), member=member)
    assert await rig.c2b(item) == "applied"
    await rig.settle()
    [pid] = rig.store.payments
    assert await rig.callback(_record(pid)) == "applied"
    await rig.settle()
    postings = [p for p in rig.store.payments.values() if p["method"] == "sacco_posting"]
    assert len(postings) == 1
    assert postings[0]["destination"]["purpose"] == "loan_repayment"
    assert await rig.c2b(item) == "duplicate"  # a repeated confirmation posts nothing more
    await rig.settle()
    assert sum(p["method"] == "sacco_posting" for p in rig.store.payments.values()) == 1
    await rig.stop()


def reversal(pid: str, key: str = "rev-1") -> CreateReversal:
    return CreateReversal(MERCHANT, pid, key, "hr", "customer asked")


async def test_a_reversal_refused_as_already_reversed_after_a_resend_was_ours() -> None:
    rig = Rig()
    rig.store.accounts[AVAILABLE] = 10_000  # the fee is not refunded: the reversal needs more
    pid = await _sent(rig)
    assert await rig.callback(paid(pid)) == "applied"
    await rig.settle()
    [reply] = await rig.core.create_reversals([reversal(pid)])
    assert reply.status == 202
    rid = reply.body["id"]
    await rig.send()
    rig.core.machine.resent.add(rid)
    refused = ProviderOutcome(
        Event.DECLINE, failure=Failure("declined", "already reversed", "R000001")
    )
    rev = frozenset({"mpesa_reversal"})
    assert await rig.callback(CallbackIn(rid, refused, None, methods=rev)) == "applied"
    assert rig.payment(rid).state == State.SUCCEEDED
    await rig.stop()
