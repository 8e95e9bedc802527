"""``/v1/studies``: zip uploads, limits (413), unsafe entries and unreadable files (422)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from fastapi import FastAPI
from fastapi.testclient import TestClient
from service_helpers import SERIES_UID, Keys, assert_problem, dicom_bytes, make_zip
from sqlalchemy import func, select

from y90dose_service.models import AuditEvent, Study


def nifti_bytes(tmp_path: Path, name: str, labels: bool = False) -> bytes:
    array = np.zeros((4, 5, 6), dtype=np.uint8 if labels else np.float32)
    array[1:3, 1:3, 1:3] = 1
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((2.0, 2.0, 3.0))
    path = tmp_path / name
    sitk.WriteImage(image, str(path))
    return path.read_bytes()


def upload(client: TestClient, keys: Keys, data: bytes, **form: Any) -> Any:
    return client.post(
        "/v1/studies",
        files={"file": ("study.zip", data, "application/zip")},
        data=form,
        headers=keys.planner,
    )


def stored_studies(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Study)) or 0)


def study_dirs(app: FastAPI) -> list[Path]:
    root: Path = app.state.settings.studies_dir
    return list(root.iterdir()) if root.exists() else []


def test_dicom_upload_is_stored_without_patient_identifiers(
    app: FastAPI, client: TestClient, keys: Keys
) -> None:
    data = make_zip({f"CT/slice{i}.dcm": dicom_bytes() for i in range(3)})
    response = upload(client, keys, data)
    assert response.status_code == 201, response.text
    study = response.json()
    assert study["kind"] == "dicom" and study["file_count"] == 3
    assert study["summary"]["series"] == [
        {"modality": "CT", "series_instance_uid": SERIES_UID, "files": 3}
    ]
    assert "SECRET-PATIENT-ID" not in response.text
    files = app.state.settings.studies_dir / study["id"] / "files" / "CT"
    assert sorted(p.name for p in files.iterdir()) == ["slice0.dcm", "slice1.dcm", "slice2.dcm"]
    assert client.get(f"/v1/studies/{study['id']}", headers=keys.viewer).json() == study
    listing = client.get("/v1/studies", headers=keys.viewer).json()
    assert listing["total"] == 1
    with app.state.sessionmaker() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "study.upload"))
        assert event is not None and event.key_name == "planner-key"


def test_nifti_with_label_names(tmp_path: Path, client: TestClient, keys: Keys) -> None:
    data = make_zip(
        {
            "ct.nii.gz": nifti_bytes(tmp_path, "ct.nii.gz"),
            "labels.nii.gz": nifti_bytes(tmp_path, "labels.nii.gz", labels=True),
            "names.json": json.dumps({"1": "liver"}).encode(),
        }
    )
    response = upload(client, keys, data)
    assert response.status_code == 201, response.text
    summary = response.json()["summary"]
    assert summary["image"]["path"] == "ct.nii.gz"
    assert summary["labels"]["path"] == "labels.nii.gz"
    assert summary["labels"]["spacing_mm"] == [2.0, 2.0, 3.0]
    assert summary["names"] == {"1": "liver"}
    # names in the form field take precedence
    response = upload(client, keys, data, names=json.dumps({"1": "whole liver"}))
    assert response.json()["summary"]["names"] == {"1": "whole liver"}


@pytest.mark.parametrize(
    "name", ["../evil.dcm", "/etc/evil.dcm", "a/../../evil.dcm", "C:/evil.dcm", "..\\evil.dcm"]
)
def test_unsafe_entry_refused_and_nothing_written(
    app: FastAPI, client: TestClient, keys: Keys, name: str
) -> None:
    data = make_zip({"ok.dcm": dicom_bytes(), name: dicom_bytes()})
    body = assert_problem(upload(client, keys, data), 422, "file")
    assert body["errors"][0]["value"] == name
    assert stored_studies(app) == 0 and study_dirs(app) == []
    assert not (app.state.settings.data_dir / "evil.dcm").exists()


def test_unreadable_dicom_names_the_file(app: FastAPI, client: TestClient, keys: Keys) -> None:
    data = make_zip({"CT/good.dcm": dicom_bytes(), "CT/broken.dcm": b"not a dicom file" * 20})
    body = assert_problem(upload(client, keys, data), 422, "file")
    assert body["errors"][0]["value"] == "CT/broken.dcm"
    assert "CT/broken.dcm" in body["detail"]
    assert stored_studies(app) == 0 and study_dirs(app) == []


def test_too_many_files_is_413(make_settings: Any) -> None:
    from service_helpers import add_key

    from y90dose_service.main import create_app

    app = create_app(make_settings(upload_max_files=2))
    key = add_key(app, "p", "planner")
    with TestClient(app) as client:
        data = make_zip({f"s{i}.dcm": dicom_bytes() for i in range(3)})
        response = client.post(
            "/v1/studies", files={"file": ("s.zip", data)}, headers={"X-API-Key": key}
        )
    assert_problem(response, 413)
    assert stored_studies(app) == 0 and study_dirs(app) == []


def test_too_large_is_413(make_settings: Any) -> None:
    from service_helpers import add_key

    from y90dose_service.main import create_app

    app = create_app(make_settings(upload_max_bytes=10_000))
    key = add_key(app, "p", "planner")
    with TestClient(app) as client:
        big = make_zip({"a.dcm": dicom_bytes() + bytes(50_000)})  # compresses well: zip < limit
        assert len(big) < 10_000
        response = client.post(
            "/v1/studies", files={"file": ("s.zip", big)}, headers={"X-API-Key": key}
        )
        assert_problem(response, 413)
        raw = bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8))
        response = client.post(
            "/v1/studies", files={"file": ("s.zip", raw)}, headers={"X-API-Key": key}
        )
        assert_problem(response, 413)
        # without Content-Length (a streamed body) the limit holds while reading
        raw_big = bytes(200_000)

        def chunks() -> Any:
            for start in range(0, len(raw_big), 8192):
                yield raw_big[start : start + 8192]

        response = client.post(
            "/v1/studies",
            content=chunks(),
            headers={"X-API-Key": key, "Content-Type": "multipart/form-data; boundary=x"},
        )
        assert_problem(response, 413)
    assert stored_studies(app) == 0 and study_dirs(app) == []


def test_other_bad_uploads(tmp_path: Path, client: TestClient, keys: Keys) -> None:
    assert_problem(upload(client, keys, b"PK not really a zip"), 422, "file")
    assert_problem(upload(client, keys, make_zip({})), 422, "file")
    assert_problem(
        client.post("/v1/studies", data={"names": "{}"}, headers=keys.planner), 422, "file"
    )
    ct = nifti_bytes(tmp_path, "a.nii.gz")
    assert_problem(upload(client, keys, make_zip({"a.nii.gz": ct, "b.nii.gz": ct})), 422, "file")
    bad_names = make_zip({"s.dcm": dicom_bytes()})
    assert_problem(upload(client, keys, bad_names, names='{"zero": "liver"}'), 422, "names.zero")
    assert_problem(upload(client, keys, bad_names, names="liver"), 422, "names")
    assert_problem(
        client.post("/v1/studies", files={"file": ("s.zip", bad_names)}, headers=keys.viewer),
        403,
    )
    assert_problem(client.get("/v1/studies/nope", headers=keys.viewer), 404)
