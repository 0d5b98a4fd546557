"""Onboarding with KYC through the public API (api/kyc.py, api/kyc_review.py), on the real
stack: an application approved after a two-person review, one refused (a director on the
sanctions list), documents sealed at rest, every decision audited, and a merchant whose KYC is
not approved refused live payments by a switch running outside sandbox mode.

Applicants are owners signed in (session tokens from :func:`switch.users.session_for`, as in
test_compliance.py); reviewers are operator clients, one per person."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from app.stack import Stack
from infra.merchants import create_merchant, create_operator_client
from infra.storage.mongo import Collections, collections, connect
from switch.ids import new_id
from switch.payments import now_utc
from switch.security.sanctions import SAMPLE_LIST
from switch.users import session_for

from .conftest import free_port, stack_environment
from .helpers import basic_auth, stk_body, unique_phone
from .switch_process import wait_ready

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xc0\x00\x0b\x08\x00\x10\x00\x10\x01\x01\x11\x00"
    b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x12\x34\x56\xff\xd9"
)


def unique(data: bytes) -> bytes:
    """The file with a comment of its own, so no two uploads share a digest (a document
    uploaded for another merchant too counts in the risk score)."""
    tag = uuid.uuid4().hex.encode()
    if data.startswith(b"%PDF"):
        return data.replace(b"\ntrailer", b"\n%" + tag + b"\ntrailer")
    return data[:2] + b"\xff\xfe\x00\x22" + tag + data[2:]  # a JPEG COM segment


@dataclass
class Caller:
    http: aiohttp.ClientSession
    base: str
    token: str

    async def call(self, method: str, path: str, json: Any = None, **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        async with self.http.request(
            method, self.base + path, json=json, headers=headers, **kw
        ) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.read()


async def _owner(cols: Collections, key: bytes, http: aiohttp.ClientSession, base: str,
                 merchant_id: str) -> Caller:  # fmt: skip
    user = {
        "_id": new_id("usr"),
        "email": f"{uuid.uuid4().hex[:10]}@duka.co.ke",
        "name": "An owner",
        "merchant_id": merchant_id,
        "role": "owner",
        "password_hash": "unused",
        "status": "active",
        "created_at": now_utc(),
    }
    await cols.users.insert_one(user)
    return Caller(http, base, session_for(key, user, 0, True, time.time()).token)


async def _operator(cols: Collections, http: aiohttp.ClientSession, base: str) -> Caller:
    client = await create_operator_client(cols)
    auth = basic_auth(client["client_id"], client["client_secret"])
    form = {"grant_type": "client_credentials"}
    async with http.post(f"{base}/v1/oauth/token", data=form, headers=auth) as resp:
        assert resp.status == 200, await resp.text()
        return Caller(http, base, (await resp.json())["access_token"])


def _digits(n: int) -> str:
    return f"{uuid.uuid4().int % 10**n:0{n}d}"


def details(director: str = "Achieng Atieno Odhiambo", national_id: str = "", pin: str = "",
            number: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "legal_name": "Duka Traders Limited",
        "registration_number": number or f"PVT-{_digits(7)}",
        "kra_pin": pin or f"P{_digits(9)}K",
        "directors": [
            {"name": director, "national_id": national_id or _digits(8), "phone": "0712345678"}
        ],
    }


async def _upload(applicant: Caller, app_id: str, kind: str, data: bytes, ctype: str,
                  name: str) -> tuple[int, Any]:  # fmt: skip
    return await applicant.call(
        "POST",
        f"/v1/kyc/applications/{app_id}/documents",
        params={"kind": kind, "filename": name},
        data=data,
        headers={"Content-Type": ctype},
    )


async def _submitted(applicant: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """An application with its three documents, submitted."""
    status, app = await applicant.call("POST", "/v1/kyc/applications", body)
    assert status == 201, app
    for kind, data, ctype, name in (
        ("certificate_of_incorporation", PDF, "application/pdf", "incorporation.pdf"),
        ("kra_pin_certificate", PDF, "application/pdf", "pin.pdf"),
        ("director_id", JPEG, "image/jpeg", "id.jpg"),
    ):
        status, doc = await _upload(applicant, app["id"], kind, unique(data), ctype, name)
        assert status == 201, doc
    status, app = await applicant.call("POST", f"/v1/kyc/applications/{app['id']}/submit")
    assert status == 200, app
    assert app["status"] == "submitted"
    return app  # type: ignore[no-any-return]


@pytest.fixture
async def desk(stack: Stack, http: aiohttp.ClientSession) -> tuple[Caller, Caller]:
    assert stack.state is not None
    return (
        await _operator(stack.state.cols, http, stack.api_url),
        await _operator(stack.state.cols, http, stack.api_url),
    )


async def _pending_merchant(stack: Stack, http: aiohttp.ClientSession) -> tuple[str, Caller]:
    assert stack.state is not None
    cols = stack.state.cols
    made = await create_merchant(cols, "Duka Traders", None, kyc_status="pending")
    owner = await _owner(cols, stack.state.secret_key, http, stack.api_url, made.merchant_id)
    return made.merchant_id, owner


async def _actions(cols: Collections, target: str) -> list[str]:
    return [d["action"] async for d in cols.audit.find({"target": target}).sort("_id", 1)]


async def test_an_application_above_the_threshold_is_approved_by_two_operators(
    stack: Stack, http: aiohttp.ClientSession, desk: tuple[Caller, Caller]
) -> None:
    assert stack.state is not None
    cols = stack.state.cols
    first, second = desk
    # Another merchant applied with the same director: the checks find it (+15), and a company
    # with an individual's KRA PIN (+15) takes the score to the threshold, 30.
    shared_id = _digits(8)
    _, sister = await _pending_merchant(stack, http)
    await _submitted(sister, details(national_id=shared_id))
    merchant_id, owner = await _pending_merchant(stack, http)

    # Bad input changes nothing and names the field.
    bad = {**details(), "kra_pin": "A12345", "registration_number": "PVT-12"}
    status, refused = await owner.call("POST", "/v1/kyc/applications", bad)
    assert status == 422
    assert {d["field"] for d in refused["error"]["details"]} == {"kra_pin", "registration_number"}

    body = details(national_id=shared_id, pin=f"A{_digits(9)}Z")
    status, app = await owner.call("POST", "/v1/kyc/applications", body)
    assert status == 201, app
    app_id = app["id"]
    assert app["status"] == "draft"
    assert app["directors"][0]["national_id"] == "*****" + shared_id[-3:]
    # A PDF carrying JavaScript, an image named as a PDF: refused, nothing stored.
    evil = PDF.replace(b"/Type /Catalog", b"/OpenAction << /S /JavaScript /JS (x) >>")
    status, err = await _upload(owner, app_id, "kra_pin_certificate", evil, "application/pdf",
                                "pin.pdf")  # fmt: skip
    assert (status, err["error"]["details"][0]["field"]) == (422, "file"), err
    assert "active content" in err["error"]["details"][0]["reason"]
    status, err = await _upload(owner, app_id, "director_id", JPEG, "image/jpeg", "id.pdf")
    assert status == 422, err
    status, err = await owner.call("POST", f"/v1/kyc/applications/{app_id}/submit")
    assert (status, err["error"]["details"][0]["field"]) == (422, "documents")
    app = await _resubmit(owner, app_id)
    assert "assessment" not in app  # the applicant never sees the checks

    # The operators see the checks; two different ones must approve.
    status, seen = await first.call("GET", f"/v1/operator/kyc/applications/{app_id}")
    assert status == 200, seen
    assert seen["assessment"]["score"] == 30
    assert {f["code"] for f in seen["assessment"]["factors"]} == {
        "duplicate_director",
        "kra_pin_kind_mismatch",
    }
    assert seen["approvals_needed"] == 2
    assert seen["directors"][0]["national_id"] == shared_id  # opened for operators
    status, queue = await first.call("GET", "/v1/operator/kyc/applications?status=submitted")
    assert app_id in [a["id"] for a in queue["data"]]
    # The applicant cannot use the operators' routes.
    status, _ = await owner.call("POST", f"/v1/operator/kyc/applications/{app_id}/approve", {})
    assert status == 403

    path = f"/v1/operator/kyc/applications/{app_id}/approve"
    status, after = await first.call("POST", path, {"reason": "documents match the registry"})
    assert (status, after["status"], after["approvals"]) == (200, "submitted", [
        "operator:" + after["approvals"][0].split(":", 1)[1]])  # fmt: skip
    merchant = await cols.merchants.find_one({"_id": merchant_id})
    assert merchant is not None and merchant["kyc_status"] == "pending"
    status, again = await first.call("POST", path, {})
    assert (status, again["error"]["code"]) == (409, "already_approved")
    status, after = await second.call("POST", path, {})
    assert (status, after["status"]) == (200, "approved"), after
    merchant = await cols.merchants.find_one({"_id": merchant_id})
    assert merchant is not None and merchant["kyc_status"] == "verified"
    status, mine = await owner.call("GET", f"/v1/kyc/applications/{app_id}")
    assert mine["status"] == "approved"

    # Documents: sealed at rest, opened for operators only, each view audited.
    doc_id = next(d["id"] for d in seen["documents"] if d["kind"] == "certificate_of_incorporation")
    db = cols.merchants.database
    raw = await db["kyc_documents"].find_one({"_id": doc_id})
    assert (
        raw is not None and b"%PDF" not in bytes(raw["sealed"]) and PDF not in bytes(raw["sealed"])
    )
    raw_app = await db["kyc_applications"].find_one({"_id": app_id})
    assert raw_app is not None
    assert shared_id not in str(raw_app) and body["kra_pin"] not in str(raw_app)
    assert "254712345678" not in str(raw_app) and "Achieng" not in str(raw_app)
    doc_path = f"/v1/operator/kyc/applications/{app_id}/documents/{doc_id}"
    status, opened = await second.call("GET", doc_path)
    assert status == 200
    assert opened.startswith(PDF[:40]) and opened.endswith(b"%%EOF\n")
    status, _ = await owner.call("GET", doc_path)
    assert status == 403
    actions = await _actions(cols, f"kyc:{app_id}")
    assert actions[:2] == ["kyc.create", "kyc.document"]
    assert actions[-4:] == ["kyc.submit", "kyc.endorse", "kyc.approve", "kyc.document.view"]
    assert "merchant.kyc" in await _actions(cols, f"merchant:{merchant_id}")


async def _resubmit(owner: Caller, app_id: str) -> dict[str, Any]:
    for kind, data, ctype, name in (
        ("certificate_of_incorporation", PDF, "application/pdf", "incorporation.pdf"),
        ("kra_pin_certificate", PDF, "application/pdf", "pin.pdf"),
        ("director_id", JPEG, "image/jpeg", "id.jpg"),
    ):
        status, doc = await _upload(owner, app_id, kind, unique(data), ctype, name)
        assert status == 201, doc
    status, app = await owner.call("POST", f"/v1/kyc/applications/{app_id}/submit")
    assert (status, app["status"]) == (200, "submitted"), app
    return app  # type: ignore[no-any-return]


async def test_a_director_on_the_sanctions_list_is_refused(
    stack: Stack, http: aiohttp.ClientSession, desk: tuple[Caller, Caller]
) -> None:
    assert stack.state is not None
    first, _ = desk
    merchant_id, owner = await _pending_merchant(stack, http)
    app = await _submitted(owner, details(director="Barney Fictitia"))  # TEST-001's alias
    path = f"/v1/operator/kyc/applications/{app['id']}"
    status, seen = await first.call("GET", path)
    hit = next(f for f in seen["assessment"]["factors"] if f["code"] == "sanctions_hit")
    assert hit["hits"][0]["entry"] == "TEST-001"
    assert seen["approvals_needed"] == 2
    status, err = await first.call("POST", path + "/reject", {})
    assert (status, err["error"]["code"]) == (422, "reason_required")
    status, done = await first.call("POST", path + "/reject", {"reason": "director sanctioned"})
    assert (status, done["status"]) == (200, "rejected"), done
    status, mine = await owner.call("GET", f"/v1/kyc/applications/{app['id']}")
    assert (mine["status"], mine["reasons"]) == ("rejected", ["director sanctioned"])
    assert "assessment" not in mine
    status, late = await first.call("POST", path + "/approve", {})
    assert (status, late["error"]["code"]) == (409, "not_in_review")
    merchant = await stack.state.cols.merchants.find_one({"_id": merchant_id})
    assert merchant is not None and merchant["kyc_status"] == "pending"
    assert (await _actions(stack.state.cols, f"kyc:{app['id']}"))[-1] == "kyc.reject"


# --- live traffic: a switch outside sandbox mode ------------------------------------------------


@asynccontextmanager
async def live_switch(
    stack: Stack, tmp: str, **extra: str
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """``serve`` without --sandbox, on a database of its own, with the session's M-Pesa
    simulator (``extra``: more of its environment); its address and environment. It joins the
    session's Ray cluster in a namespace of its own: starting a Ray of its own took 20 to 80 s
    of a loaded machine (a Ray without RAY_ADDRESS is test_chaos's)."""
    assert stack.settings.ray_address
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCH_", "RAY_"))}
    env |= stack_environment(
        tmp,
        MONGODB_URI=stack.settings.mongodb_uri or "",
        SWITCH_MPESA_BASE_URL=stack.sim_url,
        SWITCH_PORT=str(port),
        SWITCH_RAY_NAMESPACE=f"live-{uuid.uuid4().hex[:8]}",
        RAY_ADDRESS=stack.settings.ray_address,
        RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "token"),
        SWITCH_SANCTIONS_LIST_FILE=str(SAMPLE_LIST),
        **extra,
    )
    proc = subprocess.Popen([sys.executable, "-m", "switch", "serve"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(proc, base)
        yield base, env
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)


@pytest.fixture
async def live(stack: Stack, tmp_path: object) -> AsyncIterator[tuple[str, dict[str, str]]]:
    async with live_switch(stack, str(tmp_path)) as running:
        yield running


async def test_a_merchant_not_approved_is_refused_live_payments(
    live: tuple[str, dict[str, str]], http: aiohttp.ClientSession
) -> None:
    base, env = live
    client = connect(env["MONGODB_URI"])
    cols = collections(client, env["SWITCH_MONGODB_DB"])
    made = await create_merchant(cols, "Live Duka", None, kyc_status="pending")
    form = {"grant_type": "client_credentials"}
    async with http.post(f"{base}/v1/oauth/token", data=form,
                         headers=basic_auth(made.client_id, made.client_secret)) as r:  # fmt: skip
        merchant = Caller(http, base, (await r.json())["access_token"])

    async def pay() -> tuple[int, Any]:
        return await merchant.call(
            "POST", "/v1/payments", stk_body(unique_phone()),
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip

    status, refused = await pay()
    assert (status, refused["error"]["code"]) == (403, "kyc_pending"), refused
    assert await cols.payments.count_documents({"merchant_id": made.merchant_id}) == 0

    # The live switch's token key, which it made and keeps in its own database.
    kept = await cols.settings.find_one({"_id": "secret_key"})
    assert kept is not None
    owner = await _owner(cols, base64.b64decode(kept["value"]), http, base, made.merchant_id)
    app = await _submitted(owner, details())
    operator = await _operator(cols, http, base)
    status, seen = await operator.call("GET", f"/v1/operator/kyc/applications/{app['id']}")
    assert (seen["assessment"]["score"], seen["approvals_needed"]) == (0, 1), seen
    status, done = await operator.call(
        "POST", f"/v1/operator/kyc/applications/{app['id']}/approve", {}
    )
    assert (status, done["status"]) == (200, "approved"), done
    status, accepted = await pay()  # the owning shard was told: no wait for its cache
    assert status == 202, accepted
    await client.close()
