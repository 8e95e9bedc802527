"""The study and dose-job pages and their data routes, through the app (TestClient).

Two dose jobs on the liver phantom (``y90dose.phantoms.generators.liver``, the demo
study), started from the web form and run by the service's own job pool: 3.0 GBq
(delivered) and 3.3 GBq predictive (planned), on the same study with the same method.
The dose map scales with the activity (same image, same VOIs, same kernel), so every
VOI's planned-vs-delivered difference is known by hand: 3.0 / 3.3 - 1 = -9.0909 %.

The view volumes must be the run's own values: the dose on the CT grid, the CT in HU,
the VOI masks, read back from the run's files and compared voxel by voxel; shrunk
views hold block means. Air (no colour): the default HU -> density curve is linear
from (-1000 HU, 0.00121 g/mL) to (0 HU, 1.0 g/mL), so density < 0.05 g/mL is
HU < -1000 + 1000 x (0.05 - 0.00121) / (1.0 - 0.00121) = -951.15 HU.
"""

from __future__ import annotations

import gzip
import html
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import add_key, assert_problem, make_zip

from y90dose.devices import Product
from y90dose_service.demo import ensure_demo_study
from y90dose_service.jobs import job_output_dir, study_dir
from y90dose_service.main import create_app
from y90dose_service.models import DoseJob
from y90dose_service.schemas.dose_jobs import DoseJobCreate
from y90dose_service.settings import ServiceSettings
from y90dose_service.web import job_form, volumes

BASE = "http://testserver"
ORIGIN = {"origin": BASE}
DELIVERED_GBQ = 3.0
PLANNED_GBQ = 3.3
EXPECTED_PERCENT = 100.0 * (DELIVERED_GBQ / PLANNED_GBQ - 1.0)  # -9.0909 %
AIR_HU = -1000.0 + 1000.0 * (0.05 - 0.00121) / (1.0 - 0.00121)  # -951.15 HU
UPLOAD_MAX_BYTES = 2_000_000
POLL_TIMEOUT_S = 120.0


@dataclass
class Finished:
    """A running app with the demo study and two finished jobs."""

    app: FastAPI
    client: TestClient
    keys: dict[str, str]
    settings: ServiceSettings
    study_id: str
    delivered: str
    planned: str


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, key: str) -> str:
    """A fresh browser session for ``key``; the pages' CSRF token."""
    client.cookies.clear()
    token = _token(client.get("/signin").text)
    response = client.post(
        "/signin",
        data={"csrf_token": token, "api_key": key},
        headers=ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return _token(client.get("/studies").text)


def api(finished: Finished, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {finished.keys[role]}"}


def wait_succeeded(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/dose-jobs/{job_id}", headers=headers).json()
        if body["status"] in ("succeeded", "failed"):
            assert body["status"] == "succeeded", body["message"]
            return body
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {POLL_TIMEOUT_S} s")


def start_from_form(client: TestClient, token: str, study_id: str, **fields: str) -> str:
    """Start a job through the study page's form; its id (from the redirect)."""
    data = {"csrf_token": token, "study_id": study_id, **fields}
    response = client.post("/dose-jobs", data=data, headers=ORIGIN, follow_redirects=False)
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Finished]:
    data_dir = tmp_path_factory.mktemp("web-dose") / "data"
    settings = ServiceSettings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'y90dose.sqlite3'}",
        key_cache_seconds=0.0,
        job_workers=2,
        upload_max_bytes=UPLOAD_MAX_BYTES,
    )
    app = create_app(settings)
    keys = {role: add_key(app, f"{role}-key", role) for role in ("viewer", "planner")}
    with TestClient(app) as client:
        study_id = ensure_demo_study(settings, app.state.sessionmaker)
        assert study_id is not None
        token = sign_in(client, keys["planner"])
        common = {"lsf": "0.05", "product": "glass", "method": "dvk"}  # write_pngs unticked
        delivered = start_from_form(
            client, token, study_id, activity_gbq=str(DELIVERED_GBQ), **common
        )
        planned = start_from_form(
            client, token, study_id, activity_gbq=str(PLANNED_GBQ), predictive="yes", **common
        )
        headers = {"Authorization": f"Bearer {keys['planner']}"}
        for job_id in (delivered, planned):
            wait_succeeded(client, headers, job_id)
        yield Finished(app, client, keys, settings, study_id, delivered, planned)


