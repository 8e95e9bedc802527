"""``GET /v1/dose-jobs/{id}/report``: the dosimetry report of a real dose job, as PDF and
as a DICOM Encapsulated PDF in the study of the uploaded images.

The job: the synthetic DICOM sphere study (CT, Bq/mL PET series, RTSTRUCT) uploaded as a
zip, 1.5 GBq glass, LSF 0.1, residual 0.02, local deposition at the liver density. By
hand: the liver holds 1.5 x 0.9 x 0.98 = 1.323 GBq (35.76 mCi) and its mean dose is
50 J/GBq x 1.323 GBq / (n x 0.064 mL x 1.03 g/mL) for its n voxels of 4 mm.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk  # noqa: N813
from fastapi.testclient import TestClient
from service_helpers import add_key, assert_problem, make_zip

from y90dose.imaging.encapsulated_pdf import encapsulated_pdf_of
from y90dose.imaging.synthetic import make_sphere_study
from y90dose_service.main import create_app
from y90dose_service.models import DoseJob, Study

pytest.importorskip("reportlab")

JOB = {
    "activity_gbq": 1.5,
    "lsf": 0.1,
    "residual": 0.02,
    "product": "glass",
    "method": "ldm",
    "density": "uniform",
}
POLL_TIMEOUT_S = 120.0


def _tool(name: str) -> str | None:
    return shutil.which(name)


def _wait(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/dose-jobs/{job_id}", headers=headers).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"dose job {job_id} did not finish in {POLL_TIMEOUT_S} s")


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _nifti_zip(tmp_path: Path) -> bytes:
    """A NIfTI study: 12^3 voxels of 4 mm, a uniform liver (label 1) holding every count."""
    counts = np.zeros((12, 12, 12), np.float32)
    counts[2:10, 2:10, 2:10] = 100.0
    entries = {}
    for name, array in (("spect.nii.gz", counts), ("labels.nii.gz", (counts > 0).astype("u1"))):
        image = sitk.GetImageFromArray(array)
        image.SetSpacing((4.0, 4.0, 4.0))
        sitk.WriteImage(image, str(tmp_path / name))
        entries[name] = (tmp_path / name).read_bytes()
    entries["names.json"] = json.dumps({"1": "liver"}).encode()
    return make_zip(entries)


def _run_job(client: TestClient, headers: dict[str, str], archive: bytes) -> dict[str, Any]:
    study = client.post("/v1/studies", files={"file": ("s.zip", archive)}, headers=headers)
    assert study.status_code == 201, study.text
    job = client.post(
        "/v1/dose-jobs", json={"study_id": study.json()["id"], **JOB}, headers=headers
    ).json()
    done = _wait(client, headers, job["id"])
    assert done["status"] == "succeeded", done["message"]
    return done


def _text(pdf: bytes, tmp_path: Path) -> str:
    pdftotext = _tool("pdftotext")
    if pdftotext is None:
        pytest.skip("pdftotext is not installed (poppler-utils)")
    path = tmp_path / "served.pdf"
    path.write_bytes(pdf)
    done = subprocess.run([pdftotext, str(path), "-"], capture_output=True, text=True, check=True)
    return " ".join(done.stdout.split())


def test_dose_job_report_pdf_and_dicom(settings: Any, tmp_path: Path) -> None:
    sphere = make_sphere_study(tmp_path / "sphere", write_nm=False)
    app = create_app(settings)
    planner = {"X-API-Key": add_key(app, "planner", "planner")}
    viewer = {"X-API-Key": add_key(app, "viewer", "viewer")}
    with TestClient(app) as client:
        done = _run_job(client, planner, _zip_folder(sphere.folder))
        job_id = done["id"]
        url = f"/v1/dose-jobs/{job_id}/report"
        assert done["result"]["report"] == {
            "pdf": "report.pdf",
            "dicom": "report.dcm",
            "dicom_refused": None,
        }

        assert_problem(client.get(url), 401)
        pdf = client.get(url, headers=viewer)  # any role may read a report
        assert pdf.status_code == 200
        assert pdf.headers["content-type"] == "application/pdf"
        assert f'filename="dose-job-{job_id}.pdf"' in pdf.headers["content-disposition"]
        text = _text(pdf.content, tmp_path)
        n = round(done["result"]["metrics"]["liver"]["volume_ml"] / 0.064)
        liver_mean_gy = 50.0 * 1.5 * 0.9 * 0.98 / (n * 0.064 * 1.03 / 1000.0)
        for expected in (
            job_id,
            f"(study {done['study_id']})",
            "1.5 GBq = 40.54 mCi",
            "1.323 GBq (35.76 mCi)",
            f" {liver_mean_gy:.1f} ",
            "ldm: local deposition",
            "Phantom^Y90 (ID Y90DOSE-PHANTOM)",
            "study folder",  # input paths relative to the study, not the server's
        ):
            assert expected in text, expected
        assert str(settings.data_dir) not in text and str(settings.data_dir.resolve()) not in text

        dicom = client.get(url, params={"format": "dicom"}, headers=viewer)
        assert dicom.status_code == 200
        assert dicom.headers["content-type"] == "application/dicom"
        assert f'filename="dose-job-{job_id}.dcm"' in dicom.headers["content-disposition"]
        ds = pydicom.dcmread(io.BytesIO(dicom.content))
        assert encapsulated_pdf_of(ds) == pdf.content  # the same PDF, byte for byte
        assert ds.StudyInstanceUID == sphere.study.study_instance_uid
        assert ds.PatientID == "Y90DOSE-PHANTOM" and ds.Modality == "DOC"
        dciodvfy = _tool("dciodvfy")
        if dciodvfy is not None:
            path = tmp_path / "served.dcm"
            path.write_bytes(dicom.content)
            run = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True)
            output = run.stdout + run.stderr
            assert not [line for line in output.splitlines() if line.startswith("Error")], output

        assert_problem(client.get(url, params={"format": "docx"}, headers=viewer), 422, "format")
        assert_problem(client.get("/v1/dose-jobs/nope/report", headers=viewer), 404)


def test_nifti_job_report_refuses_dicom_with_the_reason(settings: Any, tmp_path: Path) -> None:
    app = create_app(settings)
    planner = {"X-API-Key": add_key(app, "planner", "planner")}
    with TestClient(app) as client:
        done = _run_job(client, planner, _nifti_zip(tmp_path))
        url = f"/v1/dose-jobs/{done['id']}/report"
        pdf = client.get(url, headers=planner)
        assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
        # no tumour: the slices go through the normalisation VOI
        assert "Slices through liver" in _text(pdf.content, tmp_path)
        body = assert_problem(client.get(url, params={"format": "dicom"}, headers=planner), 422)
        assert body["type"] == "urn:y90dose:problem:no-dicom-study"
        assert "a DICOM report needs DICOM images" in body["detail"]
        assert "format=pdf" in body["detail"]


def test_report_of_unfinished_or_reportless_jobs(settings: Any) -> None:
    app = create_app(settings)
    viewer = {"X-API-Key": add_key(app, "viewer", "viewer")}
    with TestClient(app) as client:  # rows added after the start's recovery of jobs
        with app.state.sessionmaker() as session:
            study = Study(kind="dicom", file_count=0, size_bytes=0, summary={}, created_by="p")
            session.add(study)
            session.flush()
            ids = {}
            for status in ("running", "succeeded"):  # succeeded: by a runner writing no report
                job = DoseJob(
                    study_id=study.id,
                    status=status,
                    params=JOB,
                    created_by="p",
                    files=[],
                    result={},
                )
                session.add(job)
                session.flush()
                ids[status] = job.id
            session.commit()
        running = client.get(f"/v1/dose-jobs/{ids['running']}/report", headers=viewer)
        assert "is running" in assert_problem(running, 409)["detail"]
        for form in ("pdf", "dicom"):
            reportless = client.get(
                f"/v1/dose-jobs/{ids['succeeded']}/report", params={"format": form}, headers=viewer
            )
            assert "run the job again for its report" in assert_problem(reportless, 404)["detail"]
