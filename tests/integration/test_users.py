"""People through the public API: sign-up, login, lock-out, TOTP, password change, invitations,
forged and expired session tokens."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any
from unittest import mock

import aiohttp
import pytest

from app.stack import Stack
from switch import passwords, totp
from switch.tokens import mint
from switch.users import MAX_FAILURES, attempt_key

from .helpers import Api

pytestmark = pytest.mark.integration

PASSWORD = "Kilimanjaro-2026"


def new_email() -> str:
    return f"u{uuid.uuid4().hex[:12]}@duka.co.ke"


@dataclass
class Person:
    """A signed-in person, as a merchant's staff would use the API."""

    http: aiohttp.ClientSession
    base: str
    email: str
    password: str = PASSWORD
    token: str = ""
    secret: str = ""  # TOTP secret once enrolled
    merchant_id: str = ""
    next_code_at: float = 0.0

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(
        self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        async with self.http.request(
            method, self.base + path, json=json, headers={**self.auth, **(headers or {})}
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body, dict(resp.headers)

    def code(self) -> str:
        """A fresh TOTP code: each login needs a later step, so use the next one (the switch
        allows one step of drift) instead of waiting 30 s."""
        at = max(time.time(), self.next_code_at)
        self.next_code_at = at + totp.STEP_S
        return totp.code_at(self.secret, at)

    async def login(self, with_code: bool = True) -> tuple[int, dict[str, Any], dict[str, str]]:
        body: dict[str, Any] = {"email": self.email, "password": self.password}
        if self.secret and with_code:
            body["totp"] = self.code()
        status, answer, headers = await post(self.http, self.base, "/v1/auth/login", body)
        if status == 200:
            self.token = answer["access_token"]
        return status, answer, headers

    async def enrol_totp(self) -> dict[str, Any]:
        status, body, _ = await self.call("POST", "/v1/users/me/totp")
        assert status == 200, body
        self.secret = body["secret"]
        self.next_code_at = time.time()
        status, body, _ = await self.call(
            "POST", "/v1/users/me/totp/confirm", {"code": self.code()}
        )
        assert status == 200, body
        self.token = body["access_token"]
        return body


async def post(
    http: aiohttp.ClientSession, base: str, path: str, body: Any, headers: Any = None
) -> tuple[int, Any, dict[str, str]]:
    async with http.post(base + path, json=body, headers=headers or {}) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def sign_up(http: aiohttp.ClientSession, base: str, org: str = "Duka Ltd") -> Person:
    person = Person(http, base, new_email())
    body = {
        "email": person.email,
        "password": PASSWORD,
        "name": "Jane Wanjiru",
        "organisation": org,
    }
    status, answer, _ = await post(http, base, "/v1/users", body)
    assert status == 201, answer
    person.merchant_id = answer["merchant_id"]
    status, answer, _ = await person.login()
    assert status == 200, answer
    return person


async def owner_with_totp(http: aiohttp.ClientSession, base: str) -> Person:
    owner = await sign_up(http, base)
    await owner.enrol_totp()
    return owner


async def invite(owner: Person, role: str) -> Person:
    person = Person(owner.http, owner.base, new_email())
    status, inv, _ = await owner.call(
        "POST", "/v1/invitations", {"email": person.email, "role": role}
    )
    assert status == 201, inv
    body = {
        "email": person.email,
        "password": PASSWORD,
        "name": f"A {role}",
        "invitation": inv["token"],
    }
    status, answer, _ = await post(owner.http, owner.base, "/v1/users", body)
    assert status == 201, answer
    assert (answer["role"], answer["merchant_id"]) == (role, owner.merchant_id)
    status, answer, _ = await person.login()
    assert status == 200, answer
    person.merchant_id = owner.merchant_id
    return person


# --- sign-up and profile -----------------------------------------------------------------------


async def test_sign_up_creates_a_pending_organisation_and_its_owner(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    email = new_email()
    body = {"email": email.upper(), "password": PASSWORD, "name": "Jane", "organisation": "Duka"}
    status, user, headers = await post(http, stack.api_url, "/v1/users", body)
    assert status == 201, user
    assert headers["Location"] == "/v1/users/me"
    assert user["email"] == email
    assert user["role"] == "owner"
    assert user["totp_enabled"] is False
    assert user["organisation"]["kyc_status"] == "pending"
    assert "password" not in str(user)
    assert stack.state is not None
    stored = await stack.state.cols.users.find_one({"_id": user["id"]})
    assert stored is not None
    assert stored["password_hash"].startswith("scrypt$ln=15,r=8,p=1$")
    assert PASSWORD not in str(stored)
    again = {**body, "email": email}
    status, answer, _ = await post(http, stack.api_url, "/v1/users", again)
    assert (status, answer["error"]["code"]) == (409, "email_taken")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "short"}, "password"),
        ({"password": "alllowercaseletters"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"role": "owner"}, "role"),
        ({"organisation": None}, "organisation"),
        ({"invitation": "inv_x"}, "organisation"),
    ],
)
async def test_sign_up_refuses_bad_input(
    stack: Stack, http: aiohttp.ClientSession, change: dict[str, Any], field: str
) -> None:
    body = {"email": new_email(), "password": PASSWORD, "name": "Jane", "organisation": "Duka"}
    status, answer, _ = await post(http, stack.api_url, "/v1/users", {**body, **change})
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_failed"
    assert field in [d["field"] for d in answer["error"]["details"]]


