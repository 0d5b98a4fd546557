"""Records the SACCO API simulator's answers (Fineract's wire shapes, see
connectors/sacco/simulator/app.py) for the gateway's unit tests; run it again when the simulator
changes:

    .venv/bin/python -m tests.unit.actors.recordings.record_fineract \\
        > tests/unit/connectors/recordings/fineract_stima.json
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from connectors.http import HttpRequest
from connectors.sacco.api import SaccoApiConnector
from connectors.sacco.registry import sandbox_registry
from connectors.transport import AiohttpTransport
from tests.unit.connectors.sacco.helpers import api_simulator

MEMBERS = ("10001", "10402", "10403", "10405", "10407")
NOW = datetime.now(UTC)


async def record() -> dict[str, Any]:
    out: dict[str, Any] = {}
    transport = AiohttpTransport()

    async def rec(name: str, request: HttpRequest) -> Any:
        resp = await transport.send(request)
        out[name] = {"status": resp.status, "body": json.loads(resp.body)}
        return out[name]["body"]

    async with api_simulator() as (sim, base):
        stima = sandbox_registry(base)["STIMA"]
        conn = SaccoApiConnector(stima)
        savings: dict[str, int] = {}
        loans: dict[str, int] = {}
        await rec("member_none", conn.member_request("10404"))
        for m in MEMBERS:
            client = (await rec(f"member_{m}", conn.member_request(m)))["pageItems"][0]["id"]
            accounts = await rec(f"accounts_{m}", conn.accounts_request(client))
            savings[m] = accounts["savingsAccounts"][0]["id"]
            loans[m] = next((a["id"] for a in accounts["loanAccounts"]), 0)
        money = {
            "deposit": conn.deposit_request(savings["10001"], 150_050, "pay_s0_1", "I", NOW),
            "withdrawal": conn.withdrawal_request(savings["10001"], 100_000, "pay_s0_3", "I", NOW),
            "disbursement": conn.disburse_request(loans["10001"], 150_000, "pay_s0_4", "I", NOW),
            "repayment": conn.repayment_request(loans["10001"], 1_500_000, "pay_s0_100", "I", NOW),
            "repayment_overpaid": conn.repayment_request(
                loans["10407"], 150_000, "pay_s0_102", "I", NOW
            ),
            "withdrawal_dormant": conn.withdrawal_request(
                savings["10403"], 150_000, "pay_s0_2", "I", NOW
            ),
            "withdrawal_insufficient": conn.withdrawal_request(
                savings["10402"], 150_000, "pay_s0_2", "I", NOW
            ),
            "deposit_duplicate": conn.deposit_request(
                savings["10001"], 999_900, "pay_s0_1", "I", NOW
            ),
            "report_deposit": conn.lookup_request("pay_s0_1"),
            "report_none": conn.lookup_request("pay_s0_9"),
        }
        for name, request in money.items():
            await rec(name, request)
        sim.config.apply({"refuse_overpayment": True})
        refused = conn.repayment_request(loans["10001"], 7_000_000, "pay_s0_104", "I", NOW)
        await rec("repayment_overpayment_refused", refused)
        for status in (429, 500, 503):
            sim.config.apply({"error_burst": {"status": status, "count": 1, "api": "money"}})
            await rec(f"burst_{status}", money["deposit"])
        bad = SaccoApiConnector(type(stima)(**{**stima.to_json(), "password": "nope"}))
        await rec("unauthenticated", bad.member_request("10001"))
    await transport.close()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(record()), indent=1, sort_keys=True))
