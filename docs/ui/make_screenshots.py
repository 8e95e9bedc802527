"""Regenerate the screenshots of docs/ui.md: every page, at 1280x800 and a tablet width.

    .venv/bin/python docs/ui/make_screenshots.py

Starts ``y90dose serve --demo`` (the liver phantom as a study) on a free loopback port
with a fresh data directory, signs in with a planner and an approver key, walks the plan
workflow and the dose workflow (upload, a delivered and a predictive job, the review,
planned vs delivered) in Debian's Chromium (Playwright on /usr/bin/chromium, no browser
download) and writes PNG files here, plus the first page of a plan report rendered with
``pdftoppm``.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(ROOT / "tests" / "web"), str(ROOT / "tests" / "service")]

from playwright.sync_api import sync_playwright  # noqa: E402
from service_server import command_env, start, stop  # noqa: E402
from web_helpers import CHROMIUM, CHROMIUM_ARGS, _key  # noqa: E402


def main() -> None:
    """Write docs/ui/*.png."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        env = command_env(f"sqlite:///{data_dir / 'y90dose.sqlite3'}")
        keys = {
            "planner": _key(data_dir, env, "pat-planner", "planner"),
            "approver": _key(data_dir, env, "dr-approver", "approver"),
        }
        server = start(data_dir, env, "--demo")
        try:
            shoot(server.base, keys, Path(tmp))
            shoot_dose(server.base, keys, next((data_dir / "studies").glob("*/files")))
        finally:
            stop(server)


def shoot(base: str, keys: dict[str, str], tmp: Path) -> None:
    """Walk the pages and save a screenshot of each."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(base + "/signin")
        page.screenshot(path=HERE / "signin.png")
        page.get_by_label("API key").fill(keys["planner"])
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/plans")
        page.goto(base + "/plans/new")
        page.get_by_label("Patient reference").fill("MRN-0042")
        page.get_by_label("Treatment date").fill("2026-12-01")
        page.get_by_label("target dose gy").fill("120")
        page.get_by_label("perfused volume ml").fill("1165")
        page.locator("#f-lsf").fill("0.25")
        page.locator("#preview").get_by_text("LUNG_DOSE_OVER_LIMIT").wait_for()
        page.screenshot(path=HERE / "plan-new-mird.png", full_page=True)
        page.get_by_role("button", name="Store plan").click()
        page.wait_for_url("**/plans/*")
        plan_url = page.url
        page.get_by_role("button", name="Approve version 1").click()
        page.locator("#approval-problem").wait_for()
        page.screenshot(path=HERE / "plan-approval-refused.png", full_page=True)
        page.goto(plan_url + "/revise")
        page.get_by_label("Reason for the revision").fill("repeat MAA scan: LSF 8 %")
        page.locator("#f-lsf").fill("0.08")
        page.locator("#preview strong").get_by_text("3.130 GBq").wait_for()
        page.screenshot(path=HERE / "plan-revise.png", full_page=True)
        page.get_by_role("button", name="Store version 2").click()
        page.wait_for_url(plan_url)
        page.goto(base + "/plans/new?model=partition")
        page.get_by_label("Patient reference").fill("MRN-0043")
        page.get_by_label("Treatment date").fill("2026-12-02")
        page.get_by_label("normal dose gy").fill("40")
        page.get_by_label("normal volume ml").fill("900")
        page.locator("#f-lsf").fill("0.1")
        page.get_by_label("tumour 1 volume (mL)").fill("100")
        page.get_by_label("tumour 1 tumour-to-normal ratio").fill("4")
        page.get_by_role("button", name="Add tumour").click()
        page.get_by_label("tumour 2 volume (mL)").fill("50")
        page.get_by_label("tumour 2 tumour-to-normal ratio").fill("2.5")
        page.locator("#preview").get_by_text("tumors 2 dose").wait_for()
        page.screenshot(path=HERE / "plan-new-partition.png", full_page=True)
        page.get_by_role("button", name="Store plan").click()
        page.wait_for_url("**/plans/*")
        page.goto(base + "/plans/new?model=bsa")
        page.screenshot(path=HERE / "plan-new-bsa.png", full_page=True)
        shoot_uncertainty(page, base, tmp)
        shoot_treatment(page, base)
        page.context.close()

        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        page.goto(base + "/signin")
        page.get_by_label("API key").fill(keys["approver"])
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/plans")
        page.goto(plan_url)
        page.get_by_label("Comment").fill("checked against the MAA scan")
        page.get_by_role("button", name="Approve version 2").click()
        page.wait_for_url(plan_url)
        page.screenshot(path=HERE / "plan-approved.png", full_page=True)
        page.goto(base + "/plans")
        page.screenshot(path=HERE / "plans.png", full_page=True)
        page.goto(base + "/validation")
        page.screenshot(path=HERE / "validation.png")
        with page.expect_download() as info:
            page.goto(plan_url)
            page.get_by_role("link", name="Report (PDF)").click()
        report = tmp / "report.pdf"
        info.value.save_as(report)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "70", "-singlefile", str(report), str(HERE / "report")],
            check=True,
        )
        page.set_viewport_size({"width": 820, "height": 1180})
        page.goto(plan_url)
        page.screenshot(path=HERE / "plan-tablet.png")
        browser.close()


def _full_page(page: Any, name: str) -> None:
    """A whole-page screenshot from the top (the sticky preview beside the form's top)."""
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=HERE / name, full_page=True)