async def test_profile_read_and_rename(stack: Stack, http: aiohttp.ClientSession) -> None:
    person = await sign_up(http, stack.api_url)
    status, me, _ = await person.call("GET", "/v1/users/me")
    assert status == 200
    assert (me["email"], me["role"], me["name"]) == (person.email, "owner", "Jane Wanjiru")
    status, me, _ = await person.call("PATCH", "/v1/users/me", {"name": "Jane W."})
    assert (status, me["name"]) == (200, "Jane W.")
    status, err, _ = await person.call("PATCH", "/v1/users/me", {"name": "J", "email": "x@y.co"})
    assert status == 422
    assert {"field": "email", "reason": "unknown field"} in err["error"]["details"]


async def test_session_routes_refuse_api_clients(merchant: Api) -> None:
    async with merchant.http.get(f"{merchant.base}/v1/users/me", headers=merchant.auth) as resp:
        assert resp.status == 403


# --- login, lock-out ---------------------------------------------------------------------------


async def test_login_errors_do_not_say_whether_the_email_exists(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    person = await sign_up(http, stack.api_url)
    answers = []
    for email in (person.email, new_email()):
        body = {"email": email, "password": "Wrong-password-1"}
        status, answer, _ = await post(http, stack.api_url, "/v1/auth/login", body)
        answers.append((status, answer))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401
    assert answers[0][1]["error"]["code"] == "invalid_credentials"


async def test_login_gives_a_short_lived_session_token_with_the_role(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    person = await sign_up(http, stack.api_url)
    status, body, headers = await person.login()
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert (body["role"], body["mfa"]) == ("owner", False)
    assert body["access_token"].startswith("sk1.")
    assert "payouts:write" in body["scope"].split()
    status, balance, _ = await person.call("GET", "/v1/balance")
    assert status == 200, balance


async def test_lock_out_after_five_failures(stack: Stack, http: aiohttp.ClientSession) -> None:
    person = await sign_up(http, stack.api_url)
    wrong = {"email": person.email, "password": "Wrong-password-1"}
    statuses = []
    for _ in range(5):
        status, answer, headers = await post(http, stack.api_url, "/v1/auth/login", wrong)
        statuses.append(status)
    assert statuses == [401, 401, 401, 401, 429]
    assert answer["error"]["code"] == "too_many_attempts"
    assert "try again in about 15 minute" in answer["error"]["message"]
    assert 890 <= int(headers["Retry-After"]) <= 900
    # The right password does not help while locked.
    status, answer, headers = await person.login()
    assert (status, answer["error"]["code"]) == (429, "too_many_attempts")
    assert "Retry-After" in headers


async def test_support_can_lift_a_lock_out(stack: Stack, http: aiohttp.ClientSession) -> None:
    person = await sign_up(http, stack.api_url)
    wrong = {"email": person.email, "password": "Wrong-password-1"}
    for _ in range(5):
        await post(http, stack.api_url, "/v1/auth/login", wrong)
    assert (await person.login())[0] == 429
    env = {
        **os.environ,
        "MONGODB_URI": stack.settings.mongodb_uri or "",
        "SWITCH_MONGODB_DB": stack.settings.mongodb_db,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "switch", "user", "unlock", "--email", person.email,
        env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert b"lock-out lifted" in out
    assert (await person.login())[0] == 200


async def test_unknown_emails_lock_the_same_way(stack: Stack, http: aiohttp.ClientSession) -> None:
    wrong = {"email": new_email(), "password": "Wrong-password-1"}
    statuses = [(await post(http, stack.api_url, "/v1/auth/login", wrong))[0] for _ in range(6)]
    assert statuses == [401, 401, 401, 401, 429, 429]


async def test_concurrent_guesses_cannot_pass_the_lock_out(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """Issue 10, finding 8: 24 guesses at once; each reserves its attempt before its password is
    checked, so at most five passwords are checked (four wrong answers, then the lock)."""
    person = await sign_up(http, stack.api_url)
    wrong = {"email": person.email, "password": "Wrong-password-1"}
    checked: list[str] = []
    real = passwords.verify_password

    def counted(password: str, stored: str) -> bool:
        checked.append(password)
        return real(password, stored)

    with mock.patch.object(passwords, "verify_password", side_effect=counted):
        answers = await asyncio.gather(
            *(post(http, stack.api_url, "/v1/auth/login", wrong) for _ in range(24))
        )
    assert 1 <= len(checked) <= MAX_FAILURES, len(checked)
    codes = [answer["error"]["code"] for _, answer, _ in answers]
    assert set(codes) <= {"invalid_credentials", "too_many_attempts"}
    assert codes.count("invalid_credentials") <= MAX_FAILURES - 1
    if len(checked) == MAX_FAILURES:  # every reservation was taken and failed: locked
        assert (await person.login())[0] == 429


async def test_sign_up_with_a_taken_email_hashes_nothing(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """Issue 10, finding 8: the taken address is found before the scrypt hash."""
    person = await sign_up(http, stack.api_url)
    body = {"email": person.email, "password": PASSWORD, "name": "B", "organisation": "Other"}
    with mock.patch.object(passwords, "hash_password", side_effect=AssertionError("hashed")):
        status, answer, _ = await post(http, stack.api_url, "/v1/users", body)
    assert (status, answer["error"]["code"]) == (409, "email_taken")


async def test_a_success_resets_the_count(stack: Stack, http: aiohttp.ClientSession) -> None:
    person = await sign_up(http, stack.api_url)
    wrong = {"email": person.email, "password": "Wrong-password-1"}
    for _ in range(4):
        assert (await post(http, stack.api_url, "/v1/auth/login", wrong))[0] == 401
    assert (await person.login())[0] == 200
    for _ in range(4):
        assert (await post(http, stack.api_url, "/v1/auth/login", wrong))[0] == 401


# --- TOTP --------------------------------------------------------------------------------------


async def test_totp_enrolment_and_login_with_a_code(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    person = await sign_up(http, stack.api_url)
    status, enrol, headers = await person.call("POST", "/v1/users/me/totp")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert enrol["otpauth_uri"].startswith("otpauth://totp/Kenya%20Switch:")
    assert f"secret={enrol['secret']}" in enrol["otpauth_uri"]
    person.secret = enrol["secret"]
    assert stack.state is not None
    stored = await stack.state.cols.users.find_one(
        {"_id": (await person.call("GET", "/v1/users/me"))[1]["id"]}
    )
    assert stored is not None
    assert enrol["secret"] not in str(stored)  # sealed at rest

    status, err, _ = await person.call("POST", "/v1/users/me/totp/confirm", {"code": "000000"})
    assert (status, err["error"]["code"]) == (401, "invalid_credentials")
    person.next_code_at = time.time()
    status, done, _ = await person.call(
        "POST", "/v1/users/me/totp/confirm", {"code": person.code()}
    )
    assert status == 200, done
    assert (done["totp_enabled"], done["mfa"]) == (True, True)
    status, err, _ = await person.call("POST", "/v1/users/me/totp")
    assert (status, err["error"]["code"]) == (409, "totp_already_enabled")

    status, err, _ = await person.login(with_code=False)
    assert (status, err["error"]["code"]) == (401, "totp_required")
    code = person.code()
    body = {"email": person.email, "password": PASSWORD, "totp": code}
    status, session, _ = await post(http, stack.api_url, "/v1/auth/login", body)
    assert (status, session["mfa"]) == (200, True)
    # The same code again, within its window: refused.
    status, err, _ = await post(http, stack.api_url, "/v1/auth/login", body)
    assert (status, err["error"]["code"]) == (401, "invalid_credentials")
    status, err, _ = await post(http, stack.api_url, "/v1/auth/login", {**body, "totp": "123456"})
    assert status == 401


# --- password change, forged and expired tokens ------------------------------------------------


async def test_password_change_ends_other_sessions(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    person = await sign_up(http, stack.api_url)
    old_token = person.token
    status, err, _ = await person.call(
        "POST",
        "/v1/users/me/password",
        {"old_password": "Not-my-password-1", "new_password": "Another-Pass-2026"},
    )
    assert (status, err["error"]["code"]) == (401, "invalid_credentials")
    assert stack.state is not None
    attempts = await stack.state.cols.login_attempts.find_one(
        {"_id": attempt_key(stack.state.secret_key, person.email)}
    )
    assert attempts is not None and len(attempts["attempts"]) == 1  # counts towards lock-out
    status, err, _ = await person.call(
        "POST", "/v1/users/me/password", {"old_password": PASSWORD, "new_password": "weak"}
    )
    assert (status, err["error"]["details"][0]["field"]) == (422, "new_password")
    status, session, _ = await person.call(
        "POST",
        "/v1/users/me/password",
        {"old_password": PASSWORD, "new_password": "Another-Pass-2026"},
    )
    assert status == 200, session
    person.token = session["access_token"]
    assert (await person.call("GET", "/v1/users/me"))[0] == 200
    person.token = old_token
    assert (await person.call("GET", "/v1/users/me"))[0] == 401
    person.password = "Another-Pass-2026"
    assert (await person.login())[0] == 200
    person.password = PASSWORD
    assert (await person.login())[0] == 401


async def test_forged_and_expired_session_tokens_are_refused(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    assert stack.state is not None
    person = await sign_up(http, stack.api_url)
    status, me, _ = await person.call("GET", "/v1/users/me")
    assert status == 200
    claims = {"kind": "session", "role": "owner", "mfa": True}
    now = int(time.time())
    tokens = {
        "expired": mint(
            stack.state.secret_key, me["merchant_id"], me["id"], "x", now - 1, **claims
        ),  # type: ignore[arg-type]
        "foreign key": mint(b"k" * 32, me["merchant_id"], me["id"], "x", now + 600, **claims),  # type: ignore[arg-type]
        "tampered": person.token[:-2] + ("AA" if not person.token.endswith("AA") else "BB"),
    }
    for name, token in tokens.items():
        person.token = token
        status, body, headers = await person.call("GET", "/v1/users/me")
        assert status == 401, name
        assert body["error"]["code"] == "unauthorized"
        assert headers["WWW-Authenticate"].startswith("Bearer")


# --- invitations -------------------------------------------------------------------------------


async def test_invitations(stack: Stack, http: aiohttp.ClientSession) -> None:
    owner = await sign_up(http, stack.api_url)
    status, err, _ = await owner.call(
        "POST", "/v1/invitations", {"email": new_email(), "role": "viewer"}
    )
    assert (status, err["error"]["code"]) == (403, "mfa_required")
    await owner.enrol_totp()
    admin = await invite(owner, "admin")
    # An admin must enrol TOTP too before inviting; then may not invite another admin.
    status, err, _ = await admin.call(
        "POST", "/v1/invitations", {"email": new_email(), "role": "viewer"}
    )
    assert (status, err["error"]["code"]) == (403, "mfa_required")
    await admin.enrol_totp()
    status, err, _ = await admin.call(
        "POST", "/v1/invitations", {"email": new_email(), "role": "admin"}
    )
    assert (status, err["error"]["code"]) == (403, "forbidden")
    status, err, _ = await admin.call(
        "POST", "/v1/invitations", {"email": new_email(), "role": "owner"}
    )
    assert status == 422
    await invite(admin, "viewer")

    email = new_email()
    status, inv, headers = await owner.call(
        "POST", "/v1/invitations", {"email": email, "role": "finance"}
    )
    assert status == 201 and headers["Cache-Control"] == "no-store"
    join = {"email": new_email(), "password": PASSWORD, "name": "X", "invitation": inv["token"]}
    status, err, _ = await post(http, stack.api_url, "/v1/users", join)
    assert (status, err["error"]["code"]) == (409, "invitation_invalid")
    join["email"] = email
    assert (await post(http, stack.api_url, "/v1/users", join))[0] == 201
    join["email"] = new_email()
    assert (await post(http, stack.api_url, "/v1/users", join))[0] == 409
    assert stack.state is not None
    assert await stack.state.cols.invitations.find_one({"_id": inv["token"]}) is None  # hashed
