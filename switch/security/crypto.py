"""Field encryption for personal data: AES-256-GCM envelope encryption and keyed blind indexes.

A master key (32 bytes, from configuration as base64) wraps data keys (DEKs); each DEK has a key
id (a merchant, or a data subject when erasure must be possible per person) and a version. Data
is encrypted with the DEK into a self-describing token::

    enc1.<key_id>.<version>.<nonce b64url>.<ciphertext+tag b64url>

The token header is bound into the GCM associated data together with the caller's AAD (for
example ``b"payments/<id>/phone"``), so a ciphertext cannot be moved to another field, record or
key without failing authentication.

Rotating the master key re-wraps every DEK and leaves the data alone. Destroying a key id's DEKs
(crypto-shredding) makes every token under it unreadable forever: that is how an erasure request
is honoured while the payment records themselves are kept for retention (Data Protection Act
2019 s.40 erasure; record keeping per CBK rules).

Exceptions::

    CryptoError
     +-- DecryptError    token malformed, wrong key, wrong AAD or tampered (never says which)
     +-- KeyNotFound     no such data key
     +-- KeyDestroyed    the data key was shredded on purpose
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "enc1"  # noqa: S105 - a format tag, not a secret
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class CryptoError(Exception):
    pass


class DecryptError(CryptoError):
    pass


class KeyNotFound(CryptoError):
    pass


class KeyDestroyed(CryptoError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_master_key(text: str) -> bytes:
    """A master key from configuration: standard or url-safe base64 of exactly 32 bytes. The
    error never echoes the value."""
    try:
        raw = base64.b64decode(text.strip().replace("-", "+").replace("_", "/") + "==")
    except (binascii.Error, ValueError):
        raise ValueError("master key must be base64") from None
    if len(raw) != KEY_BYTES:
        raise ValueError(f"master key must be {KEY_BYTES} bytes (base64 of {KEY_BYTES} bytes)")
    return raw


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def derive_key(secret: bytes, label: str) -> bytes:
    """A separate 32-byte key for one purpose (HKDF-SHA256), e.g. the blind-index key from a
    configured secret. Blind-index keys must not rotate with the master key, or every index
    would have to be recomputed from plaintext."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label.encode())
    return hkdf.derive(secret)


def blind_index(value: str, index_key: bytes) -> str:
    """A keyed, deterministic digest for equality look-ups (HMAC-SHA256, base64url). Normalise
    first (e.g. ``normalise_msisdn``) so every spelling of a number finds the same rows; without
    the key a phone number's index cannot be computed from the small space of numbers."""
    return _b64(hmac.new(index_key, value.encode(), hashlib.sha256).digest())


@dataclass(frozen=True, slots=True)
class DataKey:
    key_id: str
    version: int
    key: bytes

    def __repr__(self) -> str:  # key material never reaches a log line
        return f"DataKey({self.key_id!r}, v{self.version})"


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A DEK encrypted under a master key; what the store keeps."""

    key_id: str
    version: int
    master_id: str
    nonce: bytes
    wrapped: bytes


@dataclass(frozen=True, slots=True)
class TokenRef:
    key_id: str
    version: int


def _check_key_id(key_id: str) -> None:
    if not _KEY_ID.match(key_id):
        raise ValueError("key id must be 1-64 characters of A-Z a-z 0-9 _ -")


def _header(key_id: str, version: int) -> str:
    return f"{TOKEN_PREFIX}.{key_id}.{version}"


def encrypt_field(plaintext: str, dek: DataKey, aad: bytes) -> str:
    nonce = os.urandom(NONCE_BYTES)
    header = _header(dek.key_id, dek.version)
    sealed = AESGCM(dek.key).encrypt(nonce, plaintext.encode(), header.encode() + b"|" + aad)
    return f"{header}.{_b64(nonce)}.{_b64(sealed)}"


def parse_token(token: str) -> TokenRef:
    """Which data key a token needs (read before fetching the key)."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != TOKEN_PREFIX or not parts[2].isdigit():
        raise DecryptError("not an encrypted field token")
    if not _KEY_ID.match(parts[1]):
        raise DecryptError("not an encrypted field token")
    return TokenRef(parts[1], int(parts[2]))


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX + ".")


