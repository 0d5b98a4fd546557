"""The backup format (pure): encrypted, compressed frames and a signed, checksummed manifest.

A backup is a folder: ``manifest.json`` and one ``<collection>.bin`` per collection. A file is a
run of frames, each ``length (4 bytes, big-endian) | nonce (12) | AES-256-GCM ciphertext`` of a
zlib-compressed run of BSON documents. The additional data of each frame binds it to its backup,
collection and position and marks the last one, so frames cannot be swapped, reordered, moved to
another backup or cut off without the restore noticing. The key is derived (HKDF) from a master
key (``SWITCH_MASTER_KEYS``), which never lives in the database the backup holds.

The manifest lists each file's document count, size and SHA-256, and carries an HMAC (same
derived key) over all of it: a restore checks both before it writes anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from switch.security.crypto import derive_key

FORMAT = "kenya-switch-backup/1"
FRAME_BYTES = 4 << 20  # plaintext BSON per frame before compression
_NONCE = 12
_LENGTH = struct.Struct(">I")


class BackupInvalid(Exception):
    """A backup that fails its checks: wrong key, tampered, truncated or corrupt."""


def backup_key(master_key: bytes) -> bytes:
    return derive_key(master_key, "switch-backup-v1")


def _aad(backup_id: str, collection: str, seq: int, last: bool) -> bytes:
    return f"{backup_id}/{collection}/{seq}/{int(last)}".encode()


def seal_frames(
    key: bytes, backup_id: str, collection: str, chunks: Iterable[bytes]
) -> Iterator[bytes]:
    """Frames for a collection's BSON chunks; an empty collection still has one (empty, last)
    frame, so a missing file is told apart from an empty collection."""
    pending: bytes | None = None
    seq = 0
    for chunk in chunks:
        if pending is not None:
            yield seal_frame(key, backup_id, collection, seq, pending, last=False)
            seq += 1
        pending = chunk
    yield seal_frame(key, backup_id, collection, seq, pending or b"", last=True)


def seal_frame(
    key: bytes, backup_id: str, collection: str, seq: int, plain: bytes, last: bool
) -> bytes:
    aead = AESGCM(key)
    nonce = os.urandom(_NONCE)
    sealed = aead.encrypt(nonce, zlib.compress(plain, 6), _aad(backup_id, collection, seq, last))
    return _LENGTH.pack(len(sealed) + _NONCE) + nonce + sealed


def open_frames(key: bytes, backup_id: str, collection: str, data: bytes) -> Iterator[bytes]:
    """The BSON chunks of one file, checked frame by frame; raises BackupInvalid."""
    aead = AESGCM(key)
    pos = seq = 0
    while pos < len(data):
        if pos + _LENGTH.size > len(data):
            raise BackupInvalid(f"{collection}: truncated frame header")
        (size,) = _LENGTH.unpack_from(data, pos)
        body = data[pos + _LENGTH.size : pos + _LENGTH.size + size]
        if len(body) != size or size <= _NONCE:
            raise BackupInvalid(f"{collection}: truncated frame {seq}")
        pos += _LENGTH.size + size
        last = pos == len(data)
        try:
            plain = aead.decrypt(
                body[:_NONCE], body[_NONCE:], _aad(backup_id, collection, seq, last)
            )
        except InvalidTag:
            raise BackupInvalid(
                f"{collection}: frame {seq} does not decrypt (wrong master key, or altered, "
                "reordered or cut off)"
            ) from None
        yield zlib.decompress(plain)
        seq += 1
    if seq == 0:
        raise BackupInvalid(f"{collection}: empty file")


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != "mac"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def sign_manifest(key: bytes, manifest: Mapping[str, Any]) -> dict[str, Any]:
    mac = hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()
    return {**manifest, "mac": mac}


def check_manifest(key: bytes, manifest: Mapping[str, Any]) -> None:
    if manifest.get("format") != FORMAT:
        raise BackupInvalid(f"not a {FORMAT} manifest (format {manifest.get('format')!r})")
    expected = hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(manifest.get("mac", ""))):
        raise BackupInvalid("manifest signature does not match (wrong master key, or altered)")


def check_file(name: str, entry: Mapping[str, Any], data: bytes) -> None:
    if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise BackupInvalid(f"{name}: size or SHA-256 differs from the manifest (corrupt copy)")


def file_entry(documents: int, data_size: int, digest: str) -> dict[str, Any]:
    return {"documents": documents, "bytes": data_size, "sha256": digest}
