"""Uploads that cost a lot from a few bytes (issue 9, defects 3-5): zip bombs, deep paths,
images too large in voxels, truncated or incomplete DICOM. Each is refused with a
problem naming the entry, and a refused upload leaves nothing on disk or in the database.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk  # noqa: N813
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, SecondaryCaptureImageStorage, generate_uid
from service_helpers import SERIES_UID, STUDY_UID, add_key, assert_problem, dicom_bytes, make_zip
from sqlalchemy import func, select
from test_service_dose_jobs import nifti_study, wait_finished

from y90dose_service.main import create_app
from y90dose_service.models import Study

MIB = 1024 * 1024


def upload(client: TestClient, key: str, data: bytes) -> Any:
    return client.post(
        "/v1/studies",
        files={"file": ("s.zip", data, "application/zip")},
        headers={"X-API-Key": key},
    )


def assert_nothing_kept(app: FastAPI) -> None:
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Study)) == 0
    studies: Path = app.state.settings.studies_dir
    assert not studies.exists() or list(studies.iterdir()) == []


@pytest.fixture
def planner(make_settings: Any) -> Any:
    """(app, client, key) with the default limits."""
    app = create_app(make_settings())
    key = add_key(app, "p", "planner")
    with TestClient(app) as client:
        yield app, client, key


def _compress_size_lies(data: bytes, real: int, shown: int) -> bytes:
    """``data`` (a one-entry zip) with the entry's compressed size ``real`` replaced by
    ``shown`` in the central directory: the ratio the directory states looks harmless."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02") + 20
    assert int.from_bytes(out[at : at + 4], "little") == real
    out[at : at + 4] = shown.to_bytes(4, "little")
    return bytes(out)


