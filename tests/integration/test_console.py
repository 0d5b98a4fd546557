"""The console in a real headless browser (Debian's chromium, driven by Playwright) against the
real stack: two people of one organisation sign in with their two-factor codes, payments made
through the API appear live, the rail figures and the balance show, a search finds the failed
one and exports it as CSV, the statement closes at the balance, and a held payout is refused to
the person who made it and approved by the other. Screenshots go to docs/console/
(shown in the README) when CONSOLE_SCREENSHOTS=1, else to a temporary folder, so that a test
run leaves the checkout as it found it."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from app.stack import Stack

from .helpers import stk_body, unique_phone
from .test_users import Person, invite, owner_with_totp

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium"),
]

SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "console"
    if os.environ.get("CONSOLE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "switch-console-shots"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LISTED = "Barney Fictitia"  # on the sample sanctions list: a payout to this name is held
WAIT_MS = 20_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()


def _problem(kind: str, text: str) -> bool:
    """An error the page logged; a refused API call (a 403 the page shows) is not one."""
    return kind == "error" and not text.startswith("Failed to load resource")


async def _console(browser: Browser, base: str, person: Person) -> tuple[Page, list[str]]:
    """A fresh browser context (its own sessionStorage) signed in as ``person``; the list
    collects every console error and CSP violation the page reports."""
    context = await browser.new_context(viewport={"width": 1280, "height": 820})
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if _problem(m.type, m.text) else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    await page.goto(f"{base}/console/")
    await page.fill("input[name=email]", person.email)
    await page.fill("input[name=password]", person.password)
    await page.fill("input[name=totp]", person.code())
    await page.click("button[type=submit]")
    await expect(page.locator("#nav a")).not_to_have_count(0, timeout=WAIT_MS)
    return page, problems


async def _open(page: Page, name: str) -> None:
    await page.click(f"#nav a[data-page={name}]")
    await expect(page.locator(f"#page-{name}")).to_be_visible()


async def test_console_signs_in_follows_payments_and_reviews_with_four_eyes(
    stack: Stack, http: aiohttp.ClientSession, browser: Browser
) -> None:
    base = stack.api_url
    owner = await owner_with_totp(http, base)
    finance = await invite(owner, "finance")
    await finance.enrol_totp()
    SHOTS.mkdir(parents=True, exist_ok=True)

    # Signing in needs the two-factor code once enrolled; the error says so.
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{base}/console/")
    await page.fill("input[name=email]", owner.email)
    await page.fill("input[name=password]", owner.password)
    await page.click("button[type=submit]")
    await expect(page.locator("#sign-in-error")).to_contain_text("code", timeout=WAIT_MS)
    await page.screenshot(path=SHOTS / "sign-in.png")
    await context.close()

    as_owner, owner_problems = await _console(browser, base, owner)
    # Pages whose routes this switch does not serve stay out of the navigation.
    assert await as_owner.locator("#nav a").all_inner_texts() == [
        "Live payments",
        "Rails",
        "Balance",
        "Review queue",
        "Payments",
        "Statements",
    ]
    assert await as_owner.evaluate("Object.keys(localStorage).length") == 0
    assert await as_owner.evaluate("Object.keys(sessionStorage)") == ["switch.console.session"]

    # A payment made through the API appears live, up to its final status.
    await expect(as_owner.locator("#live-state")).to_have_attribute(
        "data-connected", "true", timeout=WAIT_MS
    )
    # (The customer on a number ending 1032 cancels: the rail's success rate shows it.)
    outcomes = {"1000": "succeeded", "350": "succeeded", "120": "failed"}
    made = await asyncio.gather(
        *(
            owner.call(
                "POST",
                "/v1/payments",
                stk_body(unique_phone("1032" if outcome == "failed" else ""), amount=amount),
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            for amount, outcome in outcomes.items()
        )
    )
    for (status, paid, _), outcome in zip(made, outcomes.values(), strict=True):
        assert status == 202, paid
        live = as_owner.locator(f"tr[data-payment='{paid['id']}'][data-status={outcome}]")
        await expect(live).to_be_visible(timeout=WAIT_MS)
    await as_owner.screenshot(path=SHOTS / "live.png")

    await _open(as_owner, "rails")
    stk = as_owner.locator("#rails-table tr[data-rail=mpesa_stk]")
    await expect(stk).to_contain_text("%", timeout=WAIT_MS)
    # Created to final per rail (switch_payment_duration_seconds), in seconds.
    await expect(stk.locator("td").nth(6)).to_have_text(re.compile(r"^\d+(\.\d+)?$"))
    await expect(as_owner.locator("#chart-rail-latency")).to_be_visible()
    await expect(as_owner.locator("#calls-table")).to_contain_text("stk_push")
    await as_owner.screenshot(path=SHOTS / "rails.png")

    await _open(as_owner, "balance")
    await expect(as_owner.locator("#balance-available")).to_contain_text("KES", timeout=WAIT_MS)
    balance = await as_owner.locator("#balance-available").inner_text()
    await as_owner.screenshot(path=SHOTS / "balance.png")

    # Find the failed one among them, and export the search as CSV through its signed link.
    await _open(as_owner, "payments")
    await expect(as_owner.locator("#payments-results tbody tr")).to_have_count(3, timeout=WAIT_MS)
    await as_owner.select_option("#payments-filters select[name=status]", "failed")
    await as_owner.click("#payments-filters button[type=submit]")
    found = as_owner.locator("#payments-results tbody tr")
    await expect(found).to_have_count(1, timeout=WAIT_MS)
    await expect(found).to_contain_text("120 KES")
    await as_owner.click("text=Export CSV")
    link = as_owner.locator("#export-payments")
    await expect(link).to_be_visible(timeout=WAIT_MS)
    await as_owner.screenshot(path=SHOTS / "payments.png")
    async with http.get(base + (await link.get_attribute("href") or "")) as resp:
        assert resp.status == 200
        lines = (await resp.text()).splitlines()
    assert lines[0].startswith("id,created_at,") and len(lines) == 2, lines

    # The statement closes at the balance.
    await _open(as_owner, "statements")
    closing = as_owner.locator("#statement-closing")
    await expect(closing).to_have_text(balance, timeout=WAIT_MS)
    await expect(as_owner.locator("#statement-entries tbody tr")).to_have_count(2)
    await as_owner.screenshot(path=SHOTS / "statements.png")

    # The finance person pays out to a listed name: held for review.
    status, held, _ = await finance.call(
        "POST",
        "/v1/payouts",
        {
            "method": "mpesa_b2c",
            "amount": "200",
            "currency": "KES",
            "phone": unique_phone(),
            "reference": "SUPPLIER7",
            "metadata": {"recipient_name": LISTED},
        },
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert (status, held["status"]) == (202, "held"), held

    # Its maker may not approve it: the console shows the server's refusal.
    as_finance, finance_problems = await _console(browser, base, finance)
    await _open(as_finance, "reviews")
    row = as_finance.locator(f"tr[data-payment='{held['id']}']")
    await row.locator("button.approve").click()
    refusal = row.locator(".error[data-code=maker_cannot_approve]")
    await expect(refusal).to_be_visible(timeout=WAIT_MS)
    await as_finance.screenshot(path=SHOTS / "review-refused.png")

    # Another person approves it, and it is paid.
    await _open(as_owner, "reviews")
    row = as_owner.locator(f"tr[data-payment='{held['id']}']")
    await row.locator("input[name=reason]").fill("supplier known; name match is a namesake")
    await as_owner.screenshot(path=SHOTS / "review-queue.png")
    await row.locator("button.approve").click()
    await expect(as_owner.locator("#reviews-notice")).to_contain_text(
        f"{held['id']}: approved", timeout=WAIT_MS
    )
    await expect(row).to_have_count(0)
    status, payout, _ = await owner.call("GET", f"/v1/payouts/{held['id']}")
    assert status == 200 and payout["review"]["status"] == "approved", payout

    # The page ran under its Content-Security-Policy without a violation or a script error.
    assert owner_problems == [] and finance_problems == []
