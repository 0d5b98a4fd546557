"""The role matrix through the public API: one organisation with a person in every role; each
asks every kind of route. A 403 means the permission check refused; anything else means it let
the request through to the handler (which may then refuse it for its own reasons)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from infra.users import create_operator_person

from .helpers import Api, unique_phone
from .test_users import PASSWORD, Person, invite, new_email, owner_with_totp

pytestmark = pytest.mark.integration

# (method, path, body): bodies are deliberately incomplete (no Idempotency-Key), so a request the
# permission check lets through is refused by the handler without moving money.
PROBES: dict[str, tuple[str, str, Any]] = {
    "payments:write": ("POST", "/v1/payments", {}),
    "payments:read": ("GET", "/v1/payments/pay_s0_01M8FAB1BAFSNTMGPC5G8EQJ3J", None),
    "payouts:write": ("POST", "/v1/payouts", {}),
    "payouts:read": ("GET", "/v1/payouts/pay_s0_01M8FAB1BAFSNTMGPC5G8EQJ3J", None),
    "reversals:write": ("POST", "/v1/payments/pay_s0_01M8FAB1BAFSNTMGPC5G8EQJ3J/reversal", {}),
    "balance:read": ("GET", "/v1/balance", None),
    "clients:manage": ("GET", "/v1/clients", None),
    "users:manage": ("POST", "/v1/invitations", {"email": "bad"}),
    "operator": ("GET", "/v1/operator/provider-balance/bal_x", None),
}

MATRIX = {
    "owner": {"payments:write", "payments:read", "payouts:write", "payouts:read", "balance:read",
              "clients:manage", "users:manage", "reversals:write"},
    "admin": {"payments:write", "payments:read", "payouts:write", "payouts:read", "balance:read",
              "clients:manage", "users:manage", "reversals:write"},
    "developer": {"payments:write", "payments:read", "payouts:read", "balance:read",
                  "clients:manage"},
    "finance": {"payments:write", "payments:read", "payouts:write", "payouts:read",
                "balance:read", "reversals:write"},
    "viewer": {"payments:read", "payouts:read", "balance:read"},
}  # fmt: skip


@pytest.fixture(scope="module")
async def staff(stack: Stack, http: aiohttp.ClientSession) -> dict[str, Person]:
    owner = await owner_with_totp(http, stack.api_url)
    people = {"owner": owner}
    for role in ("admin", "developer", "finance", "viewer"):
        people[role] = await invite(owner, role)
        await people[role].enrol_totp()  # so that only the role decides, not the missing TOTP
    # The switch operator's own people are made by the operator, never invited.
    assert stack.state is not None
    operator = Person(http, stack.api_url, new_email())
    await create_operator_person(stack.state.cols, operator.email, "An operator", PASSWORD)
    assert (await operator.login())[0] == 200
    await operator.enrol_totp()
    people["operator"] = operator
    return people


@pytest.mark.parametrize("role", list(MATRIX))
async def test_role_matrix(staff: dict[str, Person], role: str) -> None:
    person = staff[role]
    for permission, (method, path, body) in PROBES.items():
        status, answer, _ = await person.call(method, path, body)
        allowed = permission in MATRIX[role]
        assert (status != 403) is allowed, (role, permission, status, answer)
        assert status != 401, (role, permission)


async def test_viewer_cannot_create_payouts_and_finance_can_read_the_balance(
    staff: dict[str, Person],
) -> None:
    status, err, _ = await staff["viewer"].call("POST", "/v1/payouts", {}, {"Idempotency-Key": "k"})
    assert (status, err["error"]["code"]) == (403, "forbidden")
    status, balance, _ = await staff["finance"].call("GET", "/v1/balance")
    assert (status, balance["object"]) == (200, "balance")


async def test_people_see_only_their_own_merchant(staff: dict[str, Person], merchant: Api) -> None:
    """A session token is bound to its organisation: another merchant's payment is a 404."""
    payment = await merchant.pay(unique_phone())
    status, _, _ = await staff["owner"].call("GET", f"/v1/payments/{payment['id']}")
    assert status == 404
    assert (await merchant.get(payment["id"]))[0] == 200


async def test_legacy_merchant_clients_keep_their_merchant_routes(merchant: Api) -> None:
    for permission in ("payments:read", "payouts:read", "balance:read"):
        method, path, body = PROBES[permission]
        async with merchant.http.request(
            method, merchant.base + path, json=body, headers=merchant.auth
        ) as resp:
            assert resp.status not in (401, 403), permission
    for permission in ("clients:manage", "users:manage", "operator"):
        method, path, body = PROBES[permission]
        async with merchant.http.request(
            method, merchant.base + path, json=body, headers=merchant.auth
        ) as resp:
            assert resp.status == 403, permission
