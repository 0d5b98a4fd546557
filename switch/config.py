"""Typed configuration from the environment, validated once at start-up.

Every setting has one environment variable; a bad value stops the command with a message that
names the variable and says what it must be. Secrets are never echoed back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from switch.errors import ConfigError
from switch.fees import Fee
from switch.rails import default_fees

# Public Daraja sandbox values (Safaricom's Daraja test credentials): used by sandbox mode.
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mongodb_uri: str | None = None
    mongodb_db: str = Field("switch", pattern=r"^[A-Za-z0-9_-]{1,60}$")
    redis_url: str | None = None
    ray_address: str | None = None
    ray_namespace: str = Field("switch", pattern=r"^[A-Za-z0-9_-]{1,60}$")
    data_dir: str = "./var"

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str | None = Field(None, pattern=r"^https?://")
    secret_key: str | None = Field(None, min_length=32)
    token_ttl: int = Field(3600, ge=60, le=86400)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    shards: int = Field(2, ge=1, le=256)
    shard_max_backlog: int = Field(2000, ge=1, le=1_000_000)
    batch_max: int = Field(128, ge=1, le=10000)
    batch_delay_ms: float = Field(2.0, ge=0, le=100)

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
    payout_not_found_after: float = Field(600.0, gt=0)
    reversal_window_days: float = Field(7.0, gt=0, le=365)
    provider_timeout: float = Field(10.0, gt=0, le=120)
    provider_concurrency: int = Field(64, ge=1, le=4096)
    provider_retries: int = Field(3, ge=0, le=10)
    breaker_threshold: int = Field(5, ge=1, le=1000)
    breaker_cool_down: float = Field(10.0, gt=0, le=3600)

    # Airtel Money Africa Open API (https://developers.airtel.africa/documentation).
    airtel_base_url: str = Field("https://openapiuat.airtel.africa", pattern=r"^https?://")
    airtel_client_id: str = "sandbox-client"
    airtel_client_secret: str = "sandbox-secret"  # noqa: S105 - the simulator's public value
    airtel_pin: str | None = Field(None, pattern=r"^[0-9]{4}$")  # disbursement wallet PIN
    airtel_public_key_file: str | None = None  # Airtel's RSA key for the PIN (PEM or Base64 DER)
    airtel_callback_key: str | None = None  # when set, callbacks must carry a matching hash

    # PesaLink through a participant bank's API (e.g. Jenga, https://developer.jengahq.io).
    pesalink_base_url: str = Field("https://uat.pesalink.example", pattern=r"^https?://")
    pesalink_api_key: str = "sandbox-api-key"
    pesalink_merchant_code: str = "0000000000"
    pesalink_consumer_secret: str = "sandbox-secret"  # noqa: S105 - the simulator's public value
    pesalink_signing_key_file: str | None = None  # our RSA private key (PEM)
    pesalink_source_account: str = "0011547896523"
    pesalink_source_name: str = "Kenya Switch Ltd"

    # SACCOs: the registry file (JSON list), the file-integration folders, and how often the
    # outbox is flushed and result files are read.
    sacco_registry_file: str | None = None
    sacco_outbox_dir: str = "./var/sacco"
    sacco_flush_interval: float = Field(5.0, gt=0)
    # Providers added through the registry (SWITCH_PROVIDER_MODULES): each one's API base URL,
    # by provider name (JSON); sandbox mode fills it with their simulators' addresses.
    provider_urls: dict[str, str] = Field(default_factory=dict)
    # Reconciliation (api/recon.py): seconds between scheduled M-Pesa Pull Transactions pulls and
    # runs (0: only on demand), and the MSISDN on the shortcodes' KYC that Pull registration names.
    recon_pull_interval: float = Field(3600.0, ge=0)
    mpesa_pull_nominated_number: str = Field("254722000000", pattern=r"^(254|0)[0-9]{9}$")

    # Personal data at rest (switch/pii.py): master keys by id (Base64 of 32 bytes) and the one
    # that wraps new data keys. Unset: a key is made once and kept in the database (fine for a
    # sandbox, NOT for production, where the master key must live outside MongoDB).
    master_keys: dict[str, str] = Field(default_factory=dict)
    master_key_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")

    fees: dict[str, Fee] = Field(default_factory=default_fees)

    # KYC, AML and sanctions (switch/compliance.py, actors/compliance.py). ``sandbox`` is set by
    # ``serve --sandbox``: KYC-pending merchants may move (simulated) money, and without a
    # configured list the sample sanctions list is screened. Amounts in whole shillings; the
    # defaults are the mobile-money caps (switch/security/aml.py).
    sandbox: bool = False
    sanctions_list_file: str | None = None
    sanctions_threshold: float = Field(0.85, ge=0.5, le=1.0)
    aml_transaction_max: int = Field(250_000, ge=1)
    aml_phone_daily_max: int = Field(500_000, ge=1)
    aml_merchant_daily_max: int | None = Field(None, ge=1)
    aml_velocity_count: int = Field(10, ge=1)  # payments per phone within the window, then hold
    aml_velocity_window: int = Field(3600, ge=1, le=86400)
    aml_hold_above: int | None = Field(None, ge=1)
    review_two_approvers_from: int = Field(100_000, ge=1)

    stk_query_after: float = Field(60.0, gt=0)
    stk_expire_after: float = Field(300.0, gt=0)
    sweep_interval: float = Field(5.0, gt=0)
    # The longest wait between two asks about one payment: unanswered asks back off up to this
    # (a payout whose result never comes is still asked about every ten minutes).
    sweep_max_gap: float = Field(600.0, gt=0)

    webhook_timeout: float = Field(5.0, gt=0, le=60)
    webhook_retry_base: float = Field(2.0, gt=0)
    webhook_retry_max: float = Field(3600.0, gt=0)
    webhook_max_attempts: int = Field(15, ge=1, le=100)

    sim_host: str = "127.0.0.1"
    sim_port: int = Field(9100, ge=0, le=65535)
    sim_callback_delay: float = Field(1.0, ge=0)

    # --- Security platform (issue 6; docs/security-platform.md) --------------------------------
    # Rate limits (GCRA; Redis when REDIS_URL is set). Units per second, a payment or payout
    # costs 2 units (infra.ratelimit.ENDPOINT_COSTS): the defaults let one client send
    # ~1,000 payments/s, far above the bench's ~500/s per merchant.
    rate_limits: bool = True
    rate_client_per_s: float = Field(2000.0, gt=0)
    rate_client_burst: int = Field(4000, ge=1)
    rate_merchant_per_s: float = Field(4000.0, gt=0)
    rate_merchant_burst: int = Field(8000, ge=1)
    # Before a token exists (POST /v1/oauth/token, /v1/auth/login): per caller address.
    rate_preauth_per_s: float = Field(20.0, gt=0)
    rate_preauth_burst: int = Field(200, ge=1)
    # Sign-ups (POST /v1/users: a new organisation, or joining one) per caller address: each
    # costs a scrypt hash and may create a merchant.
    rate_signup_per_hour: float = Field(20.0, gt=0)
    rate_signup_burst: int = Field(5, ge=1)
    # STK/USSD prompts per customer phone, so nobody can spam a handset.
    rate_prompts_per_minute: float = Field(3.0, gt=0)
    rate_prompts_burst: int = Field(3, ge=1)
    # TLS serving (both files, PEM) and HSTS (max-age seconds; 0 = no header).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    hsts_max_age: int = Field(31_536_000, ge=0)
    # Addresses, comma-separated CIDR blocks: reverse proxies whose X-Forwarded-For is believed,
    # and per provider, who may call its callbacks (empty: anyone; the token still decides).
    trusted_proxies: str = ""
    callback_allowlist_mpesa: str = ""
    callback_allowlist_airtel: str = ""
    callback_allowlist_pesalink: str = ""
    # Webhooks to private, loopback or metadata addresses (SSRF); sandbox mode turns it on.
    webhook_allow_private: bool = False
    # Request headers: bytes per line/field, and how many.
    max_header_bytes: int = Field(8190, ge=1024, le=65536)
    max_headers: int = Field(100, ge=10, le=1000)

    @field_validator(
        "trusted_proxies",
        "callback_allowlist_mpesa",
        "callback_allowlist_airtel",
        "callback_allowlist_pesalink",
    )
    @classmethod
    def _cidr_list(cls, value: str) -> str:
        from switch.netguard import parse_networks

        parse_networks(value)  # ValueError names the bad entry
        return value

    # --- end of the security platform block ----------------------------------------------------


# Variable names that do not follow the SWITCH_<FIELD> rule.
_ALIASES = {"mongodb_uri": "MONGODB_URI", "redis_url": "REDIS_URL", "ray_address": "RAY_ADDRESS"}
_JSON_FIELDS = {"fees", "master_keys", "provider_urls"}
_SECRET_FIELDS = {
    "secret_key",
    "mpesa_consumer_secret",
    "mpesa_passkey",
    "mpesa_initiator_password",
    "mongodb_uri",
    "master_keys",
    "airtel_client_secret",
    "airtel_pin",
    "airtel_callback_key",
    "pesalink_api_key",
    "pesalink_consumer_secret",
}


def env_name(field: str) -> str:
    return _ALIASES.get(field, f"SWITCH_{field.upper()}")


def from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment; explicit overrides (command-line flags) win."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in Settings.model_fields:
        raw = env.get(env_name(field))
        if raw is not None and raw != "":
            values[field] = _json(field, raw) if field in _JSON_FIELDS else raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _json(field: str, raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{env_name(field)}: must be JSON ({exc})") from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "?"
        shown = "" if field in _SECRET_FIELDS else f" (got {err.get('input')!r})"
        lines.append(f"{env_name(field)}: {err['msg']}{shown}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