def _read(path: Path) -> np.ndarray[Any, Any]:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def test_pages_and_data_need_a_session(finished: Finished) -> None:
    client = finished.client
    client.cookies.clear()
    job = finished.delivered
    for path in (
        "/studies",
        f"/studies/{finished.study_id}",
        "/dose-jobs",
        f"/dose-jobs/{job}",
        f"/dose-jobs/{job}/view.json",
        f"/dose-jobs/{job}/view/dose",
        f"/dose-jobs/{job}/files/dvh.json",
    ):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/signin"), path
    upload = client.post("/studies/upload", files={"file": ("s.zip", b"PK")}, headers=ORIGIN)
    assert_problem(upload, 401)


def test_the_form_is_the_job_schema_with_units() -> None:
    fields = {f.name: f for f in job_form.job_fields()}
    assert set(fields) == set(DoseJobCreate.model_fields) - {"study_id"}
    assert (fields["activity_gbq"].unit, fields["activity_gbq"].kind) == ("GBq", "number")
    assert fields["eud_alpha_per_gy"].unit == "1/Gy"  # not Gy: a radiosensitivity
    assert fields["energy_j_per_gbq"].unit == "J/GBq"
    assert fields["v_thresholds_gy"].unit == "Gy"
    assert fields["product"].required and fields["lsf"].required
    assert fields["product"].choices == tuple(p.value for p in Product)
    assert fields["tumor_rois"].kind == "vois" and fields["liver_roi"].kind == "voi"
    assert [f.name for f in job_form.job_fields()][:2] == ["lsf", "product"]


def test_job_form_shows_the_api_messages_and_stores_nothing(finished: Finished) -> None:
    client = finished.client
    token = sign_in(client, finished.keys["planner"])
    data = {"csrf_token": token, "study_id": finished.study_id, "lsf": "1.2", "activity_gbq": "x"}
    check = client.post("/dose-jobs/check", data=data, headers=ORIGIN)
    assert check.status_code == 200
    assert "lsf: 1.2 is not allowed; expected a number &lt; 1.0" in check.text
    assert "activity_gbq: &#39;x&#39; is not allowed" in check.text
    assert "product: missing is not allowed" in check.text
    before = client.get("/v1/dose-jobs", headers=api(finished, "planner")).json()["total"]
    refused = client.post("/dose-jobs", data=data, headers=ORIGIN)
    assert refused.status_code == 422
    assert 'id="err-lsf" role="status">lsf: 1.2 is not allowed' in refused.text
    assert client.get("/v1/dose-jobs", headers=api(finished, "planner")).json()["total"] == before
    # a viewer sees the form's note instead, and a forged post is refused by role
    token = sign_in(client, finished.keys["viewer"])
    page = client.get(f"/studies/{finished.study_id}")
    assert "starting a dose job needs the planner role" in page.text
    good = {"csrf_token": token, "study_id": finished.study_id, "lsf": "0.05", "product": "glass"}
    forged = client.post("/dose-jobs", data=good, headers=ORIGIN)
    assert forged.status_code == 403 and "has role &#39;viewer&#39;" in forged.text
    assert client.get("/v1/dose-jobs", headers=api(finished, "planner")).json()["total"] == before


def _demo_zip(finished: Finished) -> bytes:
    folder = study_dir(finished.settings.data_dir, finished.study_id)
    return make_zip({p.name: p.read_bytes() for p in sorted(folder.iterdir())})


