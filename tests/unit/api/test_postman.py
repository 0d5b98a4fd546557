"""The Postman collection (api/postman.py): current with the OpenAPI document, one folder per
tag, every operation once, and example bodies the API's own schemas accept."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from api.openapi import openapi_document
from api.postman import OUT, SCHEMA_URL, collection, example, render

DOC = json.loads(json.dumps(openapi_document()))


def _requests(c: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (i["request"]["method"], i["request"]["url"]["raw"]): i["request"]
        for folder in c["item"]
        for i in folder["item"]
    }


def test_the_committed_collection_is_current() -> None:
    assert OUT.read_text() == render(), "run `python -m api.postman` and commit the file"


def test_every_operation_is_in_its_tags_folder_once() -> None:
    c = collection()
    assert c["info"]["schema"] == SCHEMA_URL
    operations = [
        (method.upper(), path, op["tags"][0])
        for path, ops in DOC["paths"].items()
        for method, op in ops.items()
        if isinstance(op, dict) and "responses" in op
    ]
    placed = [
        (i["request"]["method"], "/" + "/".join(i["request"]["url"]["path"]), folder["name"])
        for folder in c["item"]
        for i in folder["item"]
    ]
    expected = [(m, p.replace("{", ":").replace("}", ""), tag) for m, p, tag in operations]
    assert sorted(placed) == sorted(expected)


def test_authentication_idempotency_and_path_variables() -> None:
    requests = _requests(collection())
    assert collection()["auth"]["type"] == "bearer"
    create = requests[("POST", "{{baseUrl}}/v1/payments")]
    assert {"key": "Idempotency-Key", "value": "{{$guid}}"}.items() <= create["header"][0].items()
    assert "auth" not in create  # the collection's bearer token
    token = requests[("POST", "{{baseUrl}}/v1/oauth/token")]
    assert token["auth"]["type"] == "basic"
    assert token["body"]["mode"] == "urlencoded"
    assert requests[("POST", "{{baseUrl}}/v1/auth/login")]["auth"] == {"type": "noauth"}
    one = requests[("GET", "{{baseUrl}}/v1/payments/:payment_id")]
    assert [v["key"] for v in one["url"]["variable"]] == ["payment_id"]


def test_every_example_body_is_valid_for_its_schema() -> None:
    requests = _requests(collection())
    checked = 0
    for path, ops in DOC["paths"].items():
        for method, op in ops.items():
            content = (op.get("requestBody") or {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            raw = path.replace("{", ":").replace("}", "")
            body = json.loads(requests[(method.upper(), "{{baseUrl}}" + raw)]["body"]["raw"])
            validator = jsonschema.Draft202012Validator({"components": DOC["components"], **schema})
            assert not list(validator.iter_errors(body)), (method, path, body)
            checked += 1
    assert checked > 10


def test_examples_follow_the_schema_hints() -> None:
    schemas = {"Ref": {"type": "string", "examples": ["given"]}}
    assert example({"$ref": "#/components/schemas/Ref"}, schemas) == "given"
    assert example({"type": "string", "pattern": "^[0-9]{5,7}$"}, {}) == "600100"
    assert example({"anyOf": [{"type": "null"}, {"enum": ["a", "b"]}]}, {}) == "a"
    optional = {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert example(optional, {}) == {}
    assert example(optional | {"minProperties": 1}, {}) == {"x": 0}
