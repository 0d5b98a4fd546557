"""The breaks queue in a real headless browser (Debian's chromium, Playwright) on the real stack:
two operator people (role ``operator``, organisation ``operator``, two-factor) sign in to the
console; one proposes marking a ``refund_failed`` transfer refunded by hand, is refused when
approving it herself, and the other approves it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from app.stack import Stack
from infra.users import create_operator_person

from .helpers import Api
from .test_console import SHOTS, WAIT_MS, _console, _open, browser  # noqa: F401 (fixture)
from .test_rails import _post, _wait, account, airtel_phone
from .test_recon import _ledger_ok
from .test_users import PASSWORD, Person, new_email

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium"),
]


async def _operator_person(stack: Stack, http: aiohttp.ClientSession) -> Person:
    assert stack.state is not None
    person = Person(http, stack.api_url, new_email())
    await create_operator_person(stack.state.cols, person.email, "An operator", PASSWORD)
    status, _, _ = await person.login()
    assert status == 200
    # Without two-factor the operator's routes refuse the person.
    status, refused, _ = await person.call("GET", "/v1/operator/recon/breaks")
    assert (status, refused["error"]["code"]) == (403, "mfa_required"), refused
    await person.enrol_totp()
    return person


async def test_operators_work_a_break_in_the_console_with_four_eyes(
    stack: Stack,
    http: aiohttp.ClientSession,
    merchant: Api,
    browser: Browser,  # noqa: F811
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    body = {
        "amount": "450",
        "currency": "KES",
        "source": {"type": "airtel", "phone": airtel_phone("1013")},  # never paid back
        "destination": {"type": "bank", "bank_code": "68", "account_number": account("1001")},
        "reference": "TRF7",
    }
    status, created = await _post(merchant, "/v1/transfers", body)
    assert status == 202, created
    done = await _wait(merchant, f"/v1/transfers/{created['id']}", ("refund_failed", "refunded"))
    assert done["status"] == "refund_failed", done

    alice, bob = await _operator_person(stack, http), await _operator_person(stack, http)
    window = {"since": since.isoformat(), "until": datetime.now(UTC).isoformat()}
    status, run, _ = await alice.call(
        "POST", "/v1/operator/recon/runs", {"sources": ["transfers"], **window}
    )
    assert status == 201, run
    # The run is switch-wide: an earlier test's transfer may have failed its refund meanwhile.
    [found] = [b for b in run["breaks"] if b["key"] == created["id"]]
    SHOTS.mkdir(parents=True, exist_ok=True)

    as_alice, alice_problems = await _console(browser, stack.api_url, alice)
    assert await as_alice.locator("#nav a").all_inner_texts() == ["Breaks"]
    await _open(as_alice, "breaks")
    await as_alice.select_option("#breaks-filters select[name=kind]", "refund_failed")
    await as_alice.click("#breaks-filters button[type=submit]")
    row = as_alice.locator(f"tr[data-break='{found['id']}']")
    await expect(row).to_contain_text(created["id"], timeout=WAIT_MS)
    await row.locator("select[name=action]").select_option("mark_refunded")
    await row.locator("input[name=reason]").fill("merchant refunded at the counter")
    await row.locator("input[name=extra]").fill("cash receipt 5512")
    await row.locator("button.resolve").click()
    await expect(as_alice.locator("#breaks-notice")).to_contain_text("proposed", timeout=WAIT_MS)
    await row.locator("button.approve").click()
    refusal = row.locator(".error[data-code=same_person]")
    await expect(refusal).to_be_visible(timeout=WAIT_MS)
    await as_alice.screenshot(path=SHOTS / "breaks.png")

    as_bob, bob_problems = await _console(browser, stack.api_url, bob)
    await _open(as_bob, "breaks")
    row = as_bob.locator(f"tr[data-break='{found['id']}']")
    await row.locator("button.approve").click()
    await expect(as_bob.locator("#breaks-notice")).to_contain_text(
        f"{found['id']}: resolved", timeout=WAIT_MS
    )
    status, brk, _ = await bob.call("GET", f"/v1/operator/recon/breaks/{found['id']}")
    assert brk["status"] == "resolved" and brk["resolution"]["evidence"] == "cash receipt 5512"
    assert brk["resolution"]["proposed_by"] != brk["resolution"]["approved_by"]
    await _ledger_ok(stack)
    assert alice_problems == [] and bob_problems == []
