"""A Postman collection (v2.1) generated from the OpenAPI document, so the two never disagree.

``python -m api.postman`` writes ``docs/postman_collection.json`` (a unit test checks that the
committed file is current). One folder per tag; every request sends ``Authorization: Bearer
{{token}}`` unless the operation needs none (or HTTP Basic, for ``POST /v1/oauth/token``:
``{{clientId}}``/``{{clientSecret}}``); an Idempotency-Key header gets Postman's fresh
``{{$guid}}``; bodies are examples built from the schemas (their ``examples``, defaults, enums).
Set ``baseUrl`` and ``token`` as collection or environment variables.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

from api.openapi import openapi_document

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
OUT = Path(__file__).resolve().parents[1] / "docs" / "postman_collection.json"
_PARAM = re.compile(r"\{([^}]+)\}")
_STRINGS = ("INV1001", "600100", "0712345678", "2026-01-01", "example-1", "A reason given")
_DEPTH = 6  # nested examples stop here (schemas may refer to themselves)
Json = dict[str, Any]


def example(schema: Json, schemas: Json, depth: int = 0) -> Any:
    """A plausible value for ``schema``: its example, default, constant or first choice, else
    one built from its type (objects: required properties and those with examples)."""
    if "$ref" in schema:
        return example(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas, depth)
    for key in ("examples", "enum"):
        if schema.get(key):
            return schema[key][0]
    if "const" in schema:
        return schema["const"]
    if schema.get("default") is not None:
        return schema["default"]
    choices = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if choices:
        usable = [c for c in choices if c.get("type") != "null"] or choices
        return example(usable[0], schemas, depth)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth >= _DEPTH:
            return {}
        required = set(schema.get("required", ()))
        every = bool(schema.get("minProperties"))  # none required, yet one must be given
        return {
            name: example(sub, schemas, depth + 1)
            for name, sub in schema.get("properties", {}).items()
            if every or name in required or _has_example(sub, schemas)
        }
    if kind == "array":
        return [] if depth >= _DEPTH else [example(schema.get("items", {}), schemas, depth + 1)]
    if kind == "string":
        return _string(schema)
    return {"integer": 0, "number": 0, "boolean": False, "null": None}.get(str(kind), "")


def _string(schema: Json) -> str:
    """The first of a few typical values that fits the schema's format, pattern and length."""
    by_format = {"email": "ops@example.com", "date-time": "2026-01-01T00:00:00+03:00"}
    candidates = [by_format.get(str(schema.get("format", "")), "example"), *_STRINGS]
    low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 10_000))
    pattern = re.compile(str(schema.get("pattern", "")))
    for text in candidates:
        if low <= len(text) <= high and pattern.search(text):
            return text
    return "x" * max(low, 1)


def _has_example(schema: Json, schemas: Json) -> bool:
    if "$ref" in schema:
        return _has_example(schemas[schema["$ref"].rsplit("/", 1)[1]], schemas)
    return bool(schema.get("examples"))


def _auth(security: list[Json] | None) -> Json | None:
    """None: the collection's bearer token applies."""
    if security is None or any("bearer" in s for s in security):
        return None
    if any("clientBasic" in s for s in security):
        pair = [("username", "{{clientId}}"), ("password", "{{clientSecret}}")]
        return {"type": "basic", "basic": [_var(k, v) for k, v in pair]}
    return {"type": "noauth"}


def _var(key: str, value: str, description: str = "") -> Json:
    out = {"key": key, "value": value, "type": "string"}
    return out | {"description": description} if description else out


def _url(path: str, params: list[Json]) -> Json:
    postman_path = _PARAM.sub(r":\1", path)
    query = [
        {"key": p["name"], "value": "", "description": p.get("description", ""), "disabled": True}
        for p in params
        if p["in"] == "query"
    ]
    url: Json = {
        "raw": "{{baseUrl}}" + postman_path,
        "host": ["{{baseUrl}}"],
        "path": postman_path.lstrip("/").split("/"),  # "/console/": [..., ""]
    }
    variables = [
        {"key": p["name"], "value": "", "description": p.get("description", "")}
        for p in params
        if p["in"] == "path"
    ]
    if query:
        url["query"] = query
    if variables:
        url["variable"] = variables
    return url


def _body(request_body: Json | None, schemas: Json) -> tuple[Json | None, str | None]:
    """(Postman body, its Content-Type)."""
    if not request_body:
        return None, None
    content = request_body.get("content", {})
    if "application/json" in content:
        value = example(content["application/json"].get("schema", {}), schemas)
        raw = json.dumps(value, indent=2, ensure_ascii=False)
        return {"mode": "raw", "raw": raw, "options": {"raw": {"language": "json"}}}, None
    if "application/x-www-form-urlencoded" in content:
        fields = example(content["application/x-www-form-urlencoded"]["schema"], schemas)
        pairs = [_var(k, str(v)) for k, v in fields.items()]
        return {"mode": "urlencoded", "urlencoded": pairs}, "application/x-www-form-urlencoded"
    kind, media = next(iter(content.items()))
    raw = json.dumps(example(media.get("schema", {}), schemas)) if "json" in kind else ""
    return {"mode": "raw", "raw": raw}, kind


def _request(path: str, method: str, op: Json, schemas: Json) -> Json:
    params = op.get("parameters", [])
    headers = [
        _var(p["name"], "{{$guid}}" if p["name"] == "Idempotency-Key" else "", p["description"])
        for p in params
        if p["in"] == "header"
    ]
    body, content_type = _body(op.get("requestBody"), schemas)
    if content_type:
        headers.append(_var("Content-Type", content_type))
    request: Json = {"method": method.upper(), "header": headers, "url": _url(path, params)}
    if body is not None:
        request["body"] = body
    auth = _auth(op.get("security"))
    if auth is not None:
        request["auth"] = auth
    description = op.get("description") or ""
    if op.get("deprecated"):
        description = f"**Deprecated.** {description}".strip()
    if description:
        request["description"] = description
    return {"name": op.get("summary") or f"{method.upper()} {path}", "request": request}


def collection(document: Json | None = None) -> Json:
    doc = document or json.loads(json.dumps(openapi_document()))  # as served: string keys
    schemas = doc.get("components", {}).get("schemas", {})
    folders: dict[str, list[Json]] = {}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and "responses" in op:
                tag = (op.get("tags") or ["Other"])[0]
                folders.setdefault(tag, []).append(_request(path, method, op, schemas))
    info = doc["info"]
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{info['title']}/postman")),
            "name": info["title"],
            "description": info.get("description", ""),
            "version": info["version"],
            "schema": SCHEMA_URL,
        },
        "auth": {"type": "bearer", "bearer": [_var("token", "{{token}}")]},
        "variable": [
            _var("baseUrl", "http://127.0.0.1:8080", "The switch's address (no trailing /)."),
            _var("token", "", "POST /v1/oauth/token's access_token, or a session token."),
            _var("clientId", "", "An API client's id, for POST /v1/oauth/token."),
            _var("clientSecret", "", "That client's secret."),
        ],
        "item": [{"name": tag, "item": items} for tag, items in folders.items()],
    }


def render() -> str:
    return json.dumps(collection(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    sys.stdout.write(f"wrote {OUT}\n")
