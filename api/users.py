"""People: ``POST /v1/users`` (sign-up or joining by invitation), ``POST /v1/auth/login``,
``GET``/``PATCH /v1/users/me``, ``POST /v1/users/me/password``, ``POST /v1/users/me/totp`` and
``/confirm``, ``POST /v1/invitations``. The rules live in :mod:`switch.users`; here are the wire
models (unknown fields refused) and the answers. Answers holding a token or a secret carry
``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, model_validator

from api import openapi_models as out
from api.auth import CLAIMS, FEED
from api.errors import error_response, json_response, validation_details
from api.routes import Route, json_answer
from api.state import STATE
from infra import users as user_store
from switch import users
from switch.errors import ClientError, ValidationFailed
from switch.logs import request_id
from switch.payments import iso
from switch.tokens import Claims

Model = TypeVar("Model", bound=BaseModel)
NO_STORE = {"Cache-Control": "no-store"}

Email = Annotated[str, StringConstraints(min_length=3, max_length=254)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=10)]


class InvalidJson(ClientError, code="invalid_json"):
    """The body is not JSON."""


class SignUp(BaseModel):
    """Either ``organisation`` (a new merchant, you its owner) or ``invitation`` (join one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Email
    password: Password
    name: Name
    organisation: Name | None = None
    invitation: Annotated[str, StringConstraints(max_length=100)] | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> SignUp:
        if (self.organisation is None) == (self.invitation is None):
            raise ValueError("organisation: give either organisation or invitation, not both")
        return self


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Email
    password: Password
    totp: Code | None = None


class ProfilePatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    old_password: Password
    new_password: Password


class TotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Code


class InvitationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: Email
    role: Literal["admin", "developer", "finance", "viewer"]


async def read_model(request: web.Request, model: type[Model]) -> Model:
    """The body as ``model``; 400 invalid_json or 422 validation_failed otherwise."""
    try:
        raw = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise InvalidJson("the body must be a JSON object") from None
    if not isinstance(raw, dict):
        raise InvalidJson("the body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed("the request has invalid fields", validation_details(exc)) from None


def actor_of(claims: Claims) -> str:
    return f"{'user' if claims.kind == 'session' else 'client'}:{claims.client_id}"


AUDITOR = web.AppKey("auditor", user_store.Auditor)


async def audit(
    request: web.Request,
    action: str,
    target: str,
    *,
    actor: str | None = None,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
) -> None:
    """Record in the audit trail what ``actor`` (by default the signed-in caller) did to
    ``target``, under the request's id."""
    who = actor if actor is not None else actor_of(request[CLAIMS])
    rid = request_id.get(None) or None
    await request.app[AUDITOR].record(who, action, target, before, after, rid)


async def sign_up(request: web.Request) -> web.Response:
    body = await read_model(request, SignUp)
    cols = request.app[STATE].cols
    if body.invitation is not None:
        user, org = await user_store.join(
            cols, body.invitation, body.email, body.name, body.password
        )
        action = "user.join"
    else:
        assert body.organisation is not None
        user, org = await user_store.sign_up(
            cols, body.email, body.name, body.password, body.organisation
        )
        action = "user.signup"
    shown = users.public_user(user, org)
    who = f"user:{user['_id']}"
    after = {"role": user["role"], "merchant_id": user["merchant_id"]}
    await audit(request, action, who, actor=who, after=after)
    return json_response(shown, 201, {"Location": "/v1/users/me"})


async def login(request: web.Request) -> web.Response:
    body = await read_model(request, LoginIn)
    state = request.app[STATE]
    try:
        session = await user_store.login(
            state.cols, state.secret_key, body.email, body.password, body.totp
        )
    except users.LockedOut as exc:
        await audit(request, "user.locked_out", "login", actor="system")
        return _error(exc, {**NO_STORE, "Retry-After": str(exc.retry_after)})
    who = f"user:{session.user['_id']}"
    await audit(request, "user.login", who, actor=who, after={"mfa": session.mfa})
    return json_response(session.as_body(), headers=NO_STORE)


def _error(exc: ClientError, headers: dict[str, str]) -> web.Response:
    return error_response(exc.status, exc.code, exc.message, exc.details, headers)


async def get_me(request: web.Request) -> web.Response:
    user, org = await user_store.get_user(request.app[STATE].cols, request[CLAIMS].client_id)
    return json_response(users.public_user(user, org))


async def patch_me(request: web.Request) -> web.Response:
    body = await read_model(request, ProfilePatch)
    cols, user_id = request.app[STATE].cols, request[CLAIMS].client_id
    await user_store.rename(cols, user_id, body.name)
    user, org = await user_store.get_user(cols, user_id)
    return json_response(users.public_user(user, org))


async def change_password(request: web.Request) -> web.Response:
    body = await read_model(request, PasswordChange)
    state, claims = request.app[STATE], request[CLAIMS]
    try:
        session = await user_store.change_password(
            state.cols,
            state.secret_key,
            claims.client_id,
            body.old_password,
            body.new_password,
            claims.mfa,
        )
    except users.LockedOut as exc:
        return _error(exc, {**NO_STORE, "Retry-After": str(exc.retry_after)})
    await request.app[FEED].announce(claims.client_id, session.gen)
    await audit(request, "user.password_change", f"user:{claims.client_id}")
    return json_response(session.as_body(), headers=NO_STORE)


async def enrol_totp(request: web.Request) -> web.Response:
    state, claims = request.app[STATE], request[CLAIMS]
    secret, uri = await user_store.begin_totp(state.cols, state.secret_key, claims.client_id)
    body = {"secret": secret, "otpauth_uri": uri, "confirm": "/v1/users/me/totp/confirm"}
    return json_response(body, headers=NO_STORE)


async def confirm_totp(request: web.Request) -> web.Response:
    body = await read_model(request, TotpConfirm)
    state, claims = request.app[STATE], request[CLAIMS]
    session = await user_store.confirm_totp(
        state.cols, state.secret_key, claims.client_id, body.code
    )
    await audit(
        request,
        "user.totp_enable",
        f"user:{claims.client_id}",
        before={"totp_enabled": False},
        after={"totp_enabled": True},
    )
    return json_response({"totp_enabled": True, **session.as_body()}, headers=NO_STORE)


async def create_invitation(request: web.Request) -> web.Response:
    body = await read_model(request, InvitationIn)
    claims = request[CLAIMS]
    doc, token = await user_store.invite(
        request.app[STATE].cols,
        claims.merchant_id,
        claims.role,
        body.email,
        body.role,
        actor_of(claims),
    )
    await audit(
        request, "invitation.create", f"invitation:{doc['id']}", after={"role": doc["role"]}
    )
    answer = {
        "id": doc["id"],
        "object": "invitation",
        "email": doc["email"],
        "role": doc["role"],
        "token": token,
        "expires_at": iso(doc["expires_at"]),
    }
    return json_response(answer, 201, NO_STORE)


def install(app: web.Application) -> None:
    app[AUDITOR] = user_store.Auditor(app[STATE].cols)


ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/users",
        sign_up,
        "People",
        "Sign up (a new organisation, you its owner) or join one by invitation",
        {201: json_answer("The person, signed up", out.User)},
        body=SignUp,
        errors=(403, 404, 409),
    ),
    Route(
        "POST",
        "/v1/auth/login",
        login,
        "People",
        "Sign in with email and password (and a TOTP code once enrolled)",
        {200: json_answer("A session token", out.Session)},
        body=LoginIn,
        errors=(401,),
        error_texts={
            401: "Wrong email or password, or a TOTP code is needed",
            429: "Locked out after repeated failures, or too many attempts from here",
        },
    ),
    Route(
        "GET", "/v1/users/me", get_me, "People", "Your profile", {200: json_answer("You", out.User)}
    ),
    Route(
        "PATCH",
        "/v1/users/me",
        patch_me,
        "People",
        "Change your name",
        {200: json_answer("You, changed", out.User)},
        body=ProfilePatch,
    ),
    Route(
        "POST",
        "/v1/users/me/password",
        change_password,
        "People",
        "Change your password (every other session ends)",
        {200: json_answer("A new session token", out.Session)},
        body=PasswordChange,
    ),
    Route(
        "POST",
        "/v1/users/me/totp",
        enrol_totp,
        "People",
        "Start two-factor enrolment: a TOTP secret, shown once",
        {200: json_answer("The secret and its otpauth URI", out.TotpEnrolment)},
        errors=(409,),
    ),
    Route(
        "POST",
        "/v1/users/me/totp/confirm",
        confirm_totp,
        "People",
        "Confirm two-factor enrolment with the first code",
        {200: json_answer("Enabled; a session that passed two-factor", out.TotpConfirmed)},
        body=TotpConfirm,
        errors=(409,),
    ),
    Route(
        "POST",
        "/v1/invitations",
        create_invitation,
        "People",
        "Invite a person into your organisation",
        {201: json_answer("The invitation; its token is shown once", out.Invitation)},
        body=InvitationIn,
        errors=(409,),
    ),
)
