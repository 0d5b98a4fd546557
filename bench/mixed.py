"""The runner's I/O for the ``mixed`` scenario: funding the merchants before the load, and after
it gathering what the money checks need (bench/railcheck.py): each transfer's view, the records
the providers' bench descriptions name (their simulators', the file SACCO's result files) and
the switch's books.

Funding (the choice made for payouts): each bench merchant gets one M-Pesa STK collection of
``--fund`` shillings before locust starts, and the runner waits until it succeeded. Payouts then
never depend on which collections of the load happened to finish first, the mix can weigh
payouts as much as collections, and an ``insufficient_balance`` during the load means the
merchant really ran dry (the report shows it by code). The funding payments are not part of the
figures.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from pymongo import AsyncMongoClient

from bench.benefitrun import FUND_SHILLINGS as BENEFITS_FUND
from bench.bills import INVOICE, INVOICE_PREFIX, gov_shortcode, invoice_shortcode
from bench.checks import Accepted, Stored
from bench.mixspec import Booking
from bench.ops import MIX, READ_PATHS, kind_of
from bench.procs import ProcessFailed
from bench.railcheck import callback_answers, ledger_json
from switch import totp
from switch.rails import recovered_by
from switch.reconcile import check as ledger_check

FUND_TIMEOUT = 90.0
FUNDING_RAIL = recovered_by("stk_query")  # STK Push: the customer approves at once
READ_PARALLEL = 16
TRANSFER_FINAL = frozenset({"succeeded", "failed", "refunded", "refund_failed"})
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=120)
BILLS_TIMEOUT = 60.0  # after the load: how long the bills' C2B payments may take to be credited


def funding_phone(index: int) -> str:
    """A Safaricom number the load generator never makes (it uses 071x) and that is no sandbox
    trigger (the last four are ``<digit>777``)."""
    return f"0729{index % 1000:03d}777"


async def fund_merchants(
    http: aiohttp.ClientSession, url: str, tokens: Sequence[str], shillings: int
) -> list[str]:
    """One collection of ``shillings`` per merchant, all at once; returns their payment ids once
    every one succeeded."""
    if shillings <= 0:
        return []
    return list(
        await asyncio.gather(*(_fund_one(http, url, t, i, shillings) for i, t in enumerate(tokens)))
    )


async def _fund_one(
    http: aiohttp.ClientSession, url: str, token: str, index: int, shillings: int
) -> str:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"fund-{uuid.uuid4().hex}"}
    body = {
        "method": FUNDING_RAIL,
        "amount": str(shillings),
        "currency": "KES",
        "phone": funding_phone(index),
        "reference": f"FUND{index}",
    }
    async with http.post(f"{url}/v1/payments", json=body, headers=headers) as resp:
        created = await resp.json(content_type=None)
        if resp.status != 202:
            raise ProcessFailed(f"funding merchant {index} refused: {resp.status} {created}")
    payment_id = str(created["id"])
    deadline = time.monotonic() + FUND_TIMEOUT
    status = ""
    while time.monotonic() < deadline:
        async with http.get(f"{url}/v1/payments/{payment_id}", headers=headers) as resp:
            status = str((await resp.json(content_type=None)).get("status", ""))
        if status == "succeeded":
            return payment_id
        if status in ("failed", "expired"):
            break
        await asyncio.sleep(0.3)
    raise ProcessFailed(f"funding payment {payment_id} of merchant {index} ended {status!r}")


async def transfer_views(
    http: aiohttp.ClientSession,
    url: str,
    tokens: Sequence[str],
    accepted: Mapping[str, Accepted],
) -> dict[str, dict[str, Any] | None]:
    """``GET /v1/transfers/{id}`` of every accepted transfer, as its merchant (None: not found)."""
    gate = asyncio.Semaphore(READ_PARALLEL)

    async def one(a: Accepted) -> tuple[str, dict[str, Any] | None]:
        headers = {"Authorization": f"Bearer {tokens[a.merchant]}"}
        async with gate, http.get(f"{url}/v1/transfers/{a.id}", headers=headers) as resp:
            body = await resp.json(content_type=None)
            return a.id, body if resp.status == 200 and isinstance(body, dict) else None

    found = await asyncio.gather(*(one(a) for a in accepted.values() if a.op == "transfer"))
    return dict(found)


def transfer_stored(
    views: Mapping[str, dict[str, Any] | None], accepted: Mapping[str, Accepted]
) -> list[Stored]:
    """Transfers as :class:`Stored` rows for bench.checks (a transfer is its legs; its view is
    what the switch says of it). A transfer without a view is missing."""
    return [
        Stored(
            tid, accepted[tid].key, str(view.get("status", "")), accepted[tid].merchant, "transfer"
        )
        for tid, view in views.items()
        if view is not None
    ]


async def _get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url, timeout=HTTP_TIMEOUT) as resp:
        resp.raise_for_status()
        return await resp.json(content_type=None)


@dataclass
class SimRecords:
    """What the simulators' own records say: money movements, how the switch answered their
    callbacks, and what could not be read (named, so a check that did not happen is never
    reported as clean)."""

    bookings: list[Booking] = field(default_factory=list)
    callbacks: dict[str, Any] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)


async def simulator_records(
    http: aiohttp.ClientSession,
    sim_urls: Mapping[str, str],
    data_dir: Path | None,
    dump_dir: Path | None = None,
) -> SimRecords:
    """Every record the providers' bench descriptions name (bench/ops.py ``MIX``): their
    simulators' (``sim_urls``: by provider) and those left in the switch's ``data_dir``.
    ``dump_dir``: also keep each raw simulator record there as ``<name>.json`` (``--keep-logs``)."""
    out = SimRecords()
    for provider, record in MIX.records:
        base = sim_urls.get(provider)
        if not base:
            out.unread.append(record.name)
            continue
        try:
            raw = await _get_json(http, base + record.path)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            out.unread.append(f"{record.name}: {exc}")
            continue
        if dump_dir is not None:
            await asyncio.to_thread(dump_json, dump_dir / f"{record.name}.json", raw)
        if record.bookings is not None:
            out.bookings.extend(record.bookings(raw))
        if record.callbacks is not None and isinstance(raw, list):
            out.callbacks[record.name] = callback_answers(raw, *record.callbacks)
    for files in MIX.files:
        if data_dir is None:
            out.unread.append(files.name)
            continue
        bookings, problems = await asyncio.to_thread(files.read, data_dir)
        out.bookings.extend(bookings)
        out.unread.extend(f"{files.name}: {p}" for p in problems)
    return out


def dump_json(path: Path, raw: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw))


async def stored_and_books(
    uri: str, db_name: str, merchant_ids: Iterable[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The bench merchants' payments (id, key, status, merchant, method, transfer) and the
    switch's ledger check over the whole database (it holds only this run's data)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=10_000
    )
    try:
        db = client[db_name]
        projection = {"_id": 1, "idem": 1, "status": 1, "merchant_id": 1, "method": 1}
        docs = (
            await db["payments"]
            .find(
                {"merchant_id": {"$in": list(merchant_ids)}},
                {**projection, "transfer.id": 1},
                batch_size=5000,
            )
            .to_list(None)
        )
        entries = await db["journal"].find({}).to_list(None)
        balances = await db["balances"].find({}).to_list(None)
        payments = await db["payments"].find({}, {"history": 0}).to_list(None)
    finally:
        await client.close()
    report = ledger_check(entries, balances, payments)
    books = ledger_json(report.ok, report.entries, report.accounts, report.payments,
                        report.problems)  # fmt: skip
    return docs, books


# --- bills (bench/bills.py) ----------------------------------------------------------------


async def set_up_bills(http: aiohttp.ClientSession, url: str, tokens: Sequence[str]) -> None:
    """Before the load, per bench merchant (an agency: created with kind government): its
    invoice paybill claimed for the accounts :data:`INVOICE_PREFIX` and opted in to Bill
    Manager, and its government paybill claimed whole and registered for collections."""

    async def one(index: int, token: str) -> None:
        auth = {"Authorization": f"Bearer {token}"}
        invoices, gov = invoice_shortcode(index), gov_shortcode(index)
        steps: list[tuple[str, dict[str, Any]]] = [
            ("/v1/c2b/registration",
             {"shortcode": invoices, "accounts": {"type": "prefix", "prefix": INVOICE_PREFIX}}),
            ("/v1/invoices/settings",
             {"shortcode": invoices, "email": "bills@example.co.ke",
              "official_contact": "0710000000", "send_reminders": False}),
            ("/v1/c2b/registration", {"shortcode": gov, "response_type": "Completed"}),
            ("/v1/gov/paybill", {"shortcode": gov, "agency_name": f"Bench county {index}"}),
        ]  # fmt: skip
        for path, body in steps:
            async with http.put(f"{url}{path}", json=body, headers=auth) as resp:
                if resp.status != 200:
                    raise ProcessFailed(
                        f"bills set-up of merchant {index}: PUT {path} answered {resp.status} "
                        f"{await resp.text()}"
                    )

    await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))


async def bill_views(
    http: aiohttp.ClientSession,
    url: str,
    tokens: Sequence[str],
    bills: Mapping[str, Accepted],
    within: float = BILLS_TIMEOUT,
) -> dict[str, dict[str, Any] | None]:
    """Each bill as its merchant reads it, read again (at most ``within`` seconds) until the
    switch has credited it: a confirmation is believed only after M-Pesa's record agrees, so
    the last bills of the load may still be on their way. None: not found."""
    gate = asyncio.Semaphore(READ_PARALLEL)

    async def one(bill_id: str, a: Accepted) -> tuple[str, dict[str, Any] | None]:
        headers = {"Authorization": f"Bearer {tokens[a.merchant]}"}
        path = READ_PATHS[kind_of(a.op) or INVOICE]
        async with gate, http.get(f"{url}{path}{bill_id}", headers=headers) as resp:
            body = await resp.json(content_type=None)
            return bill_id, body if resp.status == 200 and isinstance(body, dict) else None

    views: dict[str, dict[str, Any] | None] = {}
    waiting = dict(bills)
    deadline = time.monotonic() + within
    while waiting:
        found = dict(await asyncio.gather(*(one(i, a) for i, a in waiting.items())))
        views.update(found)
        waiting = {i: a for i, a in waiting.items() if (found[i] or {}).get("status") != "paid"}
        if not waiting or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.5)
    return views


async def sim_c2b(http: aiohttp.ClientSession, sim_url: str) -> list[dict[str, Any]]:
    """The Daraja simulator's own record of every C2B payment."""
    found = await _get_json(http, f"{sim_url}/__sim/c2b")
    return list(found) if isinstance(found, list) else []


