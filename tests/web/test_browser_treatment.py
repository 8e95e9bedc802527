"""A multi-territory treatment in a real browser, against a real ``y90dose serve`` process.

Two lobes by MIRD (glass 50 J/GBq, 1.03 g/mL, lungs 0.9 kg, liver 1600 mL); the left lobe
is first typed as a partition territory and then switched to MIRD, so the territory's
fields come from the server twice:
right lobe 120 Gy to 1000 mL at LSF 0.15: A = 123.6 / 42.5 = 2.908 GBq, lung 24.235 Gy;
left lobe 120 Gy to 500 mL at LSF 0.08: A = 61.8 / 46 = 1.343 GBq, lung 5.971 Gy.
Each below 30 Gy, together 30.21 Gy: the sum blocks, shown before anything is stored.
Revised with the right lobe at LSF 0.12: A = 123.6 / 44 = 2.809 GBq, lung 18.727 Gy,
together 24.70 Gy: no block; an approver approves it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(HERE), str(HERE.parent / "service")) if p not in sys.path]

from web_fixtures import browser, web_server  # noqa: E402, F401 (fixtures)
from web_helpers import WebServer  # noqa: E402


def signed_in(browser: Any, web: WebServer, role: str) -> Any:
    """A new browser context signed in with the role's key."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(web.base + "/signin")
    page.get_by_label("API key").fill(web.keys[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(web.base + "/plans")
    return page


def box(scope: Any, name: str) -> Any:
    """The text input named exactly ``name`` (``lsf``, not ``sd lsf``) within ``scope``."""
    return scope.get_by_role("textbox", name=name, exact=True)


def test_two_territory_treatment_blocked_by_the_sum_then_revised(
    browser: Any, web_server: WebServer
) -> None:
    page = signed_in(browser, web_server, "planner")
    page.goto(web_server.base + "/plans/new")
    page.get_by_role("link", name="Treatment (several territories)").click()
    page.get_by_label("Patient reference").fill("WEB-T-0042")
    page.get_by_label("Treatment date").fill("2026-12-03")
    box(page, "lung mass kg").fill("0.9")
    box(page, "liver volume ml").fill("1600")
    right = page.locator("#territory-1")
    right.get_by_label("Name").fill("right lobe")
    right.get_by_label("Delivery").select_option("lobar")
    box(right, "target dose gy").fill("120")
    box(right, "perfused volume ml").fill("1000")
    box(right, "lsf").fill("0.15")
    left = page.locator("#territory-2")
    left.get_by_label("Name").fill("left lobe")
    left.get_by_label("Model").select_option("partition")
    page.locator("#territory-2").get_by_text("Tumours (one row each)").wait_for()
    box(page.locator("#territory-2"), "lsf").fill("0.08")
    page.locator("#territory-2").get_by_label("Model").select_option("mird")
    box(page.locator("#territory-2"), "target dose gy").wait_for()
    left = page.locator("#territory-2")
    assert box(left, "lsf").input_value() == "0.08"  # kept across the change of model
    box(left, "target dose gy").fill("120")
    box(left, "perfused volume ml").fill("500")
    # a bad value: the API's message at the territory's field
    box(left, "lsf").fill("1.5")
    page.locator("#err-territories\\[1\\]\\.inputs\\.lsf").get_by_text(
        "territories[1].inputs.lsf: 1.5 is not allowed; expected a number < 1"
    ).wait_for()
    box(left, "lsf").fill("0.08")
    preview = page.locator("#preview")
    preview.get_by_text("lung dose of the treatment 30.2 Gy").wait_for()
    text = preview.inner_text()
    assert "LUNG_DOSE_OVER_LIMIT" in text and "no territory exceeds it alone" in text
    assert "30.21 Gy" in text and "4.252 GBq" in text
    api = f"{web_server.base}/v1/plans"
    auth = {"Authorization": f"Bearer {web_server.keys['planner']}"}
    assert httpx.get(api, headers=auth).json()["total"] == 0  # nothing stored yet
    page.get_by_role("button", name="Store plan").click()
    page.wait_for_url(re.compile(r".*/plans/[0-9a-f-]{36}$"))
    plan_url = page.url
    assert "blocked" in page.locator("h1").inner_text()
    findings = page.locator("section[aria-labelledby=h-findings]").inner_text()
    assert "LUNG_DOSE_OVER_LIMIT" in findings

    # revised: the right lobe's LSF re-measured
    page.get_by_role("link", name="Revise").click()
    page.get_by_label("Reason for the revision").fill("right lobe LSF re-measured: 12 %")
    assert box(page.locator("#territory-1"), "lsf").input_value() == "0.15"
    box(page.locator("#territory-1"), "lsf").fill("0.12")
    page.locator("#preview").get_by_role("row", name="lung dose (treatment) 24.7 Gy").wait_for()
    assert "LUNG_DOSE_OVER_LIMIT" not in page.locator("#preview").inner_text()
    page.get_by_role("button", name="Store version 2").click()
    page.wait_for_url(plan_url)
    assert "draft" in page.locator("h1").inner_text()
    changes = page.locator("table.diff").inner_text()
    assert "inputs.territories[0].inputs.lsf" in changes and "0.12" in changes
    page.context.close()

    page = signed_in(browser, web_server, "approver")
    page.goto(plan_url)
    page.get_by_role("button", name="Approve version 2").click()
    page.wait_for_url(plan_url)
    assert "approved" in page.locator("h1").inner_text()
    stored = httpx.get(api + "/" + plan_url.rsplit("/", 1)[1], headers=auth).json()
    assert stored["approved_version"] == 2
    assert stored["current"]["result"]["doses_gy"]["lung"] == pytest.approx(24.698287, abs=1e-5)
    page.context.close()


@pytest.mark.parametrize("width", [1280, 820])
def test_treatment_form_fits_desktop_and_tablet(
    browser: Any, web_server: WebServer, width: int
) -> None:
    """No horizontal scrolling at 1280 px or on a tablet (820 px), every input labelled."""
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(web_server.base + "/signin")
    page.get_by_label("API key").fill(web_server.keys["planner"])
    page.keyboard.press("Enter")
    page.wait_for_url(web_server.base + "/plans")
    page.goto(web_server.base + "/plans/new?model=treatment")
    assert page.evaluate("() => document.documentElement.scrollWidth - innerWidth") <= 0
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.name)"""
    )
    assert unlabeled == []
    context.close()
