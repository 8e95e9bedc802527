"""Reading volumes: DICOM series (CT, PT), multi-frame NM, NIfTI; refusals with clear
messages; the shared Lu-177 SPECT (Dewaraja 2021, doi:10.7302/0n8e-rz46), stored as PT in
Bq/mL, and the STS PET/CT (TCIA Soft-tissue-Sarcoma, IBSI subset)."""

from __future__ import annotations

import gzip
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest

from y90dose.errors import ImageError, InputError
from y90dose.imaging import read_image, write_image_file, write_nm_multiframe
from y90dose.imaging.image import Image
from y90dose.imaging.synthetic import SyntheticStudy, make_sphere_study

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
LU177 = SHARED / "lu177-spect-liver-lesions" / "SCAN_001"
STS = SHARED / "sts-petct" / "STS_001"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> SyntheticStudy:
    return make_sphere_study(tmp_path_factory.mktemp("sphere"))


def test_ct_series_reads_back_hu_and_geometry(study: SyntheticStudy) -> None:
    ct = read_image(study.ct_folder)
    assert ct.modality == "CT" and ct.units == "HU" and ct.rescale_applied
    assert ct.origin_mm == pytest.approx((-79.0, -79.0, -48.75))
    assert ct.spacing_mm == pytest.approx((2.0, 2.0, 2.5))
    assert ct.direction == pytest.approx(np.eye(3))
    assert ct.frame_of_reference_uid == study.study.frame_of_reference_uid
    assert ct.study_instance_uid == study.study.study_instance_uid
    assert set(np.unique(ct.array)) == {-1000.0, 0.0, 40.0, 60.0}
    # the liver centre (patient origin) is HU 60 (liver) and lies at index (39.5, 39.5, 19.5)
    assert ct.physical_mm_to_index([0, 0, 0]) == pytest.approx([39.5, 39.5, 19.5])
    assert len(ct.sop_instance_uids) == 40


def test_pt_series_reads_back_bq_per_ml_within_quantisation(study: SyntheticStudy) -> None:
    spect = read_image(study.spect_folder)
    assert spect.modality == "PT" and spect.units == "BQML"
    assert spect.origin_mm == pytest.approx(study.spect.origin_mm)
    assert spect.spacing_mm == pytest.approx((4.0, 4.0, 4.0))
    # int16 with a per-slice slope: error <= slope / 2 = max / 32767 / 2
    tolerance = study.tumor_bq_per_ml / 32767 / 2 * 1.001
    assert np.abs(spect.array - study.spect.array).max() <= tolerance


def test_slices_out_of_order_are_sorted_by_position(study: SyntheticStudy, tmp_path: Path) -> None:
    shuffled = tmp_path / "ct"
    shuffled.mkdir()
    for index, path in enumerate(sorted(study.ct_folder.iterdir())):
        shutil.copy(path, shuffled / f"{(index * 7919) % 40:04d}_{index}.dcm")
    assert np.array_equal(read_image(shuffled).array, read_image(study.ct_folder).array)


def test_multiframe_nm_reads_back(study: SyntheticStudy) -> None:
    assert study.nm_path is not None
    nm = read_image(study.nm_path)
    assert nm.modality == "NM" and nm.units == "BQML"
    assert nm.origin_mm == pytest.approx(study.spect.origin_mm)
    assert nm.spacing_mm == pytest.approx(study.spect.spacing_mm)
    assert np.abs(nm.array - study.spect.array).max() <= study.tumor_bq_per_ml / 32767


def test_multiframe_nm_with_per_frame_rescale(study: SyntheticStudy, tmp_path: Path) -> None:
    # each frame's values differ by a factor 10 per frame, so one slope could not hold them
    factors = 10.0 ** (np.arange(study.spect.shape_zyx[0]) % 4)
    activity = study.spect.array * factors[:, None, None]
    image = replace(study.spect, array=activity)
    path = write_nm_multiframe(
        image, tmp_path / "nm.dcm", study=study.study, per_frame_rescale=True
    )
    ds = pydicom.dcmread(path)
    assert "PerFrameFunctionalGroupsSequence" in ds and "RescaleSlope" not in ds
    nm = read_image(path)
    relative = np.abs(nm.array - activity) / np.maximum(activity.max(axis=(1, 2)), 1)[:, None, None]
    assert relative.max() <= 1 / 32767


def test_several_series_need_a_choice(study: SyntheticStudy, tmp_path: Path) -> None:
    shutil.copytree(study.ct_folder, tmp_path / "both" / "ct")
    shutil.copytree(study.spect_folder, tmp_path / "both" / "spect")
    with pytest.raises(ImageError, match=r"2 series match.*CT series.*PT series"):
        read_image(tmp_path / "both")
    assert read_image(tmp_path / "both", modality="PT").units == "BQML"
    assert read_image(tmp_path / "both", modality="CT").units == "HU"
    with pytest.raises(ImageError, match="no NM series"):
        read_image(tmp_path / "both", modality="NM")