# --- benefit runs (bench/benefitrun.py) ------------------------------------------------------


async def set_up_benefits(http: aiohttp.ClientSession, url: str) -> tuple[str, str]:
    """An organisation signed up, its owner (the maker) and an invited finance person (the
    checker) both with two-factor codes, funded through the sandbox; their session tokens."""
    password = "Bench-" + secrets.token_hex(8)
    tag = uuid.uuid4().hex[:8]
    owner, finance = f"maker-{tag}@bench.example", f"checker-{tag}@bench.example"

    async def call(path: str, body: Any, token: str = "", key: bool = False) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        async with http.post(f"{url}{path}", json=body, headers=headers) as resp:
            answer = await resp.json(content_type=None)
            if resp.status >= 300 or not isinstance(answer, dict):
                raise ProcessFailed(f"benefits set-up: POST {path} answered {resp.status} {answer}")
            return answer

    async def signed_in(email: str) -> str:
        token = str((await call("/v1/auth/login", {"email": email, "password": password}))
                    ["access_token"])  # fmt: skip
        secret = str((await call("/v1/users/me/totp", None, token))["secret"])
        code = totp.code_at(secret, time.time())
        return str((await call("/v1/users/me/totp/confirm", {"code": code}, token))["access_token"])

    await call("/v1/users", {"email": owner, "password": password, "name": "Bench Maker",
                             "organisation": "Bench Relief"})  # fmt: skip
    maker = await signed_in(owner)
    invitation = await call("/v1/invitations", {"email": finance, "role": "finance"}, maker)
    await call("/v1/users", {"email": finance, "password": password, "name": "Bench Checker",
                             "invitation": invitation["token"]})  # fmt: skip
    checker = await signed_in(finance)
    await call("/v1/sandbox/fund", {"amount": str(BENEFITS_FUND)}, maker, key=True)
    return maker, checker