def shoot_uncertainty(page: Any, base: str, tmp: Path) -> None:
    """A MIRD plan with an SD of its own and the literature defaults for the others: the
    intervals as typed, the plan page and the report's uncertainty section."""
    page.goto(base + "/plans/new")
    page.get_by_label("Patient reference").fill("MRN-0045")
    page.get_by_label("Treatment date").fill("2026-12-04")
    page.get_by_label("target dose gy").fill("120")
    page.get_by_label("perfused volume ml").fill("1165")
    page.get_by_role("textbox", name="lsf", exact=True).fill("0.08")
    page.get_by_text("Uncertainty: 95 % intervals, SDs and what drives them").click()
    page.get_by_label("sd lsf").fill("0.03")
    page.locator("#preview").get_by_text("Drivers of perfused").wait_for()
    _full_page(page, "plan-new-uncertainty.png")
    page.get_by_role("button", name="Store plan").click()
    page.wait_for_url("**/plans/*")
    page.get_by_text("Input SDs and where they come from").click()
    _full_page(page, "plan-uncertainty.png")
    with page.expect_download() as info:
        page.get_by_role("link", name="Report (PDF)").click()
    report = tmp / "report-uncertainty.pdf"
    info.value.save_as(report)
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-r",
            "80",
            "-singlefile",
            str(report),
            str(HERE / "report-uncertainty"),
        ],
        check=True,
    )


def shoot_treatment(page: Any, base: str) -> None:
    """A bilobar treatment whose lung limit only the sum passes, stored, then revised."""
    page.goto(base + "/plans/new?model=treatment")
    page.get_by_label("Patient reference").fill("MRN-0044")
    page.get_by_label("Treatment date").fill("2026-12-03")
    page.get_by_role("textbox", name="lung mass kg", exact=True).fill("0.9")
    page.get_by_role("textbox", name="liver volume ml", exact=True).fill("1600")
    for number, (name, volume_ml, lsf) in enumerate(
        (("right lobe", "1000", "0.15"), ("left lobe", "500", "0.08")), start=1
    ):
        territory = page.locator(f"#territory-{number}")
        territory.get_by_label("Name").fill(name)
        territory.get_by_label("Delivery").select_option("lobar")
        territory.get_by_role("textbox", name="target dose gy", exact=True).fill("120")
        territory.get_by_role("textbox", name="perfused volume ml", exact=True).fill(volume_ml)
        territory.get_by_role("textbox", name="lsf", exact=True).fill(lsf)
    page.locator("#preview").get_by_text("lung dose of the treatment 30.2 Gy").wait_for()
    _full_page(page, "treatment-new.png")
    page.get_by_role("button", name="Store plan").click()
    page.wait_for_url("**/plans/*")
    plan_url = page.url
    _full_page(page, "treatment-plan.png")
    page.get_by_role("link", name="Revise").click()
    page.get_by_label("Reason for the revision").fill("right lobe LSF re-measured: 12 %")
    right = page.locator("#territory-1")
    right.get_by_role("textbox", name="lsf", exact=True).fill("0.12")
    page.locator("#preview").get_by_role("row", name="lung dose (treatment) 24.7 Gy").wait_for()
    _full_page(page, "treatment-revise.png")
    page.get_by_role("button", name="Store version 2").click()
    page.wait_for_url(plan_url)


