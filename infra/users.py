"""People in MongoDB: sign-up and invitations, login with lock-out and TOTP, the signed-in
person's profile, password and TOTP enrolment, and their audit records. The rules (errors,
lock-out arithmetic, sessions, what a user looks like to the API) are pure and live in
:mod:`switch.users`, whose docstring describes the flows."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from pymongo.errors import DuplicateKeyError

from infra.audit import AuditLog
from infra.clients import bump_generation, current_generation
from infra.storage.mongo import Collections
from switch import passwords, totp
from switch.errors import ClientError, NotFound
from switch.ids import new_id
from switch.merchants import OPERATOR
from switch.payments import now_utc
from switch.roles import INVITABLE
from switch.signing import new_webhook_secret
from switch.users import (
    FAILURE_WINDOW,
    INVITATION_TTL,
    ISSUER,
    WRONG,
    Conflict,
    Doc,
    Forbidden,
    InvalidCredentials,
    LockedOut,
    Session,
    TotpRequired,
    attempt_key,
    email_or_fail,
    invitation_hash,
    lock_after_failure,
    normalise_email,
    problems_as_details,
    reserve_filter,
    session_for,
    wait_of_refusal,
)

log = logging.getLogger(__name__)


# --- sign-up and invitations -----------------------------------------------------------------


async def _new_user(
    cols: Collections, email: str, name: str, password: str, merchant_id: str, role: str
) -> Doc:
    problems_as_details("password", passwords.password_problems(password, email))
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
    address = email_or_fail(email)
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


async def create_operator_person(cols: Collections, email: str, name: str, password: str) -> Doc:
    """A person of the switch operator (organisation ``operator``, role ``operator``): works the
    breaks queue at the console. Made by the operator (``python -m switch operator person``),
    never invited by a merchant; the operator routes refuse them until they enrol two-factor."""
    return await _new_user(cols, email_or_fail(email), name, password, OPERATOR, "operator")


async def invite(
    cols: Collections, merchant_id: str, inviter_role: str, email: str, role: str, by: str
) -> tuple[Doc, str]:
    """An invitation (stored under the hash of its token) and the token, shown once."""
    address = email_or_fail(email)
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
    address = email_or_fail(email)
    problems_as_details("password", passwords.password_problems(password, address))
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
    problems_as_details("new_password", passwords.password_problems(new, user["email"]))
    if new == old:
        problems_as_details("new_password", ["must differ from the current password"])
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
