"""The second half of ``python -m switch demo``: every other rail through the public API.

An Airtel collection chosen by ``auto`` funds the merchant; then one payout per rail (M-Pesa B2C,
Airtel Money, a PesaLink bank transfer after a name look-up, a payout to a Telkom number through
the PesaLink directory, an API SACCO deposit, a file SACCO loan disbursement), a wallet-to-bank
transfer and a small bulk batch. Prints a table; every row must end ``succeeded``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp

Row = tuple[str, str, dict[str, Any]]  # label, path to poll, the created object

PAYOUTS: list[tuple[str, dict[str, Any]]] = [
    ("M-Pesa B2C", {"method": "mpesa_b2c", "amount": "100", "phone": "0712000501"}),
    ("Airtel Money payout (auto)", {"method": "auto", "amount": "100", "phone": "0733000502"}),
    (
        "PesaLink to a bank account",
        {
            "method": "bank_transfer",
            "amount": "200",
            "bank": {"bank_code": "68", "account_number": "0150000503"},
        },
    ),
    (
        "PesaLink to a Telkom phone (auto)",
        {"method": "auto", "amount": "100", "phone": "0771000504"},
    ),
    (
        "SACCO deposit (API SACCO)",
        {
            "method": "sacco",
            "amount": "100",
            "sacco": {"sacco_code": "STIMA", "member_number": "10001", "purpose": "deposit"},
        },
    ),
    (
        "SACCO loan disbursement (file SACCO)",
        {
            "method": "sacco",
            "amount": "100",
            "sacco": {
                "sacco_code": "WAUMINI",
                "member_number": "20001",
                "purpose": "loan_disbursement",
            },
        },
    ),
]


async def run_rails(http: aiohttp.ClientSession, base: str, auth: dict[str, str]) -> bool:
    print("\nevery other rail:", flush=True)
    rows: list[Row] = []
    funded = await _post(
        http,
        base,
        auth,
        "/v1/payments",
        {
            "method": "auto",
            "amount": "2000",
            "currency": "KES",
            "phone": "0733000500",
            "reference": "FUND1",
        },
    )
    rows.append(("Airtel collection (auto)", f"/v1/payments/{funded['id']}", funded))
    await _wait(http, base, auth, f"/v1/payments/{funded['id']}")
    holder = await _post(
        http,
        base,
        auth,
        "/v1/lookups",
        {"bank": {"bank_code": "68", "account_number": "0150000503"}},
        key=False,
    )
    print(f"  name look-up before paying 68/0150000503: {holder.get('holder_name')}")
    for label, body in PAYOUTS:
        created = await _post(
            http,
            base,
            auth,
            "/v1/payouts",
            {"currency": "KES", "reference": "DEMO", **body},
        )
        rows.append((label, f"/v1/payouts/{created['id']}", created))
    transfer = await _post(
        http,
        base,
        auth,
        "/v1/transfers",
        {
            "amount": "150",
            "currency": "KES",
            "reference": "TRF1",
            "source": {"type": "mpesa", "phone": "0712000506"},
            "destination": {"type": "sacco", "sacco_code": "STIMA", "member_number": "10002"},
        },
    )
    rows.append(("transfer M-Pesa -> SACCO", f"/v1/transfers/{transfer['id']}", transfer))
    batch = await _post(
        http,
        base,
        auth,
        "/v1/payouts/batches",
        {
            "items": [
                {
                    "item_id": f"sal-{i}",
                    "method": "auto",
                    "amount": "50",
                    "currency": "KES",
                    "phone": f"071200060{i}",
                    "reference": "SALARY",
                }
                for i in range(3)
            ]
        },
    )
    rows.append(("bulk batch of 3 payouts", f"/v1/payouts/batches/{batch['id']}", batch))
    started = time.monotonic()
    finals = await asyncio.gather(*(_wait(http, base, auth, path) for _, path, _ in rows))
    ok = True
    print(f"  {'what':<38} {'method':<14} {'status':<10} {'fee':>4}  detail")
    for (label, _, _), final in zip(rows, finals, strict=True):
        status = final.get("status") or final.get("state", "?")
        good = status in ("succeeded", "completed")
        if final.get("object") == "payout_batch":
            good = good and final.get("counts", {}).get("succeeded") == 3
        ok = ok and good
        detail = final.get("recipient_name") or (final.get("routing") or {}).get("reason", "")
        if final.get("object") == "transfer":
            detail = " -> ".join(f"{k}:{v['method']}" for k, v in final["legs"].items())
        print(
            f"  {label:<38} {final.get('method', '-'):<14} {status:<10} "
            f"{final.get('fee', '-'):>4}  {detail}"
        )
    print(f"  all settled in {time.monotonic() - started:.1f} s")
    return ok


async def _post(
    http: aiohttp.ClientSession,
    base: str,
    auth: dict[str, str],
    path: str,
    body: dict[str, Any],
    key: bool = True,
) -> dict[str, Any]:
    headers = {**auth, **({"Idempotency-Key": uuid.uuid4().hex} if key else {})}
    async with http.post(f"{base}{path}", json=body, headers=headers) as resp:
        answer: dict[str, Any] = await resp.json()
        if resp.status not in (200, 202):
            raise RuntimeError(f"{path} refused: {resp.status} {answer}")
        return answer


async def _wait(
    http: aiohttp.ClientSession, base: str, auth: dict[str, str], path: str, wait_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        async with http.get(f"{base}{path}", headers=auth) as resp:
            body = await resp.json()
        if body.get("status") in ("succeeded", "failed", "expired", "refunded"):
            return body
        if body.get("state") == "completed":
            return body
        await asyncio.sleep(0.3)
    return body
