"""Warnings and errors in a child's log (the switch logs JSON lines; Ray prefixes worker lines
with ``(ShardActor pid=...)``). Pure."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PREFIX = re.compile(r"^\((?P<who>[^)]*)\)\s*")
_PID = re.compile(r"pid=\d+")
_LEVELS = ("CRITICAL", "ERROR", "WARNING")
_PLAIN_LEVEL = re.compile(r"(?:^|\s)(CRITICAL|ERROR|WARNING)(?=[\s:])")


def _level_and_message(line: str) -> tuple[str, str] | None:
    clean = _ANSI.sub("", line).strip()
    m = _PREFIX.match(clean)
    who = _PID.sub("pid=*", m.group("who")) + ": " if m else ""
    rest = clean[m.end() :] if m else clean
    if rest.startswith("{"):
        try:
            doc = json.loads(rest)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and doc.get("level") in _LEVELS:
            return str(doc["level"]), who + f"{doc.get('logger', '')}: {doc.get('msg', '')}"
        if isinstance(doc, dict):
            return None
    if rest.startswith("Traceback"):
        return "ERROR", who + "Traceback"
    m = _PLAIN_LEVEL.search(rest)
    if m:
        return m.group(1), who + rest[:200]
    return None


def scan_log(text: str, samples: int = 12) -> dict[str, Any]:
    """Counts of error and warning lines, and the most frequent messages."""
    counts: Counter[str] = Counter()
    messages: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        found = _level_and_message(line)
        if found is None:
            continue
        level, message = found
        counts["errors" if level in ("ERROR", "CRITICAL") else "warnings"] += 1
        messages[(level, message[:300])] += 1
    top = [
        {"level": level, "count": n, "message": message}
        for (level, message), n in messages.most_common(samples)
    ]
    return {"errors": counts["errors"], "warnings": counts["warnings"], "top": top}