def decrypt_field(token: str, dek: DataKey, aad: bytes) -> str:
    ref = parse_token(token)
    if (ref.key_id, ref.version) != (dek.key_id, dek.version):
        raise DecryptError("token was not encrypted under this data key")
    parts = token.split(".")
    try:
        nonce, sealed = _unb64(parts[3]), _unb64(parts[4])
        aad_full = _header(ref.key_id, ref.version).encode() + b"|" + aad
        return AESGCM(dek.key).decrypt(nonce, sealed, aad_full).decode()
    except (InvalidTag, ValueError, binascii.Error):
        raise DecryptError("cannot decrypt field (wrong key or AAD, or tampered)") from None


def _wrap_aad(key_id: str, version: int, master_id: str) -> bytes:
    # Binds a wrapped key to its identity: a wrapped DEK copied onto another subject's record
    # does not unwrap.
    return f"dek|{key_id}|{version}|{master_id}".encode()


def wrap_key(dek: DataKey, master_id: str, master: bytes) -> WrappedKey:
    nonce = os.urandom(NONCE_BYTES)
    wrapped = AESGCM(master).encrypt(nonce, dek.key, _wrap_aad(dek.key_id, dek.version, master_id))
    return WrappedKey(dek.key_id, dek.version, master_id, nonce, wrapped)


def unwrap_key(wk: WrappedKey, master: bytes) -> DataKey:
    try:
        key = AESGCM(master).decrypt(
            wk.nonce, wk.wrapped, _wrap_aad(wk.key_id, wk.version, wk.master_id)
        )
    except InvalidTag:
        raise DecryptError(f"cannot unwrap data key {wk.key_id} v{wk.version}") from None
    return DataKey(wk.key_id, wk.version, key)


# --- storage ------------------------------------------------------------------------------------


class WrappedKeyStore(Protocol):
    async def insert(self, wk: WrappedKey) -> bool:
        """False when that key id and version exist already (another process won the race)."""

    async def get(self, key_id: str, version: int | None = None) -> WrappedKey:
        """The given version, or the newest; raises KeyNotFound or KeyDestroyed."""

    async def all_wrapped(self) -> list[WrappedKey]: ...

    async def replace_wrapping(self, old: WrappedKey, new: WrappedKey) -> bool:
        """Swap the wrapping if still ``old`` (compare-and-set); False if it changed meanwhile."""

    async def destroy(self, key_id: str) -> bool:
        """Shred every version of the key id; False if there was nothing (left) to shred."""


def version_doc(wk: WrappedKey) -> dict[str, Any]:
    return {"master_id": wk.master_id, "nonce": wk.nonce, "wrapped": wk.wrapped}


def wrapped_key_from_doc(doc: Mapping[str, Any], version: int | None) -> WrappedKey:
    if doc.get("state") == "destroyed":
        raise KeyDestroyed(f"data key {doc['_id']} was destroyed")
    versions: Mapping[str, Any] = doc.get("versions") or {}
    if version is None and versions:
        version = max(int(v) for v in versions)
    found = versions.get(str(version))
    if found is None:
        raise KeyNotFound(f"no data key {doc['_id']} v{version}")
    return WrappedKey(
        doc["_id"], int(str(version)), found["master_id"], bytes(found["nonce"]),
        bytes(found["wrapped"]),
    )  # fmt: skip


def wrapped_keys_from_doc(doc: Mapping[str, Any]) -> list[WrappedKey]:
    if doc.get("state") == "destroyed":
        return []
    return [wrapped_key_from_doc(doc, int(v)) for v in doc.get("versions") or {}]


