"""Merchants and their API clients, the rules (onboarding in MongoDB is :mod:`infra.merchants`).
A merchant has a webhook URL and secret; a client has an id, a secret (shown once, stored hashed)
and scopes."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from switch.errors import ValidationFailed

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
