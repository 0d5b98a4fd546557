"""Merchants and their API clients, the rules (onboarding in MongoDB is :mod:`infra.merchants`).
A merchant has a webhook URL and secret; a client has an id, a secret (shown once, stored hashed)
and scopes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from switch.errors import ValidationFailed
from switch.money import format_minor
from switch.payments import iso

DEFAULT_SCOPE = "payments:read payments:write"
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")


@dataclass(frozen=True)
class NewMerchant:
    merchant_id: str
    client_id: str
    client_secret: str
    webhook_secret: str
    name: str
    webhook_url: str | None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def check_merchant(name: str, webhook_url: str | None) -> None:
    details = []
    if not 1 <= len(name.strip()) <= 120:
        details.append({"field": "name", "reason": "must be 1 to 120 characters"})
    if webhook_url is not None and not _URL.match(webhook_url):
        details.append({"field": "webhook_url", "reason": "must be an http(s) URL"})
    if details:
        raise ValidationFailed("invalid merchant", details)


OPERATOR = "operator"  # the merchant id of the switch operator's own clients


# --- the merchant's life (operator routes, the CLI and aggregators share these rules) ----------

STATUSES = ("active", "suspended", "closed")
# Which status each operator action leads to, from which statuses.
ACTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "suspend": ("suspended", ("active",)),
    "reactivate": ("active", ("suspended",)),
    "close": ("closed", ("active", "suspended")),
}
MAX_PAGE = 100


def status_refusal(action: str, current: str, balance_minor: int) -> str | None:
    """Why ``action`` may not be taken on a merchant in ``current`` status holding
    ``balance_minor`` (available plus reserved); None when it may. A closed merchant keeps its
    history but takes nothing new, so its money must be paid out first: closing one that still
    holds any is refused."""
    if action not in ACTIONS:
        return f"action must be one of {', '.join(ACTIONS)}"
    _, allowed_from = ACTIONS[action]
    if current not in allowed_from:
        return f"the merchant is {current}; {action} applies to {' or '.join(allowed_from)} ones"
    if action == "close" and balance_minor != 0:
        return (
            f"the merchant holds KES {format_minor(balance_minor)}; settle its balance before "
            "closing it"
        )
    return None


def check_changes(changes: Mapping[str, Any]) -> None:
    """An update's fields, each checked as at creation."""
    check_merchant(str(changes.get("name", "x")), changes.get("webhook_url"))


def view(doc: Mapping[str, Any], applied: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A merchant as the API shows it: its profile and configuration, ``applied`` being what
    the switch applies (a sub-merchant's inherited settings: switch/platform.effective)."""
    eff = applied if applied is not None else doc
    fee = doc.get("platform_fee")
    at = doc.get("created_at")
    return {
        "object": "merchant",
        "id": doc["_id"],
        "name": doc.get("name"),
        "kind": doc.get("kind", "standard"),
        "status": doc.get("status", "active"),
        "kyc_status": eff.get("kyc_status", "pending"),
        "parent_id": doc.get("parent_id"),
        "webhook_url": eff.get("webhook_url"),
        "limits": eff.get("limits") or {},
        "routing": eff.get("routing") or {},
        "platform_fee": (
            {"bps": int(fee.get("bps", 0)), "fixed": format_minor(int(fee.get("fixed_minor", 0)))}
            if fee
            else None
        ),
        "created_at": iso(at) if at is not None else None,
    }