def test_web_upload_uses_the_api_checks(finished: Finished) -> None:
    client = finished.client
    token = sign_in(client, finished.keys["planner"])
    headers = {**ORIGIN, "X-CSRF-Token": token}
    # no CSRF token: refused before the body is read
    assert_problem(
        client.post("/studies/upload", files={"file": ("s.zip", b"PK")}, headers=ORIGIN), 403
    )
    # a zip without images: the API's own problem, word for word
    bad = make_zip({"readme.txt": b"hello"})
    page = client.post("/studies/upload", files={"file": ("s.zip", bad)}, headers=headers)
    api_answer = client.post(
        "/v1/studies", files={"file": ("s.zip", bad)}, headers=api(finished, "planner")
    )
    assert_problem(page, 422)
    assert page.json()["detail"] == api_answer.json()["detail"]
    assert (
        "'readme.txt' is not allowed; expected a whole, readable DICOM file"
        in (page.json()["detail"])
    )
    # past the upload limit: 413 from the upload limiter
    big = client.post(
        "/studies/upload",
        files={"file": ("big.zip", b"\0" * (UPLOAD_MAX_BYTES + 70_000))},
        headers=headers,
    )
    assert_problem(big, 413)
    # the demo study's files as a zip: stored, as the API stores it
    stored = client.post(
        "/studies/upload", files={"file": ("liver.zip", _demo_zip(finished))}, headers=headers
    )
    assert stored.status_code == 201, stored.text
    study = client.get(f"/v1/studies/{stored.json()['id']}", headers=api(finished, "viewer"))
    assert study.json()["kind"] == "nifti"
    assert study.json()["summary"]["dose_inputs"]["usable"] is True
    assert stored.json()["url"] == f"/studies/{study.json()['id']}"
    # a viewer may not upload
    token = sign_in(client, finished.keys["viewer"])
    viewer = client.post(
        "/studies/upload",
        files={"file": ("liver.zip", b"PK")},
        headers={**ORIGIN, "X-CSRF-Token": token},
    )
    assert "has role 'viewer'" in assert_problem(viewer, 403)["detail"]


def test_review_page_shows_the_runs_metrics(finished: Finished) -> None:
    client = finished.client
    sign_in(client, finished.keys["viewer"])
    job = client.get(f"/v1/dose-jobs/{finished.delivered}", headers=api(finished, "viewer")).json()
    page = client.get(f"/dose-jobs/{finished.delivered}")
    assert page.status_code == 200
    rows = re.findall(r"<tr><th scope=\"row\">([^<]+)</th>\s*<td class=\"num\">", page.text)
    assert rows == list(job["result"]["metrics"])
    tumour = job["result"]["metrics"]["tumor1"]
    row = page.text.split('<tr><th scope="row">tumor1</th>', 1)[1].split("</tr>", 1)[0]
    assert f"<strong>{tumour['mean_gy']:.1f}</strong>" in row
    assert f"{tumour['d70_gy']:.1f}" in row
    # beside the voxel mean, energy over mass (the lung limits' quantity; the review found
    # the lungs' 14.1 Gy voxel mean shown alone against 13.4 Gy energy over mass)
    lungs = job["result"]["metrics"]["lungs"]
    lung_row = page.text.split('<tr><th scope="row">lungs</th>', 1)[1].split("</tr>", 1)[0]
    assert f"<strong>{lungs['mean_gy']:.1f}</strong>" in lung_row
    assert f'<td class="num">{lungs["mean_absorbed_gy"]:.1f}</td>' in lung_row
    # which engine ran and why (the form's method "auto" sends the reader here)
    method = page.text.split('<th scope="row">Method</th>', 1)[1].split("</tr>", 1)[0]
    assert job["result"]["method_reason"] in html.unescape(method)
    assert job["result"]["kernel"]["reference"] in html.unescape(method)
    assert finished.planned[:8] in page.text  # offered as the planned run
    assert client.get(f"/dose-jobs/{finished.planned}").status_code == 200
    dvh = client.get(f"/dose-jobs/{finished.delivered}/files/dvh.json")
    assert list(dvh.json()) == list(job["result"]["metrics"])