class MemoryKeyStore:
    """The same contract in a dict: for tests and for a single process without a database."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def insert(self, wk: WrappedKey) -> bool:
        doc = self.docs.get(wk.key_id)
        if doc is None and wk.version == 1:
            self.docs[wk.key_id] = {"_id": wk.key_id, "state": "active",
                                    "versions": {"1": version_doc(wk)}}  # fmt: skip
            return True
        if doc is None or doc["state"] != "active" or str(wk.version) in doc["versions"]:
            return False
        doc["versions"][str(wk.version)] = version_doc(wk)
        return True

    async def get(self, key_id: str, version: int | None = None) -> WrappedKey:
        doc = self.docs.get(key_id)
        if doc is None:
            raise KeyNotFound(f"no data key {key_id}")
        return wrapped_key_from_doc(doc, version)

    async def all_wrapped(self) -> list[WrappedKey]:
        return [wk for doc in self.docs.values() for wk in wrapped_keys_from_doc(doc)]

    async def replace_wrapping(self, old: WrappedKey, new: WrappedKey) -> bool:
        doc = self.docs.get(old.key_id)
        if doc is None or doc["state"] != "active":
            return False
        slot = doc["versions"].get(str(old.version))
        if slot is None or slot["wrapped"] != old.wrapped:
            return False
        doc["versions"][str(old.version)] = version_doc(new)
        return True

    async def destroy(self, key_id: str) -> bool:
        doc = self.docs.get(key_id)
        if doc is None or doc["state"] != "active":
            return False
        doc.update(state="destroyed", versions={})
        return True


# --- the key ring -------------------------------------------------------------------------------


class KeyRing:
    """Data keys for the switch: creates, unwraps (with a small cache), rotates the master key
    and shreds keys. ``masters`` maps master key ids to keys; ``current`` wraps new keys, older
    ones stay until ``rotate_master`` has re-wrapped everything under them.

    The unwrapped-key cache lives in this process: after ``destroy`` in another process, this
    one may still read for up to ``cache_ttl`` seconds (call ``forget`` where that matters)."""

    def __init__(
        self,
        masters: Mapping[str, bytes],
        current: str,
        store: WrappedKeyStore,
        cache_ttl: float = 60.0,
    ) -> None:
        if current not in masters:
            raise ValueError("the current master key id is not among the master keys")
        for master_id, key in masters.items():
            _check_key_id(master_id)
            if len(key) != KEY_BYTES:
                raise ValueError(f"master key {master_id} must be {KEY_BYTES} bytes")
        self._masters = dict(masters)
        self.current = current
        self._store = store
        self._cache: dict[tuple[str, int | None], tuple[float, DataKey]] = {}
        self._ttl = cache_ttl

    def _unwrap(self, wk: WrappedKey) -> DataKey:
        master = self._masters.get(wk.master_id)
        if master is None:
            raise DecryptError(f"master key {wk.master_id} is not configured")
        return unwrap_key(wk, master)

    async def create(self, key_id: str) -> DataKey:
        """The key id's newest data key, created (version 1) if it has none. Safe when several
        processes race: the loser reads the winner's key. A destroyed id raises KeyDestroyed
        rather than coming back to life: new data for an erased subject needs a new key id."""
        _check_key_id(key_id)
        try:
            return await self.get(key_id)
        except KeyNotFound:
            pass
        dek = DataKey(key_id, 1, new_key())
        if await self._store.insert(wrap_key(dek, self.current, self._masters[self.current])):
            return dek
        return await self.get(key_id)

    async def new_version(self, key_id: str) -> DataKey:
        """A fresh data key for new writes (old versions stay readable)."""
        latest = await self._store.get(key_id)
        for version in range(latest.version + 1, latest.version + 10):
            dek = DataKey(key_id, version, new_key())
            if await self._store.insert(wrap_key(dek, self.current, self._masters[self.current])):
                self._cache.pop((key_id, None), None)
                return dek
        raise CryptoError(f"could not add a version to {key_id}")

    async def get(self, key_id: str, version: int | None = None) -> DataKey:
        hit = self._cache.get((key_id, version))
        now = time.monotonic()
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        dek = self._unwrap(await self._store.get(key_id, version))
        self._cache[(key_id, version)] = (now, dek)
        return dek

    async def encrypt(self, key_id: str, plaintext: str, aad: bytes) -> str:
        return encrypt_field(plaintext, await self.create(key_id), aad)

    async def decrypt(self, token: str, aad: bytes) -> str:
        ref = parse_token(token)
        return decrypt_field(token, await self.get(ref.key_id, ref.version), aad)

    async def rotate_master(self) -> int:
        """Re-wrap every data key that is not under the current master key; the data is not
        touched. Returns how many were re-wrapped. Idempotent, and safe to run again after a
        crash half way. (Lists every wrapped key in memory: fine for many thousands of keys; a
        per-subject key for millions of people would want paging.)"""
        count = 0
        master = self._masters[self.current]
        for wk in await self._store.all_wrapped():
            if wk.master_id == self.current:
                continue
            fresh = wrap_key(self._unwrap(wk), self.current, master)
            if await self._store.replace_wrapping(wk, fresh):
                count += 1
        return count

    async def destroy(self, key_id: str) -> bool:
        """Crypto-shredding: every version of the key id becomes unrecoverable."""
        self.forget(key_id)
        return await self._store.destroy(key_id)

    def forget(self, key_id: str) -> None:
        for cached in [k for k in self._cache if k[0] == key_id]:
            del self._cache[cached]
