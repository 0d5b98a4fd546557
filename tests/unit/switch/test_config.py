"""Typed configuration from a dict environment."""

from __future__ import annotations

import pytest

from connectors.mpesa.settings import SANDBOX_SHORTCODE
from switch.config import env_name, from_env
from switch.errors import ConfigError


def test_defaults() -> None:
    s = from_env({})
    assert s.shards == 2
    assert s.port == 8080
    assert s.host == "127.0.0.1"
    assert s.mongodb_uri is None
    assert s.redis_url is None
    assert s.secret_key is None
    assert s.mongodb_db == "switch"
    assert s.mpesa_shortcode == SANDBOX_SHORTCODE
    assert s.provider_retries == 3
    assert s.webhook_max_attempts == 15
    assert s.log_level == "INFO"


def test_env_values_are_read_and_typed() -> None:
    s = from_env(
        {
            "SWITCH_SHARDS": "8",
            "SWITCH_BATCH_DELAY_MS": "0.5",
            "MONGODB_URI": "mongodb://u:p@db:27017",
            "REDIS_URL": "redis://cache:6379/0",
            "SWITCH_LOG_LEVEL": "DEBUG",
        }
    )
    assert s.shards == 8
    assert s.batch_delay_ms == 0.5
    assert s.mongodb_uri == "mongodb://u:p@db:27017"
    assert s.redis_url == "redis://cache:6379/0"
    assert s.log_level == "DEBUG"


def test_empty_values_mean_unset() -> None:
    assert from_env({"SWITCH_SHARDS": ""}).shards == 2


def test_env_names() -> None:
    assert env_name("shards") == "SWITCH_SHARDS"
    assert env_name("mongodb_uri") == "MONGODB_URI"
    assert env_name("redis_url") == "REDIS_URL"
    assert env_name("ray_address") == "RAY_ADDRESS"


@pytest.mark.parametrize("value", ["0", "abc", "257", "-1"])
def test_bad_shards_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        from_env({"SWITCH_SHARDS": value})
    message = str(info.value)
    assert message.startswith("invalid configuration:")
    assert "SWITCH_SHARDS: " in message
    assert repr(value) in message  # not a secret, so the value is shown


def test_several_errors_are_all_named() -> None:
    with pytest.raises(ConfigError) as info:
        from_env({"SWITCH_SHARDS": "0", "SWITCH_PORT": "70000"})
    assert "SWITCH_SHARDS" in str(info.value)
    assert "SWITCH_PORT" in str(info.value)


def test_secret_value_is_never_echoed() -> None:
    secret = "short-secret-XYZ"
    with pytest.raises(ConfigError) as info:
        from_env({"SWITCH_SECRET_KEY": secret})
    message = str(info.value)
    assert "SWITCH_SECRET_KEY" in message
    assert secret not in message
    assert "got" not in message


def test_long_enough_secret_is_accepted() -> None:
    assert from_env({"SWITCH_SECRET_KEY": "s" * 32}).secret_key == "s" * 32


def test_overrides_win_over_env() -> None:
    s = from_env({"SWITCH_PORT": "9000", "SWITCH_SHARDS": "4"}, port=9001)
    assert s.port == 9001
    assert s.shards == 4


def test_none_overrides_are_ignored() -> None:
    assert from_env({"SWITCH_PORT": "9000"}, port=None).port == 9000


def test_bad_override_is_reported_like_the_variable() -> None:
    with pytest.raises(ConfigError, match="SWITCH_SHARDS"):
        from_env({}, shards=0)
