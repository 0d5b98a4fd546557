"""Data keys in MongoDB, and the sealer of a process built on them. The envelope encryption itself
is pure (:mod:`switch.security.crypto`); this is where its wrapped keys are kept."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from switch.pii import Sealer
from switch.security.crypto import (
    KeyNotFound,
    KeyRing,
    WrappedKey,
    derive_key,
    load_master_key,
    version_doc,
    wrapped_key_from_doc,
    wrapped_keys_from_doc,
)


class KeyStore:
    """Wrapped keys in MongoDB: one document per key id (``_id``), its versions in a sub-document
    keyed by version number, so every read and write goes by ``_id`` and needs no index. A
    destroyed key keeps a tombstone without key material, so readers learn that it was shredded
    rather than lost."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self._col = collection

    async def insert(self, wk: WrappedKey) -> bool:
        if wk.version == 1:
            doc = {"_id": wk.key_id, "state": "active", "created_at": datetime.now(UTC),
                   "versions": {"1": version_doc(wk)}}  # fmt: skip
            try:
                await self._col.insert_one(doc)
            except DuplicateKeyError:
                return False
            return True
        slot = f"versions.{wk.version}"
        result = await self._col.update_one(
            {"_id": wk.key_id, "state": "active", slot: {"$exists": False}},
            {"$set": {slot: version_doc(wk)}},
        )
        return result.modified_count == 1

    async def get(self, key_id: str, version: int | None = None) -> WrappedKey:
        doc = await self._col.find_one({"_id": key_id})
        if doc is None:
            raise KeyNotFound(f"no data key {key_id}")
        return wrapped_key_from_doc(doc, version)

    async def all_wrapped(self) -> list[WrappedKey]:
        return [
            wk
            async for doc in self._col.find({"state": "active"})
            for wk in wrapped_keys_from_doc(doc)
        ]

    async def replace_wrapping(self, old: WrappedKey, new: WrappedKey) -> bool:
        slot = f"versions.{old.version}"
        result = await self._col.update_one(
            {"_id": old.key_id, "state": "active", f"{slot}.wrapped": old.wrapped},
            {"$set": {slot: version_doc(new), "rewrapped_at": datetime.now(UTC)}},
        )
        return result.modified_count == 1

    async def destroy(self, key_id: str) -> bool:
        result = await self._col.update_one(
            {"_id": key_id, "state": "active"},
            {"$set": {"state": "destroyed", "destroyed_at": datetime.now(UTC)},
             "$unset": {"versions": ""}},
        )  # fmt: skip
        return result.modified_count == 1


def sealer_for(cols_keys: Any, masters: dict[str, str], current: str, secret_key: bytes) -> Sealer:
    """The sealer of a process: the master keys from the settings (Base64), the data keys in
    MongoDB's ``keys`` collection, the blind-index key derived from the switch's secret key (so
    rotating the master key leaves the index alone)."""
    ring = KeyRing(
        {kid: load_master_key(value) for kid, value in masters.items()},
        current,
        KeyStore(cols_keys),
    )
    return Sealer(ring, derive_key(secret_key, "phone-blind-index"))
