"""Which Redis ``serve``/``demo`` use: REDIS_URL, else the local default if it answers."""

from __future__ import annotations

import logging
import socket

import pytest

from infra.live import DEFAULT_REDIS_URL, redis_answers, resolve_redis_url


async def test_configured_url_is_used_as_given_without_probing() -> None:
    probed: list[str] = []

    async def answers(url: str) -> bool:
        probed.append(url)
        return False

    assert await resolve_redis_url("redis://cache:6379/1", answers) == "redis://cache:6379/1"
    assert probed == []


async def test_unset_uses_the_local_default_when_it_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def answers(url: str) -> bool:
        return url == DEFAULT_REDIS_URL

    with caplog.at_level(logging.INFO, logger="infra.live"):
        assert await resolve_redis_url(None, answers) == DEFAULT_REDIS_URL
    assert DEFAULT_REDIS_URL in caplog.text


async def test_unset_and_no_redis_falls_back_in_process_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def answers(url: str) -> bool:
        return False

    with caplog.at_level(logging.WARNING, logger="infra.live"):
        assert await resolve_redis_url(None, answers) is None
    assert "/v1/events answers 501" in caplog.text


async def test_probe_is_false_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        assert await redis_answers(f"redis://127.0.0.1:{port}/0", wait_s=0.3) is False
