"""People: sign-up (a new organisation and its owner, or joining one by invitation), login with
lock-out and TOTP, session tokens, profile, password change, TOTP enrolment.

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

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from infra.audit import AuditLog
from infra.storage.mongo import Collections
from switch import passwords, totp
from switch.clients import bump_generation, current_generation
from switch.errors import ClientError, NotFound, ValidationFailed
from switch.ids import new_id
from switch.payments import iso, now_utc
from switch.roles import INVITABLE, role_scope
from switch.signing import new_webhook_secret
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


class InvalidCredentials(ClientError):
    status = 401
    code = "invalid_credentials"


class TotpRequired(ClientError):
    status = 401
    code = "totp_required"


class Forbidden(ClientError):
    status = 403
    code = "forbidden"


class Conflict(ClientError):
    status = 409
    code = "conflict"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LockedOut(ClientError):
    status = 429
    code = "too_many_attempts"

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


def _problems_as_details(field: str, problems: list[str]) -> None:
    if problems:
        raise ValidationFailed(
            "the request has invalid fields", [{"field": field, "reason": p} for p in problems]
        )


def _email_or_fail(text: str, field: str = "email") -> str:
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


# --- sign-up and invitations -----------------------------------------------------------------


async def _new_user(
    cols: Collections, email: str, name: str, password: str, merchant_id: str, role: str
) -> Doc:
    _problems_as_details("password", passwords.password_problems(password, email))
    if await cols.users.find_one({"email": email}, {"_id": 1}) is not None:  # before scrypt
        raise Conflict("email_taken", "an account with this email already exists")
    doc = {
        "_id": new_id("usr"),
        "email": email,
        "name": name.strip(),
        "merchant_id": merchant_id,
        "role": role,
        "password_hash": await asyncio.to_thread(passwords.hash_password, password),
        "status": "active",
        "created_at": now_utc(),
    }
    try:
        await cols.users.insert_one(doc)
    except DuplicateKeyError:
        raise Conflict("email_taken", "an account with this email already exists") from None
    return doc


async def sign_up(
    cols: Collections, email: str, name: str, password: str, organisation: str
) -> tuple[Doc, Doc]:
    """A new merchant organisation in KYC state ``pending`` and its owner."""
    address = _email_or_fail(email)
    merchant: Doc = {
        "_id": new_id("mch"),
        "name": organisation.strip(),
        "webhook_url": None,
        "webhook_secret": new_webhook_secret(),
        "status": "active",
        "kyc_status": "pending",
        "created_at": now_utc(),
    }
    user = await _new_user(cols, address, name, password, merchant["_id"], "owner")
    await cols.merchants.insert_one(merchant)
    return user, merchant


async def invite(
    cols: Collections, merchant_id: str, inviter_role: str, email: str, role: str, by: str
) -> tuple[Doc, str]:
    """An invitation (stored under the hash of its token) and the token, shown once."""
    address = _email_or_fail(email)
    if role not in INVITABLE.get(inviter_role, frozenset()):
        raise Forbidden(f"a {inviter_role} cannot invite a {role}")
    token = "inv_" + secrets.token_urlsafe(24)
    doc = {
        "_id": invitation_hash(token),
        "id": new_id("inv"),
        "merchant_id": merchant_id,
        "email": address,
        "role": role,
        "status": "pending",
        "invited_by": by,
        "created_at": now_utc(),
        "expires_at": now_utc() + INVITATION_TTL,
    }
    await cols.invitations.insert_one(doc)
    return doc, token


async def join(
    cols: Collections, token: str, email: str, name: str, password: str
) -> tuple[Doc, Doc]:
    """Accept an invitation: the email must be the invited one; each invitation works once."""
    address = _email_or_fail(email)
    _problems_as_details("password", passwords.password_problems(password, address))
    refused = Conflict("invitation_invalid", "the invitation is unknown, used or expired")
    found = await cols.invitations.find_one({"_id": invitation_hash(token)})
    if (
        found is None
        or found["status"] != "pending"
        or found["email"] != address
        or found["expires_at"] <= now_utc()
    ):
        raise refused
    taken = await cols.invitations.update_one(
        {"_id": found["_id"], "status": "pending"},
        {"$set": {"status": "accepted", "accepted_at": now_utc()}},
    )
    if taken.modified_count != 1:
        raise refused
    try:
        user = await _new_user(cols, address, name, password, found["merchant_id"], found["role"])
    except Conflict:
        await cols.invitations.update_one(
            {"_id": found["_id"]}, {"$set": {"status": "pending"}, "$unset": {"accepted_at": 1}}
        )
        raise
    merchant = await cols.merchants.find_one({"_id": found["merchant_id"]}) or {
        "_id": found["merchant_id"],
        "name": "",
    }
    return user, merchant


# --- login -----------------------------------------------------------------------------------


async def _reserve(cols: Collections, key: str, now: float) -> str:
    """Reserve one attempt for the address (see the module docstring); its id. Raises LockedOut
    when it is locked or its window is full."""
    await cols.login_attempts.update_one(
        {"_id": key}, {"$pull": {"attempts": {"at": {"$lte": now - FAILURE_WINDOW}}}}
    )
    attempt = secrets.token_hex(8)
    try:
        await cols.login_attempts.update_one(
            reserve_filter(key, now),
            {"$push": {"attempts": {"at": now, "id": attempt}}},
            upsert=True,
        )
    except DuplicateKeyError:
        raise LockedOut(
            wait_of_refusal(await cols.login_attempts.find_one({"_id": key}), now)
        ) from None
    return attempt


async def _give_back(cols: Collections, key: str, attempt: str) -> None:
    await cols.login_attempts.update_one({"_id": key}, {"$pull": {"attempts": {"id": attempt}}})


async def _failed(cols: Collections, key: str, now: float) -> ClientError:
    """A reserved attempt failed: it stays counted; the lock when it reaches the limit."""
    doc = await cols.login_attempts.find_one({"_id": key}) or {}
    if float(doc.get("locked_until") or 0) > now:  # a concurrent failure locked it meanwhile
        return LockedOut(float(doc["locked_until"]) - now)
    locked_until = lock_after_failure(list(doc.get("attempts", [])), now)
    if locked_until is None:
        return InvalidCredentials(WRONG)
    await cols.login_attempts.update_one(
        {"_id": key}, {"$set": {"attempts": [], "locked_until": locked_until}}, upsert=True
    )
    return LockedOut(locked_until - now)


async def accept_code(cols: Collections, user_id: str, step: int) -> bool:
    """Record the step of an accepted code; False if it (or a later one) was already used, even
    by a concurrent request in another process."""
    done = await cols.users.update_one(
        {"_id": user_id, "totp.last_step": {"$not": {"$gte": step}}},
        {"$set": {"totp.last_step": step}},
    )
    return done.modified_count == 1


async def login(
    cols: Collections, key: bytes, email: str, password: str, code: str | None
) -> Session:
    now = time.time()
    address = normalise_email(email) or email.strip().lower()
    attempts = attempt_key(key, address)
    attempt = await _reserve(cols, attempts, now)
    user = await cols.users.find_one({"email": address})
    # The same reads and the same scrypt work whether or not the email exists.
    gen = await current_generation(cols, user["_id"] if user else "usr_unknown")
    stored = user["password_hash"] if user else passwords.DUMMY_HASH
    matches = await asyncio.to_thread(passwords.verify_password, password, stored)
    if user is None or not matches or user.get("status") != "active":
        raise await _failed(cols, attempts, now)
    second = user.get("totp", {})
    if second.get("enabled"):
        if not code:  # the password was right: this attempt guessed nothing, give it back
            await _give_back(cols, attempts, attempt)
            raise TotpRequired("this account needs the code from its authenticator app (totp)")
        secret = totp.unseal(key, second["secret"], user["_id"]) or ""
        step = totp.match(secret, code, now, second.get("last_step"))
        if step is None or not await accept_code(cols, user["_id"], step):
            raise await _failed(cols, attempts, now)
    await cols.login_attempts.delete_one({"_id": attempts})
    if passwords.needs_rehash(stored):
        fresh = await asyncio.to_thread(passwords.hash_password, password)
        await cols.users.update_one({"_id": user["_id"]}, {"$set": {"password_hash": fresh}})
    return session_for(key, user, gen, bool(second.get("enabled")), now)


async def unlock(cols: Collections, key: bytes, email: str) -> bool:
    """Lift a lock-out (support's ``python -m switch user unlock``)."""
    address = normalise_email(email) or email.strip().lower()
    done = await cols.login_attempts.delete_one({"_id": attempt_key(key, address)})
    return done.deleted_count == 1


# --- the signed-in person ----------------------------------------------------------------------


async def get_user(cols: Collections, user_id: str) -> tuple[Doc, Doc | None]:
    user = await cols.users.find_one({"_id": user_id})
    if user is None or user.get("status") != "active":
        raise NotFound("no such user")
    return user, await cols.merchants.find_one({"_id": user["merchant_id"]})


async def rename(cols: Collections, user_id: str, name: str) -> None:
    await cols.users.update_one({"_id": user_id}, {"$set": {"name": name.strip()}})


async def change_password(
    cols: Collections, key: bytes, user_id: str, old: str, new: str, mfa: bool
) -> Session:
    """Every other session ends (the generation is raised); the answer holds a new one. Wrong
    current passwords count towards the sign-in lock-out, so a stolen session cannot be used to
    guess the password."""
    user, _ = await get_user(cols, user_id)
    now = time.time()
    attempts = attempt_key(key, user["email"])
    attempt = await _reserve(cols, attempts, now)
    if not await asyncio.to_thread(passwords.verify_password, old, user["password_hash"]):
        raise await _failed(cols, attempts, now)
    await _give_back(cols, attempts, attempt)  # right: as before, a change does not reset it
    _problems_as_details("new_password", passwords.password_problems(new, user["email"]))
    if new == old:
        _problems_as_details("new_password", ["must differ from the current password"])
    fresh = await asyncio.to_thread(passwords.hash_password, new)
    await cols.users.update_one({"_id": user_id}, {"$set": {"password_hash": fresh}})
    gen = await bump_generation(cols, user_id)
    return session_for(key, user, gen, mfa, time.time())


async def begin_totp(cols: Collections, key: bytes, user_id: str) -> tuple[str, str]:
    """A new secret and its otpauth:// URI, shown once; active after :func:`confirm_totp`."""
    user, _ = await get_user(cols, user_id)
    if user.get("totp", {}).get("enabled"):
        raise Conflict("totp_already_enabled", "two-factor sign-in is already enabled")
    secret = totp.new_secret()
    await cols.users.update_one(
        {"_id": user_id},
        {"$set": {"totp": {"enabled": False, "pending": totp.seal(key, secret, user_id)}}},
    )
    return secret, totp.otpauth_uri(secret, user["email"], ISSUER)


async def confirm_totp(cols: Collections, key: bytes, user_id: str, code: str) -> Session:
    """The first code proves the app holds the secret; the answer is a session with ``mfa``."""
    user, _ = await get_user(cols, user_id)
    state = user.get("totp", {})
    if state.get("enabled"):
        raise Conflict("totp_already_enabled", "two-factor sign-in is already enabled")
    secret = totp.unseal(key, state.get("pending", ""), user_id)
    if secret is None:
        raise Conflict("totp_not_started", "start with POST /v1/users/me/totp")
    now = time.time()
    step = totp.match(secret, code, now, None)
    if step is None:
        raise InvalidCredentials("the code is wrong or expired")
    done = await cols.users.update_one(
        {"_id": user_id, "totp.enabled": False, "totp.pending": state["pending"]},
        {"$set": {"totp": {"enabled": True, "secret": state["pending"], "last_step": step}}},
    )
    if done.modified_count != 1:
        raise Conflict("totp_already_enabled", "two-factor sign-in changed meanwhile")
    gen = await current_generation(cols, user_id)
    return session_for(key, user, gen, True, now)


# --- audit ----------------------------------------------------------------------------------


class Auditor:
    """The one place this module and its api talk to the audit trail. One per api process (the
    log caches its head). Never raises: a failed audit write is logged and the action stands,
    because refusing a sign-in for want of an audit record would be worse."""

    def __init__(self, cols: Collections) -> None:
        collection = getattr(cols, "audit", None)
        if collection is None:
            collection = cols.users.database["audit"]
        self._log = AuditLog(collection)

    async def record(
        self,
        actor: str,
        action: str,
        target: str,
        before: Doc | None = None,
        after: Doc | None = None,
        request_id: str | None = None,
    ) -> None:
        try:
            await self._log.append(actor, action, target, before, after, request_id)
        except Exception:
            log.exception("audit event %s on %s not recorded", action, target)