async def benefit_views(
    http: aiohttp.ClientSession,
    url: str,
    maker: str,
    runs: Mapping[str, Accepted],
    within: float = BILLS_TIMEOUT,
) -> tuple[dict[str, dict[str, Any] | None], dict[str, dict[str, Any] | None]]:
    """Each run as the maker reads it, again (at most ``within`` seconds) until it completed,
    then each run's report (its exceptions and totals against the journal)."""
    gate = asyncio.Semaphore(READ_PARALLEL)
    headers = {"Authorization": f"Bearer {maker}"}

    async def one(path: str) -> tuple[str, dict[str, Any] | None]:
        async with gate, http.get(f"{url}{path}", headers=headers) as resp:
            body = await resp.json(content_type=None)
            return path, body if resp.status == 200 and isinstance(body, dict) else None

    views: dict[str, dict[str, Any] | None] = {}
    waiting = list(runs)
    deadline = time.monotonic() + within
    while waiting:
        found = dict(await asyncio.gather(*(one(f"/v1/benefits/runs/{r}") for r in waiting)))
        views.update({r: found[f"/v1/benefits/runs/{r}"] for r in waiting})
        waiting = [r for r in waiting if (views[r] or {}).get("state") != "completed"]
        if not waiting or time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.5)
    reports = dict(await asyncio.gather(*(one(f"/v1/benefits/runs/{r}/report") for r in runs)))
    return views, {r: reports[f"/v1/benefits/runs/{r}/report"] for r in runs}
