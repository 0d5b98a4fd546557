"""What each switch process spends on MongoDB and Ray, counted for the bench (issue 17).

Off unless ``SWITCH_COST_DIR`` is set (``python -m bench run --cost`` sets it): then every
process that calls :func:`install` (the api, every actor) registers a pymongo command listener,
counts Ray calls at the actor proxy (:func:`ray_call`), and rewrites ``<dir>/<role>-<pid>.json``
with its running totals every half second; the bench reads the files when its window opens and
closes and takes the difference. Off, nothing is registered and :func:`ray_call` is never called
(the proxy checks :data:`ENABLED` once per operation lookup)."""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bson
from pymongo import monitoring

ENV = "SWITCH_COST_DIR"
DUMP_EVERY_S = 0.5

# Write commands and the reply field that says how many documents each one changed.
_WRITES = ("insert", "update", "delete", "findAndModify")


def written(command_name: str, reply: Mapping[str, Any]) -> int:
    """Documents a write command changed, from its reply (0 for anything else). Pure."""
    if command_name in ("insert", "delete"):
        return int(reply.get("n", 0))
    if command_name == "update":
        return int(reply.get("nModified", 0)) + len(reply.get("upserted") or ())
    if command_name == "findAndModify":
        return int((reply.get("lastErrorObject") or {}).get("n", 0))
    return 0


def payload_bytes(command_name: str, command: Mapping[str, Any]) -> int:
    """BSON bytes of what a write command asks to store: the inserted documents, the update
    documents (or pipelines); 0 for deletes and reads. Pure."""
    if command_name == "insert":
        return sum(len(bson.encode(d)) for d in command.get("documents") or ())
    if command_name == "update":
        return sum(len(bson.encode({"u": u.get("u")})) - 8 for u in command.get("updates") or ())
    if command_name == "findAndModify" and command.get("update") is not None:
        return len(bson.encode({"u": command["update"]})) - 8
    return 0


def collection_of(command_name: str, command: Mapping[str, Any]) -> str:
    """The collection a command acts on ("" for server commands such as ``ping``). Pure."""
    target = command.get("collection") if command_name == "getMore" else command.get(command_name)
    return target if isinstance(target, str) else ""


class Counts:
    """Running totals: per ``"<command> <collection>"`` [commands, documents written, bytes],
    per Ray method [calls, argument bytes, answer bytes]. Thread-safe (pymongo's listener runs
    on the event loop, the dump on its own thread)."""

    def __init__(self) -> None:
        self.mongo: dict[str, list[int]] = {}
        self.ray: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def add_mongo(self, key: str, commands: int, docs: int, nbytes: int) -> None:
        self._add(self.mongo, key, (commands, docs, nbytes))

    def add_ray(self, method: str, calls: int, arg_bytes: int, answer_bytes: int) -> None:
        self._add(self.ray, method, (calls, arg_bytes, answer_bytes))

    def _add(self, table: dict[str, list[int]], key: str, values: tuple[int, int, int]) -> None:
        with self._lock:
            row = table.setdefault(key, [0, 0, 0])
            for i, v in enumerate(values):
                row[i] += v

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mongo": {k: list(v) for k, v in self.mongo.items()},
                "ray": {k: list(v) for k, v in self.ray.items()},
            }


class MongoCounter(monitoring.CommandListener):
    """Counts each command on success: key and payload size noted when it starts (only the
    started event carries the command), documents written from its reply."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self._pending: dict[int, tuple[str, int]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name, command = event.command_name, event.command
        nbytes = payload_bytes(name, command) if name in _WRITES else 0
        key = f"{name} {collection_of(name, command)}".rstrip()
        self._pending[event.request_id] = (key, nbytes)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        found = self._pending.pop(event.request_id, None)
        if found is not None:
            key, nbytes = found
            self.counts.add_mongo(key, 1, written(event.command_name, event.reply), nbytes)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        found = self._pending.pop(event.request_id, None)
        if found is not None:
            self.counts.add_mongo(found[0], 1, 0, 0)


def pickled_size(value: Any) -> int:
    """Bytes of ``value`` pickled (how Ray ships Python objects; 0 if it does not pickle)."""
    try:
        return len(pickle.dumps(value, protocol=5))
    except Exception:  # a size estimate never fails the call
        return 0


COUNTS = Counts()
ENABLED = bool(os.environ.get(ENV))
_installed: set[str] = set()


def ray_call(method: str, args: tuple[Any, ...], answer: Any) -> None:
    COUNTS.add_ray(method, 1, pickled_size(args), pickled_size(answer))


def install(role: str) -> None:
    """In a process of the switch: when the bench asks (``SWITCH_COST_DIR``), count its MongoDB
    commands and dump the totals. Once per process; a no-op when off."""
    folder = os.environ.get(ENV)
    if not folder or _installed:
        return
    _installed.add(role)
    monitoring.register(MongoCounter(COUNTS))
    path = Path(folder) / f"{role}-{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    thread = threading.Thread(target=_dump_forever, args=(path, role), daemon=True)
    thread.start()


def _dump_forever(path: Path, role: str) -> None:
    tmp = path.with_suffix(".tmp")
    while True:
        data = {"role": role, "pid": os.getpid(), "at": time.time(), **COUNTS.snapshot()}
        try:
            tmp.write_text(json.dumps(data))
            tmp.replace(path)
        except OSError:  # the bench removed its folder: the run is over
            return
        time.sleep(DUMP_EVERY_S)
