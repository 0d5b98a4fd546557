"""People: sign-up (a new organisation and its owner, or joining one by invitation), login with
lock-out and TOTP, session tokens, profile, password change, TOTP enrolment. This module holds
the rules (pure); the flows against MongoDB are in :mod:`infra.users`.

Errors (all :class:`~switch.errors.ClientError`, so the api's error middleware answers them)::

    InvalidCredentials 401 invalid_credentials  wrong email, password or code: one message for all
    TotpRequired       401 totp_required        right password, the account needs its TOTP code
    Forbidden          403 forbidden
    Conflict           409 (code given)         email taken, invitation used, TOTP already on
    LockedOut          429 too_many_attempts    5 failures in 15 minutes: locked for 15 minutes

Lock-out is counted per email address whether or not an account has it (in ``login_attempts``,
keyed by an HMAC of the address), so neither the answers nor the lock reveal which addresses
exist; an unknown address costs the same scrypt verification as a known one. Each attempt is
reserved before its password is checked, by one atomic update that succeeds only while the
address is not locked and has fewer than :data:`MAX_FAILURES` attempts in the window
(:func:`reserve_filter`); so concurrent guesses, in any number of api processes, check at most
:data:`MAX_FAILURES` passwords before the lock. A failure keeps its reservation; a success
clears them all; an answer that checked nothing decisive (a code still needed) gives it back.

Sign-up looks for the address before the scrypt hash, so a taken address costs no hashing (the
unique index still decides a race).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from switch.errors import ClientError, ValidationFailed
from switch.payments import iso
from switch.roles import role_scope
from switch.tokens import mint

log = logging.getLogger(__name__)
Doc = dict[str, Any]

SESSION_TTL = 900  # 15 minutes: a person signs in again; software uses API clients
MAX_FAILURES = 5
FAILURE_WINDOW = 900.0
LOCK_FOR = 900.0
INVITATION_TTL = timedelta(days=7)
ISSUER = "Kenya Switch"
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,252}\.[A-Za-z]{2,63}$")


class InvalidCredentials(ClientError, status=401, code="invalid_credentials"):
    """The email, password or code is wrong (which one is not said)."""


class TotpRequired(ClientError, status=401, code="totp_required"):
    """The password was right; the account asks for its one-time code too."""


class Forbidden(ClientError, status=403, code="forbidden"):
    """Signed in, but not allowed to do this."""


class Conflict(ClientError, status=409, code="conflict"):
    """Taken already (an email, a name); ``code`` says which rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LockedOut(ClientError, status=429, code="too_many_attempts"):
    """Too many failed sign-ins; ``retry_after`` seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            f"too many failed sign-in attempts; try again in about {minutes} minute(s)"
        )
        self.retry_after = max(1, int(retry_after + 0.999))


WRONG = "the email, password or code is wrong"


# --- pure rules ------------------------------------------------------------------------------


def normalise_email(text: str) -> str | None:
    email = text.strip().lower()
    return email if len(email) <= 254 and _EMAIL.match(email) else None


def reserve_filter(key: str, now: float) -> Doc:
    """Matches the address's attempts document only while another attempt may start: not
    locked, and fewer than MAX_FAILURES attempts (reserved or failed) in the window; attempts
    older than the window are pulled out first. With ``upsert`` a first attempt inserts it, and
    a refused one collides with the existing document (DuplicateKeyError). Pure."""
    return {
        "_id": key,
        "locked_until": {"$not": {"$gt": now}},
        f"attempts.{MAX_FAILURES - 1}": {"$exists": False},
    }


def lock_after_failure(attempts: list[Doc], now: float) -> float | None:
    """The lock's end when the attempts in the window (this failed one among them) reach the
    limit; None otherwise. Pure."""
    recent = [a for a in attempts if float(a.get("at", 0)) > now - FAILURE_WINDOW]
    return now + LOCK_FOR if len(recent) >= MAX_FAILURES else None


def wait_of_refusal(doc: Doc | None, now: float) -> float:
    """How long a refused reservation should wait: the lock's rest, else until the oldest attempt
    in the window leaves it (attempts still being checked fill the window). Pure."""
    doc = doc or {}
    until = float(doc.get("locked_until") or 0)
    if until > now:
        return until - now
    times = [float(a.get("at", now)) for a in doc.get("attempts", [])]
    if not times:  # a success cleared them meanwhile: try again at once
        return 1.0
    return max(1.0, min(LOCK_FOR, min(times) + FAILURE_WINDOW - now))


def attempt_key(secret_key: bytes, email: str) -> str:
    return hmac.new(secret_key, b"login:" + email.encode(), hashlib.sha256).hexdigest()


def invitation_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_user(doc: Doc, organisation: Doc | None = None) -> Doc:
    body = {
        "id": doc["_id"],
        "object": "user",
        "email": doc["email"],
        "name": doc["name"],
        "role": doc["role"],
        "merchant_id": doc["merchant_id"],
        "totp_enabled": bool(doc.get("totp", {}).get("enabled")),
        "created_at": iso(doc["created_at"]),
    }
    if organisation is not None:
        body["organisation"] = {
            "id": organisation["_id"],
            "name": organisation["name"],
            "kyc_status": organisation.get("kyc_status", "pending"),
        }
    return body


def problems_as_details(field: str, problems: list[str]) -> None:
    if problems:
        raise ValidationFailed(
            "the request has invalid fields", [{"field": field, "reason": p} for p in problems]
        )


def email_or_fail(text: str, field: str = "email") -> str:
    email = normalise_email(text)
    if email is None:
        raise ValidationFailed(
            "the request has invalid fields", [{"field": field, "reason": "not an email address"}]
        )
    return email


# --- sessions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    token: str
    user: Doc
    scope: str
    mfa: bool
    gen: int

    def as_body(self) -> Doc:
        return {
            "access_token": self.token,
            "token_type": "Bearer",
            "expires_in": SESSION_TTL,
            "scope": self.scope,
            "role": self.user["role"],
            "mfa": self.mfa,
            "user_id": self.user["_id"],
            "merchant_id": self.user["merchant_id"],
        }


def session_for(key: bytes, user: Doc, gen: int, mfa: bool, now: float) -> Session:
    scope = role_scope(user["role"])
    token = mint(
        key,
        user["merchant_id"],
        user["_id"],
        scope,
        int(now) + SESSION_TTL,
        kind="session",
        gen=gen,
        role=user["role"],
        mfa=mfa,
    )
    return Session(token, user, scope, mfa, gen)
