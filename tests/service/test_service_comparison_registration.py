"""``GET /v1/dose-jobs/{id}/comparison`` registers two studies in different frames of
reference (issue 12, section 5), through the app and its real job pool.

Three uploaded DICOM SPECT/CT studies (:mod:`y90dose.phantoms.anatomy_studies`): the planned
(MAA) study, the delivered study (the same anatomy moved by a known rigid transform, another
FrameOfReferenceUID) and an *unrelated* study (its CT is noise). Each gets an LDM dose job.
The comparison of planned and delivered must be what the library gives on the two jobs'
folders (``y90dose compare``: the same registration, seeded) and within the library tests'
tolerance of what the true transform gives; it reports the registration's quality, hides
server paths, is computed once however many requests ask (a request that cannot wait gets
503 with Retry-After) and is then read from disk. The unrelated pair's registration fails:
422, kept as such (not registered again).
"""

from __future__ import annotations

import io
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import SimpleITK as sitk  # noqa: N813
from fastapi.testclient import TestClient
from service_helpers import add_key, assert_problem

from y90dose.phantoms.anatomy_studies import known_rigid, true_transform, write_study
from y90dose.pipeline import compare_runs
from y90dose_service.jobs import job_output_dir
from y90dose_service.main import create_app
from y90dose_service.routers import dose_comparisons
from y90dose_service.settings import ServiceSettings

