"""Schemathesis against the live stack, driven by the document the api serves at /openapi.json.

Every documented operation except provider callbacks (they carry per-payment tokens no
generator can guess) and Server-Sent Event streams (they stay open) gets a bounded number of
generated requests: valid ones, invalid ones (negative mode) and the schema's own examples. Each
request goes with the token its route needs: the operator's for operator routes, a signed-in
owner's (two-factor passed) for people-only routes, the merchant's API client otherwise, so the
fuzzing reaches the handlers instead of stopping at 403.

An answer fails when it is a 5xx (a 503 with Retry-After passes only where the operation
documents it: an open circuit or an overloaded shard), or when schemathesis finds it outside
the document: an undocumented status, content type or header, a body not matching its schema,
or invalid input accepted. Every failure is collected, de-duplicated and printed before the
assertion, so one run shows them all.

The generator runs in a thread: the stack serves in this test's event loop, which must keep
running while the blocking HTTP client waits for answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode, Response
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.stack import Stack
from infra.merchants import create_operator_client
from switch import totp
from switch.roles import MERCHANT_API_SCOPES, OPERATOR, PUBLIC

from .helpers import Api, basic_auth, unique_phone

pytestmark = pytest.mark.integration

# Examples per operation and mode. The same ones every run (derandomized); for a longer hunt,
# SWITCH_FUZZ_SCALE=10 SWITCH_FUZZ_RANDOM=1 sends ten times as many, new ones each time.
SCALE = float(os.environ.get("SWITCH_FUZZ_SCALE", "1"))
RANDOM = os.environ.get("SWITCH_FUZZ_RANDOM") == "1"
EXAMPLES = {GenerationMode.POSITIVE: round(25 * SCALE), GenerationMode.NEGATIVE: round(15 * SCALE)}
KNOWN_ID_EXAMPLES = round(6 * SCALE)  # per operation whose path names only objects made before
SKIPPED_PREFIXES = ("/callbacks/",)
STREAMS = ("text/event-stream",)
# Not `negative_data_rejection`: some routes answer invalid input with 200 by design (a batch
# dry run reports every invalid line; unknown query parameters are ignored outside /v1/audit).
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
REQUEST_TIMEOUT = 15.0
PASSWORD = "Kilimanjaro-2026"
CLIENT_SCOPES = frozenset(MERCHANT_API_SCOPES.split())
# Routes a client's scope allows but that only a person may use (four eyes on held payments).
PEOPLE_ONLY = ("/v1/reviews/",)


@dataclass
class Findings:
    """Failures by (operation, title): the first example of each, and how often it was seen."""

    seen: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)
    requests: int = 0
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)  # operation -> counts

    def answered(self, operation: str, status: int) -> None:
        self.requests += 1
        counts = self.statuses.setdefault(operation, {})
        counts[status] = counts.get(status, 0) + 1

    def summary(self) -> str:
        return "\n".join(
            f"  {op}: {dict(sorted(c.items()))}" for op, c in sorted(self.statuses.items())
        )

    def add(self, operation: str, title: str, detail: str) -> None:
        first, count = self.seen.get((operation, title), (detail, 0))
        self.seen[(operation, title)] = (first, count + 1)

    def report(self) -> str:
        lines = [f"{len(self.seen)} distinct failures in {self.requests} requests:"]
        for (operation, title), (detail, count) in sorted(self.seen.items()):
            lines.append(f"\n=== {operation}: {title} (x{count})\n{detail[:3000]}")
        return "\n".join(lines)


def server_error(case: Case[Any], response: Response) -> str | None:
    """Why a 5xx answer is a failure; None for anything else and for a documented 503 that says
    when to retry."""
    status = response.status_code
    if status < 500:
        return None
    documented = str(status) in case.operation.definition.raw.get("responses", {})
    retry_after = any(k.lower() == "retry-after" and v for k, v in response.headers.items())
    if status == 503 and documented and retry_after:
        return None
    return f"{status} {'documented' if documented else 'undocumented'}: {response.text_lossy()}"


def describe(case: Case[Any], response: Response | None) -> str:
    curl = case.as_curl_command(headers={"Authorization": "Bearer <token>"})
    if response is None:
        return curl
    return f"{curl}\n-> {response.status_code} {response.text_lossy()[:800]}"


@dataclass(frozen=True)
class Tokens:
    client: str
    person: str
    operator: str

    def for_route(self, path: str, needed: str) -> str:
        if needed == OPERATOR:
            return self.operator
        if path.startswith(PEOPLE_ONLY):
            return self.person
        return self.client if needed in CLIENT_SCOPES or needed == PUBLIC else self.person


@dataclass
class Fuzzer:
    """Blocking: sends the generated requests of one operation after another; failures are
    collected, never raised (raising would make hypothesis shrink and re-send)."""

    base: str
    tokens: Tokens
    known: dict[str, str]  # path parameter -> the id of an object made beforehand
    findings: Findings = field(default_factory=Findings)
    http: requests.Session = field(default_factory=requests.Session)

    def run(self, doc: dict[str, Any]) -> Findings:
        schema = schemathesis.openapi.from_dict(doc)
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                self.findings.add("document", "operation not loadable", str(result.err()))
                continue
            operation = result.ok()
            raw = operation.definition.raw
            if operation.path.startswith(SKIPPED_PREFIXES) or _streams(raw):
                continue
            token = self.tokens.for_route(operation.path, str(raw.get("x-permission", PUBLIC)))
            headers = {"Authorization": f"Bearer {token}"}
            for mode, count in EXAMPLES.items():
                self._run(operation.as_strategy(generation_mode=mode), count, headers)
            for strategy in schema.get_strategies_from_examples(operation):
                self._run(strategy, 3, headers)
            names = [p["name"] for p in raw.get("parameters", []) if p["in"] == "path"]
            if names and all(n in self.known for n in names):
                ids = {n: self.known[n] for n in names}
                strategy = operation.as_strategy(path_parameters=ids)
                self._run(strategy, KNOWN_ID_EXAMPLES, headers)
            if any(p["name"] == "phone" and p["in"] == "query" for p in raw.get("parameters", [])):
                strategy = operation.as_strategy(query={"phone": self.known["phone"]})
                self._run(strategy, KNOWN_ID_EXAMPLES, headers)
        return self.findings

    def _run(
        self,
        strategy: st.SearchStrategy[Case[Any]],
        count: int,
        headers: dict[str, str],
    ) -> None:
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            derandomize=not RANDOM,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Case[Any]) -> None:
            self.exercise(case, headers)

        with contextlib.suppress(Unsatisfiable):  # nothing to generate, e.g. to make invalid
            run()

    def exercise(self, case: Case[Any], headers: dict[str, str]) -> None:
        label = case.operation.label
        response = None
        try:
            response = case.call(
                base_url=self.base, session=self.http, headers=headers, timeout=REQUEST_TIMEOUT
            )
            self.findings.answered(label, response.status_code)
            problem = server_error(case, response)
            if problem is not None:
                self.findings.add(label, "server error", f"{problem}\n{describe(case, response)}")
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                self.findings.add(label, _title(failure), describe(case, response))
        except Failure as failure:
            self.findings.add(label, _title(failure), describe(case, response))
        except requests.RequestException as exc:
            self.findings.add(label, f"no answer: {type(exc).__name__}", describe(case, None))


def _streams(raw: dict[str, Any]) -> bool:
    answers = raw.get("responses", {}).values()
    return any(media in STREAMS for a in answers for media in a.get("content", {}))


def _title(failure: Failure) -> str:
    return f"{type(failure).__name__}: {failure.title}"


# --- the callers ----------------------------------------------------------------------------


async def _token(http: aiohttp.ClientSession, base: str, client_id: str, secret: str) -> str:
    form = {"grant_type": "client_credentials"}
    async with http.post(
        f"{base}/v1/oauth/token", data=form, headers=basic_auth(client_id, secret)
    ) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["access_token"])


async def _call(
    http: aiohttp.ClientSession, base: str, path: str, body: Any = None, token: str = ""
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(base + path, json=body, headers=headers) as resp:
        answer: dict[str, Any] = await resp.json()
        assert resp.status in (200, 201, 202), answer
        return answer


async def _owner_with_two_factor(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    """A new organisation's owner, signed in with a TOTP code: a session allowed every
    people-only route (clients, invitations, webhook URL, erasures)."""
    email = f"fuzz{time.time_ns()}@duka.co.ke"
    person = {"email": email, "password": PASSWORD, "name": "Fuzz Owner", "organisation": "Fuzz"}
    await _call(http, base, "/v1/users", person)
    login = {"email": email, "password": PASSWORD}
    session = (await _call(http, base, "/v1/auth/login", login))["access_token"]
    secret = (await _call(http, base, "/v1/users/me/totp", token=session))["secret"]
    code = totp.code_at(secret, time.time())
    confirmed = await _call(http, base, "/v1/users/me/totp/confirm", {"code": code}, session)
    assert confirmed["mfa"] is True
    return confirmed


async def _known_ids(
    http: aiohttp.ClientSession, base: str, merchant: Api, tokens: Tokens, person: dict[str, Any]
) -> dict[str, str]:
    """Real objects for the path parameters, so generated requests also reach past the 404:
    a payment, a payout batch, an API client (revoked by the fuzzing, perhaps), a provider-float
    query and the fuzz owner's own merchant (for the operator's KYC and limits routes)."""
    phone = unique_phone()
    payment = await merchant.pay(phone)
    client = await _call(
        http, base, "/v1/clients", {"name": "fuzz", "scopes": ["payments:read"]}, tokens.person
    )
    item = {
        "item_id": "fuzz1",
        "method": "mpesa_b2c",
        "amount": "100",
        "currency": "KES",
        "phone": unique_phone(),
        "reference": "FUZZ",
    }
    async with http.post(
        f"{base}/v1/payouts/batches",
        json={"items": [item]},
        headers={**merchant.auth, "Idempotency-Key": f"fuzz-{time.time_ns()}"},
    ) as resp:
        batch = await resp.json()
        assert resp.status == 202, batch
    query = await _call(http, base, "/v1/operator/provider-balance", token=tokens.operator)
    benefits = await _benefits(http, base, merchant)
    return {
        **benefits,
        "payment_id": payment["id"],
        "batch_id": batch["id"],
        "client_id": client["id"],
        "query_id": query["id"],
        "merchant_id": person["merchant_id"],
        "phone": phone,  # a query value: GET /v1/payments?phone= finds the payment
    }


async def _benefits(http: aiohttp.ClientSession, base: str, merchant: Api) -> dict[str, str]:
    """A benefits programme with one beneficiary and a run planned (api/benefits*.py)."""

    async def post(path: str, body: Any) -> dict[str, Any]:
        headers = {**merchant.auth, "Idempotency-Key": f"fuzz-{time.time_ns()}"}
        async with http.post(base + path, json=body, headers=headers) as resp:
            answer: dict[str, Any] = await resp.json()
            assert resp.status == 201, answer
            return answer

    body = {"name": "Fuzz", "rail": "mpesa_b2c", "amount": "100", "reference": "FUZZ"}
    programme = await post("/v1/benefits/programmes", body)
    path = f"/v1/benefits/programmes/{programme['id']}"
    person = {"national_id": "23456789", "phone": unique_phone(), "name": "Jane Doe"}
    beneficiary = await post(f"{path}/beneficiaries", person)
    run = await post(f"{path}/runs", {"cycle": "2026-01"})
    return {"programme_id": programme["id"], "beneficiary_id": beneficiary["id"],
            "run_id": run["id"]}  # fmt: skip


async def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(
    stack: Stack, merchant: Api
) -> None:
    assert stack.state is not None
    http, base = merchant.http, stack.api_url
    async with http.get(f"{base}/openapi.json") as resp:
        doc = await resp.json()
    operator = await create_operator_client(stack.state.cols)
    person = await _owner_with_two_factor(http, base)
    tokens = Tokens(
        client=merchant.token,
        person=person["access_token"],
        operator=await _token(http, base, operator["client_id"], operator["client_secret"]),
    )
    known = await _known_ids(http, base, merchant, tokens, person)
    started = time.monotonic()
    findings = await asyncio.to_thread(Fuzzer(base, tokens, known).run, doc)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {findings.requests} requests in {elapsed:.0f} s\n{findings.summary()}")
    if findings.seen:
        print(findings.report())
    assert findings.requests > 1000 * SCALE
    assert not findings.seen, findings.report()
