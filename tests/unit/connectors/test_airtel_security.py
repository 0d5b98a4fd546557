"""Callback hash (doc §6) and disbursement PIN encryption (doc §8)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import serialization

from connectors.airtel import (
    PIN_PADDINGS,
    PinPadding,
    callback_hash,
    callback_hash_message,
    encrypt_pin,
    hash_matches,
    load_public_key,
)
from connectors.airtel.simulator import decrypt_pin, public_key_b64, public_key_pem

KEY = "sandbox-callback-key"
# doc §6 sample transaction, keys in the sample's order.
DOC_TXN = {
    "id": "ORD-20240607-0001",
    "message": "Paid KES 100 to ACME LTD, Trans ID MP240607.1234.A00001.",
    "status_code": "TS",
    "airtel_money_id": "MP240607.1234.A00001",
}
# Computed once, independently: Base64(HMAC-SHA256(KEY, compact JSON)).
FIXED_ORDER_HASH = "DOWiAM+cqiXB6zHe0KDtl/oNB955/OR045zU1tpEF/E="
TRANSACTION_ONLY_HASH = "5Gf2I8ay3ZNMTR7sofBTHPPrJ87cTPuhtFLnklfPlks="


def reference_hash(document: object, key: str) -> str:
    """The hash with the standard library only, as an integrator would write it."""
    message = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(hmac.new(key.encode(), message, hashlib.sha256).digest()).decode()


# --- callback hash -------------------------------------------------------------------------------


def test_the_default_form_is_the_compact_wrapped_transaction() -> None:
    assert callback_hash_message(DOC_TXN) == (
        b'{"transaction":{"id":"ORD-20240607-0001","message":"Paid KES 100 to ACME LTD, '
        b'Trans ID MP240607.1234.A00001.","status_code":"TS","airtel_money_id":'
        b'"MP240607.1234.A00001"}}'
    )
    assert callback_hash(DOC_TXN, KEY) == FIXED_ORDER_HASH
    assert reference_hash({"transaction": DOC_TXN}, KEY) == FIXED_ORDER_HASH


def test_fixed_order_ignores_the_received_key_order_and_extra_fields() -> None:
    shuffled = {"status_code": "TS", "extra": 1, **DOC_TXN}
    assert callback_hash(shuffled, KEY) == FIXED_ORDER_HASH


def test_as_received_keeps_order_and_every_field() -> None:
    shuffled = {"airtel_money_id": DOC_TXN["airtel_money_id"], **DOC_TXN, "extra": "x"}
    assert callback_hash(shuffled, KEY, "as_received") == reference_hash(
        {"transaction": shuffled}, KEY
    )
    assert callback_hash(DOC_TXN, KEY, "as_received") == FIXED_ORDER_HASH


def test_transaction_only_drops_the_wrapper() -> None:
    assert callback_hash(DOC_TXN, KEY, "transaction_only") == TRANSACTION_ONLY_HASH


def test_absent_fields_are_left_out() -> None:
    failed = {"id": "o-1", "message": "Transaction failed", "status_code": "TF"}
    assert callback_hash(failed, KEY) == reference_hash({"transaction": failed}, KEY)


def test_non_ascii_text_is_hashed_as_utf8() -> None:
    txn = {**DOC_TXN, "message": "Imelipwa KES 100 — asante"}
    assert callback_hash(txn, KEY) == reference_hash({"transaction": txn}, KEY)


def test_hash_matches_and_rejects_tampering() -> None:
    assert hash_matches(DOC_TXN, FIXED_ORDER_HASH, KEY)
    assert not hash_matches({**DOC_TXN, "status_code": "TF"}, FIXED_ORDER_HASH, KEY)
    assert not hash_matches(DOC_TXN, FIXED_ORDER_HASH, "another-key")
    assert not hash_matches(DOC_TXN, TRANSACTION_ONLY_HASH, KEY)  # wrong form
    assert not hash_matches(DOC_TXN, "", KEY)


def test_the_doc_sample_hash_is_not_ours() -> None:
    # The portal's key for the doc §6 sample is unknown: it must not verify with ours.
    assert not hash_matches(DOC_TXN, "zITVAAGYSlzl1WkUQJn81kbpT5drH3koffT8jCkcJJA=", KEY)


def test_an_unknown_form_is_refused() -> None:
    with pytest.raises(ValueError, match="hash form"):
        callback_hash_message(DOC_TXN, "sorted")  # type: ignore[arg-type]


# --- PIN encryption ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", PIN_PADDINGS)
def test_the_pin_decrypts_with_the_sandbox_key(mode: PinPadding) -> None:
    cipher = encrypt_pin("1234", public_key_b64(), mode)
    assert len(base64.b64decode(cipher)) == 256  # RSA 2048
    assert decrypt_pin(cipher, mode) == "1234"


def test_every_encryption_differs_but_all_decrypt() -> None:
    first, second = encrypt_pin("4321", public_key_b64()), encrypt_pin("4321", public_key_b64())
    assert first != second
    assert decrypt_pin(first, "pkcs1v15") == decrypt_pin(second, "pkcs1v15") == "4321"


@pytest.mark.parametrize(
    ("made", "read"),
    [("oaep-sha1", "oaep-sha256"), ("oaep-sha256", "oaep-sha1"), ("pkcs1v15", "oaep-sha1")],
)
def test_the_wrong_oaep_mode_does_not_decrypt(made: PinPadding, read: PinPadding) -> None:
    assert decrypt_pin(encrypt_pin("1234", public_key_b64(), made), read) is None


def test_oaep_read_as_pkcs1v15_is_never_the_pin() -> None:
    # OpenSSL's implicit rejection gives random bytes, not an error: the check is on the value.
    plain = decrypt_pin(encrypt_pin("1234", public_key_b64(), "oaep-sha256"), "pkcs1v15")
    assert plain != "1234"


def test_pem_and_base64_der_keys_are_the_same_key() -> None:
    der_key, pem_key = load_public_key(public_key_b64()), load_public_key(public_key_pem())
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    assert der_key.public_bytes(serialization.Encoding.DER, fmt) == pem_key.public_bytes(
        serialization.Encoding.DER, fmt
    )
    wrapped = "\n".join(public_key_b64()[i : i + 64] for i in range(0, 392, 64))
    assert decrypt_pin(encrypt_pin("0007", wrapped), "pkcs1v15") == "0007"


@pytest.mark.parametrize("pin", ["123", "12345", "12a4", ""])
def test_only_four_digit_pins_are_encrypted(pin: str) -> None:
    with pytest.raises(ValueError, match="4 digits"):
        encrypt_pin(pin, public_key_b64())


@pytest.mark.parametrize("key", ["not base64!", "aGVsbG8=", b"-----BEGIN PUBLIC KEY-----\nxx"])
def test_a_bad_public_key_is_refused(key: str | bytes) -> None:
    with pytest.raises(ValueError, match="public key"):
        encrypt_pin("1234", key)


@pytest.mark.parametrize("cipher", ["", "!!!", base64.b64encode(b"short").decode()])
def test_garbage_does_not_decrypt(cipher: str) -> None:
    assert decrypt_pin(cipher, "oaep-sha256") is None