def _zip(files: dict[str, bytes]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return base64.b64encode(buffer.getvalue()).decode()


def _drop(page: Any, data_b64: str, name: str) -> None:
    transfer = page.evaluate_handle(
        """([b64, name]) => {
             const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name, {type: 'application/zip'}));
             return dt;
           }""",
        [data_b64, name],
    )
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def _start_job(page: Any, activity_gbq: str, predictive: bool) -> str:
    page.locator("#f-activity_gbq").fill(activity_gbq)
    page.locator("#f-lsf").fill("0.05")
    page.get_by_label("product").select_option("glass")
    if predictive:
        page.get_by_label("predictive").check()
    page.locator("#job-check").get_by_text("The service accepts these options").wait_for()
    page.get_by_role("button", name="Start dose job").click()
    page.wait_for_url("**/dose-jobs/*")
    url: str = page.url
    return url


def _review_ready(page: Any) -> None:
    page.wait_for_selector("#review[data-ready=yes]", timeout=120_000)
    page.wait_for_selector("#dvh[data-ready=yes]")


def shoot_dose(base: str, keys: dict[str, str], demo_files: Path) -> None:
    """The studies and dose-job pages: upload, job form, progress, review, comparison."""
    study_zip = _zip({p.name: p.read_bytes() for p in sorted(demo_files.iterdir())})
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(base + "/signin")
        page.get_by_label("API key").fill(keys["planner"])
        page.keyboard.press("Enter")
        page.wait_for_url(base + "/plans")
        page.goto(base + "/studies")
        _drop(page, _zip({"notes.txt": b"no images here"}), "notes.zip")
        page.get_by_role("button", name="Upload").click()
        page.locator("#upload-problem").wait_for()
        page.screenshot(path=HERE / "studies-upload-refused.png")
        _drop(page, study_zip, "liver-phantom.zip")
        page.get_by_role("button", name="Upload").click()
        page.wait_for_url("**/studies/*-*")
        study_url = page.url
        page.locator("#f-lsf").fill("1.2")
        page.locator("#f-activity_gbq").fill("3")
        page.locator("#err-lsf").get_by_text("expected a number < 1.0").wait_for()
        page.screenshot(path=HERE / "study-job-form.png", full_page=True)
        page.goto(study_url)
        planned_url = _start_job(page, "3.3", predictive=True)
        page.wait_for_function(  # a job under way (it may also finish first)
            """() => !document.getElementById('job-bar')
                 || Number(document.getElementById('job-bar').value) >= 0.3""",
            timeout=120_000,
        )
        page.screenshot(path=HERE / "dose-job-progress.png")
        _review_ready(page)
        page.goto(study_url)
        delivered_url = _start_job(page, "3", predictive=False)
        _review_ready(page)
        page.screenshot(path=HERE / "dose-review.png")
        page.screenshot(path=HERE / "dose-review-full.png", full_page=True)
        page.locator("#voi-toggles").get_by_role("checkbox", name="tumors").uncheck()
        page.locator("#voi-toggles").get_by_role("checkbox", name="body").uncheck()
        chart = page.locator("#dvh")
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.4)
        page.locator("#h-dvh").evaluate("e => e.scrollIntoView()")
        page.screenshot(path=HERE / "dose-review-dvh.png")
        planned_id = planned_url.rsplit("/", 1)[1]
        page.goto(f"{delivered_url}?planned={planned_id}#compare")
        _review_ready(page)
        page.locator("#compare").screenshot(path=HERE / "dose-review-compare.png")
        page.goto(base + "/dose-jobs")
        page.screenshot(path=HERE / "dose-jobs.png")
        page.goto(base + "/studies")
        page.screenshot(path=HERE / "studies.png")
        page.set_viewport_size({"width": 820, "height": 1180})
        page.goto(delivered_url)
        _review_ready(page)
        page.screenshot(path=HERE / "dose-review-tablet.png")
        browser.close()


if __name__ == "__main__":
    main()
