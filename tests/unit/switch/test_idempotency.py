"""Idempotency: request hashing, the decision and the key check."""

from __future__ import annotations

import pytest

from switch.idempotency import (
    MAX_KEY_LENGTH,
    Decision,
    check_key,
    decide,
    request_hash,
    scoped_key,
)


def test_request_hash_ignores_key_order() -> None:
    a = {"amount": "150", "phone": "254712345678", "metadata": {"x": 1, "y": 2}}
    b = {"metadata": {"y": 2, "x": 1}, "phone": "254712345678", "amount": "150"}
    assert request_hash(a) == request_hash(b)


def test_request_hash_is_sha256_hex() -> None:
    h = request_hash({"a": 1})
    assert len(h) == 64
    assert int(h, 16) >= 0


def test_request_hash_changes_with_a_value() -> None:
    assert request_hash({"amount": "150"}) != request_hash({"amount": "151"})


def test_scoped_key() -> None:
    assert scoped_key("mch_1", "abc") == "mch_1:abc"


@pytest.mark.parametrize(
    ("stored", "incoming", "decision"),
    [
        (None, "h1", Decision.NEW),
        ("h1", "h1", Decision.REPLAY),
        ("h1", "h2", Decision.CONFLICT),
    ],
)
def test_decide(stored: str | None, incoming: str, decision: Decision) -> None:
    assert decide(stored, incoming) is decision


@pytest.mark.parametrize("key", [None, ""])
def test_check_key_missing(key: str | None) -> None:
    assert check_key(key) == "the Idempotency-Key header is required for this request"


def test_check_key_too_long() -> None:
    assert check_key("k" * MAX_KEY_LENGTH) is None
    assert check_key("k" * (MAX_KEY_LENGTH + 1)) == (
        "the Idempotency-Key header must be at most 255 characters"
    )


@pytest.mark.parametrize("key", ["clé-1", "key\n", "key\x00", "ключ"])
def test_check_key_not_printable_ascii(key: str) -> None:
    assert check_key(key) == "the Idempotency-Key header must be printable ASCII"


@pytest.mark.parametrize("key", ["order-1001", "3f2b9c1e-8d4a-4c55-a1f0-7e2d5c9b8a10", "a b"])
def test_check_key_fine(key: str) -> None:
    assert check_key(key) is None
