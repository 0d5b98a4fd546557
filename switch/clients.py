"""API clients of a merchant, the pure part: what a process knows of token generations
(:class:`Generations`), how a client looks through the API, its scopes and who holds its secret.
The clients and their generations in MongoDB, and the Redis feed that spreads a raised generation
to every api process, are in :mod:`infra.clients` (its docstring tells how a rotated or revoked
client's tokens stop at once)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switch.ids import random_token
from switch.payments import iso
from switch.roles import client_token_scope

Doc = dict[str, Any]


class Generations:
    """What one api process knows of the token generations. Generations only go up, so merging
    a stale reload with a fresh message can never reopen a revoked token."""

    def __init__(self) -> None:
        self._known: dict[str, int] = {}

    def accepts(self, subject: str, gen: int) -> bool:
        return gen >= self._known.get(subject, 0)

    def raise_to(self, subject: str, gen: int) -> None:
        if gen > self._known.get(subject, 0):
            self._known[subject] = gen

    def merge(self, known: Mapping[str, int]) -> None:
        for subject, gen in known.items():
            self.raise_to(subject, gen)

    def __len__(self) -> int:
        return len(self._known)


def public_view(doc: Doc) -> Doc:
    """A client as the API shows it: never the secret or its hash."""
    scope = str(doc.get("scope", ""))
    return {
        "id": doc["_id"],
        "object": "client",
        "name": doc.get("name") or "default",
        "scopes": list(doc.get("scopes") or scope.split()),
        "status": doc.get("status", "active"),
        "created_at": iso(doc["created_at"]) if doc.get("created_at") else None,
        "rotated_at": iso(doc["rotated_at"]) if doc.get("rotated_at") else None,
        "revoked_at": iso(doc["revoked_at"]) if doc.get("revoked_at") else None,
    }


def new_secret() -> str:
    return "sec_" + random_token(24)


def token_scopes(doc: Doc) -> list[str]:
    """The scopes the client's tokens carry (a legacy client's expanded), what its secret is
    worth to whoever holds it. Pure."""
    return client_token_scope(str(doc.get("scope", "")), "scopes" in doc).split()


def secret_holder(doc: Doc) -> str | None:
    """The person who issued the client's current secret (its last rotation, else its creation),
    ``user:<id>``; None for a client no person made (the operator's command line). Pure."""
    for key in ("rotated_by", "created_by"):
        who = doc.get(key)
        if isinstance(who, str) and who.startswith("user:"):
            return who
    return None
