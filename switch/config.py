"""Typed configuration from the environment, validated once at start-up.

Every setting has one environment variable; a bad value stops the command with a message that
names the variable and says what it must be. Secrets are never echoed back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switch.errors import ConfigError
from switch.fees import Fee
from switch.providers import CallerNetworks, providers
from switch.rails import default_fees


class CoreSettings(BaseModel):
    """The switch's own settings; each provider adds its own (``ProviderSpec.settings``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mongodb_uri: str | None = None
    mongodb_db: str = Field("switch", pattern=r"^[A-Za-z0-9_-]{1,60}$")
    redis_url: str | None = None
    ray_address: str | None = None
    ray_namespace: str = Field("switch", pattern=r"^[A-Za-z0-9_-]{1,60}$")
    # A custom Ray resource the shard actors need one unit of: on a cluster, only the nodes
    # started with it (``ray start --resources '{"NAME": 64}'``) take shards. Unset: anywhere.
    shard_resource: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,59}$")
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

    payout_not_found_after: float = Field(600.0, gt=0)
    reversal_window_days: float = Field(7.0, gt=0, le=365)
    provider_timeout: float = Field(10.0, gt=0, le=120)
    provider_concurrency: int = Field(64, ge=1, le=4096)
    provider_retries: int = Field(3, ge=0, le=10)
    breaker_threshold: int = Field(5, ge=1, le=1000)
    breaker_cool_down: float = Field(10.0, gt=0, le=3600)

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
    # Outside sandbox mode ``serve`` refuses placeholder credentials, simulator keys and keys kept
    # in the database (switch/failclosed.py); true starts anyway, each logged as a warning: only
    # for tests that run plain ``serve`` against the simulators.
    allow_sandbox_settings: bool = False
    sanctions_list_file: str | None = None
    sanctions_threshold: float = Field(0.85, ge=0.5, le=1.0)
    aml_transaction_max: int = Field(250_000, ge=1)
    aml_phone_daily_max: int = Field(500_000, ge=1)
    aml_merchant_daily_max: int | None = Field(None, ge=1)
    aml_velocity_count: int = Field(10, ge=1)  # payments per phone within the window, then hold
    aml_velocity_window: int = Field(3600, ge=1, le=86400)
    aml_hold_above: int | None = Field(None, ge=1)
    review_two_approvers_from: int = Field(100_000, ge=1)

    # Settlement of balances to nominated accounts (switch/settlement.py): how long a newly
    # confirmed account waits before it is paid, how often the scheduler looks, and the
    # operator's reserve floor (whole shillings, basis points of the last N days' collections).
    settlement_cooling_off: float = Field(86_400.0, ge=0)
    settlement_interval: float = Field(30.0, gt=0)
    # Interoperability hub (switch/hub/, actors/hub/): how often the position actor expires
    # unanswered reservations, the longest a payer may give a transfer to be answered (and the
    # default), and the scheme fee a quote shows (basis points plus a fixed part, in cents).
    hub_sweep_interval: float = Field(1.0, gt=0)
    hub_transfer_ttl: float = Field(60.0, gt=0, le=86_400)
    hub_fee_bps: int = Field(0, ge=0, le=1_000)
    hub_fee_fixed: int = Field(0, ge=0)
    # Settlement windows (switch/hub/windows.py): Nairobi close times ("10:00,14:00") and/or
    # every N minutes from 07:00 on business days, always ending at 18:30 (before the 19:00
    # KEPSS cut-off); neither set: windows close only by hand. How often the scheduler looks.
    hub_window_times: str = Field("", max_length=500)
    hub_window_every_minutes: int = Field(0, ge=0, le=720)
    hub_window_check_interval: float = Field(30.0, gt=0)
    # Gross immediate settlement (switch/hub/ledger.py gross()): a transfer of at least this many
    # whole shillings settles on its own at commit instead of in a window's net; 0 turns it off.
    # KES 1,000,000 is the older CBK rule sending such payments to the RTGS (unverified).
    hub_gross_from: int = Field(1_000_000, ge=0)
    # The switch as a hub participant (switch/hub/reach.py): a bank's transfer to a wallet or
    # SACCO member is paid out by the switch and committed when the payout succeeded. Its
    # reservation must outlive any payout's recovery (a payout never expires: money may have
    # moved), so it expires only after this long; the driver looks for unfinished ones this often.
    hub_switch_payee_ttl: float = Field(7 * 86_400.0, gt=0)
    hub_switch_check_interval: float = Field(5.0, gt=0)
    hub_switch_bank_code: str = Field("", pattern=r"^([0-9]{2,4})?$")
    settlement_scheduler: bool = True  # run the scheduler loop in this api process
    settlement_reserve_fixed: int = Field(0, ge=0)
    settlement_reserve_bps: int = Field(0, ge=0, le=10_000)
    settlement_reserve_days: int = Field(7, ge=1, le=90)

    stk_query_after: float = Field(60.0, gt=0)
    stk_expire_after: float = Field(300.0, gt=0)
    sweep_interval: float = Field(5.0, gt=0)
    # How often a running payout batch reads its items' states (actors/batches.py).
    batch_poll_interval: float = Field(1.0, gt=0)
    # The longest wait between two asks about one payment: unanswered asks back off up to this
    # (a payout whose result never comes is still asked about every ten minutes).
    sweep_max_gap: float = Field(600.0, gt=0)

    webhook_timeout: float = Field(5.0, gt=0, le=60)
    webhook_retry_base: float = Field(2.0, gt=0)
    webhook_retry_max: float = Field(3600.0, gt=0)
    webhook_max_attempts: int = Field(15, ge=1, le=100)
    # Webhook endpoints (switch/webhooks.py): an endpoint failing every delivery this long is
    # disabled; shards re-read endpoints this often (seconds).
    webhook_disable_after: float = Field(3 * 86400.0, gt=0)
    webhook_endpoint_cache: float = Field(60.0, ge=0, le=3600)

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
    # CA certificates (PEM) that client certificates must chain to: set, the api asks every
    # client for one (optional for clients not bound to a certificate; RFC 8705 mutual TLS).
    tls_client_ca_file: str | None = None
    hsts_max_age: int = Field(31_536_000, ge=0)
    # Addresses, comma-separated CIDR blocks: reverse proxies whose X-Forwarded-For is believed
    # (who may call a provider's callbacks is its own ``callback_allowlist_<name>`` setting).
    trusted_proxies: CallerNetworks = ""
    # Webhooks to private, loopback or metadata addresses (SSRF); sandbox mode turns it on.
    webhook_allow_private: bool = False
    # Request headers: bytes per line/field, and how many.
    max_header_bytes: int = Field(8190, ge=1024, le=65536)
    max_headers: int = Field(100, ge=10, le=1000)

    # --- end of the security platform block ----------------------------------------------------


# Every provider's settings (switch/providers.py), one model each: their fields join the switch's
# own, with the same SWITCH_<FIELD> rule. The type checker sees them through ``__getattr__``.
_PROVIDER_SETTINGS: tuple[type[BaseModel], ...] = tuple(
    spec.settings for spec in providers() if spec.settings is not None
)

if TYPE_CHECKING:

    class Settings(CoreSettings):
        def __getattr__(self, name: str) -> Any: ...

else:

    class Settings(CoreSettings, *_PROVIDER_SETTINGS):
        model_config = ConfigDict(frozen=True, extra="forbid")


# Variable names that do not follow the SWITCH_<FIELD> rule.
_ALIASES = {"mongodb_uri": "MONGODB_URI", "redis_url": "REDIS_URL", "ray_address": "RAY_ADDRESS"}
_JSON_FIELDS = {"fees", "master_keys", "provider_urls"}
_SECRET_FIELDS = {"secret_key", "mongodb_uri", "master_keys"}.union(
    *(getattr(model, "secret_fields", frozenset()) for model in _PROVIDER_SETTINGS)
)


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
