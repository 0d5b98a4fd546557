"""``python -m switch backup | restore``: a consistent, encrypted copy of the database.

Consistency: every collection is read inside ONE multi-document transaction with read concern
``snapshot``, so all reads see the database as of one point (the transaction's snapshot, whose
cluster time the manifest records): a payment and its journal entries are both in the backup or
both out. On a MongoDB replica set this is a snapshot transaction bounded by
``transactionLifetimeLimitSeconds`` (60 s by default); the embedded SecantusDB pins one
WiredTiger snapshot for the whole transaction. Bigger databases: see README, Back up and restore
(mongodump --oplog, or the provider's snapshots).

The file format and its checks are pure (switch/backupfile.py); this module reads and writes.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo import AsyncMongoClient, IndexModel
from pymongo.read_concern import ReadConcern

from switch.backupfile import (
    FORMAT,
    FRAME_BYTES,
    BackupInvalid,
    backup_key,
    check_file,
    check_manifest,
    file_entry,
    open_frames,
    seal_frame,
    sign_manifest,
)
from switch.config import Settings
from switch.errors import ConfigError
from switch.security.crypto import load_master_key

RAW = CodecOptions(document_class=RawBSONDocument, tz_aware=True)
_INDEX_OPTIONS = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression")


def _master_key(settings: Settings, key_id: str | None = None) -> tuple[str, bytes]:
    """The configured master key (never one kept in the database the backup holds)."""
    wanted = key_id or settings.master_key_id
    if not settings.master_keys or not wanted:
        raise ConfigError(
            "backups are encrypted with a master key kept outside the database: set "
            "SWITCH_MASTER_KEYS and SWITCH_MASTER_KEY_ID"
        )
    if wanted not in settings.master_keys:
        raise ConfigError(f"SWITCH_MASTER_KEYS has no key {wanted!r} (the backup's key id)")
    try:
        return wanted, load_master_key(settings.master_keys[wanted])
    except ValueError as exc:
        raise ConfigError(f"SWITCH_MASTER_KEYS[{wanted!r}]: {exc}") from None


class _FileWriter:
    """One collection's file, written frame by frame as documents arrive (the frame before the
    last is only sealed once it is known not to be the last)."""

    def __init__(self, path: Path, key: bytes, backup_id: str, name: str) -> None:
        self._fh = path.open("wb")
        self._key, self._id, self._name = key, backup_id, name
        self._pending: bytes | None = None
        self._seq = self.size = self.documents = 0
        self._digest = hashlib.sha256()

    def add(self, chunk: bytes, documents: int) -> None:
        self.documents += documents
        if self._pending is not None:
            self._write(self._pending, last=False)
        self._pending = chunk

    def close(self) -> dict[str, Any]:
        self._write(self._pending or b"", last=True)
        self._fh.close()
        return file_entry(self.documents, self.size, self._digest.hexdigest())

    def _write(self, plain: bytes, last: bool) -> None:
        frame = seal_frame(self._key, self._id, self._name, self._seq, plain, last)
        self._fh.write(frame)
        self._digest.update(frame)
        self.size += len(frame)
        self._seq += 1


def _new_folder(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: the backup folder must be new or empty")
    out.mkdir(parents=True, exist_ok=True)


async def _copy(cursor: Any, writer: _FileWriter) -> None:
    buf: list[bytes] = []
    size = 0
    async for doc in cursor:
        buf.append(doc.raw)
        size += len(doc.raw)
        if size >= FRAME_BYTES:
            writer.add(b"".join(buf), len(buf))
            buf, size = [], 0
    if buf:
        writer.add(b"".join(buf), len(buf))


async def backup(client: AsyncMongoClient[Any], settings: Settings, out: Path) -> dict[str, Any]:
    """Write a backup of ``settings.mongodb_db`` into the new folder ``out``; the manifest."""
    key_id, master = _master_key(settings)
    key = backup_key(master)
    _new_folder(out)
    db = client.get_database(settings.mongodb_db, codec_options=RAW)
    names = sorted(n for n in await db.list_collection_names() if not n.startswith("system."))
    indexes = {n: [_index(i) async for i in await db[n].list_indexes()] for n in names}
    backup_id = uuid.uuid4().hex
    started = time.monotonic()
    files: dict[str, Any] = {}
    snapshot = ReadConcern("snapshot")
    async with client.start_session() as session, await session.start_transaction(snapshot):
        for name in names:
            writer = _FileWriter(out / f"{name}.bin", key, backup_id, name)
            await _copy(db[name].find({}, session=session, batch_size=1000), writer)
            files[name] = writer.close()
        cluster_time = session.operation_time
    manifest = {
        "format": FORMAT,
        "id": backup_id,
        "database": settings.mongodb_db,
        "created_at": datetime.now(UTC).isoformat(),
        "cluster_time": {"t": cluster_time.time, "i": cluster_time.inc} if cluster_time else None,
        "seconds": round(time.monotonic() - started, 3),
        "master_key_id": key_id,
        "collections": files,
        "indexes": indexes,
    }
    signed = sign_manifest(key, manifest)
    _write_manifest(out, signed)
    return signed


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def _index(info: Any) -> dict[str, Any]:
    doc = {k: v for k, v in info.items() if k in ("name", "key", *_INDEX_OPTIONS)}
    doc["key"] = [[field, value] for field, value in info["key"].items()]
    plain: dict[str, Any] = orjson.loads(orjson.dumps(doc, default=str))  # JSON values only
    return plain


def read_manifest(settings: Settings, folder: Path) -> tuple[dict[str, Any], bytes]:
    """The manifest and backup key of a backup folder, after checking the signature and every
    file's checksum: nothing is written if any check fails."""
    try:
        manifest = orjson.loads((folder / "manifest.json").read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise BackupInvalid(f"{folder}/manifest.json: {exc}") from None
    _, master = _master_key(settings, str(manifest.get("master_key_id") or ""))
    key = backup_key(master)
    check_manifest(key, manifest)
    for name, entry in manifest["collections"].items():
        check_file(name, entry, (folder / f"{name}.bin").read_bytes())
    return manifest, key


async def restore(
    client: AsyncMongoClient[Any], settings: Settings, folder: Path
) -> dict[str, int]:
    """Restore a checked backup into ``settings.mongodb_db``, which must be empty."""
    manifest, key = read_manifest(settings, folder)
    db = client.get_database(settings.mongodb_db)
    for name in await db.list_collection_names():
        if not name.startswith("system.") and await db[name].estimated_document_count():
            raise ConfigError(
                f"database {settings.mongodb_db!r} is not empty (collection {name!r} has "
                "documents): restore only into an empty database"
            )
    counts: dict[str, int] = {}
    for name, entry in manifest["collections"].items():
        data = (folder / f"{name}.bin").read_bytes()
        target = db[name]
        restored = 0
        for chunk in open_frames(key, manifest["id"], name, data):
            docs = _split(chunk)
            for at in range(0, len(docs), 1000):
                await target.insert_many(docs[at : at + 1000], ordered=True)
            restored += len(docs)
        if restored != entry["documents"]:
            raise BackupInvalid(f"{name}: {restored} documents, the manifest says {entry}")
        models = [_model(i) for i in manifest["indexes"].get(name, []) if i["name"] != "_id_"]
        if models:
            await target.create_indexes(models)
        counts[name] = restored
    return counts


def _split(chunk: bytes) -> list[RawBSONDocument]:
    docs = []
    pos = 0
    while pos < len(chunk):
        size = int.from_bytes(chunk[pos : pos + 4], "little")
        docs.append(RawBSONDocument(chunk[pos : pos + size], RAW))
        pos += size
    return docs


def _model(info: dict[str, Any]) -> IndexModel:
    # In the source's order: a server may compare index options as an ordered document, and
    # the switch, starting on the restored database, asks for its indexes in that order.
    options = {k: v for k, v in info.items() if k in _INDEX_OPTIONS}
    return IndexModel([(f, v) for f, v in info["key"]], name=info["name"], **options)
