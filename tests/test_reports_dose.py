"""The dosimetry report of a voxel run (y90dose.reports.dose) and its DICOM form.

The run: the synthetic DICOM sphere study (CT, Bq/mL PET series, RTSTRUCT liver and
tumour), 1.5 GBq glass, LSF 0.1, residual 0.02, local deposition at the uniform liver
density. By hand (physics.md 6): the liver VOI holds A x (1 - LSF) x (1 - R) =
1.5 x 0.9 x 0.98 = 1.323 GBq (= 1323 / 37 = 35.76 mCi; 1.5 GBq = 40.54 mCi); local
deposition keeps C x A in each voxel, so with one density the liver's mean dose is
C x A_liver / M_liver = 50 J/GBq x 1.323 GBq / (n x 0.064 mL x 1.03 g/mL).

The PDF is read back with ``pdftotext`` and rendered with ``pdftoppm`` (poppler-utils);
the DICOM Encapsulated PDF is checked with ``dciodvfy`` (dicom3tools) and pydicom.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest

from y90dose.errors import ImageError, InputError
from y90dose.imaging.dicom_write import StudyInfo
from y90dose.imaging.encapsulated_pdf import (
    ENCAPSULATED_PDF_STORAGE,
    build_encapsulated_pdf,
    dataset_bytes,
    encapsulated_pdf_of,
)
from y90dose.imaging.synthetic import SyntheticStudy, make_sphere_study
from y90dose.pipeline import voxel_dose
from y90dose.pipeline.voxel_run import VoxelRun
from y90dose.reports import DoseReport, dose_report_dicom, dose_report_rows, voxel_inputs_sha256
from y90dose.reports.figures import slice_planes

pytest.importorskip("reportlab")

ACTIVITY_GBQ, LSF, RESIDUAL = 1.5, 0.1, 0.02
OPTIONS = {
    "activity_gbq": ACTIVITY_GBQ,
    "lsf": LSF,
    "residual": RESIDUAL,
    "product": "glass",
    "method": "ldm",
    "density": "uniform",
}
VOXEL_ML = 4.0**3 / 1000.0  # the sphere study's 4 mm emission voxels
COMPUTED_AT = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def tool(name: str) -> str:
    """The path of a command-line tool the checks need; skipped (failed in CI) without it."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI: {name} missing (.ci/run installs poppler-utils and dicom3tools)")
        pytest.skip(f"{name} is not installed")
    return found


def pdf_text(pdf: bytes, folder: Path, mode: str = "-layout") -> str:
    """The PDF's text by pdftotext: ``-layout`` (as on the page) or ``-raw`` (in drawing
    order: a table row stays one line even where the NOT APPROVED mark crosses it)."""
    path = folder / "report.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        [tool("pdftotext"), mode, str(path), "-"], capture_output=True, text=True, check=True
    )
    return done.stdout


def dciodvfy_errors(path: Path) -> list[str]:
    done = subprocess.run([tool("dciodvfy"), str(path)], capture_output=True, text=True)
    output = done.stdout + done.stderr
    return [line for line in output.splitlines() if line.startswith("Error")]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> SyntheticStudy:
    return make_sphere_study(tmp_path_factory.mktemp("sphere"), write_nm=False)


@pytest.fixture(scope="module")
def run(study: SyntheticStudy) -> VoxelRun:
    return voxel_dose(study.folder, study.rtstruct_path, ct=study.folder, options=OPTIONS)


@pytest.fixture(scope="module")
def report(run: VoxelRun) -> DoseReport:
    return DoseReport(run=run, software_version="9.9.9", job_id="job-42", computed_at=COMPUTED_AT)


@pytest.fixture(scope="module")
def pdf(report: DoseReport) -> bytes:
    from y90dose.reports import dose_report_pdf

    return dose_report_pdf(report)


def liver_mean_by_hand_gy(run: VoxelRun) -> float:
    n = int(np.count_nonzero(run.vois["liver"]))
    mass_kg = n * VOXEL_ML * 1.03 / 1000.0
    return 50.0 * ACTIVITY_GBQ * (1 - LSF) * (1 - RESIDUAL) / mass_kg


