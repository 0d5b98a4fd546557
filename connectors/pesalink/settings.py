"""PesaLink's settings (through a participant bank's API, e.g. Jenga,
https://developer.jengahq.io), each read from ``SWITCH_<FIELD>``: switch/config.py gathers every
provider's settings through the registry."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from switch.providers import CallerNetworks


class PesaLinkSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {"pesalink_api_key", "pesalink_consumer_secret"}
    )
    # Sandbox values that ``serve`` refuses outside sandbox mode (switch/failclosed.py).
    placeholders: ClassVar[frozenset[str]] = frozenset(
        {
            "pesalink_base_url",
            "pesalink_api_key",
            "pesalink_merchant_code",
            "pesalink_consumer_secret",
            "pesalink_source_account",
        }
    )

    pesalink_base_url: str = Field("https://uat.pesalink.example", pattern=r"^https?://")
    pesalink_api_key: str = "sandbox-api-key"
    pesalink_merchant_code: str = "0000000000"
    pesalink_consumer_secret: str = "sandbox-secret"  # noqa: S105 - the simulator's public value
    pesalink_signing_key_file: str | None = None  # our RSA private key (PEM)
    pesalink_source_account: str = "0011547896523"
    pesalink_source_name: str = "Kenya Switch Ltd"
    callback_allowlist_pesalink: CallerNetworks = ""  # who may call its callbacks; empty: anyone
