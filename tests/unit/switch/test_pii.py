"""Sealing personal data in payment documents (pure, with an in-memory key store)."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from switch.payments import ProviderRefs, apply, changes_since, from_doc, new_payment, to_doc
from switch.pii import Sealer, with_index
from switch.security.crypto import DecryptError, KeyRing, MemoryKeyStore
from switch.states import Event

T0 = datetime(2026, 11, 27, tzinfo=UTC)


def _sealer() -> Sealer:
    ring = KeyRing({"m1": secrets.token_bytes(32)}, "m1", MemoryKeyStore())
    return Sealer(ring, b"i" * 32)


def _payout():
    p = new_payment(
        payment_id="pay_s0_A",
        merchant_id="mch_1",
        method="bank_transfer",
        amount_minor=50_000,
        phone="254712345678",
        reference="R",
        description="d",
        metadata={},
        idem_key="k",
        request_hash="h",
        at=T0,
        destination={"bank_code": "68", "account_number": "0123456789", "account_name": "Jane"},
    )
    paid = apply(
        p,
        Event.SUCCEED,
        source="callback",
        at=T0,
        provider=ProviderRefs(receipt="R1", receiver_name="JANE DOE"),
    )
    assert paid is not None
    return paid


async def test_a_sealed_document_holds_no_personal_data_and_opens_again() -> None:
    sealer = _sealer()
    await sealer.ready("mch_1")
    payment = _payout()
    doc = sealer.seal(with_index(to_doc(payment, 0), sealer), payment.id, payment.merchant_id)
    text = str(doc)
    for secret in ("254712345678", "0123456789", "Jane", "JANE DOE"):
        assert secret not in text
    assert doc["phone_bidx"] == sealer.bidx("254712345678")
    assert payment.destination["account_number"] == "0123456789"  # the payment is untouched
    fresh = _sealer()
    fresh.ring = sealer.ring
    await fresh.ready_for(doc)
    opened = from_doc(fresh.open(doc))
    assert opened.phone == payment.phone
    assert opened.destination == payment.destination
    assert opened.provider.receiver_name == "JANE DOE"


async def test_updates_seal_the_names_they_add() -> None:
    sealer = _sealer()
    await sealer.ready("mch_1")
    payment = _payout()
    fields, added = changes_since(payment, 1)
    sealer.seal({"provider": fields["provider"], "history": added}, payment.id, "mch_1")
    assert "JANE DOE" not in str(fields) + str(added)


async def test_a_ciphertext_is_bound_to_its_payment() -> None:
    sealer = _sealer()
    await sealer.ready("mch_1")
    payment = _payout()
    doc = sealer.seal(to_doc(payment, 0), payment.id, payment.merchant_id)
    moved = replace(payment, id="pay_s0_B")
    other = sealer.seal(to_doc(moved, 0), moved.id, moved.merchant_id)
    other["phone"] = doc["phone"]  # copied from another payment
    with pytest.raises(DecryptError):
        sealer.open(other)


def test_member_numbers_transfer_parties_payers_and_checkout_ids_are_sealed_and_erased() -> None:
    """Issue 10, finding 7: every field naming or numbering a person is sealed and erased."""
    from switch.pii import _paths, erased_fields

    doc = {
        "_id": "pay_s0_X",
        "phone": "254712345678",
        "destination": {"sacco_code": "S1", "member_number": "M-0042"},
        "metadata": {
            "member": {"member_number": "M-0042", "product": "deposit"},
            "payer": {"msisdn": "254712345678", "first_name": "Achieng"},
        },
        "transfer": {
            "id": "trf_1",
            "source": {"type": "sacco", "sacco_code": "S1", "member_number": "M-0042"},
            "destination": {"type": "mpesa", "phone": "254700000001"},
        },
        "provider": {"checkout_request_id": "ws_CO_27112026100000254712345678"},
        "history": [{"detail": {"provider": {"checkout_request_id": "ws_CO_2711202610"}}}],
    }
    personal = {"254712345678", "M-0042", "Achieng", "254700000001"}
    found = {c[k] for c, k in _paths(doc)}
    assert personal <= found
    assert "ws_CO_27112026100000254712345678" in found
    erased = erased_fields(doc, "b" * 32)
    text = str(erased)
    assert not any(value in text for value in personal)
    assert "ws_CO_" not in text
    assert erased["destination"]["sacco_code"] == "S1"  # not personal: kept
    assert erased["metadata"]["member"]["product"] == "deposit"


async def test_an_unmatched_c2b_payer_is_sealed_with_the_switchs_key_bound_to_the_receipt() -> None:
    """Issue 10, finding 7: a confirmation no merchant claims keeps its payer sealed."""
    from switch.pii import UNMATCHED, unmatched_paths

    sealer = _sealer()
    await sealer.ready(UNMATCHED)
    payer = {
        "msisdn": "2547 ***** 126",
        "first_name": "Achieng",
        "middle_name": "Wambui",
        "last_name": "Otieno",
    }
    doc = {
        "_id": "RKT1234567",
        "shortcode": "600000",
        "payment": {"trans_id": "RKT1234567", "bill_ref": "INV-9", "amount_cents": 500, **payer},
    }
    sealer.seal(doc, "RKT1234567", UNMATCHED, paths=unmatched_paths)
    assert not any(value in str(doc) for value in payer.values())
    assert doc["payment"]["first_name"].startswith("enc1.m__unmatched.")
    assert doc["payment"]["bill_ref"] == "INV-9"  # what manual allocation searches for
    fresh = _sealer()
    fresh.ring = sealer.ring
    copied = {"payment": dict(doc["payment"])}
    await fresh.ready_for(copied, paths=unmatched_paths)
    with pytest.raises(DecryptError):  # bound to its receipt
        fresh.open(copied, bound_to="RKT0000000", paths=unmatched_paths)
    opened = fresh.open(doc, paths=unmatched_paths)
    assert {k: opened["payment"][k] for k in payer} == payer


def test_an_account_gets_its_own_blind_index_apart_from_phones() -> None:
    from switch.pii import account_bidx

    sealer = _sealer()
    bank = {"bank_code": "68", "account_number": "0150000503"}
    doc = with_index({"phone": "", "destination": bank}, sealer)
    assert doc["account_bidx"] == account_bidx(sealer, "0150000503")
    assert doc["account_bidx"] != sealer.bidx("0150000503")  # not a phone's index
    sacco = with_index({"destination": {"sacco_code": "S1", "member_number": "M-1"}}, sealer)
    assert sacco["account_bidx"] == account_bidx(sealer, "M-1")
    assert "account_bidx" not in with_index({"phone": "254712345678"}, sealer)
