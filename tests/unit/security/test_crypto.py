"""Envelope encryption of fields, blind indexes, master-key rotation and crypto-shredding."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from switch.security.crypto import (
    DataKey,
    DecryptError,
    KeyDestroyed,
    KeyNotFound,
    KeyRing,
    MemoryKeyStore,
    blind_index,
    decrypt_field,
    derive_key,
    encrypt_field,
    is_token,
    load_master_key,
    parse_token,
    unwrap_key,
    wrap_key,
)

PHONE = "254712345678"
AAD = b"payments/pay_1/phone"
OLD = bytes(range(32))
NEW = bytes(range(100, 132))


@pytest.fixture
def dek() -> DataKey:
    return DataKey("mch_1", 1, bytes(32))


def test_round_trip_and_token_shape(dek: DataKey) -> None:
    token = encrypt_field(PHONE, dek, AAD)
    assert token.startswith("enc1.mch_1.1.")
    assert len(token.split(".")) == 5
    assert PHONE not in token and "712345678" not in token
    assert is_token(token) and not is_token(PHONE)
    assert parse_token(token).key_id == "mch_1"
    assert decrypt_field(token, dek, AAD) == PHONE


def test_same_value_encrypts_differently_each_time(dek: DataKey) -> None:
    assert encrypt_field(PHONE, dek, AAD) != encrypt_field(PHONE, dek, AAD)


def test_wrong_aad_fails(dek: DataKey) -> None:
    token = encrypt_field(PHONE, dek, AAD)
    with pytest.raises(DecryptError):
        decrypt_field(token, dek, b"payments/pay_2/phone")


def test_tampered_ciphertext_fails(dek: DataKey) -> None:
    token = encrypt_field(PHONE, dek, AAD)
    head, body = token.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[0] ^= 1
    forged = head + "." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(DecryptError):
        decrypt_field(forged, dek, AAD)


def test_header_is_authenticated(dek: DataKey) -> None:
    """A token relabelled to another key id (with that key in hand) still fails: the header is
    part of the associated data."""
    token = encrypt_field(PHONE, dek, AAD)
    relabelled = token.replace("enc1.mch_1.1.", "enc1.mch_2.1.")
    other = DataKey("mch_2", 1, dek.key)
    with pytest.raises(DecryptError):
        decrypt_field(relabelled, other, AAD)


def test_wrong_key_fails(dek: DataKey) -> None:
    token = encrypt_field(PHONE, dek, AAD)
    with pytest.raises(DecryptError):
        decrypt_field(token, DataKey("mch_1", 1, bytes([1]) * 32), AAD)
    with pytest.raises(DecryptError):
        decrypt_field(token, DataKey("mch_1", 2, dek.key), AAD)
    with pytest.raises(DecryptError):
        decrypt_field("enc1.mch_1.x.abc.def", dek, AAD)


def test_key_material_stays_out_of_repr(dek: DataKey) -> None:
    assert repr(bytes(32)) not in repr(dek)
    assert "mch_1" in repr(dek)


def test_blind_index_is_deterministic_and_keyed() -> None:
    key = derive_key(b"s" * 32, "blind-index:phone")
    assert blind_index(PHONE, key) == blind_index(PHONE, key)
    assert blind_index(PHONE, key) != blind_index("254712345679", key)
    assert blind_index(PHONE, key) != blind_index(PHONE, derive_key(b"t" * 32, "blind-index:phone"))
    assert derive_key(b"s" * 32, "a") != derive_key(b"s" * 32, "b")
    assert PHONE not in blind_index(PHONE, key)


def test_master_key_from_config() -> None:
    assert load_master_key(base64.b64encode(OLD).decode()) == OLD
    assert load_master_key(base64.urlsafe_b64encode(NEW).decode().rstrip("=")) == NEW
    secret = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(ValueError, match="32 bytes") as info:
        load_master_key(secret)
    assert secret not in str(info.value)


def test_a_wrapped_key_only_unwraps_as_itself(dek: DataKey) -> None:
    wrapped = wrap_key(dek, "m1", OLD)
    assert unwrap_key(wrapped, OLD) == dek
    with pytest.raises(DecryptError):
        unwrap_key(dataclasses.replace(wrapped, key_id="mch_2"), OLD)
    with pytest.raises(DecryptError):
        unwrap_key(wrapped, NEW)


async def test_create_is_idempotent() -> None:
    ring = KeyRing({"m1": OLD}, "m1", MemoryKeyStore())
    first = await ring.create("mch_1")
    ring.forget("mch_1")
    assert await ring.create("mch_1") == first
    with pytest.raises(KeyNotFound):
        await ring.get("mch_2")


async def test_racing_creators_agree() -> None:
    store = MemoryKeyStore()
    a = KeyRing({"m1": OLD}, "m1", store)
    b = KeyRing({"m1": OLD}, "m1", store)
    # b inserted first, a does not know yet: a's insert loses and a reads b's key.
    theirs = await b.create("mch_1")
    assert await a.create("mch_1") == theirs


async def test_master_rotation_rewraps_without_touching_data() -> None:
    store = MemoryKeyStore()
    old_ring = KeyRing({"m1": OLD}, "m1", store)
    tokens = {k: await old_ring.encrypt(k, PHONE + k, AAD) for k in ("mch_1", "mch_2", "sub_9")}
    wrapped_before = {wk.key_id: wk.wrapped for wk in await store.all_wrapped()}

    both = KeyRing({"m1": OLD, "m2": NEW}, "m2", store)
    assert await both.rotate_master() == 3
    assert await both.rotate_master() == 0  # idempotent
    assert all(wk.master_id == "m2" for wk in await store.all_wrapped())
    assert all(wk.wrapped != wrapped_before[wk.key_id] for wk in await store.all_wrapped())

    # The old master key can now be retired: a ring without it reads every token unchanged.
    new_only = KeyRing({"m2": NEW}, "m2", store)
    for key_id, token in tokens.items():
        assert await new_only.decrypt(token, AAD) == PHONE + key_id
    with pytest.raises(DecryptError, match="not configured"):
        await KeyRing({"m1": OLD}, "m1", store).get("mch_1")


async def test_new_version_keeps_old_data_readable() -> None:
    ring = KeyRing({"m1": OLD}, "m1", MemoryKeyStore())
    old_token = await ring.encrypt("mch_1", PHONE, AAD)
    v2 = await ring.new_version("mch_1")
    assert v2.version == 2
    new_token = await ring.encrypt("mch_1", PHONE, AAD)
    assert parse_token(new_token).version == 2
    assert await ring.decrypt(old_token, AAD) == PHONE


async def test_destroyed_key_makes_data_unreadable_and_spares_others() -> None:
    store = MemoryKeyStore()
    ring = KeyRing({"m1": OLD}, "m1", store)
    erased = await ring.encrypt("sub_1", "Jane Wanjiku", AAD)
    kept = await ring.encrypt("sub_2", "John Otieno", AAD)
    assert await ring.destroy("sub_1") is True
    assert await ring.destroy("sub_1") is False
    with pytest.raises(KeyDestroyed):
        await ring.decrypt(erased, AAD)
    # Nothing of the key is left in the store, even for someone holding the master key.
    assert store.docs["sub_1"]["versions"] == {}
    assert await ring.decrypt(kept, AAD) == "John Otieno"
    # A destroyed id is not silently recreated.
    with pytest.raises(KeyDestroyed):
        await ring.create("sub_1")


def test_ring_checks_its_master_keys() -> None:
    with pytest.raises(ValueError, match="current"):
        KeyRing({"m1": OLD}, "m2", MemoryKeyStore())
    with pytest.raises(ValueError, match="32 bytes"):
        KeyRing({"m1": b"short"}, "m1", MemoryKeyStore())