def test_view_volumes_are_the_runs_own_values(finished: Finished) -> None:
    client = finished.client
    sign_in(client, finished.keys["viewer"])  # the viewer role reads, as GET /v1/dose-jobs
    base = f"/dose-jobs/{finished.delivered}"
    view = client.get(base + "/view.json").json()
    out = job_output_dir(finished.settings.data_dir, finished.delivered)
    dose = _read(out / "dose_on_ct_gy.nii.gz")
    assert view["shape_xyz"] == list(dose.shape[::-1]) == [90, 64, 74]
    assert view["shrink_factors_xyz"] == [1, 1, 1]
    served = client.get(base + "/view/dose")
    assert served.headers["content-encoding"] == "gzip"
    shown = np.frombuffer(served.content, dtype="<f4").reshape(dose.shape)
    assert np.array_equal(shown, dose.astype(np.float32))
    ct = _read(study_dir(finished.settings.data_dir, finished.study_id) / "ct_hu.nii.gz")
    background = np.frombuffer(client.get(base + "/view/background").content, dtype="<i2")
    assert view["background"]["kind"] == "ct"
    assert np.array_equal(background.reshape(ct.shape), ct)
    bits = np.frombuffer(client.get(base + "/view/vois").content, dtype="<u1").reshape(dose.shape)
    index = json.loads((out / "vois.json").read_text())["vois"]
    assert view["vois"]["names"] == list(index)
    for bit, name in enumerate(view["vois"]["names"]):
        mask = _read(out / index[name]) > 0
        assert np.array_equal((bits & (1 << bit)) > 0, mask), name
    air = np.frombuffer(client.get(base + "/view/air").content, dtype="<u1").reshape(dose.shape)
    expected_air = (ct < AIR_HU) & (dose > 0)
    assert np.array_equal(air > 0, expected_air)
    assert view["dose"]["air"]["voxels"] == int(expected_air.sum()) > 0
    # defaults: the wash's top is the highest D2 of the VOIs, its bottom 2 % of that
    job = client.get(f"/v1/dose-jobs/{finished.delivered}", headers=api(finished, "viewer"))
    top = max(m["d2_gy"] for m in job.json()["result"]["metrics"].values())
    assert view["dose"]["range_gy"] == [round(0.02 * top, 1), round(top, 1)]
    assert client.get(base + "/view/other").status_code == 404


def test_a_large_grid_is_shrunk_to_block_means(finished: Finished, tmp_path: Path) -> None:
    # 90 x 64 x 74 = 426 240 voxels of 4 mm; at most 100 000: x, then y, then z halved
    # (the finest spacing grows first): 45 x 32 x 37 = 53 280 voxels
    assert volumes.shrink_factors((90, 64, 74), (4.0, 4.0, 4.0), 100_000) == (2, 2, 2)
    out = job_output_dir(finished.settings.data_dir, finished.delivered)
    folder = study_dir(finished.settings.data_dir, finished.study_id)
    view = volumes.build_view(out, folder, tmp_path / "view", max_voxels=100_000)
    assert view["shape_xyz"] == [45, 32, 37]
    assert view["spacing_mm"] == [8.0, 8.0, 8.0]
    dose = _read(out / "dose_on_ct_gy.nii.gz").astype(np.float64)
    shown = np.frombuffer(gzip.decompress((tmp_path / "view" / "dose.gz").read_bytes()), "<f4")
    shown = shown.reshape(37, 32, 45)
    k, j, i = 10, 15, 12
    block = dose[2 * k : 2 * k + 2, 2 * j : 2 * j + 2, 2 * i : 2 * i + 2]
    assert block.max() > 0
    assert shown[k, j, i] == pytest.approx(block.sum() / 8.0, rel=1e-6)


def test_data_routes_follow_the_api_rules(finished: Finished) -> None:
    client = finished.client
    sign_in(client, finished.keys["viewer"])
    with finished.app.state.sessionmaker() as session:
        queued = DoseJob(
            study_id=finished.study_id, status="queued", params={}, created_by="t", files=[]
        )
        session.add(queued)
        session.commit()
        queued_id = queued.id
    assert client.get(f"/dose-jobs/{queued_id}/view.json").status_code == 409
    assert client.get(f"/dose-jobs/{queued_id}/view/dose").status_code == 409
    page = client.get(f"/dose-jobs/{queued_id}")
    assert 'id="job-progress"' in page.text and "hx-get" in page.text
    progress = client.get(f"/dose-jobs/{queued_id}/progress")
    assert "HX-Refresh" not in progress.headers
    done = client.get(f"/dose-jobs/{finished.delivered}/progress")
    assert done.headers["HX-Refresh"] == "true"
    assert client.get("/dose-jobs/nope/view.json").status_code == 404
    assert client.get("/dose-jobs/nope/view/dose").status_code == 404


