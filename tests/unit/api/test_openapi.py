"""The OpenAPI document: every route ``create_app`` registers is documented (and nothing else),
with the handlers' own request models, the error body, security, the Idempotency-Key header and
the CSV media types; and schemathesis can load every operation of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from schemathesis.core.result import Err, Ok

from api.app import create_app
from api.models import Error
from api.openapi import openapi_document
from api.route_table import DOCUMENTED_AS
from switch.roles import PUBLIC, ROUTES, SESSION
from tests.unit.api.ports import in_process_state

METHODS = ("get", "put", "post", "delete", "patch")


def _app() -> web.Application:
    return create_app(in_process_state())


def _registered() -> set[tuple[str, str]]:
    out = set()
    for route in _app().router.routes():
        assert route.resource is not None
        if route.method == "HEAD":  # aiohttp adds HEAD beside GET; it answers as GET does
            continue
        path = route.resource.canonical
        out.add((route.method, DOCUMENTED_AS.get(path, path)))
    return out


def _documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in METHODS
    }


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi_document()["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def _op(method: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = openapi_document()["paths"][path][method.lower()]
    return op


def test_every_registered_route_is_documented() -> None:
    missing = sorted(_registered() - _documented())
    assert missing == [], f"add a Route to the module's ROUTE_TABLE: {missing}"


def test_nothing_is_documented_that_is_not_served() -> None:
    assert sorted(_documented() - _registered()) == []


# A static directory's documented path (``/docs/assets/{filename}``) -> the one it is registered
# and permitted by (``/docs/assets``).
REGISTERED_AS = {documented: registered for registered, documented in DOCUMENTED_AS.items()}


def test_public_routes_say_so_and_the_others_need_a_bearer_token() -> None:
    for method, path, op in _operations():
        needed = ROUTES.get((method, REGISTERED_AS.get(path, path)))
        if needed == PUBLIC:
            assert op["security"] in ([], [{"clientBasic": []}, {}]), (method, path)
            continue
        assert {"bearer": []} in op["security"], (method, path)
        assert op["x-permission"] == needed
        assert {"401", "403", "429"} <= set(op["responses"]), (method, path)
        if needed == SESSION:
            assert op["security"] == [{"bearer": []}]


def test_client_scopes_are_offered_through_client_credentials() -> None:
    assert _op("POST", "/v1/payouts")["security"] == [
        {"bearer": []},
        {"clientCredentials": ["payouts:write"]},
    ]
    # Managing API clients needs a person who passed two-factor: no client token will do.
    assert _op("POST", "/v1/clients")["security"] == [{"bearer": []}]
    schemes = openapi_document()["components"]["securitySchemes"]
    flow = schemes["clientCredentials"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/v1/oauth/token"
    assert "clients:manage" not in flow["scopes"]


def test_the_token_route_takes_client_credentials_and_answers_oauth_errors() -> None:
    op = _op("POST", "/v1/oauth/token")
    assert "application/x-www-form-urlencoded" in op["requestBody"]["content"]
    assert op["security"] == [{"clientBasic": []}, {}]
    for code in ("400", "401"):
        schema = op["responses"][code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/OAuthError"}


@pytest.mark.parametrize(
    ("method", "path", "model"),
    [
        ("POST", "/v1/payments", "PaymentCreate"),
        ("POST", "/v1/payouts", "PayoutCreate"),
        ("POST", "/v1/transfers", "TransferCreate"),
        ("POST", "/v1/lookups", "LookupRequest"),
        ("POST", "/v1/users", "SignUp"),
        ("POST", "/v1/clients", "ClientIn"),
        ("PATCH", "/v1/merchant", "MerchantPatch"),
        ("PUT", "/v1/c2b/registration", "C2bRegistrationIn"),
        ("PUT", "/v1/operator/merchants/{merchant_id}/limits", "LimitsBody"),
    ],
)
def test_request_bodies_are_the_handlers_models(method: str, path: str, model: str) -> None:
    body = _op(method, path)["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{model}"
    }
    schema = openapi_document()["components"]["schemas"][model]
    assert schema["additionalProperties"] is False  # unknown fields are refused


def test_every_error_answer_is_the_error_body() -> None:
    error_ref = {"$ref": "#/components/schemas/Error"}
    for method, path, op in _operations():
        for code, answer in op["responses"].items():
            if not code.startswith("4") or (path == "/v1/oauth/token" and code in ("400", "401")):
                continue
            if path.startswith(("/callbacks/", "/docs/", "/console/assets/")):
                continue
            schema = answer["content"]["application/json"]["schema"]
            assert schema == error_ref or error_ref in schema.get("anyOf", []), (
                method,
                path,
                code,
            )
    assert set(openapi_document()["components"]["schemas"]["Error"]["required"]) == set(
        Error.model_fields
    )


def test_bodies_bring_400_413_415_and_422() -> None:
    for method, path, op in _operations():
        if "requestBody" in op and path.startswith("/v1/") and path != "/v1/oauth/token":
            assert {"400", "413", "415", "422"} <= set(op["responses"]), (method, path)


def _idempotency(op: dict[str, Any]) -> dict[str, Any] | None:
    found = [p for p in op.get("parameters", []) if p["name"] == "Idempotency-Key"]
    return found[0] if found else None


@pytest.mark.parametrize(
    "path",
    ["/v1/payments", "/v1/payouts", "/v1/transfers", "/v1/payments/{payment_id}/reversal"],
)
def test_money_routes_require_an_idempotency_key(path: str) -> None:
    op = _op("POST", path)
    header = _idempotency(op)
    assert header is not None and header["in"] == "header" and header["required"] is True
    assert header["schema"]["maxLength"] == 255
    assert "409" in op["responses"]


def test_a_batch_needs_a_key_unless_dry_run_and_reads_are_keyless() -> None:
    header = _idempotency(_op("POST", "/v1/payouts/batches"))
    assert header is not None and header["required"] is False
    assert _idempotency(_op("GET", "/v1/payments/{payment_id}")) is None
    assert _idempotency(_op("POST", "/v1/lookups")) is None


def test_path_parameters_are_declared() -> None:
    for method, path, op in _operations():
        names = {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == names, (method, path)


def test_batches_take_and_give_csv() -> None:
    create = _op("POST", "/v1/payouts/batches")["requestBody"]["content"]
    assert {"application/json", "text/csv"} <= set(create)
    item = create["application/json"]["schema"]["properties"]["items"]["items"]
    assert item == {"$ref": "#/components/schemas/PayoutBatchItem"}
    results = _op("GET", "/v1/payouts/batches/{batch_id}/results.csv")["responses"]["200"]
    assert set(results["content"]) == {"text/csv"}
    report = _op("GET", "/v1/reports/suspicious-activity")["responses"]["200"]
    assert set(report["content"]) == {"text/csv"}


def test_a_batch_item_is_a_payout_body_with_an_item_id() -> None:
    schemas = openapi_document()["components"]["schemas"]
    item, payout = schemas["PayoutBatchItem"], schemas["PayoutCreate"]
    assert item["required"] == ["item_id", *payout["required"]]
    assert set(item["properties"]) == {"item_id", *payout["properties"]}


def test_every_reference_resolves() -> None:
    schemas = openapi_document()["components"]["schemas"]
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(openapi_document())
    missing = {r for r in refs if r.rsplit("/", 1)[-1] not in schemas}
    assert refs and missing == set()


def test_operation_ids_are_unique() -> None:
    ids = [op["operationId"] for _, _, op in _operations()]
    assert len(ids) == len(set(ids))


def test_schemathesis_loads_every_operation() -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())
    results = list(schema.get_all_operations())
    errors = [str(r.err()) for r in results if isinstance(r, Err)]
    assert errors == []
    loaded = {(r.ok().method.upper(), r.ok().path) for r in results if isinstance(r, Ok)}
    assert loaded == _documented()
