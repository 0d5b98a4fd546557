"""The generated OpenAPI document against the one committed in ``openapi_before.json``: the
document as it was when every operation was a hand-written row. Generating it from the route
table must not change what clients are told; an intended change updates the fixture in the same
commit (regenerate it with ``python -m tests.unit.api.test_openapi_baseline``) and says why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from api.openapi import openapi_document

FIXTURE = Path(__file__).with_name("openapi_before.json")


def differences(old: Any, new: Any, where: str = "") -> list[str]:
    """Each place the two JSON values differ, as a JSON-pointer-like path (key order ignored)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = [f"{where}/{k}: only before" for k in sorted(old.keys() - new.keys())]
        out += [f"{where}/{k}: only now" for k in sorted(new.keys() - old.keys())]
        for key in sorted(old.keys() & new.keys()):
            out += differences(old[key], new[key], f"{where}/{key}")
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in differences(a, b, f"{where}/{i}")
        ]
    return [] if old == new else [f"{where}: {old!r} -> {new!r}"[:300]]


def test_differences_finds_each_changed_place() -> None:
    old = {"a": 1, "b": [1, {"c": 2}], "gone": 0}
    new = {"a": 1, "b": [1, {"c": 3}], "new": 0}
    assert differences(old, new) == ["/gone: only before", "/new: only now", "/b/1/c: 2 -> 3"]
    assert differences(old, old) == []


def test_the_document_is_the_one_clients_had() -> None:
    now = json.loads(json.dumps(openapi_document()))  # as served: int keys become strings
    before = json.loads(FIXTURE.read_text())
    assert differences(before, now) == []


if __name__ == "__main__":
    FIXTURE.write_text(json.dumps(openapi_document(), indent=1, sort_keys=True) + "\n")