def test_rows_activity_and_scaling_by_hand(report: DoseReport) -> None:
    rows = dose_report_rows(report)
    activity = dict(rows["activity"])
    assert activity["activity the VOI was scaled to"].startswith("1.323 GBq (35.76 mCi)")
    assert activity["activity in the normalisation VOI"] == "1.323 GBq (35.76 mCi)"
    assert activity["normalisation VOI"] == "liver"
    inputs = {name: (value, unit) for name, value, unit in rows["inputs"]}
    assert inputs["activity_gbq"] == ("1.5 GBq = 40.54 mCi", "GBq")
    assert inputs["lsf"] == ("0.1", "fraction (0.08 = 8 %)")
    assert inputs["method"][0] == "ldm" and inputs["kernel"][0] == "not given"
    assert not any(name.endswith("_path") for name in inputs)  # paths are in the header
    constants = {name: (value, source) for name, value, source in rows["constants"]}
    assert constants["energy per GBq, C"][0] == "50 J/GBq"
    assert "IFU-glass" in constants["energy per GBq, C"][1]
    assert constants["liver density (everywhere)"] == (
        "1.03 g/mL",
        "EANM2022 convention (1.05 in some tools)",
    )
    assert rows["slices"] == ["tumor1"]


def test_rows_metrics_by_hand(report: DoseReport, run: VoxelRun) -> None:
    doses = {row[0]: row for row in dose_report_rows(report)["metrics"]["doses"]}
    liver = doses["liver"]
    expected = liver_mean_by_hand_gy(run)
    assert liver[3] == f"{expected:.1f}"  # mean
    assert liver[7] == f"{expected:.1f}"  # energy / mass: the same with one density
    n = int(np.count_nonzero(run.vois["liver"]))
    assert liver[1] == f"{n * VOXEL_ML:.1f}"  # volume mL
    assert liver[2] == f"{n * VOXEL_ML * 1.03:.1f}"  # mass g


def test_pdf_text_states_the_run(pdf: bytes, run: VoxelRun, tmp_path: Path) -> None:
    text = pdf_text(pdf, tmp_path)
    flat = " ".join(text.split())
    for expected in (
        "Y-90 voxel dosimetry report",
        "Phantom^Y90 (ID Y90DOSE-PHANTOM)",
        str(run.ct.study_instance_uid if run.ct else ""),
        "job-42",
        "2026-03-02 08:30 UTC",
        "1.5 GBq = 40.54 mCi",
        "1.323 GBq (35.76 mCi)",
        "ldm: local deposition",
        "none (local deposition)",
        "IFU-glass",
        "tumor1",
        "normal_liver",
        "Slices through tumor1",
        "Cumulative dose-volume histograms",
        "y90dose 9.9.9",
        voxel_inputs_sha256(run),
        "A soft-tissue dose kernel",  # the lung statement
    ):
        assert expected in flat, expected
    n = int(np.count_nonzero(run.vois["liver"]))
    volume = f"{n * VOXEL_ML:.1f}"  # the dose table's row: VOI, volume, mass, mean...
    liver_row = next(
        line.split() for line in text.splitlines() if line.split()[:2] == ["liver", volume]
    )
    assert liver_row[3] == f"{liver_mean_by_hand_gy(run):.1f}"