def test_zip_bomb_entry_is_413_naming_it_and_stops_early(planner: Any) -> None:
    """64 MiB of zeros deflate to 64 KiB (1000 : 1); the directory is patched to claim
    640 KiB compressed (100 : 1), so only the running count can catch it. The limit is
    100 x the archive's ~64 KiB: unpacking stops near 6.5 MB, not at 64 MiB."""
    app, client, key = planner
    plain = make_zip({"CT/bomb.dcm": bytes(64 * MIB)})
    info = zipfile.ZipFile(io.BytesIO(plain)).infolist()[0]
    assert info.file_size / info.compress_size > 900
    lying = _compress_size_lies(plain, info.compress_size, 64 * MIB // 100)
    for archive in (plain, lying):
        problem = assert_problem(upload(client, key, archive), 413)
        assert problem["errors"][0]["value"] == "CT/bomb.dcm"
        assert "100 : 1" in problem["detail"]
    assert_nothing_kept(app)


def test_many_small_entries_cannot_add_up_to_a_bomb(planner: Any) -> None:
    """40 entries of 1 MiB of zeros each stay under the per-entry grace of 1 MiB; the
    whole zip (about 45 KiB) may unpack to 100 x its size, about 4.5 MB: refused."""
    app, client, key = planner
    archive = make_zip({f"CT/{i}.dcm": bytes(MIB) for i in range(40)})
    assert len(archive) * 100 < 40 * MIB
    problem = assert_problem(upload(client, key, archive), 413)
    assert problem["errors"][0]["value"].startswith("CT/")
    assert_nothing_kept(app)


def test_ratio_limit_is_a_setting(make_settings: Any) -> None:
    app = create_app(make_settings(upload_max_compression_ratio=2000.0))
    key = add_key(app, "p", "planner")
    with TestClient(app) as client:
        # 8 MiB of zeros passes the ratio, then is refused as what it is: not DICOM
        problem = assert_problem(upload(client, key, make_zip({"a.dcm": bytes(8 * MIB)})), 422)
        assert problem["errors"][0]["value"] == "a.dcm"


def test_entry_nested_2000_levels_is_422_naming_it(planner: Any) -> None:
    """It was a 500: Path.mkdir(parents=True) recurses once per level, past Python's
    limit, when the whole path still fits PATH_MAX (4096) on the server's disk."""
    app, client, key = planner
    studies = str(app.state.settings.studies_dir.resolve())
    levels = (4096 - len(studies) - len("/<a study id: 36 characters>/files/x.dcm") - 20) // 2
    assert levels > 1500
    name = "a/" * levels + "x.dcm"
    problem = assert_problem(upload(client, key, make_zip({name: dicom_bytes()})), 422, "file")
    assert problem["errors"][0]["value"].startswith("a/a/a/")
    assert "32 levels" in problem["errors"][0]["allowed"]
    assert_nothing_kept(app)
    ok = upload(client, key, make_zip({"a/" * 31 + "x.dcm": dicom_bytes()}))  # 32 levels
    assert ok.status_code == 201, ok.text


def _nifti(tmp_path: Path, name: str, shape: tuple[int, int, int]) -> bytes:
    image = sitk.GetImageFromArray(np.zeros(shape[::-1], np.uint8))
    sitk.WriteImage(image, str(tmp_path / name))
    return (tmp_path / name).read_bytes()


def test_images_past_the_voxel_limit_are_refused_from_their_header(
    tmp_path: Path, make_settings: Any
) -> None:
    """Limit 1000 voxels: a 10 x 10 x 10 image passes, 10 x 10 x 11 does not; a DICOM
    series of 3 slices of 4 x 4 (48 voxels) passes at 48 and not at 47."""
    app = create_app(make_settings(image_max_voxels=1000))
    key = add_key(app, "p", "planner")
    with TestClient(app) as client:
        fits = make_zip(
            {
                "ct.nii.gz": _nifti(tmp_path, "a.nii.gz", (10, 10, 10)),
                "labels.nii.gz": _nifti(tmp_path, "b.nii.gz", (10, 10, 10)),
            }
        )
        assert upload(client, key, fits).status_code == 201
        big = make_zip(
            {
                "ct.nii.gz": _nifti(tmp_path, "a.nii.gz", (10, 10, 11)),
                "labels.nii.gz": _nifti(tmp_path, "b.nii.gz", (10, 10, 10)),
            }
        )
        problem = assert_problem(upload(client, key, big), 422, "file")
        assert problem["errors"][0]["value"] == "ct.nii.gz"
        assert "1100 voxels" in problem["detail"] and "1000" in problem["detail"]
        assert str(app.state.settings.data_dir) not in problem["detail"]
    series = make_zip({f"CT/{i}.dcm": dicom_bytes(size=4) for i in range(3)})
    for limit, status in ((48, 201), (47, 422)):
        app = create_app(make_settings(image_max_voxels=limit))
        key = add_key(app, f"p{limit}", "planner")
        with TestClient(app) as client:
            response = upload(client, key, series)
        assert response.status_code == status, response.text
    assert "48 voxels" in response.json()["detail"]


def _jpeg_instance(fragments: int, frames: int) -> bytes:
    """A JPEG Baseline secondary capture of ``frames`` 8 x 8 frames in ``fragments``
    fragments (their content is not decoded at upload)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Modality = STUDY_UID, generate_uid(), "OT"
    ds.Rows = ds.Columns = 8
    ds.NumberOfFrames = frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([b"\xff\xd8 jpeg \xff\xd9"] * fragments)
    ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _stub() -> bytes:
    """A 200-byte header stub: preamble, meta group, no Modality, no SeriesInstanceUID."""
    data = dicom_bytes()
    stub = data[: data.find(b"\x08\x00")]  # up to the first element of the data set
    return (stub + b"\x08\x00\x16\x00UI\x04\x001.2\x00")[:200]


@pytest.mark.parametrize(
    ("case", "content", "said"),
    [
        ("cut to a third", lambda: dicom_bytes(size=64)[: len(dicom_bytes(size=64)) // 3], ""),
        ("pixel data one row short", lambda: dicom_bytes(size=64)[:-128], "truncated"),
        ("200-byte header stub", _stub, "Modality"),
        ("compressed, fragments cut off", lambda: _jpeg_instance(3, 3)[:-30], "truncated"),
        ("compressed, fewer fragments than frames", lambda: _jpeg_instance(2, 3), "fragment"),
    ],
)
def test_truncated_or_incomplete_dicom_is_422_naming_the_file(
    planner: Any, case: str, content: Any, said: str
) -> None:
    app, client, key = planner
    archive = make_zip({"CT/good.dcm": dicom_bytes(), "CT/bad.dcm": content()})
    problem = assert_problem(upload(client, key, archive), 422, "file")
    assert problem["errors"][0]["value"] == "CT/bad.dcm", case
    assert said in problem["detail"], problem["detail"]
    assert_nothing_kept(app)


def test_whole_dicom_still_passes(planner: Any) -> None:
    """The checks refuse only what is cut: whole native and compressed files pass."""
    _app, client, key = planner
    archive = make_zip({"CT/a.dcm": dicom_bytes(size=64), "OT/b.dcm": _jpeg_instance(3, 3)})
    response = upload(client, key, archive)
    assert response.status_code == 201, response.text
    series = {s["series_instance_uid"] for s in response.json()["summary"]["series"]}
    assert SERIES_UID in series and len(series) == 2


def test_dose_job_reads_images_under_the_voxel_limit(tmp_path: Path, make_settings: Any) -> None:
    """A study stored under the default limit, then a service started with a limit of
    1000 voxels: the job (real pipeline) fails naming the 12^3 = 1728-voxel image."""
    pytest.importorskip("y90dose.pipeline")
    settings = make_settings()
    app = create_app(settings)
    key = add_key(app, "p", "planner")
    with TestClient(app) as client:
        study = client.post(
            "/v1/studies",
            files={"file": ("s.zip", nifti_study(tmp_path))},
            headers={"X-API-Key": key},
        )
        assert study.status_code == 201, study.text
    app = create_app(make_settings(image_max_voxels=1000))
    with TestClient(app) as client:
        body = {
            "study_id": study.json()["id"],
            "activity_gbq": 0.1,
            "lsf": 0.05,
            "product": "resin",
        }
        job = client.post("/v1/dose-jobs", json=body, headers={"X-API-Key": key}).json()
        done = wait_finished(client, key, job["id"])
    assert done["status"] == "failed"
    assert "12 x 12 x 12 = 1728 voxels" in done["message"], done["message"]
    assert "max_voxels = 1000" in done["message"]
    assert json.dumps(done).find(str(settings.data_dir)) == -1


def _nifti_header_only(dims: tuple[int, int, int]) -> bytes:
    """A NIfTI-1 header claiming ``dims`` float32 voxels, with no voxel data."""
    import struct

    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *dims, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 16, 32)
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352.0)
    header[344:348] = b"n+1\x00"
    return bytes(header)


def test_a_600_cubed_emission_image_is_refused_at_upload_a_long_ct_is_not(
    tmp_path: Path, make_settings: Any
) -> None:
    """Issue 9 defect 3: default limits (300 M any image, 64 M the emission image)."""
    app = create_app(make_settings())
    key = add_key(app, "p", "planner")
    manifest = json.dumps({"image": "spect.nii", "labels": "labels.nii", "ct": "ct.nii"})
    with TestClient(app) as client:
        for spect, status in (((600, 600, 600), 422), ((128, 128, 128), 201)):
            study = {
                "study.json": manifest.encode(),
                "spect.nii": _nifti_header_only(spect),
                "labels.nii": _nifti_header_only((128, 128, 128)),
                "ct.nii": _nifti_header_only((512, 512, 1000)),  # 262 M voxels: passes
            }
            response = upload(client, key, make_zip(study))
            assert response.status_code == status, response.text
        problem = assert_problem(
            upload(
                client, key, make_zip({**study, "spect.nii": _nifti_header_only((600, 600, 600))})
            ),
            422,
            "file",
        )
        assert problem["errors"][0]["value"] == "spect.nii"
        detail = problem["detail"]
        assert "600 x 600 x 600 = 216000000 voxels" in detail, detail
        assert "more than max_emission_voxels = 64000000" in detail, detail
        assert "EMISSION_MAX_VOXELS" in detail, detail
