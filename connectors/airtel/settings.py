"""Airtel Money's settings (Airtel Africa's Open API, https://developers.airtel.africa/
documentation), each read from ``SWITCH_<FIELD>``: switch/config.py gathers every provider's
settings through the registry."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from switch.providers import CallerNetworks


class AirtelSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {"airtel_client_secret", "airtel_pin", "airtel_callback_key"}
    )
    # Sandbox values that ``serve`` refuses outside sandbox mode (switch/failclosed.py).
    placeholders: ClassVar[frozenset[str]] = frozenset(
        {"airtel_base_url", "airtel_client_id", "airtel_client_secret"}
    )

    airtel_base_url: str = Field("https://openapiuat.airtel.africa", pattern=r"^https?://")
    airtel_client_id: str = "sandbox-client"
    airtel_client_secret: str = "sandbox-secret"  # noqa: S105 - the simulator's public value
    airtel_pin: str | None = Field(None, pattern=r"^[0-9]{4}$")  # disbursement wallet PIN
    airtel_public_key_file: str | None = None  # Airtel's RSA key for the PIN (PEM or Base64 DER)
    airtel_callback_key: str | None = None  # when set, callbacks must carry a matching hash
    callback_allowlist_airtel: CallerNetworks = ""  # who may call its callback; empty: anyone
