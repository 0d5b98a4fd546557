"""RFC 6238 TOTP: the RFC's own test vectors, drift, replay, URI and sealing."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest

from switch import totp

# RFC 6238 Appendix B: the seeds are the ASCII strings below; 8-digit codes.
SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize(("t", "sha1", "sha256", "sha512"), VECTORS)
def test_rfc6238_vectors(t: int, sha1: str, sha256: str, sha512: str) -> None:
    step = totp.step_at(t)
    assert totp.hotp(SEEDS["SHA1"], step, 8, "SHA1") == sha1
    assert totp.hotp(SEEDS["SHA256"], step, 8, "SHA256") == sha256
    assert totp.hotp(SEEDS["SHA512"], step, 8, "SHA512") == sha512


def test_six_digit_code_is_the_low_digits_of_the_rfc_value() -> None:
    import base64

    secret = base64.b32encode(SEEDS["SHA1"]).decode()
    assert totp.code_at(secret, 59) == "287082"
    assert totp.code_at(secret, 1111111109) == "081804"


def test_match_accepts_one_step_of_drift_and_no_more() -> None:
    secret = totp.new_secret()
    now = 1_800_000_015.0
    for offset, ok in ((-60, False), (-30, True), (0, True), (30, True), (60, False)):
        code = totp.code_at(secret, now + offset)
        assert (totp.match(secret, code, now, None) is not None) is ok, offset


def test_a_used_code_and_older_ones_are_refused() -> None:
    secret = totp.new_secret()
    now = 1_800_000_015.0
    step = totp.match(secret, totp.code_at(secret, now), now, None)
    assert step == totp.step_at(now)
    assert totp.match(secret, totp.code_at(secret, now), now, step) is None
    assert totp.match(secret, totp.code_at(secret, now - 30), now, step) is None
    assert totp.match(secret, totp.code_at(secret, now + 30), now, step) == step + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 345"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert totp.match(totp.new_secret(), code, 1_800_000_000.0, None) is None


def test_secret_is_160_bits_of_base32() -> None:
    secret = totp.new_secret()
    assert len(totp.secret_bytes(secret)) == 20
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)


def test_otpauth_uri() -> None:
    uri = totp.otpauth_uri("JBSWY3DPEHPK3PXP", "jane@duka.co.ke", "Kenya Switch")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert parsed.path == "/Kenya%20Switch:jane@duka.co.ke"
    query = parse_qs(parsed.query)
    assert query["secret"] == ["JBSWY3DPEHPK3PXP"]
    assert query["issuer"] == ["Kenya Switch"]
    assert (query["digits"], query["period"], query["algorithm"]) == (["6"], ["30"], ["SHA1"])


def test_sealed_secret_opens_only_for_its_user_and_key() -> None:
    key = b"k" * 32
    sealed = totp.seal(key, "JBSWY3DPEHPK3PXP", "usr_1")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert totp.unseal(key, sealed, "usr_1") == "JBSWY3DPEHPK3PXP"
    assert totp.unseal(key, sealed, "usr_2") is None
    assert totp.unseal(b"j" * 32, sealed, "usr_1") is None
    assert totp.unseal(key, "garbage", "usr_1") is None
    assert totp.unseal(key, "v1$!!!", "usr_1") is None