def test_unreadable_file_is_named(study: SyntheticStudy, tmp_path: Path) -> None:
    folder = tmp_path / "ct"
    shutil.copytree(study.ct_folder, folder)
    broken = folder / "CT_0005.dcm"
    broken.write_bytes(broken.read_bytes()[:400])  # preamble kept, rest truncated
    with pytest.raises(ImageError, match=r"CT_0005\.dcm"):
        read_image(folder)
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nothing")
    text = tmp_path / "x.nii.gz"
    text.write_text("not an image")
    with pytest.raises(ImageError, match=r"x\.nii\.gz"):
        read_image(text)


def test_missing_slice_is_refused(study: SyntheticStudy, tmp_path: Path) -> None:
    folder = tmp_path / "ct"
    shutil.copytree(study.ct_folder, folder)
    (folder / "CT_0010.dcm").unlink()
    with pytest.raises(ImageError, match="not uniform"):
        read_image(folder)


def test_nifti_round_trip(tmp_path: Path) -> None:
    values = np.random.default_rng(3).uniform(0, 50, size=(5, 6, 7))
    image = Image(values, (-10.0, 20.0, 5.0), (1.5, 2.0, 3.0), units="GY")
    path = write_image_file(image, tmp_path / "dose.nii.gz", dtype=np.float64)
    back = read_image(path, units="GY")
    assert np.array_equal(back.array, values)
    assert back.origin_mm == pytest.approx(image.origin_mm)
    assert back.spacing_mm == pytest.approx(image.spacing_mm)
    assert back.units == "GY"
    with pytest.raises(InputError, match="units"):
        read_image(tmp_path, units="GY")


@pytest.mark.skipif(not LU177.exists(), reason="shared Lu-177 dataset absent")
def test_shared_lu177_spect_is_bq_per_ml_with_its_geometry() -> None:
    spect = read_image(LU177 / "image")
    assert spect.modality == "PT"
    assert spect.units == "BQML"
    assert spect.shape_zyx == (199, 256, 256)
    assert spect.spacing_mm == pytest.approx((1.95313, 1.95313, 1.95313), abs=1e-4)
    first = pydicom.dcmread(sorted((LU177 / "image").iterdir())[0], stop_before_pixels=True)
    assert spect.frame_of_reference_uid == first.FrameOfReferenceUID
    # the origin is the lowest slice along the normal (+z); x, y from ImagePositionPatient
    assert spect.origin_mm[:2] == pytest.approx([float(v) for v in first.ImagePositionPatient[:2]])
    assert spect.metadata["DecayCorrection"] == "ADMIN"
    assert spect.metadata["radiopharmaceutical"]["RadionuclideHalfLife"] == "574300"
    # a Lu-177 DOTATATE patient 3.7 h after 7.2 GBq: the image holds a plausible fraction
    injected_bq = float(spect.metadata["radiopharmaceutical"]["RadionuclideTotalDose"])
    in_image_bq = float(spect.array.sum()) * spect.voxel_volume_ml
    assert 0.05 < in_image_bq / injected_bq < 1.0


@pytest.mark.skipif(not STS.exists(), reason="shared STS PET/CT dataset absent")
@pytest.mark.parametrize("modality", ["CT", "PET"])
def test_shared_sts_dicom_matches_its_nifti_copy(modality: str) -> None:
    dicom = read_image(STS / modality / "dicom" / "image")
    nifti = read_image(STS / modality / "nifti" / "image" / "image.nii.gz")
    assert dicom.shape_zyx == nifti.shape_zyx
    assert dicom.origin_mm == pytest.approx(nifti.origin_mm, abs=1e-3)
    assert dicom.spacing_mm == pytest.approx(nifti.spacing_mm, abs=1e-5)
    assert np.allclose(dicom.array, nifti.array, rtol=1e-5, atol=1e-5)


def test_nm_single_frame_series_reads_back(study: SyntheticStudy, tmp_path: Path) -> None:
    from y90dose.imaging import write_pt_series

    write_pt_series(study.spect, tmp_path / "nm", study=study.study, modality="NM")
    nm = read_image(tmp_path / "nm")
    assert nm.modality == "NM" and nm.units == "BQML"
    assert nm.same_geometry(study.spect)
    assert np.abs(nm.array - study.spect.array).max() <= study.tumor_bq_per_ml / 32767


