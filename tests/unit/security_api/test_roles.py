"""The route -> permission table: complete for every route ``create_app`` registers, and the
role matrix as documented."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aiohttp import web

from api.app import create_app
from api.permissions import refusal
from switch.roles import (
    CLIENT_SCOPES,
    INVITABLE,
    LEGACY_SCOPE,
    MERCHANT_API_SCOPES,
    PUBLIC,
    ROLES,
    ROUTES,
    SESSION,
    client_token_scope,
    grant_refusals,
    permission_for,
    role_scope,
)
from switch.tokens import Claims
from tests.unit.api.ports import in_process_state


def _app() -> web.Application:
    state = in_process_state()
    return create_app(state)


def _registered() -> set[tuple[str, str]]:
    out = set()
    for route in _app().router.routes():
        assert route.resource is not None
        out.add((route.method, route.resource.canonical))
    return out


def test_every_registered_route_has_a_permission() -> None:
    missing = sorted(r for r in _registered() if permission_for(*r) is None)
    assert missing == [], f"add these to switch.roles.ROUTES: {missing}"


def test_a_route_not_in_the_table_has_no_permission() -> None:
    assert permission_for("POST", "/v1/something-new") is None
    assert permission_for("DELETE", "/v1/payments/{payment_id}") is None


def test_head_follows_get() -> None:
    assert permission_for("HEAD", "/v1/balance") == permission_for("GET", "/v1/balance")


def test_only_sign_in_routes_callbacks_ops_and_signed_links_are_public() -> None:
    public_v1 = sorted(
        path for (_, path), perm in ROUTES.items() if perm == PUBLIC and path.startswith("/v1/")
    )
    # An export's download link carries its own signature (api/exports.py checks it).
    # So does a bank's pacs.002 to the hub (api/hub_iso.py checks the bank's signature).
    signed = ["/v1/exports/{export_id}/download", "/v1/hub/iso/pacs.002"]
    assert public_v1 == ["/v1/auth/login", *signed, "/v1/oauth/token", "/v1/users"]


@pytest.mark.parametrize(
    ("role", "permission", "held"),
    [
        ("viewer", "payouts:write", False),
        ("viewer", "payments:write", False),
        ("viewer", "balance:read", True),
        ("finance", "balance:read", True),
        ("finance", "payouts:write", True),
        ("finance", "clients:manage", False),
        ("developer", "clients:manage", True),
        ("developer", "payouts:write", False),
        ("developer", "users:manage", False),
        ("developer", "reversals:write", False),
        ("finance", "reversals:write", True),
        ("viewer", "reversals:write", False),
        ("admin", "users:manage", True),
        ("owner", "audit:read", True),
        ("owner", "operator", False),
    ],
)
def test_role_matrix(role: str, permission: str, held: bool) -> None:
    assert (permission in role_scope(role).split()) is held


def test_only_the_operator_role_holds_operator_and_unknown_roles_hold_nothing() -> None:
    # The operator's people (organisation "operator", made by the CLI) hold only that; no
    # merchant role holds it and nobody can invite one.
    assert {r for r, perms in ROLES.items() if "operator" in perms} == {"operator"}
    assert ROLES["operator"] == frozenset({"operator"})
    assert all("operator" not in roles for roles in INVITABLE.values())
    assert role_scope("superuser") == ""


def test_operator_people_need_two_factor_and_operator_clients_do_not() -> None:
    person = Claims("operator", "usr_1", "operator", 0, "t", kind="session", role="operator")
    refused = refusal("operator", person)
    assert refused is not None and refused.status == 403
    assert refusal("operator", replace(person, mfa=True)) is None
    client = Claims("operator", "cli_1", "operator", 0, "t")
    assert refusal("operator", client) is None


def test_every_permission_in_the_table_is_held_by_someone() -> None:
    # hub:participant is held by participants' clients, which only the operator's onboarding
    # makes (api/hub_operator.py).
    holders = set().union(*ROLES.values()) | {"operator", "hub:participant", PUBLIC, SESSION}
    assert set(ROUTES.values()) <= holders


def test_legacy_merchant_clients_keep_every_merchant_scope() -> None:
    expanded = client_token_scope(LEGACY_SCOPE, explicit=False).split()
    assert expanded == MERCHANT_API_SCOPES.split()
    for needed in ("payments:write", "payouts:write", "balance:read", "c2b:manage"):
        assert needed in expanded
    assert "clients:manage" not in expanded
    # Explicit scopes stay as given, even when equal to the legacy string.
    assert client_token_scope(LEGACY_SCOPE, explicit=True) == LEGACY_SCOPE
    assert client_token_scope("operator", explicit=False) == "operator"


def test_client_scopes_never_include_people_management() -> None:
    assert not {"clients:manage", "users:manage", "operator"} & CLIENT_SCOPES


def test_a_developer_may_not_hand_out_a_payouts_client() -> None:
    """Issue 10, finding 3: creating and rotating a client both hand out its scopes."""
    developer = role_scope("developer")
    assert grant_refusals(["payments:write", "payments:read"], developer) == []
    assert grant_refusals(["payouts:write", "payments:read"], developer) == [
        {"field": "scopes", "reason": "your role lacks payouts:write"}
    ]
    # A legacy client's tokens carry every merchant scope: a developer may not rotate it.
    legacy = client_token_scope(LEGACY_SCOPE, explicit=False).split()
    assert {"reason": "your role lacks payouts:write", "field": "scopes"} in grant_refusals(
        legacy, developer
    )
    assert grant_refusals(legacy, role_scope("owner")) == []
    assert grant_refusals(["operator"], role_scope("owner")) == [
        {"field": "scopes", "reason": "not a client scope: operator"}
    ]


def test_a_developer_cannot_reverse_a_payment() -> None:
    """Issue 10, finding 8: the developer role moves no money out, and a reversal does."""
    needed = permission_for("POST", "/v1/payments/{payment_id}/reversal")
    assert needed == "reversals:write"
    assert needed not in role_scope("developer").split()
    assert all(needed in role_scope(r).split() for r in ("owner", "admin", "finance"))
    # A legacy merchant client keeps the right it had under payments:write.
    assert needed in client_token_scope(LEGACY_SCOPE, explicit=False).split()
