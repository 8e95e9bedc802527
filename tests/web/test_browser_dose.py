"""Studies and dose jobs in a real browser, against a real ``y90dose serve --demo`` process.

A study zip dropped on the studies page (the demo liver phantom's files) is uploaded
with its progress shown, a refused zip shows the API's own message; a dose job started
from the form generated from the job schema (the API's message shown as typed) runs to
its review page; the readout under the cursor at the centre of tumour 1 shows the
dose the run wrote at that voxel (read back from the run's own ``dose_on_ct_gy.nii.gz``)
and the phantom's tumour CT number, 30 HU (``y90dose.phantoms.generators.common.TISSUES``);
a DVH curve is toggled off and on; the DVH read at 70 % volume agrees with the run's D70
within one DVH bin (the curve is binned, the metric is exact).
"""

from __future__ import annotations

import base64
import io
import re
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813

HERE = Path(__file__).resolve().parent
sys.path[:0] = [p for p in (str(HERE), str(HERE.parent / "service")) if p not in sys.path]

from service_server import command_env, start, stop  # noqa: E402
from web_fixtures import browser  # noqa: E402, F401 (fixtures)
from web_helpers import _key  # noqa: E402

TUMOUR_HU = 30.0
JOB_TIMEOUT_MS = 120_000


@dataclass
class DemoServer:
    """A ``serve --demo`` process: its keys, the demo study, a job run through the API."""

    base: str
    keys: dict[str, str]
    study_dir: Path
    study_id: str

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    data_dir = tmp_path_factory.mktemp("web-dose") / "data"
    env = command_env(f"sqlite:///{data_dir / 'y90dose.sqlite3'}", job_workers="2")
    keys = {role: _key(data_dir, env, f"{role}-user", role) for role in ("planner", "viewer")}
    server = start(data_dir, env, "--demo")
    try:
        folder = next((data_dir / "studies").glob("*/files"))
        yield DemoServer(server.base, keys, folder, folder.parent.name)
    finally:
        stop(server)


@pytest.fixture(scope="module")
def api_job(demo: DemoServer) -> str:
    """A finished job on the demo study, started through the API."""
    body = {"study_id": demo.study_id, "activity_gbq": 2.0, "lsf": 0.08, "product": "resin"}
    created = httpx.post(f"{demo.base}/v1/dose-jobs", json=body, headers=demo.headers("planner"))
    assert created.status_code == 202, created.text
    job_id: str = created.json()["id"]
    deadline = time.monotonic() + JOB_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        job = httpx.get(f"{demo.base}/v1/dose-jobs/{job_id}", headers=demo.headers("planner"))
        if job.json()["status"] in ("succeeded", "failed"):
            assert job.json()["status"] == "succeeded", job.json()["message"]
            return job_id
        time.sleep(0.3)
    raise AssertionError("the API's dose job did not finish")


def signed_in(browser: Any, demo: DemoServer, role: str, width: int = 1280) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.goto(demo.base + "/signin")
    page.get_by_label("API key").fill(demo.keys[role])
    page.keyboard.press("Enter")
    page.wait_for_url(demo.base + "/plans")
    return page


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def drop(page: Any, data: bytes, name: str) -> None:
    """Drop a file on the drop zone, as a user dragging it from the desktop."""
    transfer = page.evaluate_handle(
        """([b64, name]) => {
             const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name, {type: 'application/zip'}));
             return dt;
           }""",
        [base64.b64encode(data).decode(), name],
    )
    page.dispatch_event("#drop-zone", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})


def record_upload_states(page: Any) -> None:
    page.evaluate(
        """() => {
             window.uploadStates = [];
             const label = document.getElementById('upload-label');
             new MutationObserver(() => window.uploadStates.push(label.textContent))
               .observe(label, {childList: true, characterData: true, subtree: true});
           }"""
    )


