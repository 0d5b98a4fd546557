"""Benefit runs in the bench's ``mixed`` scenario (pure and standard-library only: the locust
process imports it, see ``bench/locustfile.py``).

A run is approved by a person signed in other than its maker (four eyes), so at set-up the runner
signs up one organisation whose owner (the maker) and an invited finance person (the checker)
both enrol two-factor codes, funds it through the sandbox, and hands the two people's session
tokens to locust (bench/mixed.py ``set_up_benefits``). Each ``benefit_run`` operation is a tiny
programme cycle, as an agency would run it:

1. look up the holder of three fresh bank accounts (``POST /v1/lookups``: PesaLink's directory)
   and register the three as beneficiaries under those names (paid by ``bank_transfer``);
2. make this cycle's run (``POST .../runs``): the switch checks each name with PesaLink;
3. the checker approves it (``POST /v1/benefits/runs/{id}/approve``), and one payout batch pays
   the three.

The bench may not import a provider simulator (import-linter contract (d)), so it cannot know an
M-Pesa wallet's registered name; a bank account's holder it can ask the switch for.

After the run each must be completed with all three paid and none failed, its report's totals
tying to the journal (bench/runner.py); each account is fresh, so PesaLink's own record of
transfers (already read for the ``bank_transfer`` rail) shows one paid twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Final

BENEFIT_RUN: Final = "benefit_run"  # the operation (and kind): one programme cycle
BENEFIT_STEP = "benefit_step"  # the records of the operation's other requests
BENEFICIARIES = 3
AMOUNT = "100"
BANK_CODE = "68"  # the sandbox bank (README "Payouts": PesaLink)
FUND_SHILLINGS = 1_000_000  # the sandbox's largest funding (switch/sandbox_funding.py)
SAMPLE = 10


def lookup_body(account: str) -> dict[str, Any]:
    return {"bank": {"bank_code": BANK_CODE, "account_number": account}}


def programme_body(ref: str) -> dict[str, Any]:
    return {"name": f"Bench cash transfer {ref}"[:80], "rail": "bank_transfer",
            "amount": AMOUNT, "reference": ref[-20:]}  # fmt: skip


def beneficiary_body(national_id: str, phone: str, name: str, account: str) -> dict[str, Any]:
    return {
        "national_id": national_id,
        "phone": phone,
        "name": name,
        "payout": {
            "method": "bank_transfer",
            "bank": {"bank_code": BANK_CODE, "account_number": account},
        },
    }


def national_id(seq: int) -> str:
    """Eight digits, fresh per beneficiary of one load generator (one programme each anyway)."""
    return f"2{seq % 10**7:07d}"


def run_verdict(view: Mapping[str, Any] | None, report: Mapping[str, Any] | None) -> str:
    """``paid`` or what is wrong with one run."""
    if view is None:
        return "missing"
    state, paid, failed = view.get("state"), view.get("paid"), view.get("failed")
    if state != "completed":
        return f"not completed: {state}"
    if (paid, failed) != (BENEFICIARIES, 0):
        return f"paid {paid}, failed {failed} of {BENEFICIARIES}"
    totals = (report or {}).get("totals") or {}
    if (totals.get("journal") or {}).get("ties") is not True:
        return "report does not tie to the journal"
    return "paid"


def runs_report(
    runs: Mapping[str, Mapping[str, Any] | None], reports: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, Any]:
    """Every run's verdict: ``ok`` when each paid its beneficiaries once and tied."""
    verdicts = Counter(run_verdict(view, reports.get(rid)) for rid, view in runs.items())
    bad = sorted(
        f"{rid} {found}"
        for rid, view in runs.items()
        if (found := run_verdict(view, reports.get(rid))) != "paid"
    )
    return {
        "runs": len(runs),
        "paid": verdicts.get("paid", 0),
        "not_paid": len(bad),
        "verdicts": dict(verdicts.most_common()),
        "sample": bad[:SAMPLE],
        "ok": not bad,
    }


def runs_line(report: Mapping[str, Any]) -> str:
    sample = f" ({'; '.join(report['sample'][:3])})" if report["sample"] else ""
    return (
        f"benefit_run: runs {report['runs']}, each paid its {BENEFICIARIES} once "
        f"{report['paid']}, not {report['not_paid']}{sample}"
    )