JOB = {"lsf": 0.05, "product": "glass", "method": "ldm", "write_pngs": False}
POLL_TIMEOUT_S = 120.0
KNOWN = ((4.0, -5.0, 3.0), (15.0, -20.0, 12.0))


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _study_and_job(client: TestClient, headers: dict[str, str], folder: Path, **job: Any) -> str:
    upload = client.post("/v1/studies", files={"file": ("s.zip", _zip(folder))}, headers=headers)
    assert upload.status_code == 201, upload.text
    response = client.post(
        "/v1/dose-jobs", json={"study_id": upload.json()["id"], **JOB, **job}, headers=headers
    )
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def _wait(client: TestClient, headers: dict[str, str], job_id: str) -> None:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while time.monotonic() < deadline:
        body = client.get(f"/v1/dose-jobs/{job_id}", headers=headers).json()
        if body["status"] in ("succeeded", "failed"):
            assert body["status"] == "succeeded", body["message"]
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_comparison_registers_reports_and_computes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite only: nothing here depends on the database (the comparison is on disk)."""
    known = known_rigid(*KNOWN)
    folders = {
        "planned": write_study(tmp_path / "planned", known=None, uid_seed="planned").folder,
        "delivered": write_study(tmp_path / "delivered", known=known, uid_seed="delivered").folder,
        "unrelated": write_study(
            tmp_path / "unrelated", known=known, uid_seed="unrelated", unrelated_ct=True
        ).folder,
    }
    data_dir = tmp_path / "data"
    settings = ServiceSettings(
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'y90dose.sqlite3'}",
        key_cache_seconds=0.0,
        job_workers=2,
        upload_max_bytes=20_000_000,
    )
    app = create_app(settings)
    headers = {"X-API-Key": add_key(app, "planner-key", "planner")}
    computed: list[str] = []
    original = dose_comparisons._compute

    def counting(*args: Any) -> None:
        computed.append(args[2].name)
        original(*args)

    monkeypatch.setattr(dose_comparisons, "_compute", counting)
    with TestClient(app) as client:
        jobs = {
            "planned": _study_and_job(
                client, headers, folders["planned"], activity_gbq=2.0, predictive=True
            ),
            "delivered": _study_and_job(client, headers, folders["delivered"], activity_gbq=3.0),
            "unrelated": _study_and_job(client, headers, folders["unrelated"], activity_gbq=3.0),
        }
        for job_id in jobs.values():
            _wait(client, headers, job_id)
        url = f"/v1/dose-jobs/{jobs['delivered']}/comparison"
        query = {"planned_job_id": jobs["planned"]}

        # requests that cannot wait: 503 with Retry-After, one computation for both
        monkeypatch.setattr(dose_comparisons, "WAIT_SECONDS", 0.0)
        answers: list[Any] = []
        threads = [
            threading.Thread(
                target=lambda: answers.append(client.get(url, params=query, headers=headers))
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for answer in answers:
            problem = assert_problem(answer, 503)
            assert problem["type"].endswith(":comparison-in-progress")
            assert answer.headers["retry-after"] == str(dose_comparisons.RETRY_AFTER_SECONDS)
        deadline = time.monotonic() + POLL_TIMEOUT_S
        while (response := client.get(url, params=query, headers=headers)).status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert response.status_code == 200, response.text
        assert computed == [f"{jobs['delivered']}--{jobs['planned']}.json"]
        body = response.json()
        again = client.get(url, params=query, headers=headers)
        assert again.json() == body and len(computed) == 1  # from disk

        report = body["automatic_registration"]
        assert report["nmi_final"] >= report["min_nmi"] == 1.15
        assert report["overlap_fraction"] >= 0.5 and report["kind"] == "rigid"
        assert report["fixed_ct"].startswith("<planned study>")
        assert report["moving_ct"].startswith("<delivered study>")
        assert body["registration"].startswith("automatic rigid registration")
        assert str(settings.data_dir) not in response.text
        assert str(settings.data_dir.resolve()) not in response.text

        # the library on the jobs' folders: the same numbers (the same seeded registration)
        planned_dir = job_output_dir(settings.data_dir, jobs["planned"])
        delivered_dir = job_output_dir(settings.data_dir, jobs["delivered"])
        # the jobs' results name their study's files as <study>/... (no server paths): the
        # studies' CTs are given, as the service gives them
        cts = {
            role: dose_comparisons._study_ct(
                settings,
                client.get(f"/v1/dose-jobs/{jobs[role]}", headers=headers).json()["study_id"],
            )
            for role in ("planned", "delivered")
        }
        library = compare_runs(
            planned_dir,
            delivered_dir,
            planned_ct_path=cts["planned"],
            delivered_ct_path=cts["delivered"],
        )
        assert library.automatic_registration is not None
        assert library.automatic_registration.nmi_final == report["nmi_final"]
        truth_file = tmp_path / "true.tfm"
        sitk.WriteTransform(true_transform(known), str(truth_file))
        truth = compare_runs(planned_dir, delivered_dir, transform_path=truth_file)
        for name, voi in body["vois"].items():
            assert voi["delivered_mean_gy"] == pytest.approx(
                library.vois[name].delivered_mean_gy, rel=1e-6
            )
            assert voi["delivered_mean_gy"] == pytest.approx(
                truth.vois[name].delivered_mean_gy, rel=0.005
            ), name
            assert voi["delivered_d70_gy"] == pytest.approx(
                truth.vois[name].delivered_d70_gy, rel=0.01
            ), name

        # the unrelated study: its registration fails, 422, kept as a refusal
        monkeypatch.setattr(dose_comparisons, "WAIT_SECONDS", 60.0)
        unrelated_url = f"/v1/dose-jobs/{jobs['unrelated']}/comparison"
        refused = assert_problem(client.get(unrelated_url, params=query, headers=headers), 422)
        assert refused["type"].endswith(":not-comparable")
        assert refused["detail"].startswith("transform is needed: the automatic registration")
        assert "poor similarity" in refused["detail"]
        assert "the service takes no transform file" in refused["detail"]
        assert str(settings.data_dir) not in refused["detail"]
        assert len(computed) == 2
        assert_problem(client.get(unrelated_url, params=query, headers=headers), 422)
        assert len(computed) == 2  # the refusal was kept

        # too many comparisons at once: 503 service-busy for a new pair
        monkeypatch.setattr(dose_comparisons, "MAX_PAIRS_PENDING", 0)
        busy = client.get(
            unrelated_url, params={"planned_job_id": jobs["delivered"]}, headers=headers
        )
        assert assert_problem(busy, 503)["type"].endswith(":service-busy")
        assert busy.headers["retry-after"]