def test_upload_job_review_readout_and_dvh(browser: Any, demo: DemoServer, tmp_path: Path) -> None:
    page = signed_in(browser, demo, "planner")
    page.get_by_role("link", name="Studies").click()
    page.wait_for_url(demo.base + "/studies")

    # a zip without images: refused, in the API's own words
    bad = zip_of({"readme.txt": b"not a study"})
    api_answer = httpx.post(
        f"{demo.base}/v1/studies", files={"file": ("bad.zip", bad)}, headers=demo.headers("planner")
    )
    assert api_answer.status_code == 422
    record_upload_states(page)
    drop(page, bad, "bad.zip")
    assert "bad.zip" in page.locator("#upload-text").inner_text()
    page.get_by_role("button", name="Upload").click()
    problem = page.locator("#upload-problem")
    problem.wait_for()
    assert api_answer.json()["detail"] in problem.inner_text()
    states = page.evaluate("() => window.uploadStates")
    assert "Uploading" in states and states[-1] == "Refused", states

    # the demo phantom's files as a zip, dropped: stored, the study page opens
    study_zip = zip_of({p.name: p.read_bytes() for p in sorted(demo.study_dir.iterdir())})
    drop(page, study_zip, "liver.zip")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r".*/studies/[0-9a-f-]{36}$"))
    assert demo.study_id not in page.url
    assert "labels.nii.gz" in page.locator("table.kv").inner_text()

    # the job form: the API's message as typed, then a job
    page.locator("#f-activity_gbq").fill("3")
    page.locator("#f-lsf").fill("1.2")
    page.locator("#err-lsf").get_by_text("expected a number < 1.0").wait_for()
    page.locator("#f-lsf").fill("0.05")
    page.get_by_label("product").select_option("glass")
    page.get_by_label("write pngs").uncheck()
    page.locator("#job-check").get_by_text("The service accepts these options").wait_for()
    page.get_by_role("button", name="Start dose job").click()
    page.wait_for_url(re.compile(r".*/dose-jobs/[0-9a-f-]{36}$"))
    job_id = page.url.rsplit("/", 1)[1]
    # live progress until the review replaces it (the page reloads itself)
    page.wait_for_selector("#review[data-ready=yes]", timeout=JOB_TIMEOUT_MS)
    job = httpx.get(f"{demo.base}/v1/dose-jobs/{job_id}", headers=demo.headers("planner")).json()
    tumour = job["result"]["metrics"]["tumor1"]

    # the readout under the cursor, at the cross-hair (tumour 1's centre) in the axial view
    readout = page.locator("#readout")
    voxel = [int(v) for v in readout.get_attribute("data-voxel").split(",")]
    view = page.evaluate(f"() => fetch('/dose-jobs/{job_id}/view.json').then(r => r.json())")
    nx, ny, _ = view["shape_xyz"]
    page.locator("#view-axial").scroll_into_view_if_needed()
    box = page.locator("#view-axial").bounding_box()
    page.mouse.move(
        box["x"] + (voxel[0] + 0.5) / nx * box["width"],
        box["y"] + (voxel[1] + 0.5) / ny * box["height"],
    )
    assert readout.get_attribute("data-hover") == "yes"
    assert readout.get_attribute("data-voxel") == ",".join(map(str, voxel))
    text = readout.inner_text()
    assert text.startswith("Under the cursor: dose ")
    dose_gy = float(readout.get_attribute("data-dose-gy"))
    assert tumour["min_gy"] <= dose_gy <= tumour["max_gy"]
    assert dose_gy > 100.0  # a tumour of the demo phantom at 3 GBq glass
    assert float(readout.get_attribute("data-background")) == TUMOUR_HU
    assert "tumor1" in readout.get_attribute("data-vois").split(",")
    written = httpx.get(
        f"{demo.base}/v1/dose-jobs/{job_id}/files/dose_on_ct_gy.nii.gz",
        headers=demo.headers("planner"),
    )
    (tmp_path / "dose.nii.gz").write_bytes(written.content)
    dose = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "dose.nii.gz")))
    i, j, k = voxel
    assert dose_gy == pytest.approx(float(np.float32(dose[k, j, i])), rel=1e-7)
    assert f"{dose_gy:.1f} Gy" in text

    # the DVH: tumor1 toggled off and on
    chart = page.locator("#dvh")
    page.wait_for_selector("#dvh[data-ready=yes]")
    assert "tumor1" in chart.get_attribute("data-curves").split(",")
    toggle = page.locator("#voi-toggles").get_by_role("checkbox", name="tumor1")
    toggle.uncheck()
    assert "tumor1" not in chart.get_attribute("data-curves").split(",")
    assert page.locator('#dvh-readout tr[data-voi="tumor1"]').count() == 0
    toggle.check()
    assert "tumor1" in chart.get_attribute("data-curves").split(",")

    # D read at 70 % volume (arrow keys from the middle, 50 %) against the run's D70
    chart.focus()
    for _ in range(20):
        page.keyboard.press("ArrowUp")
    assert "volume 70.0 %" in page.locator("#dvh-cursor").inner_text()
    curves = page.evaluate(f"() => fetch('/dose-jobs/{job_id}/files/dvh.json').then(r => r.json())")
    for name in ("liver", "tumor1"):
        cell = page.locator(f'#dvh-readout tr[data-voi="{name}"] td[data-kind="d"]')
        read = float(cell.get_attribute("data-value"))
        exact = job["result"]["metrics"][name]["d70_gy"]
        assert abs(read - exact) <= curves[name]["bin_width_gy"], (name, read, exact)
    page.context.close()


def test_a_viewer_reviews_but_does_not_upload(browser: Any, demo: DemoServer, api_job: str) -> None:
    page = signed_in(browser, demo, "viewer")
    page.goto(demo.base + "/studies")
    assert page.locator("#upload-form").count() == 0
    assert "uploading a study needs the planner role" in page.content()
    page.goto(f"{demo.base}/dose-jobs/{api_job}")
    page.wait_for_selector("#review[data-ready=yes]")
    # keyboard: a view takes the focus and the arrow keys change its slice
    axial = page.locator("#view-axial")
    axial.focus()
    before = page.locator("#slice-axial").input_value()
    page.keyboard.press("ArrowUp")
    # the view redraws on the next animation frame: wait for it (a loaded machine is slow)
    page.wait_for_function(
        f"document.querySelector('#slice-axial').value === '{int(before) + 1}'", timeout=10_000
    )
    assert int(page.locator("#slice-axial").input_value()) == int(before) + 1
    assert page.locator("#readout").inner_text().startswith("At the cross-hair:")
    page.context.close()


@pytest.mark.parametrize("width", [1280, 820])
def test_dose_pages_fit_desktop_and_tablet(
    browser: Any, demo: DemoServer, api_job: str, width: int
) -> None:
    """No horizontal scrolling at 1280x800 or on a tablet (820 px); every input labelled."""
    page = signed_in(browser, demo, "planner", width)
    for path in ("/studies", f"/studies/{demo.study_id}", "/dose-jobs", f"/dose-jobs/{api_job}"):
        page.goto(demo.base + path)
        if path.startswith("/dose-jobs/"):
            page.wait_for_selector("#review[data-ready=yes]")
            page.wait_for_selector("#dvh[data-ready=yes]")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, path
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                 .map(e => e.name || e.id)"""
        )
        assert unlabeled == [], path
    page.context.close()
