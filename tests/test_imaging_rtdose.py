"""RT Dose export: round trip through pydicom, SimpleITK and our reader (same dose within
the DoseGridScaling quantisation, same geometry); DICOM validation with dciodvfy
(dicom3tools) when installed; refusals."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk  # noqa: N813

from y90dose.errors import GeometryError, InputError
from y90dose.imaging import Image, read_image, resample_image, write_pt_series
from y90dose.imaging.rtdose import RT_PLAN_STORAGE, build_rtdose, dose_grid_scaling
from y90dose.imaging.synthetic import SyntheticStudy, make_sphere_study

DCIODVFY = shutil.which("dciodvfy")
#: dicom3tools (at least 1.00~20220618) aborts on 32-bit pixel data with this assertion.
DCIODVFY_32BIT_BUG = "bitsallocated <= bytesinword"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> SyntheticStudy:
    return make_sphere_study(tmp_path_factory.mktemp("sphere"))


@pytest.fixture(scope="module")
def ct(study: SyntheticStudy) -> Image:
    return read_image(study.ct_folder)


@pytest.fixture(scope="module")
def dose_on_ct(study: SyntheticStudy, ct: Image) -> Image:
    spect = read_image(study.spect_folder)
    on_ct = resample_image(spect, ct, outside_value=0.0)
    # any smooth non-negative map in Gy will do; 1e-4 Gy per Bq/mL puts the tumour at 40 Gy
    return replace(on_ct, array=on_ct.array * 1e-4, units="GY", modality="RTDOSE")


@pytest.fixture(scope="module")
def rtdose_path(dose_on_ct: Image, ct: Image, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rtdose")
    return build_rtdose(dose_on_ct, ct, uid_seed="test", dose_comment="LDM").save(folder / "RD.dcm")


def test_pydicom_reads_the_same_dose_and_geometry(
    rtdose_path: Path, dose_on_ct: Image, ct: Image
) -> None:
    ds = pydicom.dcmread(rtdose_path)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.481.2"
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert (ds.DoseUnits, ds.DoseType, ds.DoseSummationType) == ("GY", "PHYSICAL", "PLAN")
    assert (ds.BitsAllocated, ds.PixelRepresentation) == (32, 0)
    assert ds.FrameOfReferenceUID == ct.frame_of_reference_uid
    assert ds.StudyInstanceUID == ct.study_instance_uid
    assert ds.PatientID == ct.patient_study["PatientID"]
    assert ds.PatientName == ct.patient_study["PatientName"]
    assert ds.ReferencedRTPlanSequence[0].ReferencedSOPClassUID == RT_PLAN_STORAGE
    plan = pydicom.dcmread(rtdose_path.with_name("RD_plan.dcm"))
    assert plan.SOPInstanceUID == ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID
    scaling = float(ds.DoseGridScaling)
    dose = ds.pixel_array.astype(np.float64) * scaling
    assert np.abs(dose - dose_on_ct.array).max() <= scaling / 2 * 1.0001
    offsets = np.asarray([float(v) for v in ds.GridFrameOffsetVector])
    assert offsets == pytest.approx(np.arange(ct.shape_zyx[0]) * ct.spacing_mm[2])
    assert [float(v) for v in ds.ImagePositionPatient] == pytest.approx(ct.origin_mm)
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx(ct.spacing_mm[1::-1])


def test_simpleitk_reads_the_same_geometry_and_dose(
    rtdose_path: Path, dose_on_ct: Image, ct: Image
) -> None:
    image = sitk.ReadImage(str(rtdose_path))
    assert image.GetOrigin() == pytest.approx(ct.origin_mm)
    assert image.GetSpacing() == pytest.approx(ct.spacing_mm)
    assert image.GetDirection() == pytest.approx(tuple(ct.direction.ravel()))
    # SimpleITK returns the stored integers; DoseGridScaling converts them to Gy
    scaling = float(pydicom.dcmread(rtdose_path, stop_before_pixels=True).DoseGridScaling)
    dose = sitk.GetArrayFromImage(image).astype(np.float64) * scaling
    assert np.abs(dose - dose_on_ct.array).max() <= scaling / 2 * 1.0001


def test_our_reader_round_trips(rtdose_path: Path, dose_on_ct: Image) -> None:
    back = read_image(rtdose_path)
    assert (back.modality, back.units) == ("RTDOSE", "GY")
    assert back.same_geometry(dose_on_ct)
    scaling = dose_grid_scaling(float(dose_on_ct.array.max()))
    assert np.abs(back.array - dose_on_ct.array).max() <= scaling / 2 * 1.0001
    assert back.array.max() == pytest.approx(40.0, rel=1e-3)  # tumour: 4e5 Bq/mL x 1e-4


def test_slice_axis_against_the_normal_gives_negative_offsets(
    dose_on_ct: Image, ct: Image, tmp_path: Path
) -> None:
    flipped_direction = dose_on_ct.direction @ np.diag([1.0, 1.0, -1.0])
    top = dose_on_ct.index_to_physical_mm([0, 0, dose_on_ct.shape_zyx[0] - 1])
    flipped = replace(
        dose_on_ct,
        array=dose_on_ct.array[::-1].copy(),
        origin_mm=tuple(top),
        direction=flipped_direction,
    )
    path = build_rtdose(flipped, ct, uid_seed="flip").save(tmp_path / "RD.dcm")
    assert float(pydicom.dcmread(path).GridFrameOffsetVector[1]) == pytest.approx(-ct.spacing_mm[2])
    back = read_image(path)  # our reader sorts slices along the normal again
    assert back.same_geometry(dose_on_ct)
    assert np.abs(back.array - dose_on_ct.array).max() < 1e-6


def _dciodvfy(path: Path, tmp_path: Path) -> str:
    assert DCIODVFY is not None
    run = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=60)
    output = run.stdout + run.stderr
    if run.returncode != 0 and DCIODVFY_32BIT_BUG in output:
        # Validate every attribute on a twin whose pixels are 16-bit (also legal for RT
        # Dose); only the pixel encoding differs from the file under test.
        ds = pydicom.dcmread(path)
        pixels = ds.pixel_array
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelData = (pixels >> 16).astype("<u2").tobytes()
        twin = tmp_path / "twin16.dcm"
        ds.save_as(twin, enforce_file_format=True)
        run = subprocess.run([DCIODVFY, str(twin)], capture_output=True, text=True, timeout=60)
        output = run.stdout + run.stderr
    return output


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) not installed")
def test_dciodvfy_finds_no_error(rtdose_path: Path, tmp_path: Path) -> None:
    for path in (rtdose_path, rtdose_path.with_name("RD_plan.dcm")):
        output = _dciodvfy(path, tmp_path)
        errors = [line for line in output.splitlines() if line.startswith("Error")]
        assert not errors, output
        assert "Assertion" not in output, output


@pytest.mark.skipif(DCIODVFY is None, reason="dciodvfy (Debian package dicom3tools) not installed")
def test_dciodvfy_accepts_the_synthetic_study(study: SyntheticStudy, tmp_path: Path) -> None:
    assert study.nm_path is not None
    nm_series = write_pt_series(study.spect, tmp_path / "nm", study=study.study, modality="NM")
    for path in (
        study.rtstruct_path,
        sorted(study.ct_folder.iterdir())[0],
        sorted(study.spect_folder.iterdir())[0],
        study.nm_path,
        nm_series[3],
    ):
        output = _dciodvfy(path, tmp_path)
        assert not [line for line in output.splitlines() if line.startswith("Error")], output


def test_negative_or_foreign_dose_is_refused(dose_on_ct: Image, ct: Image, tmp_path: Path) -> None:
    negative = dose_on_ct.with_array(dose_on_ct.array - 1.0)
    with pytest.raises(InputError, match="doses >= 0 Gy"):
        build_rtdose(negative, ct)
    with pytest.raises(InputError, match="GY"):
        build_rtdose(replace(dose_on_ct, units="BQML"), ct)
    foreign = replace(dose_on_ct, frame_of_reference_uid="1.2.3")
    with pytest.raises(GeometryError, match=r"1\.2\.3"):
        build_rtdose(foreign, ct)
    nifti_ct = Image(ct.array, ct.origin_mm, ct.spacing_mm)
    with pytest.raises(InputError, match="StudyInstanceUID"):
        build_rtdose(dose_on_ct, nifti_ct)


def test_absolute_grid_frame_offsets_are_understood(rtdose_path: Path, tmp_path: Path) -> None:
    """PS3.3 C.8.8.3.2: offsets may be absolute z (first value = ImagePositionPatient z)."""
    ds = pydicom.dcmread(rtdose_path)
    z0 = float(ds.ImagePositionPatient[2])
    ds.GridFrameOffsetVector = [f"{z0 + float(v):.4f}" for v in ds.GridFrameOffsetVector]
    ds.save_as(tmp_path / "absolute.dcm")
    assert read_image(tmp_path / "absolute.dcm").same_geometry(read_image(rtdose_path))
