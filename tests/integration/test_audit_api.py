"""The audit trail through the public API and the command line: a merchant's auditor reads its
own organisation's records (filters, paging), never another's; the operator's auditor client
reads everything and the chain's head; ``python -m switch audit verify`` passes on an intact
trail and names the first bad record after a record is altered directly in MongoDB."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from typing import Any

import aiohttp
import orjson
import pytest

from app.stack import Stack
from infra.audit import AuditLog

from .helpers import Api, basic_auth
from .test_users import Person, owner_with_totp

pytestmark = pytest.mark.integration


async def _audit(
    person_or_token: Person | str, base: str, http: aiohttp.ClientSession, query: str = ""
) -> tuple[int, Any]:
    token = person_or_token if isinstance(person_or_token, str) else person_or_token.token
    async with http.get(
        f"{base}/v1/audit{query}", headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        return resp.status, await resp.json()


async def _cli(stack: Stack, *args: str, db: str | None = None) -> tuple[int, str]:
    """``python -m switch`` against the session's database (or another one on that server)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCH_")}
    env["MONGODB_URI"] = stack.settings.mongodb_uri or ""
    env["SWITCH_MONGODB_DB"] = db or stack.settings.mongodb_db
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switch",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode()


async def test_a_merchant_reads_its_own_trail(stack: Stack, http: aiohttp.ClientSession) -> None:
    base = stack.api_url
    owner = await owner_with_totp(http, base)
    other = await owner_with_totp(http, base)
    async with http.patch(
        f"{base}/v1/merchant",
        json={"webhook_url": "https://hooks.example.com/in?token=s3cret"},
        headers=owner.auth,
    ) as resp:
        assert resp.status == 200, await resp.text()

    status, page = await _audit(owner, base, http)
    assert status == 200, page
    actions = [r["action"] for r in page["data"]]
    assert actions[0] == "user.signup" and "user.login" in actions
    assert actions[-1] == "merchant.webhook_url"
    change = page["data"][-1]
    assert change["actor"].startswith("user:")
    assert change["target"] == f"merchant:{owner.merchant_id}"
    assert change["before"] == {"webhook_url": None}
    # The query string (a receiver's token) never reaches the immutable trail.
    assert change["after"] == {"webhook_url": "https://hooks.example.com/in?..."}
    assert "s3cret" not in str(page)
    assert len(change["hash"]) == 64 and change["prev_hash"] != change["hash"]
    assert "head" not in page  # the chain's head is the operator's

    seqs = [r["seq"] for r in page["data"]]
    assert seqs == sorted(seqs)
    # Another organisation sees none of it.
    _, theirs = await _audit(other, base, http)
    assert not set(seqs) & {r["seq"] for r in theirs["data"]}

    # Filters and paging.
    _, only = await _audit(owner, base, http, "?action=merchant.webhook_url")
    assert [r["seq"] for r in only["data"]] == [change["seq"]]
    _, first = await _audit(owner, base, http, "?limit=1")
    assert first["has_more"] is True and first["next_after_seq"] == seqs[0]
    _, rest = await _audit(owner, base, http, f"?after_seq={first['next_after_seq']}")
    assert [r["seq"] for r in rest["data"]] == seqs[1:]
    for bad in ("?limit=0", "?limit=1001", "?after_seq=-1", "?sort=desc", "?actor=a%20b"):
        status, body = await _audit(owner, base, http, bad)
        assert status == 422, bad
        assert body["error"]["code"] == "validation_failed"


async def test_an_api_client_without_audit_read_is_refused(merchant: Api) -> None:
    status, body = await _audit(merchant.token, merchant.base, merchant.http)
    assert status == 403 and body["error"]["code"] == "forbidden"


async def test_the_operator_auditor_sees_everything(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    owner = await owner_with_totp(http, stack.api_url)
    code, out = await _cli(stack, "audit", "client")
    assert code == 0, out
    created = orjson.loads(out[out.index("{") :])
    assert created["scopes"] == ["audit:read"]
    async with http.post(
        f"{stack.api_url}/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(created["id"], created["client_secret"]),
    ) as resp:
        token = (await resp.json())["access_token"]
    _, page = await _audit(token, stack.api_url, http, f"?target=user:{_user_id(owner)}&limit=1000")
    assert [r["action"] for r in page["data"]][:1] == ["user.signup"]
    _, everything = await _audit(token, stack.api_url, http, "?action=client.create")
    assert any(r["target"] == f"client:{created['id']}" for r in everything["data"])
    assert everything["head"]["seq"] >= everything["data"][-1]["seq"]
    # The head printed by the CLI is the one the API shows, or a later one.
    code, out = await _cli(stack, "audit", "head")
    assert code == 0 and orjson.loads(out.strip().splitlines()[-1])["seq"] >= 1


def _user_id(person: Person) -> str:
    import base64

    payload = person.token.split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["c"])


async def test_cli_detects_a_tampered_record(stack: Stack) -> None:
    """In a database of its own on the same server, so the session's trail stays intact."""
    assert stack.client is not None
    db = f"t_audit_{uuid.uuid4().hex[:8]}"
    col = stack.client.get_database(db)["audit"]
    trail = AuditLog(col)
    for i in range(1, 6):
        await trail.append(f"user:u{i}", "client.rotate", f"client:c{i}", after={"n": i})
    code, out = await _cli(stack, "audit", "verify", db=db)
    assert code == 0, out
    assert "audit trail ok: 5 records" in out
    head = out.strip().splitlines()[-1].rsplit("head ", 1)[1]

    # Someone with database access edits record 3 (and even re-hashes it).
    await col.update_one({"_id": 3}, {"$set": {"after": {"n": 300}}})
    code, out = await _cli(stack, "audit", "verify", db=db)
    assert code == 1, out
    assert "TAMPERED: first bad record 3" in out
    from switch.security.audit import record_hash

    doc = await col.find_one({"_id": 3})
    assert doc is not None
    await col.update_one({"_id": 3}, {"$set": {"hash": record_hash(doc)}})
    code, out = await _cli(stack, "audit", "verify", db=db)
    assert code == 1 and "first bad record 3" in out, out

    # A cut tail passes on its own, but not against an anchor kept elsewhere.
    await col.delete_many({"_id": {"$gte": 3}})
    code, out = await _cli(stack, "audit", "verify", db=db)
    assert code == 0 and "ok: 2 records" in out, out
    code, out = await _cli(stack, "audit", "verify", "--anchor", head, db=db)
    assert code == 1 and "first bad record 5" in out, out
    await stack.client.drop_database(db)