def test_planned_versus_delivered(finished: Finished) -> None:
    client = finished.client
    url = f"/v1/dose-jobs/{finished.delivered}/comparison"
    assert_problem(client.get(url, params={"planned_job_id": finished.planned}), 401)
    response = client.get(
        url, params={"planned_job_id": finished.planned}, headers=api(finished, "viewer")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["delivered_job_id"], body["planned_job_id"]) == (
        finished.delivered,
        finished.planned,
    )
    assert set(body["vois"]) >= {"liver", "tumor1", "tumor2", "tumor3", "lungs"}
    for name, voi in body["vois"].items():
        if voi["planned_mean_gy"] > 0:
            assert voi["difference_mean_percent"] == pytest.approx(EXPECTED_PERCENT, abs=1e-3)
            assert voi["delivered_mean_gy"] == pytest.approx(
                voi["planned_mean_gy"] * DELIVERED_GBQ / PLANNED_GBQ, rel=1e-5
            ), name
        if voi["planned_d70_gy"] > 0:
            assert voi["difference_d70_percent"] == pytest.approx(EXPECTED_PERCENT, abs=1e-3)
        assert voi["delivered_coverage_percent"] == 100.0
    assert str(finished.settings.data_dir) not in response.text
    unknown = client.get(url, params={"planned_job_id": "nope"}, headers=api(finished, "viewer"))
    assert_problem(unknown, 422, "planned_job_id")
    itself = client.get(
        url, params={"planned_job_id": finished.delivered}, headers=api(finished, "viewer")
    )
    assert_problem(itself, 422, "planned_job_id")
    # the review page shows the same numbers
    sign_in(client, finished.keys["viewer"])
    page = client.get(f"/dose-jobs/{finished.delivered}", params={"planned": finished.planned})
    table = page.text.split('id="comparison"', 1)[1]
    tumour = body["vois"]["tumor1"]
    assert f"{tumour['planned_mean_gy']:.1f}" in table
    assert f"{tumour['difference_mean_gy']:+.1f} Gy ({EXPECTED_PERCENT:+.1f} %)" in table


def test_a_failed_job_shows_the_runs_message(finished: Finished) -> None:
    client = finished.client
    token = sign_in(client, finished.keys["planner"])
    job_id = start_from_form(
        client, token, finished.study_id, lsf="0.05", product="resin", liver_roi="no such voi"
    )
    headers = api(finished, "planner")
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while (job := client.get(f"/v1/dose-jobs/{job_id}", headers=headers).json())["status"] not in (
        "succeeded",
        "failed",
    ):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert job["status"] == "failed"
    page = client.get(f"/dose-jobs/{job_id}")
    failure = page.text.split('id="job-failure">', 1)[1].split("</p>", 1)[0]
    assert "liver_roi" in failure and "no such voi" in failure
    assert str(finished.settings.data_dir) not in page.text


def test_the_review_page_links_the_runs_report(finished: Finished) -> None:
    """The browser has a session cookie, not a key: the page's report link is a page route
    serving the same file as ``GET /v1/dose-jobs/{id}/report``."""
    client = finished.client
    client.cookies.clear()
    job = finished.delivered
    signed_out = client.get(f"/dose-jobs/{job}/report", follow_redirects=False)
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/signin")
    sign_in(client, finished.keys["viewer"])
    page = client.get(f"/dose-jobs/{job}")
    assert f'href="/dose-jobs/{job}/report"' in page.text
    pdf = client.get(f"/dose-jobs/{job}/report")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    via_api = client.get(f"/v1/dose-jobs/{job}/report", headers=api(finished, "viewer"))
    assert pdf.content == via_api.content
    # the demo study is NIfTI: no DICOM report, and the page says why
    dicom = client.get(f"/dose-jobs/{job}/report?format=dicom")
    assert dicom.status_code == 422 and "format=pdf" in dicom.text
    assert client.get(f"/dose-jobs/{job}/report?format=docx").status_code == 422
