"""scrypt password hashes and the rules for new passwords."""

from __future__ import annotations

import pytest

from switch.passwords import (
    CURRENT,
    DUMMY_HASH,
    Params,
    hash_password,
    needs_rehash,
    password_problems,
    verify_password,
)

FAST = Params(log_n=10, r=8, p=1)  # cheap parameters for the tests that do not test the cost


def test_hash_has_phc_like_shape_with_the_current_parameters() -> None:
    stored = hash_password("Correct horse 9")
    scheme, params, salt, digest = stored.split("$")
    assert (scheme, params) == ("scrypt", "ln=15,r=8,p=1")
    assert len(salt) == 22  # 16 bytes, base64 without padding
    assert len(digest) == 43  # 32 bytes
    assert verify_password("Correct horse 9", stored)
    assert not verify_password("Correct horse 8", stored)


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same password 1", FAST) != hash_password("same password 1", FAST)


def test_verify_uses_the_stored_parameters_and_rehash_is_asked_when_they_change() -> None:
    old = hash_password("an old password 1", FAST)
    assert old.split("$")[1] == "ln=10,r=8,p=1"
    assert verify_password("an old password 1", old)
    assert needs_rehash(old)
    assert not needs_rehash(hash_password("a new password 1", CURRENT))


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "scrypt",
        "bcrypt$ln=10,r=8,p=1$AAAA$AAAA",
        "scrypt$ln=x$AAAA$AAAA",
        "scrypt$ln=40,r=8,p=1$AAAA$AAAA",
        "scrypt$ln=10,r=8,p=1$!!$AAAA",
    ],
)
def test_malformed_stored_values_never_match(stored: str) -> None:
    assert not verify_password("anything at all 1", stored)
    assert needs_rehash(stored)


def test_the_dummy_hash_is_well_formed_and_matches_nothing() -> None:
    assert not needs_rehash(DUMMY_HASH)
    assert not verify_password("", DUMMY_HASH)
    assert not verify_password("password", DUMMY_HASH)


def test_overlong_passwords_are_refused_without_hashing() -> None:
    stored = hash_password("x" * 300, FAST)
    assert not verify_password("x" * 300, stored)


@pytest.mark.parametrize(
    ("password", "email", "fragment"),
    [
        ("Short1!", "", "at least 12"),
        ("alllowercaseletters", "", "mix"),
        ("123456789012345", "", "mix"),
        ("jane.doe@duka.co.ke", "Jane.Doe@duka.co.ke", "email"),
        ("my jane.doe password", "jane.doe@duka.co.ke", "email"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, email: str, fragment: str) -> None:
    problems = password_problems(password, email)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    "password", ["correct horse battery", "Tr0ub4dor&3xx", "CorrectHorseBattery"]
)
def test_good_passwords_pass(password: str) -> None:
    assert password_problems(password, "jane@duka.co.ke") == []