@pytest.mark.parametrize(
    "direction",
    [
        np.diag([-1.0, -1.0, 1.0]),  # patient rotated 180 degrees (e.g. prone / feet first)
        np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]),  # coronal slices
        np.array(  # oblique: 20 degrees about the patient's z axis
            [[0.9396926, -0.3420201, 0], [0.3420201, 0.9396926, 0], [0, 0, 1.0]]
        ),
    ],
    ids=["rotated", "coronal", "oblique"],
)
def test_orientation_is_honoured(direction: np.ndarray, tmp_path: Path) -> None:
    from y90dose.imaging import StudyInfo, write_ct_series

    info = StudyInfo.new(uid_prefix="orientation")
    values = np.random.default_rng(5).integers(-1000, 1000, size=(6, 7, 8)).astype(np.float32)
    image = Image(
        values, (12.0, -7.5, 30.0), (1.5, 2.0, 3.0), direction, info.frame_of_reference_uid
    )
    write_ct_series(image, tmp_path / "ct", study=info)
    back = read_image(tmp_path / "ct")
    assert back.direction == pytest.approx(direction, abs=1e-6)
    assert back.origin_mm == pytest.approx(image.origin_mm, abs=1e-4)
    assert back.spacing_mm == pytest.approx(image.spacing_mm)
    assert np.array_equal(back.array, values)


def test_rounded_positions_are_accepted_and_duplicates_refused(
    study: SyntheticStudy, tmp_path: Path
) -> None:
    folder = tmp_path / "ct"
    shutil.copytree(study.ct_folder, folder)
    files = sorted(folder.iterdir())
    for index, path in enumerate(files):  # positions rounded to 0.01 mm as some scanners do
        ds = pydicom.dcmread(path)
        z = float(ds.ImagePositionPatient[2]) + (0.004 if index % 2 else -0.004)
        ds.ImagePositionPatient = [*ds.ImagePositionPatient[:2], f"{z:.3f}"]
        ds.save_as(path)
    ct = read_image(folder)
    assert ct.spacing_mm[2] == pytest.approx(2.5, abs=1e-3)
    duplicate = pydicom.dcmread(files[3])
    duplicate.SOPInstanceUID = pydicom.uid.generate_uid()
    duplicate.save_as(folder / "copy.dcm")
    with pytest.raises(ImageError, match="same position"):
        read_image(folder)


def test_nm_projections_are_not_read_as_a_volume(study: SyntheticStudy, tmp_path: Path) -> None:
    assert study.nm_path is not None
    ds = pydicom.dcmread(study.nm_path)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "TOMO", "EMISSION"]
    ds.save_as(tmp_path / "projections.dcm")
    with pytest.raises(ImageError, match="RECON TOMO"):
        read_image(tmp_path / "projections.dcm")


def test_per_frame_plane_positions_are_used_and_sorted(
    study: SyntheticStudy, tmp_path: Path
) -> None:
    """Enhanced-style layout: frames stored top-down, each placed by its own
    PlanePositionSequence, orientation in the shared functional groups."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    assert study.nm_path is not None
    ds = pydicom.dcmread(study.nm_path)
    frames = ds.pixel_array[::-1].copy()
    n_frames = frames.shape[0]
    groups = []
    for f in range(n_frames):
        position = Dataset()
        k = n_frames - 1 - f
        position.ImagePositionPatient = [
            f"{v:.6f}" for v in study.spect.index_to_physical_mm([0.0, 0.0, float(k)])
        ]
        group = Dataset()
        group.PlanePositionSequence = DicomSequence([position])
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(groups)
    orientation = Dataset()
    orientation.ImageOrientationPatient = ds.DetectorInformationSequence[0].ImageOrientationPatient
    shared = Dataset()
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    del ds.DetectorInformationSequence
    ds.PixelData = frames.astype("<i2").tobytes()
    ds.save_as(tmp_path / "enhanced.dcm")
    back = read_image(tmp_path / "enhanced.dcm")
    assert back.same_geometry(study.spect)
    assert np.abs(back.array - study.spect.array).max() <= study.tumor_bq_per_ml / 32767


@pytest.mark.parametrize("name", ["image.nii", "image.nii.gz"])
def test_truncated_nifti_is_refused(tmp_path: Path, name: str) -> None:
    """ITK reads the missing voxels of a cut-short NIfTI as zeros: that must not pass."""
    values = np.ones((6, 6, 6))
    path = write_image_file(Image(values, (0.0, 0.0, 0.0), (2.0, 2.0, 2.0)), tmp_path / name)
    whole = path.read_bytes()
    path.write_bytes(whole[: int(len(whole) * 0.9)])  # a copy cut short
    with pytest.raises(ImageError, match=rf"{name.replace('.', '[.]')}: .*(truncated|ended)"):
        read_image(path)
    if name.endswith(".gz"):  # a complete gzip stream of a cut-short .nii
        raw = gzip.decompress(whole)
        path.write_bytes(gzip.compress(raw[:-100]))
        with pytest.raises(ImageError, match="truncated"):
            read_image(path)
