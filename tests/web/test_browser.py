"""The plan workflow in a real browser, against a real ``y90dose serve`` process.

Sign in with a pasted key; a MIRD plan whose lung shunt gives a finding shown before
anything is stored; a revision; approval refused for a planner and for a blocked
version, allowed for an approver; the report downloaded and read with ``pdftotext``;
a forged cross-site POST refused by the CSRF protection.

Hand arithmetic (physics.md 4.1, glass C = 50 J/GBq, density 1.03 g/mL):
120 Gy to 1165 mL with LSF 0.08: M = 1.19995 kg,
A = 120 x 1.19995 / (50 x 0.92) = 3.1303 GBq = 3130.3 / 37 = 84.60 mCi.
With LSF 0.25 the lung dose is 50 x A x LSF / 1 kg, A = 143.994 / (50 x 0.75) = 3.8398 GBq,
lung 50 x 3.8398 x 0.25 = 48.0 Gy > 30 Gy: a block finding (LUNG_DOSE_OVER_LIMIT).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(HERE), str(HERE.parent / "service")) if p not in sys.path]

from web_fixtures import browser, web_server  # noqa: E402, F401 (fixtures)
from web_helpers import WebServer, missing  # noqa: E402

PATIENT = "WEB-0042"


def signed_in(browser: Any, web: WebServer, role: str) -> Any:
    """A new browser context (its own cookies) signed in with the role's key."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.goto(web.base + "/")
    assert page.url.endswith("/signin")
    page.get_by_label("API key").fill(web.keys[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(web.base + "/plans")
    return page


def test_sign_in_sets_a_strict_httponly_cookie_and_no_key_in_the_page(
    browser: Any, web_server: WebServer
) -> None:
    page = signed_in(browser, web_server, "planner")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["y90dose_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Strict"
    assert session["expires"] > 0  # not a browser-lifetime cookie: it expires
    key = web_server.keys["planner"]
    assert key not in page.content()
    assert key not in page.url
    storage = page.evaluate("() => JSON.stringify([localStorage, sessionStorage, document.cookie])")
    assert key not in storage and "y90dose_session" not in storage  # HttpOnly: not in JS
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(web_server.base + "/signin")
    page.goto(web_server.base + "/plans")
    assert page.url.endswith("/signin")  # the session is gone on the server too
    page.context.close()


def test_plan_workflow_finding_revision_approval_report(
    browser: Any, web_server: WebServer, tmp_path: Path
) -> None:
    page = signed_in(browser, web_server, "planner")
    page.get_by_role("link", name="New plan").first.click()
    page.get_by_label("Patient reference").fill(PATIENT)
    page.get_by_label("Treatment date").fill("2026-12-01")
    page.get_by_label("target dose gy").fill("120")
    page.get_by_label("perfused volume ml").fill("1165")
    page.locator("#f-lsf").fill("0.25")
    preview = page.locator("#preview")
    # the finding is shown as the user types, before anything is stored
    preview.get_by_text("LUNG_DOSE_OVER_LIMIT").wait_for()
    assert "48 Gy" in preview.inner_text()
    assert "3.840 GBq" in preview.inner_text()
    assert (
        httpx.get(
            f"{web_server.base}/v1/plans",
            headers={"Authorization": f"Bearer {web_server.keys['planner']}"},
        ).json()["total"]
        == 0
    )
    # the API's own message at the field, as typed
    page.locator("#f-lsf").fill("1.5")
    page.locator("#err-lsf").get_by_text("expected a number < 1.0").wait_for()
    page.locator("#f-lsf").fill("0.25")
    preview.get_by_text("LUNG_DOSE_OVER_LIMIT").wait_for()
    page.get_by_role("button", name="Store plan").click()
    page.wait_for_url(re.compile(r".*/plans/[0-9a-f-]{36}$"))
    plan_url = page.url
    assert "blocked" in page.locator("h1").inner_text()

    # a planner's approval is refused, and the page says why
    page.get_by_role("button", name="Approve version 1").click()
    problem = page.locator("#approval-problem")
    assert "has role 'planner'" in problem.inner_text()

    # revision: LSF 0.08, the plan no longer blocks
    page.goto(plan_url)
    page.get_by_role("link", name="Revise").click()
    page.get_by_label("Reason for the revision").fill("repeat MAA scan: LSF 8 %")
    page.locator("#f-lsf").fill("0.08")
    page.locator("#preview strong").get_by_text("3.130 GBq").wait_for()
    page.get_by_role("button", name="Store version 2").click()
    page.wait_for_url(plan_url)
    assert "draft" in page.locator("h1").inner_text()
    changes = page.locator("table.diff").inner_text()
    assert "inputs.lsf" in changes and "0.25" in changes and "0.08" in changes

    # the report before approval: NOT APPROVED, activity in GBq and mCi
    text = download_report_text(page, tmp_path / "draft.pdf")
    assert PATIENT in text
    assert "3.130 GBq = 84.6 mCi" in text
    assert "NOT APPROVED" in text
    page.context.close()

    # an approver approves with a comment
    page = signed_in(browser, web_server, "approver")
    page.goto(plan_url)
    page.get_by_label("Comment").fill("checked against the MAA scan")
    page.get_by_role("button", name="Approve version 2").click()
    page.wait_for_url(plan_url)
    assert "approved" in page.locator("h1").inner_text()
    text = download_report_text(page, tmp_path / "approved.pdf")
    assert "approved by dr-approver" in text
    assert "checked against the MAA scan" in text
    assert "NOT APPROVED" not in text
    # the plan list shows it, searchable by patient reference
    page.goto(web_server.base + f"/plans?patient_ref={PATIENT}")
    row = page.locator("table.list tbody tr").first
    assert PATIENT in row.inner_text() and "approved" in row.inner_text()
    page.context.close()


def download_report_text(page: Any, target: Path) -> str:
    """Click "Report (PDF)", save the download, return its text (pdftotext)."""
    if shutil.which("pdftotext") is None:
        missing("pdftotext is not installed (apt-get install poppler-utils)")
    with page.expect_download() as info:
        page.get_by_role("link", name="Report (PDF)").click()
    info.value.save_as(target)
    assert target.read_bytes()[:5] == b"%PDF-"
    done = subprocess.run(
        ["pdftotext", str(target), "-"], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def test_forged_cross_site_post_is_refused(
    browser: Any, web_server: WebServer, tmp_path: Path
) -> None:
    """A page on another origin posts an approval form to the service: refused."""
    page = signed_in(browser, web_server, "approver")
    page.goto(web_server.base + "/plans/new")
    page.get_by_label("Patient reference").fill("CSRF-1")
    page.get_by_label("Treatment date").fill("2026-12-02")
    page.get_by_label("target dose gy").fill("120")
    page.get_by_label("perfused volume ml").fill("1000")
    page.locator("#f-lsf").fill("0.05")
    page.get_by_role("button", name="Store plan").click()
    page.wait_for_url(re.compile(r".*/plans/[0-9a-f-]{36}$"))
    plan_url = page.url
    # the attacker's page, served from another origin (a file: URL), auto-submits a form
    evil = tmp_path / "evil.html"
    evil.write_text(
        f'<form id="f" method="post" action="{plan_url}/approve">'
        '<input name="version" value="1"><input name="csrf_token" value="guessed"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    page.goto(evil.as_uri())
    page.wait_for_load_state()
    page.goto(plan_url)
    assert "Version 1 is not approved" in page.content()
    # the same forged post from a page that is signed in (cookie sent), without the
    # token: a direct fetch from the site's own page without X-CSRF-Token
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST', body: new URLSearchParams(
               {version: '1'})})).status""",
        plan_url + "/approve",
    )
    assert status == 403
    page.goto(plan_url)
    assert "Version 1 is not approved" in page.content()
    page.context.close()


@pytest.mark.parametrize("width", [1280, 820])
def test_pages_fit_desktop_and_tablet(browser: Any, web_server: WebServer, width: int) -> None:
    """No horizontal scrolling at 1280x800 or on a tablet (820 px wide)."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(web_server.base + "/signin")
    page.get_by_label("API key").fill(web_server.keys["planner"])
    page.keyboard.press("Enter")  # the form is usable from the keyboard
    page.wait_for_url(web_server.base + "/plans")
    for path in ("/plans", "/plans/new", "/plans/new?model=partition", "/plans/new?model=bsa"):
        page.goto(web_server.base + path)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, path
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                 .map(e => e.name)"""
        )
        assert unlabeled == [], path
    context.close()