def test_pdf_renders_to_pages(pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        [tool("pdftoppm"), "-png", "-r", "50", str(path), str(tmp_path / "page")], check=True
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3  # tables, DVH, slices
    assert all(page.stat().st_size > 5000 for page in pages)


def test_pdf_is_the_same_for_the_same_report(report: DoseReport, pdf: bytes) -> None:
    from y90dose.reports import dose_report_pdf

    assert dose_report_pdf(report) == pdf  # invariant PDF: no clock, no random id inside


def test_inputs_hash_follows_the_data_not_the_dtype(run: VoxelRun) -> None:
    digest = voxel_inputs_sha256(run)
    assert len(digest) == 64
    spect = run.study.spect
    as_float32 = dataclasses.replace(
        run, study=dataclasses.replace(run.study, spect=spect.with_array(spect.array.astype("f4")))
    )
    if np.array_equal(spect.array.astype("f4"), spect.array):
        assert voxel_inputs_sha256(as_float32) == digest
    changed = spect.array.copy()
    changed[0, 0, 0] += 1.0
    one_voxel = dataclasses.replace(
        run, study=dataclasses.replace(run.study, spect=spect.with_array(changed))
    )
    assert voxel_inputs_sha256(one_voxel) != digest
    other_lsf = dataclasses.replace(run, options=run.options.model_copy(update={"lsf": 0.11}))
    assert voxel_inputs_sha256(other_lsf) != digest


def test_slices_through_the_tumour_in_radiological_orientation(run: VoxelRun) -> None:
    planes = slice_planes(run, "tumor1", ["liver", "tumor1"])
    assert [p.name for p in planes] == ["axial", "coronal", "sagittal"]
    # identity direction (LPS): patient right on the left, anterior and superior on top
    assert [p.edges for p in planes] == [
        ("R", "L", "A", "P"),
        ("R", "L", "S", "I"),
        ("A", "P", "S", "I"),
    ]
    for plane in planes:
        assert plane.masks["tumor1"].any()  # each plane passes through the tumour
        assert plane.background is not None and plane.background.shape == plane.dose_gy.shape
        # the tumour holds 4x the normal liver's concentration: the hottest pixel is in it
        hottest = np.unravel_index(np.argmax(plane.dose_gy), plane.dose_gy.shape)
        assert plane.masks["tumor1"][hottest]
    # the tumour is 15 mm towards patient left (+x): right of the image centre, axially
    columns = np.nonzero(planes[0].masks["tumor1"].any(axis=0))[0]
    assert columns.mean() > planes[0].dose_gy.shape[1] / 2


def test_slices_do_not_depend_on_the_ct_array_order(run: VoxelRun) -> None:
    """The same CT stored right-to-left and feet-first (x and z axes reversed) is drawn the
    same: the display follows patient directions, not the array order."""
    ct = run.study.ct
    assert ct is not None
    nz, _, nx = ct.shape_zyx
    flipped = dataclasses.replace(
        ct,
        array=ct.array[::-1, :, ::-1].copy(),
        origin_mm=tuple(ct.index_to_physical_mm([nx - 1, 0, nz - 1])),
        direction=ct.direction @ np.diag([-1.0, 1.0, -1.0]),
    )
    other = dataclasses.replace(run, study=dataclasses.replace(run.study, ct=flipped))
    for a, b in zip(
        slice_planes(run, "tumor1", ["tumor1"]),
        slice_planes(other, "tumor1", ["tumor1"]),
        strict=True,
    ):
        assert a.edges == b.edges and a.pixel_mm == b.pixel_mm
        assert a.background is not None and b.background is not None
        np.testing.assert_array_equal(a.background, b.background)
        np.testing.assert_allclose(a.dose_gy, b.dose_gy, rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(a.masks["tumor1"], b.masks["tumor1"])


def test_dicom_encapsulated_pdf(
    report: DoseReport, pdf: bytes, run: VoxelRun, tmp_path: Path
) -> None:
    ds = dose_report_dicom(report, pdf)
    path = tmp_path / "report.dcm"
    path.write_bytes(dataset_bytes(ds))
    assert dciodvfy_errors(path) == []
    back = pydicom.dcmread(path)
    assert back.SOPClassUID == ENCAPSULATED_PDF_STORAGE == "1.2.840.10008.5.1.4.1.1.104.1"
    assert back.file_meta.MediaStorageSOPClassUID == back.SOPClassUID
    assert back.Modality == "DOC" and back.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert encapsulated_pdf_of(back) == pdf  # the same bytes as the PDF report
    assert back.EncapsulatedDocumentLength == len(pdf)
    assert run.ct is not None
    assert back.StudyInstanceUID == run.ct.study_instance_uid
    assert back.PatientID == "Y90DOSE-PHANTOM" and str(back.PatientName) == "Phantom^Y90"
    assert back.SeriesInstanceUID not in (
        run.ct.series_instance_uid,
        run.spect.series_instance_uid,
    )
    assert "FrameOfReferenceUID" not in back  # not in the IOD (a document has no geometry)
    assert len(back.SourceInstanceSequence) == len(run.ct.sop_instance_uids) + len(
        run.spect.sop_instance_uids
    )
    assert back.ContentDate == "20260302" and back.TimezoneOffsetFromUTC == "+0000"
    assert dose_report_dicom(report, pdf).SOPInstanceUID == back.SOPInstanceUID  # same PDF
    assert dose_report_dicom(report, pdf + b"\n").SOPInstanceUID != back.SOPInstanceUID


def test_odd_length_pdf_is_padded_and_given_back_whole() -> None:
    document = b"%PDF-1.4\n%%EOF"  # 14 bytes, even; one more makes it odd
    odd = document + b"\n"
    ds = build_encapsulated_pdf(
        odd, StudyInfo.new(), document_title="t", series_description="s", uid_seed="odd"
    )
    stored = pydicom.dcmread(pydicom.filebase.DicomBytesIO(dataset_bytes(ds)))
    assert len(stored.EncapsulatedDocument) == 16 and stored.EncapsulatedDocument[-1:] == b"\0"
    assert encapsulated_pdf_of(stored) == odd and stored.EncapsulatedDocumentLength == 15
    with pytest.raises(InputError, match="pdf"):
        build_encapsulated_pdf(
            b"<html>", StudyInfo.new(), document_title="t", series_description="s"
        )


def test_dicom_report_refused_without_dicom_images(run: VoxelRun) -> None:
    bare = dataclasses.replace(
        run,
        study=dataclasses.replace(
            run.study,
            ct=None,
            spect=run.study.spect.with_array(
                run.study.spect.array, study_instance_uid=None, frame_of_reference_uid=None
            ),
        ),
    )
    report = DoseReport(run=bare, software_version="9.9.9")
    with pytest.raises(ImageError, match="a DICOM report needs DICOM images"):
        dose_report_dicom(report, b"%PDF-1.4\n")


def _voxel_cli(study: SyntheticStudy, out: Path, *extra: str) -> int:
    from y90dose.cli.main import main

    options = [
        f"--{name.replace('_', '-')}={value}"
        for name, value in OPTIONS.items()
        if name not in ("lsf", "residual")
    ]
    return main(
        [
            "voxel",
            "--spect",
            str(study.folder),
            "--ct",
            str(study.folder),
            "--rois",
            str(study.rtstruct_path),
            "--lsf",
            str(LSF),
            "--residual",
            str(RESIDUAL),
            *options,
            "--out",
            str(out),
            "--no-png",
            *extra,
        ]
    )


def test_cli_voxel_writes_the_report_and_its_dicom(
    study: SyntheticStudy, run: VoxelRun, tmp_path: Path
) -> None:
    pdf_path, dicom_path = tmp_path / "r.pdf", tmp_path / "r.dcm"
    code = _voxel_cli(
        study, tmp_path / "out", "--report", str(pdf_path), "--report-dicom", str(dicom_path)
    )
    assert code == 0
    text = " ".join(pdf_text(pdf_path.read_bytes(), tmp_path).split())
    assert "1.323 GBq (35.76 mCi)" in text and f" {liver_mean_by_hand_gy(run):.1f} " in text
    assert voxel_inputs_sha256(run) in text  # the same inputs as the library's run
    assert encapsulated_pdf_of(pydicom.dcmread(dicom_path)) == pdf_path.read_bytes()
    assert dciodvfy_errors(dicom_path) == []


def test_cli_refuses_report_files_before_running(
    study: SyntheticStudy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert _voxel_cli(study, out, "--report", str(tmp_path / "missing" / "r.pdf")) == 2
    assert "--report: " in capsys.readouterr().err and not out.exists()
    assert _voxel_cli(study, out, "--report", str(tmp_path)) == 2  # a folder
    assert "a file name (this is a folder)" in capsys.readouterr().err and not out.exists()


def test_cli_refuses_a_dicom_report_of_nifti_images(
    run: VoxelRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import SimpleITK as sitk  # noqa: N813

    from y90dose.cli.main import main

    spect = tmp_path / "spect.nii.gz"
    sitk.WriteImage(run.study.spect.to_sitk(), str(spect))
    labels = run.study.spect.with_array(
        np.where(run.study.vois["tumor1"], 2.0, np.where(run.study.vois["liver"], 1.0, 0.0))
    )
    sitk.WriteImage(sitk.Cast(labels.to_sitk(), sitk.sitkUInt8), str(tmp_path / "labels.nii.gz"))
    (tmp_path / "labels.json").write_text('{"1": "liver", "2": "tumor1"}')
    out = tmp_path / "out"
    args = ["voxel", "--spect", str(spect), "--rois", str(tmp_path / "labels.nii.gz")]
    args += ["--activity-gbq", "1.5", "--lsf", "0.1", "--product", "glass", "--out", str(out)]
    assert main([*args, "--report-dicom", str(tmp_path / "r.dcm")]) == 2
    assert "a DICOM report needs DICOM images" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "r.dcm").exists()  # nothing half-written
    assert main([*args, "--no-png", "--report", str(tmp_path / "r.pdf")]) == 0
    text = pdf_text((tmp_path / "r.pdf").read_bytes(), tmp_path)
    assert "not in the images (no DICOM input)" in text


def test_cli_dose_writes_the_report(tmp_path: Path) -> None:
    """``y90dose dose mird``: 3 GBq glass, 1165 mL, LSF 0.08: M = 1.19995 kg, perfused dose
    50 x 3 x 0.92 / 1.19995 = 115.0 Gy; lung dose 50 x 3 x 0.08 / 1 kg = 12 Gy."""
    from y90dose.cli.main import main

    target = tmp_path / "dose.pdf"
    args = ["dose", "mird", "--activity-gbq", "3", "--perfused-volume-ml", "1165"]
    assert main([*args, "--lsf", "0.08", "--report", str(target), "--patient-ref", "D-1"]) == 0
    text = " ".join(pdf_text(target.read_bytes(), tmp_path).split())
    assert "Y-90 radioembolization doses of a given activity" in text
    assert "D-1" in text and "activity -> doses" in text
    assert "3.000 GBq = 81.1 mCi" in text  # 3000 / 37 = 81.08
    rows = pdf_text(target.read_bytes(), tmp_path, "-raw").splitlines()
    assert "perfused 115 Gy" in rows and "lung 12 Gy" in rows


GRAVES = "Graves SA et al. Med Phys 2019;46:5284 (90Y beta DPK in water, zenodo 2564036)"
DVK_KERNEL = {
    "source": "dpk",
    "tissue": "soft",
    "voxel_size_zyx_mm": [4.0, 4.0, 4.0],
    "density_g_ml": 1.04,
    "kernel_energy_j_per_gbq": 49.599,
    "normalisation": "energy_constant",
    "kernel_scale_factor": 0.99558,
    "reference": GRAVES,
}
HETEROGENEOUS_KERNEL = {  # the record of dvk_heterogeneous (method auto with a CT)
    "engine": "density-scaled kernels per medium, lung remapped by radiological depth",
    "source": "dpk",
    "media_voxels": {"soft tissue": 264248, "lung": 159624, "bone": 2368},
    "kernels": {
        "soft tissue": {**DVK_KERNEL, "kernel_scale_factor": None},
        "lung": {**DVK_KERNEL, "voxel_size_zyx_mm": [1.0, 1.0, 1.0], "density_g_ml": 0.26},
    },
    "normalisation": "energy_constant",
}


@pytest.mark.parametrize("kernel", [DVK_KERNEL, HETEROGENEOUS_KERNEL], ids=["dvk", "hetero"])
def test_method_rows_state_the_kernel(run: VoxelRun, kernel: dict[str, object]) -> None:
    # the kernel rows name what the run's kernel record holds: no "None", "nan" or an
    # empty voxel size in a clinical report, whichever engine ran
    with_kernel = dataclasses.replace(
        run, dose_result=dataclasses.replace(run.dose_result, kernel=kernel)
    )
    report = DoseReport(run=with_kernel, software_version="9.9.9", computed_at=COMPUTED_AT)
    rows = dict(dose_report_rows(report)["method"])
    text = " ".join(rows.values())
    assert "None" not in text and "nan" not in text and "voxel  mm" not in text
    assert "dpk (soft tissue, 1.04 g/mL), voxel 4 x 4 x 4 mm" in rows["kernel"]
    assert GRAVES in rows["kernel source"]
    if kernel is HETEROGENEOUS_KERNEL:
        assert "lung: dpk (soft tissue, 0.26 g/mL), voxel 1 x 1 x 1 mm" in rows["kernel"]
        assert str(kernel["engine"]) in rows["kernel"]
    else:
        assert rows["kernel scaling"].startswith("x 0.99558 (energy_constant: kernel 49.599")
