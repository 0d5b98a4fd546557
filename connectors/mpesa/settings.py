"""M-Pesa's settings (Daraja credentials and shortcodes), each read from ``SWITCH_<FIELD>``:
switch/config.py gathers every provider's settings through the registry."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from switch.providers import CallerNetworks

# Public Daraja sandbox values (Safaricom's Daraja test credentials): used by sandbox mode.
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


class MpesaSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {"mpesa_consumer_secret", "mpesa_passkey", "mpesa_initiator_password"}
    )
    # Sandbox values that ``serve`` refuses outside sandbox mode (switch/failclosed.py).
    placeholders: ClassVar[frozenset[str]] = frozenset(
        {
            "mpesa_base_url",
            "mpesa_consumer_key",
            "mpesa_consumer_secret",
            "mpesa_shortcode",
            "mpesa_passkey",
        }
    )

    mpesa_base_url: str = Field("https://sandbox.safaricom.co.ke", pattern=r"^https?://")
    mpesa_consumer_key: str = "sandbox-key"
    mpesa_consumer_secret: str = "sandbox-secret"  # noqa: S105 - the simulator's public value
    mpesa_shortcode: str = Field(SANDBOX_SHORTCODE, pattern=r"^[0-9]{5,7}$")
    mpesa_passkey: str = SANDBOX_PASSKEY
    mpesa_transaction_type: Literal["CustomerPayBillOnline", "CustomerBuyGoodsOnline"] = (
        "CustomerPayBillOnline"
    )
    mpesa_till: str | None = Field(None, pattern=r"^[0-9]{5,8}$")
    # Initiator APIs (B2C, Transaction Status, Reversal, Account Balance): the M-Pesa portal API
    # operator, and Safaricom's certificate to encrypt its password with.
    mpesa_initiator_name: str | None = None
    mpesa_initiator_password: str | None = None
    mpesa_certificate_file: str | None = None
    mpesa_b2c_shortcode: str | None = Field(None, pattern=r"^[0-9]{5,7}$")
    # Who may call its callbacks (comma-separated CIDR blocks); empty: Safaricom's range outside
    # sandbox mode (the provider's ``callback_sources``).
    callback_allowlist_mpesa: CallerNetworks = ""
