"""``/v1/dose-jobs``: job mechanics with substitute runners in the real process pool.

Queue, status and progress, results download, failures recorded with their message,
and recovery at start: queued jobs are run, interrupted ones re-queued (or failed after
``job_max_attempts`` starts), never lost.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk  # noqa: N813
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import add_key, assert_problem, dicom_bytes, make_zip
from sqlalchemy import select

from y90dose_service.main import create_app
from y90dose_service.models import AuditEvent, DoseJob, Study

JOB = {"activity_gbq": 2.5, "lsf": 0.05, "product": "resin", "method": "ldm"}
POLL_TIMEOUT_S = 60.0


def upload_study(client: TestClient, key: str) -> str:
    data = make_zip({"CT/a.dcm": dicom_bytes(), "CT/b.dcm": dicom_bytes()})
    response = client.post(
        "/v1/studies", files={"file": ("s.zip", data)}, headers={"X-API-Key": key}
    )
    assert response.status_code == 201, response.text
    study_id: str = response.json()["id"]
    return study_id


def wait_finished(client: TestClient, key: str, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(
            f"/v1/dose-jobs/{job_id}", headers={"X-API-Key": key}
        ).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {POLL_TIMEOUT_S} s: {body}")


def test_job_runs_reports_and_serves_files(make_settings: Any) -> None:
    app = create_app(make_settings(dose_job_runner="service_jobrunners:ok_runner"))
    key = add_key(app, "planner-key", "planner")
    with TestClient(app) as client:
        study_id = upload_study(client, key)
        response = client.post(
            "/v1/dose-jobs", json={"study_id": study_id, **JOB}, headers={"X-API-Key": key}
        )
        assert response.status_code == 202, response.text
        job = response.json()
        assert job["status"] == "queued" and job["progress"] == 0.0
        assert response.headers["location"] == f"/v1/dose-jobs/{job['id']}"
        done = wait_finished(client, key, job["id"])
        assert done["status"] == "succeeded", done
        assert done["progress"] == 1.0 and done["attempts"] == 1
        assert done["result"] == {"activity_gbq": 2.5, "study_files": 1}  # the CT folder
        assert done["params"]["lsf"] == 0.05 and done["params"]["product"] == "resin"
        names = sorted(f["name"] for f in done["files"])
        assert names == ["dvh/liver.csv", "metrics.json"]
        csv = client.get(
            f"/v1/dose-jobs/{job['id']}/files/dvh/liver.csv", headers={"X-API-Key": key}
        )
        assert csv.status_code == 200 and csv.text.startswith("dose_gy,volume_fraction")
        assert_problem(
            client.get(
                f"/v1/dose-jobs/{job['id']}/files/../../y90dose.sqlite3", headers={"X-API-Key": key}
            ),
            404,
        )
        listing = client.get(
            "/v1/dose-jobs",
            params={"study_id": study_id, "status": "succeeded"},
            headers={"X-API-Key": key},
        ).json()
        assert listing["total"] == 1
    with app.state.sessionmaker() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "job.create"))
        assert event is not None and event.resource_id == job["id"]


def test_failure_is_recorded_with_its_message(make_settings: Any) -> None:
    app = create_app(make_settings(dose_job_runner="service_jobrunners:failing_runner"))
    key = add_key(app, "planner-key", "planner")
    with TestClient(app) as client:
        study_id = upload_study(client, key)
        job = client.post(
            "/v1/dose-jobs", json={"study_id": study_id, **JOB}, headers={"X-API-Key": key}
        ).json()
        done = wait_finished(client, key, job["id"])
        assert done["status"] == "failed"
        assert (
            done["message"]
            == "activity_gbq: 2.5 is not allowed; expected a test failure, on purpose"
        )
        assert done["finished_at"] is not None and done["files"] == []
        assert_problem(
            client.get(f"/v1/dose-jobs/{job['id']}/files/x", headers={"X-API-Key": key}), 409
        )


def test_bad_job_requests(make_settings: Any) -> None:
    app = create_app(make_settings(dose_job_runner="service_jobrunners:ok_runner"))
    planner = {"X-API-Key": add_key(app, "p", "planner")}
    viewer = {"X-API-Key": add_key(app, "v", "viewer")}
    with TestClient(app) as client:
        study_id = upload_study(client, planner["X-API-Key"])
        assert_problem(
            client.post("/v1/dose-jobs", json={"study_id": "nope", **JOB}, headers=planner),
            422,
            "study_id",
        )
        for change, field in (
            ({"activity_gbq": -1}, "activity_gbq"),
            ({"lsf": 1.0}, "lsf"),
            ({"method": "guess"}, "method"),
            ({"product": None}, "product"),
        ):
            assert_problem(
                client.post(
                    "/v1/dose-jobs", json={"study_id": study_id, **JOB, **change}, headers=planner
                ),
                422,
                field,
            )
        assert_problem(
            client.post("/v1/dose-jobs", json={"study_id": study_id, **JOB}, headers=viewer), 403
        )
        assert_problem(client.get("/v1/dose-jobs/nope", headers=viewer), 404)
        assert_problem(
            client.get("/v1/dose-jobs", params={"status": "done"}, headers=viewer), 422, "status"
        )
        assert client.get("/v1/dose-jobs", headers=viewer).json()["total"] == 0


def _insert_jobs(app: FastAPI) -> dict[str, str]:
    """A study and three jobs a crashed run left: running (1 start), running (2), queued."""
    with app.state.sessionmaker() as session:
        study = Study(kind="dicom", file_count=0, size_bytes=0, summary={}, created_by="p")
        session.add(study)
        session.flush()
        (app.state.settings.studies_dir / study.id / "files").mkdir(parents=True)
        ids = {}
        for label, status, attempts in (
            ("resume", "running", 1),
            ("give_up", "running", 2),
            ("queued", "queued", 0),
        ):
            job = DoseJob(
                study_id=study.id,
                status=status,
                attempts=attempts,
                params=JOB,
                created_by="p",
                run_token="old-token",
                files=[],
            )
            session.add(job)
            session.flush()
            ids[label] = job.id
        session.commit()
    return ids


def test_restart_recovers_unfinished_jobs(make_settings: Any) -> None:
    settings = make_settings(dose_job_runner="service_jobrunners:ok_runner", job_max_attempts=2)
    first = create_app(settings)  # never started: stands for the run that crashed
    ids = _insert_jobs(first)
    app = create_app(settings)
    key = add_key(app, "v", "viewer")
    with TestClient(app) as client:
        resumed = wait_finished(client, key, ids["resume"])
        queued = wait_finished(client, key, ids["queued"])
        gave_up = client.get(f"/v1/dose-jobs/{ids['give_up']}", headers={"X-API-Key": key}).json()
    assert resumed["status"] == "succeeded" and resumed["attempts"] == 2
    assert queued["status"] == "succeeded" and queued["attempts"] == 1
    assert gave_up["status"] == "failed"
    assert "interrupted by a service stop after 2 start(s)" in gave_up["message"]


def test_interrupted_job_is_rerun_after_restart(make_settings: Any) -> None:
    slow = make_settings(dose_job_runner="service_jobrunners:slow_runner")
    app = create_app(slow)
    key = add_key(app, "p", "planner")
    with TestClient(app) as client:
        study_id = upload_study(client, key)
        job = client.post(
            "/v1/dose-jobs", json={"study_id": study_id, **JOB}, headers={"X-API-Key": key}
        ).json()
        deadline = time.monotonic() + POLL_TIMEOUT_S
        while (
            client.get(f"/v1/dose-jobs/{job['id']}", headers={"X-API-Key": key}).json()["status"]
            != "running"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    # the service stopped mid-job: the job is still marked running, its worker is gone
    restarted = create_app(
        slow.model_copy(update={"dose_job_runner": "service_jobrunners:ok_runner"})
    )
    with TestClient(restarted) as client:
        done = wait_finished(client, key, job["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 2


def pipeline_available() -> bool:
    try:
        from y90dose.pipeline import voxel_dose  # noqa: F401
    except ImportError:
        return False
    return True


def nifti_study(tmp_path: Path) -> bytes:
    """12^3 voxels of 4 mm; a uniform 8^3-voxel liver (label 1) holds every count."""
    counts = np.zeros((12, 12, 12), np.float32)
    counts[2:10, 2:10, 2:10] = 100.0
    labels = (counts > 0).astype(np.uint8)
    entries = {}
    for name, array in (("spect.nii.gz", counts), ("labels.nii.gz", labels)):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((4.0, 4.0, 4.0))
        sitk.WriteImage(image, str(tmp_path / name))
        entries[name] = (tmp_path / name).read_bytes()
    entries["names.json"] = json.dumps({"1": "liver"}).encode()
    return make_zip(entries)


@pytest.mark.skipif(not pipeline_available(), reason="y90dose.pipeline.voxel_dose missing")
def test_real_pipeline_job_gives_the_mird_dose(tmp_path: Path, settings: Any) -> None:
    # All activity uniformly in the liver VOI, local deposition, no CT (liver density):
    # every liver voxel gets the MIRD dose D = C x A x (1 - LSF) / M with C = 49.38 J/GBq
    # (resin), A = 0.1 GBq, LSF 0.05, M = 512 x 0.064 mL x 1.03 g/mL = 33.751 g.
    app = create_app(settings)
    key = add_key(app, "p", "planner")
    headers = {"X-API-Key": key}
    with TestClient(app) as client:
        study = client.post(
            "/v1/studies", files={"file": ("s.zip", nifti_study(tmp_path))}, headers=headers
        )
        assert study.status_code == 201, study.text
        assert study.json()["summary"]["dose_inputs"]["usable"] is True
        body = {
            "study_id": study.json()["id"],
            "activity_gbq": 0.1,
            "lsf": 0.05,
            "product": "resin",
            "method": "ldm",
        }
        job = client.post("/v1/dose-jobs", json=body, headers=headers).json()
        done = wait_finished(client, key, job["id"])
        assert done["status"] == "succeeded", done["message"]
        liver = done["result"]["metrics"]["liver"]
        expected_gy = 49.38 * 0.1 * 0.95 / (512 * 0.064 * 1.03 / 1000)
        assert liver["mean_gy"] == pytest.approx(expected_gy, rel=1e-5)
        assert liver["d70_gy"] == pytest.approx(expected_gy, rel=1e-5)
        names = {f["name"] for f in done["files"]}
        assert {"rtdose.dcm", "dvh.csv", "metrics.json"} <= names
        rtdose = client.get(f"/v1/dose-jobs/{job['id']}/files/rtdose.dcm", headers=headers)
        assert rtdose.status_code == 200
        assert pydicom.dcmread(io.BytesIO(rtdose.content)).Modality == "RTDOSE"
        # where the data directory lives is not shown: not in the job's JSON, not in the
        # metrics.json it serves; the inputs are named inside the study folder
        metrics = client.get(f"/v1/dose-jobs/{job['id']}/files/metrics.json", headers=headers)
        for shown in (json.dumps(done), metrics.text):
            for data_dir in {str(settings.data_dir), str(settings.data_dir.resolve())}:
                assert data_dir not in shown
        assert done["result"]["inputs"]["spect_path"] == "<study>/spect.nii.gz"
        assert done["result"]["vois"]["source"] == "<study>/labels.nii.gz"
        assert metrics.json()["inputs"] == done["result"]["inputs"]
        assert metrics.json()["out_dir"] == "."


def test_study_without_vois_fails_with_the_reason(settings: Any) -> None:
    app = create_app(settings)
    key = add_key(app, "p", "planner")
    with TestClient(app) as client:
        study_id = upload_study(client, key)  # CT slices only: no emission image, no VOIs
        job = client.post(
            "/v1/dose-jobs", json={"study_id": study_id, **JOB}, headers={"X-API-Key": key}
        ).json()
        done = wait_finished(client, key, job["id"])
    assert done["status"] == "failed"
    data_dir = settings.data_dir.resolve()
    assert str(data_dir) not in done["message"] and str(settings.data_dir) not in done["message"]
    if pipeline_available():  # the pipeline's InputError names the study folder
        assert done["message"].startswith("study: "), done["message"]
        assert "<study>" in done["message"], done["message"]
    else:
        assert "voxel dosimetry is not available" in done["message"]


def test_dead_worker_fails_its_job_and_requeues_the_waiting_one(make_settings: Any) -> None:
    app = create_app(make_settings(dose_job_runner="service_jobrunners:crash_if_asked"))
    key = add_key(app, "p", "planner")
    headers = {"X-API-Key": key}
    with TestClient(app) as client:
        study_id = upload_study(client, key)
        crash = client.post(
            "/v1/dose-jobs",
            json={"study_id": study_id, **JOB, "normalize_to": "crash"},
            headers=headers,
        ).json()
        waiting = client.post(
            "/v1/dose-jobs", json={"study_id": study_id, **JOB}, headers=headers
        ).json()
        crashed = wait_finished(client, key, crash["id"])
        survived = wait_finished(client, key, waiting["id"])
    assert crashed["status"] == "failed"
    assert "worker process running this job died" in crashed["message"]
    assert survived["status"] == "succeeded" and survived["result"] == {"ok": True}


ORPHAN_SCRIPT = """
import os, sys, time
from y90dose_service.jobs import ProcessPoolJobExecutor
executor = ProcessPoolJobExecutor(1)
print(executor._pool.submit(os.getpid).result(), flush=True)
time.sleep(120)
"""


def test_workers_exit_when_the_service_process_is_killed() -> None:
    """A service killed outright (SIGKILL, OOM) must not leave its pool workers running:
    they would keep computing a job that the next start re-runs, writing into its folder."""
    import os
    import signal
    import subprocess
    import sys

    service = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert service.stdout is not None
        worker = int(service.stdout.readline())
        os.kill(service.pid, signal.SIGKILL)
        service.wait(timeout=10)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            stat = Path(f"/proc/{worker}/stat")
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                return
            if stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z":
                return  # exited, waiting to be reaped by init
            time.sleep(0.1)
        os.kill(worker, signal.SIGKILL)  # do not leave it behind
        raise AssertionError(f"pool worker {worker} outlived the killed service process")
    finally:
        if service.poll() is None:
            service.kill()


def test_second_service_on_the_same_data_leaves_running_jobs_alone(make_settings: Any) -> None:
    """A second ``serve`` on the same data directory (by mistake, or one that then fails to
    bind its port) must not re-queue the jobs the running service is computing."""
    slow = make_settings(dose_job_runner="service_jobrunners:slow_runner")
    app = create_app(slow)
    key = add_key(app, "p", "planner")
    with TestClient(app) as client:
        study_id = upload_study(client, key)
        job = client.post(
            "/v1/dose-jobs", json={"study_id": study_id, **JOB}, headers={"X-API-Key": key}
        ).json()
        deadline = time.monotonic() + POLL_TIMEOUT_S
        while (
            client.get(f"/v1/dose-jobs/{job['id']}", headers={"X-API-Key": key}).json()["status"]
            != "running"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with app.state.sessionmaker() as session:
            token = session.get(DoseJob, job["id"]).run_token
        second = create_app(slow)
        with pytest.raises(Exception, match="another y90dose service"), TestClient(second):
            pass
        with app.state.sessionmaker() as session:
            row = session.get(DoseJob, job["id"])
            assert row.status == "running" and row.run_token == token
    with TestClient(create_app(slow)):  # the lock goes with the service that held it
        pass


def bq_per_ml_study(tmp_path: Path) -> bytes:
    """12^3 voxels of 4 mm at 1 MBq/mL; the liver (label 1) is the central 8^3 voxels."""
    concentration = np.full((12, 12, 12), 1.0e6, np.float32)
    labels = np.zeros((12, 12, 12), np.uint8)
    labels[2:10, 2:10, 2:10] = 1
    entries = {}
    for name, array in (("pet.nii.gz", concentration), ("labels.nii.gz", labels)):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((4.0, 4.0, 4.0))
        sitk.WriteImage(image, str(tmp_path / name))
        entries[name] = (tmp_path / name).read_bytes()
    entries["names.json"] = json.dumps({"1": "liver"}).encode()
    return make_zip(entries)


@pytest.mark.skipif(not pipeline_available(), reason="y90dose.pipeline.voxel_dose missing")
def test_job_activity_rescales_a_bq_per_ml_study(tmp_path: Path, settings: Any) -> None:
    """Issue 9, defect 7: the job's activity_gbq was dropped for a Bq/mL study.

    Image: 1728 x 0.064 mL x 1 MBq/mL = 0.110592 GBq, 0.032768 GBq in the 512-voxel liver.
    With 0.1 GBq, LSF 0.05, the liver holds 0.095 GBq (factor 2.899170); glass C = 50
    J/GBq, liver mass 512 x 0.064 mL x 1.03 g/mL = 33.751 g: 140.74 Gy. Without an
    activity (and LSF 0) the image's own 1 MBq/mL gives 50 x 1e-3 / 1.03e-3 = 48.54 Gy.
    """
    app = create_app(settings)
    key = add_key(app, "p", "planner")
    headers = {"X-API-Key": key}
    with TestClient(app) as client:
        study = client.post(
            "/v1/studies", files={"file": ("s.zip", bq_per_ml_study(tmp_path))}, headers=headers
        )
        assert study.status_code == 201, study.text
        body = {
            "study_id": study.json()["id"],
            "lsf": 0.05,
            "product": "glass",
            "method": "ldm",
            "image_units": "bqml",
        }
        assert_problem(  # the first release's nested options: no longer a field of the job
            client.post(
                "/v1/dose-jobs",
                json={**body, "activity_gbq": 0.1, "options": {"lsf": 0.1}},
                headers=headers,
            ),
            422,
            "options",
        )
        scaled = client.post("/v1/dose-jobs", json={**body, "activity_gbq": 0.1}, headers=headers)
        own = client.post("/v1/dose-jobs", json={**body, "lsf": 0.0}, headers=headers)
        refused = client.post("/v1/dose-jobs", json=body, headers=headers)  # LSF, no activity
        done = wait_finished(client, key, scaled.json()["id"])
        assert done["status"] == "succeeded", done["message"]
        liver = done["result"]["metrics"]["liver"]
        assert liver["mean_gy"] == pytest.approx(
            50.0 * 0.1 * 0.95 / (512 * 0.064 * 1.03 / 1000), rel=1e-5
        )
        assert done["result"]["energy_j_per_gbq"] == 50.0
        calibration = done["result"]["activity"]["image_calibration"]
        assert calibration["image_activity_gbq"] == pytest.approx(1728 * 0.064e-3, rel=1e-5)
        assert calibration["image_activity_in_voi_gbq"] == pytest.approx(512 * 0.064e-3, rel=1e-5)
        assert calibration["factor"] == pytest.approx(0.095 / (512 * 0.064e-3), rel=1e-5)
        done = wait_finished(client, key, own.json()["id"])
        assert done["status"] == "succeeded", done["message"]
        assert done["result"]["metrics"]["liver"]["mean_gy"] == pytest.approx(
            50.0 * 1e-3 / 1.03e-3, rel=1e-5
        )
        assert done["result"]["activity"]["image_calibration"] is None
        done = wait_finished(client, key, refused.json()["id"])
        assert done["status"] == "failed"
        assert done["message"].startswith("lsf: 0.05 is not allowed"), done["message"]


@pytest.mark.skipif(not pipeline_available(), reason="y90dose.pipeline.voxel_dose missing")
def test_job_refuses_an_emission_image_past_the_emission_limit(
    tmp_path: Path, make_settings: Any
) -> None:
    """Issue 9 defect 3: the study was accepted under a higher limit; the job reads the
    emission image's header (12^3 = 1728 voxels) and fails naming it and the limit."""
    uploaded = create_app(make_settings(emission_max_voxels=1728))
    key = add_key(uploaded, "p", "planner")
    headers = {"X-API-Key": key}
    with TestClient(uploaded) as client:
        study = client.post(
            "/v1/studies", files={"file": ("s.zip", nifti_study(tmp_path))}, headers=headers
        )
        assert study.status_code == 201, study.text
    lowered = create_app(make_settings(emission_max_voxels=1727))
    with TestClient(lowered) as client:
        body = {"study_id": study.json()["id"], **JOB}
        job = client.post("/v1/dose-jobs", json=body, headers=headers).json()
        done = wait_finished(client, key, job["id"])
    assert done["status"] == "failed"
    message = done["message"]
    assert "spect.nii.gz" in message and "12 x 12 x 12 = 1728 voxels" in message, message
    assert "more than max_emission_voxels = 1727" in message, message
