"""RTSTRUCT rasterisation: analytic spheres, annuli (holes), slab convention between
contour planes, marching-squares export round trip, refusals; and the shared real
structure sets (STS PET/CT from TCIA with their NIfTI masks; Lu-177 SPECT lesions)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from y90dose.errors import GeometryError
from y90dose.imaging import (
    EmptyVoiError,
    Grid,
    Image,
    StudyInfo,
    VoiNotFoundError,
    read_image,
    read_rtstruct,
    write_rtstruct,
    write_rtstruct_from_masks,
)
from y90dose.imaging.synthetic import SyntheticStudy, make_sphere_study

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
LU177 = SHARED / "lu177-spect-liver-lesions" / "SCAN_001"
STS = SHARED / "sts-petct" / "STS_001"


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> SyntheticStudy:
    return make_sphere_study(tmp_path_factory.mktemp("sphere"))


@pytest.fixture(scope="module")
def ct(study: SyntheticStudy) -> Image:
    return read_image(study.ct_folder)


def _circle(
    center_xy: tuple[float, float], radius_mm: float, z_mm: float, n: int = 256
) -> np.ndarray:
    angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.column_stack(
        [
            center_xy[0] + radius_mm * np.cos(angles),
            center_xy[1] + radius_mm * np.sin(angles),
            np.full(n, z_mm),
        ]
    )


def _reference(
    study: StudyInfo,
    shape: tuple[int, int, int],
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
) -> Image:
    return Image(
        np.zeros(shape, dtype=np.float32),
        origin,
        spacing,
        frame_of_reference_uid=study.frame_of_reference_uid,
        study_instance_uid=study.study_instance_uid,
        modality="CT",
        patient_study=study.patient_study,
    )


def test_sphere_volumes_within_3_percent_on_ct(study: SyntheticStudy, ct: Image) -> None:
    vois = read_rtstruct(study.rtstruct_path, ct)
    assert set(vois) == {"liver", "tumor1"}
    assert vois.volume_ml("liver") == pytest.approx(study.liver_volume_ml, rel=0.03)
    assert vois.volume_ml("tumor1") == pytest.approx(study.tumor_volume_ml, rel=0.03)


def test_sphere_volumes_within_3_percent_on_the_coarser_spect_grid(study: SyntheticStudy) -> None:
    spect = read_image(study.spect_folder)
    vois = read_rtstruct(study.rtstruct_path, spect)
    assert vois.grid.same_geometry(spect.grid)
    assert vois.volume_ml("liver") == pytest.approx(study.liver_volume_ml, rel=0.03)
    assert vois.volume_ml("tumor1") == pytest.approx(study.tumor_volume_ml, rel=0.03)


def test_contour_inside_contour_is_a_hole(tmp_path: Path) -> None:
    info = StudyInfo.new(uid_prefix="annulus")
    ref = _reference(info, (10, 100, 100), (0.5, 0.5, 1.0), (-25.0, -25.0, 0.0))
    # an annulus 20/10 mm and an island of radius 4 mm inside its hole, on every slice
    contours = [
        polygon
        for z in range(10)
        for polygon in (_circle((0, 0), 20, z), _circle((0, 0), 10, z), _circle((0, 0), 4, z))
    ]
    path = write_rtstruct({"ring": contours}, ref, tmp_path / "rs.dcm", study=info)
    vois = read_rtstruct(path, ref)
    expected_ml = math.pi * (20**2 - 10**2 + 4**2) * 10 / 1000
    assert vois.volume_ml("ring") == pytest.approx(expected_ml, rel=0.01)
    assert not vois["ring"][5, 50, 50 + 14]  # 7 mm from the centre: in the hole
    assert vois["ring"][5, 50, 50]  # centre: on the island


def test_two_contours_on_one_slice_are_both_filled(tmp_path: Path) -> None:
    info = StudyInfo.new(uid_prefix="two")
    ref = _reference(info, (3, 80, 80), (1.0, 1.0, 2.0), (-40.0, -40.0, 0.0))
    # centres off the voxel lattice, so that no voxel centre lies exactly on a contour
    contours = [
        c
        for z in (0.0, 2.0, 4.0)
        for c in (_circle((-20.3, 0.27), 8, z), _circle((20.1, 0.4), 8, z))
    ]
    vois = read_rtstruct(
        write_rtstruct({"two": contours}, ref, tmp_path / "rs.dcm", study=info), ref
    )
    assert vois.volume_ml("two") == pytest.approx(2 * math.pi * 64 * 6 / 1000, rel=0.03)


def test_contours_between_slices_take_the_nearest_plane(tmp_path: Path) -> None:
    """Contours every 5 mm on a 1 mm grid: each stands for a 5 mm slab (2.5 mm each side)."""
    info = StudyInfo.new(uid_prefix="slab")
    ref = _reference(info, (41, 60, 60), (1.0, 1.0, 1.0), (-30.0, -30.0, -10.0))
    contours = [_circle((0.3, 0.2), 15, z) for z in (0.0, 5.0, 10.0, 15.0, 20.0)]
    vois = read_rtstruct(
        write_rtstruct({"cyl": contours}, ref, tmp_path / "rs.dcm", study=info), ref
    )
    slices = np.flatnonzero(vois["cyl"].any(axis=(1, 2)))
    z_mm = ref.origin_mm[2] + slices
    assert z_mm.min() == pytest.approx(-2.0) and z_mm.max() == pytest.approx(22.0)
    assert vois.volume_ml("cyl") == pytest.approx(math.pi * 15**2 * 25 / 1000, rel=0.01)
    # contour planes *off* the grid's slices (z = 0.4, 5.4 ...) map to the nearest slices
    shifted = [_circle((0.3, 0.2), 15, z + 0.4) for z in (0.0, 5.0, 10.0, 15.0, 20.0)]
    vois = read_rtstruct(
        write_rtstruct({"cyl": shifted}, ref, tmp_path / "rs2.dcm", study=info), ref
    )
    assert vois.volume_ml("cyl") == pytest.approx(math.pi * 15**2 * 25 / 1000, rel=0.01)


def test_mask_export_and_rasterisation_round_trip(
    study: SyntheticStudy, ct: Image, tmp_path: Path
) -> None:
    vois = read_rtstruct(study.rtstruct_path, ct)
    # an irregular mask with a hole: liver minus tumour, plus a separate blob
    mask = vois["liver"] & ~vois["tumor1"]
    mask[5:8, 10:14, 10:13] = True
    path = write_rtstruct_from_masks(
        {"normal": mask, "tumor": vois["tumor1"]}, ct, tmp_path / "rs.dcm"
    )
    back = read_rtstruct(path, ct)
    assert np.array_equal(back["normal"], mask)
    assert np.array_equal(back["tumor"], vois["tumor1"])


def test_mismatched_frame_of_reference_is_refused(study: SyntheticStudy, ct: Image) -> None:
    other = Image(ct.array, ct.origin_mm, ct.spacing_mm, frame_of_reference_uid="1.2.3.4")
    with pytest.raises(GeometryError) as caught:
        read_rtstruct(study.rtstruct_path, other)
    message = str(caught.value)
    assert "1.2.3.4" in message and study.study.frame_of_reference_uid in message


def test_unknown_empty_and_outside_vois_are_refused(
    study: SyntheticStudy, ct: Image, tmp_path: Path
) -> None:
    with pytest.raises(VoiNotFoundError, match=r"spleen.*available.*liver"):
        read_rtstruct(study.rtstruct_path, ct, names=["spleen"])
    far = Grid(
        (5, 10, 10),
        (500.0, 500.0, 500.0),
        (1.0, 1.0, 1.0),
        frame_of_reference_uid=ct.frame_of_reference_uid,
    )
    with pytest.raises(EmptyVoiError, match="'liver' has no voxel"):
        read_rtstruct(study.rtstruct_path, far, names=["liver"])
    # a grid that cuts the liver in half: refused unless partial VOIs are allowed
    half = Grid(
        (40, 80, 40), ct.origin_mm, ct.spacing_mm, frame_of_reference_uid=ct.frame_of_reference_uid
    )
    with pytest.raises(EmptyVoiError, match="'liver' extends outside"):
        read_rtstruct(study.rtstruct_path, half, names=["liver"])
    part = read_rtstruct(study.rtstruct_path, half, names=["liver"], allow_partial=True)
    assert 0.3 < part.volume_ml("liver") / study.liver_volume_ml < 0.7


@pytest.mark.skipif(not STS.exists(), reason="shared STS PET/CT dataset absent")
@pytest.mark.parametrize("modality", ["CT", "PET"])
def test_shared_sts_rtstruct_agrees_with_its_nifti_mask(modality: str) -> None:
    image = read_image(STS / modality / "dicom" / "image")
    vois = read_rtstruct(STS / modality / "dicom" / "mask" / "RS.dcm", image)
    (name,) = vois
    assert name.startswith("GTV_Mass")
    reference = read_image(STS / modality / "nifti" / "mask" / "mask.nii.gz").array > 0.5
    volume_ml = vois.volume_ml(name)
    assert 100 < volume_ml < 1000  # a soft-tissue sarcoma mass of a few hundred mL
    reference_ml = float(reference.sum()) * image.voxel_volume_ml
    assert volume_ml == pytest.approx(reference_ml, rel=0.03)
    dice = 2 * np.count_nonzero(vois[name] & reference) / (vois[name].sum() + reference.sum())
    assert dice > 0.97


@pytest.mark.skipif(not LU177.exists(), reason="shared Lu-177 dataset absent")
def test_shared_lu177_lesions_rasterise_to_plausible_volumes() -> None:
    spect = read_image(LU177 / "image")
    (rtstruct,) = sorted((LU177 / "mask").iterdir())
    vois = read_rtstruct(rtstruct, spect)
    assert set(vois) == {"lesion1 liver R lobe", "lesion2 liver L lateral"}
    for name in vois:
        assert 0.5 < vois.volume_ml(name) < 500  # liver lesions: mL to hundreds of mL
        # lesions are hot on a DOTATATE SPECT: mean uptake above the image's overall mean
        assert spect.array[vois[name]].mean() > 3 * spect.array.mean()


def test_sphere_on_an_oblique_grid_within_3_percent(tmp_path: Path) -> None:
    """Contours written on a rotated, reversed-row grid rasterise to the sphere volume."""
    from y90dose.imaging.synthetic import sphere_contours_mm

    info = StudyInfo.new(uid_prefix="oblique-sphere")
    angle = math.radians(25)
    direction = np.array(
        [[-math.cos(angle), math.sin(angle), 0], [-math.sin(angle), -math.cos(angle), 0], [0, 0, 1]]
    )
    grid = Grid(
        (30, 60, 60), (60.0, 30.0, -40.0), (1.5, 1.5, 3.0), direction, info.frame_of_reference_uid
    )
    center = tuple(grid.index_to_physical_mm([30.2, 29.7, 14.6]).tolist())
    ref = _reference(info, grid.shape_zyx, grid.spacing_mm, grid.origin_mm)
    ref = Image(
        ref.array,
        grid.origin_mm,
        grid.spacing_mm,
        direction,
        info.frame_of_reference_uid,
        study_instance_uid=info.study_instance_uid,
        patient_study=info.patient_study,
    )
    contours = sphere_contours_mm(grid, center, 25.0)
    vois = read_rtstruct(
        write_rtstruct({"sphere": contours}, ref, tmp_path / "rs.dcm", study=info), ref
    )
    assert vois.volume_ml("sphere") == pytest.approx(4 / 3 * math.pi * 25**3 / 1000, rel=0.03)


@settings(max_examples=40, deadline=None)
@given(
    mask=hnp.arrays(np.bool_, st.tuples(st.integers(1, 3), st.integers(1, 12), st.integers(1, 12))),
    spacing=st.tuples(*[st.floats(0.3, 5.0)] * 3),
    angle=st.floats(0.0, 2 * math.pi),
)
def test_any_mask_survives_export_and_rasterisation(
    mask: np.ndarray, spacing: tuple[float, float, float], angle: float
) -> None:
    """Marching squares at 0.5 separates every inside from every outside voxel centre, so
    even-odd rasterisation of the exported contours gives back *any* mask exactly
    (checkerboard saddles included), on any in-plane rotation and anisotropic spacing."""
    from y90dose.imaging import mask_to_contours_mm, rasterise_contours

    c, s = math.cos(angle), math.sin(angle)
    grid = Grid(
        mask.shape, (3.0, -7.0, 11.0), spacing, np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    )
    contours = mask_to_contours_mm(mask, grid)
    back, fraction_outside = rasterise_contours(contours, grid, plane_spacing_mm=spacing[2])
    assert np.array_equal(back, mask)
    assert fraction_outside == 0.0


def test_gap_inside_one_roi_stays_empty(tmp_path: Path) -> None:
    """Two lesions in one ROI, one empty slice apart, beside an ROI drawn on every slice:
    the structure set's plane spacing is one slice, so the gap is not bridged."""
    info = StudyInfo.new(uid_prefix="gap")
    ref = _reference(info, (7, 12, 12), (2.0, 2.0, 3.0), (0.0, 0.0, 0.0))
    lesions = np.zeros((7, 12, 12), dtype=bool)
    lesions[1, 3:7, 3:7] = True
    lesions[3, 3:7, 3:7] = True  # slice 2 empty between two one-slice lesions
    body = np.zeros_like(lesions)
    body[:, 1:11, 1:11] = True
    path = write_rtstruct_from_masks({"lesions": lesions, "body": body}, ref, tmp_path / "rs.dcm")
    vois = read_rtstruct(path, ref)
    assert np.array_equal(vois["lesions"], lesions)
    assert np.array_equal(vois["body"], body)
