"""The second half of ``python -m switch demo``: every other rail through the public API.

Each provider's description lists its demo requests (``samples``, switch/providers.py): a
collection chosen by ``auto`` funds the merchant; a name look-up; one payout per sample (for the
built-in providers: M-Pesa B2C, Airtel Money, a PesaLink bank transfer and a payout to a Telkom
number through the PesaLink directory, an API SACCO deposit, a file SACCO loan disbursement),
a transfer between the accounts the providers offer, and a small bulk batch. Prints a table;
every row must end ``succeeded``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp

from switch.providers import Sample, providers

Row = tuple[str, str, dict[str, Any]]  # label, path to poll, the created object


def samples(path: str) -> list[Sample]:
    """Every provider's demo requests to ``path``, in registry order."""
    return [s for spec in providers() for s in spec.samples if s.path == path]


async def run_rails(http: aiohttp.ClientSession, base: str, auth: dict[str, str]) -> bool:
    print("\nevery other rail:", flush=True)
    rows: list[Row] = []
    for sample in samples("/v1/payments"):  # each collection rail; they fund the payouts
        funded = await _post(http, base, auth, sample.path, {"currency": "KES", **sample.body})
        rows.append((sample.label, f"/v1/payments/{funded['id']}", funded))
        await _wait(http, base, auth, f"/v1/payments/{funded['id']}")
    for sample in samples("/v1/lookups"):
        holder = await _post(http, base, auth, sample.path, dict(sample.body), key=False)
        print(f"  name look-up before paying {sample.label}: {holder.get('holder_name')}")
    for sample in samples("/v1/payouts"):
        created = await _post(
            http,
            base,
            auth,
            sample.path,
            {"currency": "KES", "reference": "DEMO", **sample.body},
        )
        rows.append((sample.label, f"/v1/payouts/{created['id']}", created))
    sources = [spec.transfer_from for spec in providers() if spec.transfer_from]
    targets = [spec.transfer_to for spec in providers() if spec.transfer_to]
    if sources and targets:
        source, target = sources[0], targets[-1]
        transfer = await _post(
            http,
            base,
            auth,
            "/v1/transfers",
            {
                "amount": "150",
                "currency": "KES",
                "reference": "TRF1",
                "source": dict(source.account),
                "destination": dict(target.account),
            },
        )
        label = f"transfer {source.label} -> {target.label}"
        rows.append((label, f"/v1/transfers/{transfer['id']}", transfer))
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
