"""Standard Webhooks signing, callback tokens and client-secret hashes."""

from __future__ import annotations

import pytest

from switch.signing import (
    WEBHOOK_TOLERANCE_S,
    callback_token,
    check_client_secret,
    hash_client_secret,
    new_webhook_secret,
    verify_callback_token,
    verify_webhook,
    webhook_headers,
    webhook_signature,
)

# The published test vector of the standard-webhooks libraries.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

KEY = b"k" * 32


def headers(signature: str = SIGNATURE, stamp: int = STAMP) -> dict[str, str]:
    return {"webhook-id": MSG_ID, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_standard_webhooks_vector() -> None:
    assert webhook_signature(SECRET, MSG_ID, STAMP, BODY) == SIGNATURE


def test_webhook_headers() -> None:
    assert webhook_headers(SECRET, MSG_ID, STAMP, BODY) == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": SIGNATURE,
        "content-type": "application/json",
    }


def test_verify_accepts_the_vector_at_its_time() -> None:
    assert verify_webhook(SECRET, headers(), BODY, now=STAMP) is True


def test_verify_accepts_within_tolerance() -> None:
    assert verify_webhook(SECRET, headers(), BODY, now=STAMP + WEBHOOK_TOLERANCE_S) is True
    assert verify_webhook(SECRET, headers(), BODY, now=STAMP - WEBHOOK_TOLERANCE_S) is True


def test_verify_rejects_changed_body() -> None:
    assert verify_webhook(SECRET, headers(), b'{"test": 2432232315}', now=STAMP) is False


def test_verify_rejects_another_secret() -> None:
    other = new_webhook_secret()
    assert other.startswith("whsec_")
    assert verify_webhook(other, headers(), BODY, now=STAMP) is False


@pytest.mark.parametrize("offset", [WEBHOOK_TOLERANCE_S + 1, -(WEBHOOK_TOLERANCE_S + 1), 3600])
def test_verify_rejects_stale_or_future_timestamp(offset: int) -> None:
    assert verify_webhook(SECRET, headers(), BODY, now=STAMP + offset) is False


def test_verify_rejects_a_resigned_timestamp_mismatch() -> None:
    # The signature covers the timestamp: moving the header alone breaks it.
    assert verify_webhook(SECRET, headers(stamp=STAMP + 1), BODY, now=STAMP) is False


def test_verify_accepts_one_matching_among_several_signatures() -> None:
    sigs = f"v1,bm90IHRoZSBzaWduYXR1cmU= {SIGNATURE} v1a,ignored"
    assert verify_webhook(SECRET, headers(sigs), BODY, now=STAMP) is True


def test_verify_rejects_several_signatures_none_matching() -> None:
    sigs = "v1,bm90IHRoZSBzaWduYXR1cmU= v1,YW5vdGhlcg=="
    assert verify_webhook(SECRET, headers(sigs), BODY, now=STAMP) is False


@pytest.mark.parametrize(
    "bad",
    [
        {"webhook-timestamp": str(STAMP), "webhook-signature": SIGNATURE},
        {"webhook-id": MSG_ID, "webhook-signature": SIGNATURE},
        {"webhook-id": MSG_ID, "webhook-timestamp": "soon", "webhook-signature": SIGNATURE},
        {"webhook-id": MSG_ID, "webhook-timestamp": str(STAMP)},
    ],
)
def test_verify_rejects_missing_or_bad_headers(bad: dict[str, str]) -> None:
    assert verify_webhook(SECRET, bad, BODY, now=STAMP) is False


def test_verify_rejects_non_ascii_signature() -> None:
    assert verify_webhook(SECRET, headers("v1,é"), BODY, now=STAMP) is False


# --- callback tokens -----------------------------------------------------------------------------


def test_callback_token_verifies() -> None:
    token = callback_token(KEY, "pay_s1_ABC")
    assert len(token) == 24  # 18 bytes, url-safe base64
    assert token == callback_token(KEY, "pay_s1_ABC")
    assert verify_callback_token(KEY, "pay_s1_ABC", token) is True


def test_callback_token_tampered() -> None:
    token = callback_token(KEY, "pay_s1_ABC")
    flipped = ("A" if token[0] != "A" else "B") + token[1:]
    assert verify_callback_token(KEY, "pay_s1_ABC", flipped) is False
    assert verify_callback_token(KEY, "pay_s1_ABD", token) is False
    assert verify_callback_token(b"x" * 32, "pay_s1_ABC", token) is False
    assert verify_callback_token(KEY, "pay_s1_ABC", "") is False


def test_callback_token_non_ascii_is_refused_not_raised() -> None:
    assert verify_callback_token(KEY, "pay_s1_ABC", "é" * 24) is False


# --- client secrets ------------------------------------------------------------------------------


def test_client_secret_hash() -> None:
    stored = hash_client_secret("sec_abc")
    # sha256("sec_abc"), computed independently.
    assert stored == "sha256$d2001b0607f1728c7e5a787cfe8fa646a76da2967217363a3a46d540ba0b77c9"
    assert check_client_secret("sec_abc", stored) is True
    assert check_client_secret("sec_abd", stored) is False
    assert check_client_secret("sec_abc", "sha256$" + "0" * 64) is False
