"""Participants of the hub (pure): banks, SACCOs and wallet providers, each with one POSITION and
one SETTLEMENT account per currency (Mojaloop central-ledger section 1.1), a net debit cap and an
alarm threshold. How a participant is stored and shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from switch.hub import ledger
from switch.hub.positions import Position, alarm_level
from switch.hub.positions import amount_text as format_minor
from switch.payments import iso

Kind = Literal["bank", "sacco", "wallet"]
KINDS: tuple[str, ...] = ("bank", "sacco", "wallet")
STATUSES: tuple[str, ...] = ("active", "suspended")
Format = Literal["json", "iso20022"]  # how the hub talks to it: signed JSON, or pacs.008/002
CURRENCY = "KES"  # the one currency the hub clears today; accounts are named per currency
DEFAULT_ALARM_BPS = 8_000  # alert at 80 % of min(net debit cap, liquidity cover)


@dataclass(frozen=True, slots=True)
class Participant:
    """What the position actor needs of a participant to decide."""

    id: str
    status: str
    currency: str
    net_debit_cap: int
    alarm_bps: int
    endpoint_url: str
    webhook_secret: str
    format: str = "json"
    bank_code: str = ""  # who signs its ISO 20022 messages (switch/iso20022/signing.py)

    @property
    def active(self) -> bool:
        return self.status == "active"


def from_doc(doc: dict[str, Any]) -> Participant:
    return Participant(
        doc["_id"],
        doc["status"],
        doc["currency"],
        int(doc["net_debit_cap"]),
        int(doc.get("alarm_bps", DEFAULT_ALARM_BPS)),
        doc["endpoint_url"],
        doc["webhook_secret"],
        doc.get("format", "json"),
        doc.get("bank_code") or "",
    )


def accounts(participant: str, currency: str) -> dict[str, str]:
    return {
        "position": ledger.position(participant, currency),
        "settlement": ledger.settlement(participant, currency),
    }


def view(doc: dict[str, Any]) -> dict[str, Any]:
    """A participant as the API shows it: never its webhook secret."""
    return {
        "id": doc["_id"],
        "object": "hub_participant",
        "name": doc["name"],
        "kind": doc["kind"],
        "bank_code": doc.get("bank_code"),
        "bic": doc.get("bic"),
        "endpoint_url": doc["endpoint_url"],
        "format": doc.get("format", "json"),
        "status": doc["status"],
        "currency": doc["currency"],
        "accounts": accounts(doc["_id"], doc["currency"]),
        "net_debit_cap": format_minor(int(doc["net_debit_cap"])),
        "alarm_percent": int(doc.get("alarm_bps", DEFAULT_ALARM_BPS)) / 100,
        "created_at": iso(doc["created_at"]),
        "client_certificate": doc.get("mtls"),  # bound (mutual TLS), or None
    }


def position_view(participant: str, currency: str, pos: Position, alarm_bps: int) -> dict[str, Any]:
    """A participant's position as the API shows it (Mojaloop ``GET .../positions`` and
    ``.../limits`` in one)."""
    level = alarm_level(pos)
    return {
        "object": "hub_position",
        "participant": participant,
        "currency": currency,
        "position": format_minor(pos.committed),
        "reserved": format_minor(pos.reserved),
        "liquidity_cover": format_minor(pos.cover),
        "net_debit_cap": format_minor(pos.net_debit_cap),
        "available": format_minor(max(pos.headroom, 0)),
        "used_percent": level / 100,
        "alarm": level >= alarm_bps,
    }
